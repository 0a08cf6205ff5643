//! Labels, predictions, scores and groups taken from a dataset's columns for
//! the performance and fairness metrics.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch};
use arrow_schema::DataType;
use mlops_mcp_kit::ToolError;

/// One column by name, or an error naming the columns there are.
pub fn column<'a>(
    batch: &'a RecordBatch,
    role: &str,
    name: &str,
) -> Result<&'a ArrayRef, ToolError> {
    batch.column_by_name(name).ok_or_else(|| {
        let names: Vec<String> = batch
            .schema_ref()
            .fields()
            .iter()
            .take(30)
            .map(|f| format!("{:?}", f.name()))
            .collect();
        ToolError::Invalid(format!(
            "unknown {role} {name:?}; the dataset has {}",
            names.join(", ")
        ))
    })
}

fn primitive<T: ArrowPrimitiveType>(
    array: &dyn Array,
    convert: impl Fn(T::Native) -> f64,
) -> Option<Vec<Option<f64>>> {
    array
        .as_primitive_opt::<T>()
        .map(|a| a.iter().map(|v| v.map(&convert)).collect())
}

/// Numbers (integers, floats, booleans as 0/1); NaN and ±∞ become missing.
pub fn numbers(array: &dyn Array, what: &str) -> Result<Vec<Option<f64>>, ToolError> {
    let values = match array.data_type() {
        DataType::Float64 => primitive::<Float64Type>(array, |v| v),
        DataType::Float32 => primitive::<Float32Type>(array, f64::from),
        DataType::Int64 => primitive::<Int64Type>(array, |v| v as f64),
        DataType::Int32 => primitive::<Int32Type>(array, f64::from),
        DataType::Int16 => primitive::<Int16Type>(array, f64::from),
        DataType::Int8 => primitive::<Int8Type>(array, f64::from),
        DataType::UInt64 => primitive::<UInt64Type>(array, |v| v as f64),
        DataType::UInt32 => primitive::<UInt32Type>(array, f64::from),
        DataType::UInt16 => primitive::<UInt16Type>(array, f64::from),
        DataType::UInt8 => primitive::<UInt8Type>(array, f64::from),
        DataType::Boolean => array.as_boolean_opt().map(|a| {
            a.iter()
                .map(|v| v.map(|b| f64::from(u8::from(b))))
                .collect()
        }),
        _ => None,
    };
    let values = values.ok_or_else(|| {
        ToolError::Invalid(format!(
            "{what} holds {} values; it must be numeric",
            array.data_type()
        ))
    })?;
    Ok(values
        .into_iter()
        .map(|v| v.filter(|x| x.is_finite()))
        .collect())
}

/// Class labels: integers, booleans (0/1), or floats with integral values.
pub fn labels(array: &dyn Array, what: &str) -> Result<Vec<Option<i64>>, ToolError> {
    let values = numbers(array, what).map_err(|_| {
        ToolError::Invalid(format!(
            "{what} holds {} values; class labels must be integers or booleans",
            array.data_type()
        ))
    })?;
    values
        .into_iter()
        .enumerate()
        .map(|(row, v)| match v {
            None => Ok(None),
            Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(x as i64)),
            Some(x) => Err(ToolError::Invalid(format!(
                "{what} has {x} at row {row}; class labels must be whole numbers"
            ))),
        })
        .collect()
}

/// Group names: strings as they are, numbers and booleans as text.
pub fn groups(array: &dyn Array, what: &str) -> Result<Vec<Option<String>>, ToolError> {
    if let Some(s) = array.as_string_opt::<i32>() {
        return Ok(s.iter().map(|v| v.map(str::to_owned)).collect());
    }
    if let Some(s) = array.as_string_opt::<i64>() {
        return Ok(s.iter().map(|v| v.map(str::to_owned)).collect());
    }
    if let Some(s) = array.as_string_view_opt() {
        return Ok(s.iter().map(|v| v.map(str::to_owned)).collect());
    }
    if let Some(b) = array.as_boolean_opt() {
        return Ok(b.iter().map(|v| v.map(|b| b.to_string())).collect());
    }
    let numbers = numbers(array, what).map_err(|_| {
        ToolError::Invalid(format!(
            "{what} holds {} values; groups must be strings, integers or booleans",
            array.data_type()
        ))
    })?;
    Ok(numbers
        .into_iter()
        .map(|v| {
            v.map(|x| {
                if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    format!("{x:.0}")
                } else {
                    x.to_string()
                }
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{BooleanArray, Float64Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn labels_accept_integers_booleans_and_whole_floats() {
        let ints = Int64Array::from(vec![Some(1), None, Some(0)]);
        assert_eq!(labels(&ints, "y").unwrap(), vec![Some(1), None, Some(0)]);
        let bools = BooleanArray::from(vec![true, false]);
        assert_eq!(labels(&bools, "y").unwrap(), vec![Some(1), Some(0)]);
        let floats = Float64Array::from(vec![1.0, 0.5]);
        let err = labels(&floats, "target column \"y\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("whole numbers"), "{err}");
        let strings = StringArray::from(vec!["a"]);
        let err = labels(&strings, "y").unwrap_err().to_string();
        assert!(err.contains("integers or booleans"), "{err}");
    }

    #[test]
    fn groups_render_values_as_text() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None]));
        assert_eq!(
            groups(ints.as_ref(), "g").unwrap(),
            vec![Some("3".to_owned()), None]
        );
        let floats = Float64Array::from(vec![f64::NAN]);
        assert_eq!(numbers(&floats, "s").unwrap(), vec![None]);
    }
}
