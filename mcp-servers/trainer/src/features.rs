//! Which dataset columns a job trains on, and turning a dataset's rows into
//! the feature matrix and labels the models crate fits.
//!
//! Features are numeric or boolean columns (booleans become 0/1); the
//! target is a boolean or an integer column holding only 0 and 1.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use mlops_mcp_kit::ToolError;
use mlops_mcp_storage::ColumnSchema;
use mlops_models::TrainingSet;

/// Arrow types (as a manifest spells them) a feature may have.
const NUMERIC_TYPES: &[&str] = &[
    "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
];
const INTEGER_TYPES: &[&str] = &[
    "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
];

fn is_feature_type(data_type: &str) -> bool {
    data_type == "Boolean" || NUMERIC_TYPES.contains(&data_type)
}

/// The job's columns, checked against the dataset's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSelection {
    pub target: String,
    pub features: Vec<String>,
}

/// Picks the target and feature columns from a dataset's schema: the
/// explicit `features` if given, else every numeric or boolean column other
/// than the target and those in `exclude`. Every error names the column and
/// says what is allowed.
pub fn select_columns(
    dataset: &str,
    columns: &[ColumnSchema],
    target: &str,
    features: Option<&[String]>,
    exclude: &[String],
) -> Result<ColumnSelection, ToolError> {
    let names = || {
        columns
            .iter()
            .map(|c| format!("{} ({})", c.name, c.data_type))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |name: &str| columns.iter().find(|c| c.name == name);
    let target_column = find(target).ok_or_else(|| {
        ToolError::Invalid(format!(
            "dataset {dataset} has no column {target:?} to use as the target; its columns: {}",
            names()
        ))
    })?;
    if target_column.data_type != "Boolean"
        && !INTEGER_TYPES.contains(&target_column.data_type.as_str())
    {
        return Err(ToolError::Invalid(format!(
            "target {target:?} is {}; a target must be Boolean or an integer column of 0/1 labels",
            target_column.data_type
        )));
    }
    for name in exclude {
        if find(name).is_none() {
            return Err(ToolError::Invalid(format!(
                "cannot exclude {name:?}: dataset {dataset} has no such column; its columns: {}",
                names()
            )));
        }
    }
    let chosen: Vec<String> = match features {
        Some(list) => {
            if list.is_empty() {
                return Err(ToolError::Invalid(
                    "`features` is empty; leave it out to use every numeric or boolean column"
                        .into(),
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for name in list {
                let column = find(name).ok_or_else(|| {
                    ToolError::Invalid(format!(
                        "dataset {dataset} has no feature column {name:?}; its columns: {}",
                        names()
                    ))
                })?;
                if name == target {
                    return Err(ToolError::Invalid(format!(
                        "{name:?} is the target; it cannot also be a feature"
                    )));
                }
                if !is_feature_type(&column.data_type) {
                    return Err(ToolError::Invalid(format!(
                        "feature {name:?} is {}; features must be numeric or Boolean",
                        column.data_type
                    )));
                }
                if !seen.insert(name.as_str()) {
                    return Err(ToolError::Invalid(format!(
                        "feature {name:?} is listed twice"
                    )));
                }
            }
            list.iter()
                .filter(|name| !exclude.contains(name))
                .cloned()
                .collect()
        }
        None => columns
            .iter()
            .filter(|c| c.name != target && is_feature_type(&c.data_type))
            .filter(|c| !exclude.contains(&c.name))
            .map(|c| c.name.clone())
            .collect(),
    };
    if chosen.is_empty() {
        return Err(ToolError::Invalid(format!(
            "no feature columns left: dataset {dataset} needs a numeric or Boolean column besides the target; its columns: {}",
            names()
        )));
    }
    Ok(ColumnSelection {
        target: target.to_owned(),
        features: chosen,
    })
}

/// The rows of `batch` as a training set. Fails, naming the column and row,
/// on a missing column, a null, a non-finite value or a label other than 0/1.
pub fn training_set(
    batch: &RecordBatch,
    selection: &ColumnSelection,
) -> Result<TrainingSet, String> {
    let rows = batch.num_rows();
    let mut x = vec![Vec::with_capacity(selection.features.len()); rows];
    for name in &selection.features {
        let values = column_values(batch, name)?;
        for (row, value) in x.iter_mut().zip(values) {
            row.push(value);
        }
    }
    let labels = column_values(batch, &selection.target)?;
    let mut y = Vec::with_capacity(rows);
    for (row, label) in labels.into_iter().enumerate() {
        if label == 0.0 || label == 1.0 {
            y.push(label as i64);
        } else {
            return Err(format!(
                "target {:?} is {label} at row {row}; labels must be 0 or 1",
                selection.target
            ));
        }
    }
    Ok(TrainingSet {
        feature_names: selection.features.clone(),
        target: selection.target.clone(),
        x,
        y,
    })
}

/// One column as f64, booleans as 0/1.
fn column_values(batch: &RecordBatch, name: &str) -> Result<Vec<f64>, String> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| format!("the dataset has no column {name:?}"))?;
    if let Some(row) = (0..column.len()).find(|&i| column.is_null(i)) {
        return Err(format!(
            "column {name:?} is null at row {row}; training needs complete rows"
        ));
    }
    let values: Vec<f64> = match column.data_type() {
        DataType::Boolean => column
            .as_boolean()
            .iter()
            .map(|v| f64::from(u8::from(v.unwrap_or(false))))
            .collect(),
        DataType::Int8 => primitive::<Int8Type>(column.as_ref()),
        DataType::Int16 => primitive::<Int16Type>(column.as_ref()),
        DataType::Int32 => primitive::<Int32Type>(column.as_ref()),
        DataType::Int64 => primitive::<Int64Type>(column.as_ref()),
        DataType::UInt8 => primitive::<UInt8Type>(column.as_ref()),
        DataType::UInt16 => primitive::<UInt16Type>(column.as_ref()),
        DataType::UInt32 => primitive::<UInt32Type>(column.as_ref()),
        DataType::UInt64 => primitive::<UInt64Type>(column.as_ref()),
        DataType::Float32 => primitive::<Float32Type>(column.as_ref()),
        DataType::Float64 => primitive::<Float64Type>(column.as_ref()),
        other => {
            return Err(format!(
                "column {name:?} is {other}; only numeric and Boolean columns can be used"
            ));
        }
    };
    if let Some(row) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "column {name:?} is {} at row {row}; values must be finite",
            values[row]
        ));
    }
    Ok(values)
}

fn primitive<T>(column: &dyn Array) -> Vec<f64>
where
    T: arrow_array::ArrowPrimitiveType,
    T::Native: ToF64,
{
    column
        .as_primitive::<T>()
        .values()
        .iter()
        .map(|v| v.to_f64())
        .collect()
}

/// Widening to f64; 64-bit integers above 2^53 round, which is fine for
/// features (they are scaled or split on, never compared for equality).
trait ToF64 {
    fn to_f64(&self) -> f64;
}

macro_rules! to_f64_via_as {
    ($($t:ty),*) => {$(
        impl ToF64 for $t {
            fn to_f64(&self) -> f64 {
                *self as f64
            }
        }
    )*};
}
to_f64_via_as!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    fn column(name: &str, data_type: &str) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            data_type: data_type.into(),
            nullable: true,
        }
    }

    fn schema() -> Vec<ColumnSchema> {
        vec![
            column("amount", "Float64"),
            column("n", "Int64"),
            column("country", "Utf8"),
            column("is_fraud", "Boolean"),
        ]
    }

    #[test]
    fn default_features_are_numeric_and_boolean_columns_but_the_target() {
        let selection = select_columns("tx", &schema(), "is_fraud", None, &[]).expect("valid");
        assert_eq!(selection.features, ["amount", "n"]);
        let excluded =
            select_columns("tx", &schema(), "is_fraud", None, &["n".into()]).expect("valid");
        assert_eq!(excluded.features, ["amount"]);
    }

    #[test]
    fn bad_columns_are_named() {
        let missing = select_columns("tx", &schema(), "label", None, &[]).expect_err("no label");
        assert!(missing.to_string().contains("\"label\""), "{missing}");
        let text_target =
            select_columns("tx", &schema(), "country", None, &[]).expect_err("text target");
        assert!(text_target.to_string().contains("Utf8"), "{text_target}");
        let text_feature =
            select_columns("tx", &schema(), "is_fraud", Some(&["country".into()]), &[])
                .expect_err("text feature");
        assert!(
            text_feature.to_string().contains("numeric"),
            "{text_feature}"
        );
        let target_feature =
            select_columns("tx", &schema(), "is_fraud", Some(&["is_fraud".into()]), &[])
                .expect_err("target as feature");
        assert!(
            target_feature.to_string().contains("target"),
            "{target_feature}"
        );
        let unknown_exclude = select_columns("tx", &schema(), "is_fraud", None, &["x".into()])
            .expect_err("unknown exclude");
        assert!(
            unknown_exclude.to_string().contains("\"x\""),
            "{unknown_exclude}"
        );
    }

    fn batch(labels: Vec<i64>) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("amount", DataType::Float64, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("label", DataType::Int64, true),
            Field::new("country", DataType::Utf8, true),
        ]);
        let n = labels.len();
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Float64Array::from(
                    (0..n).map(|i| i as f64 * 1.5).collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(
                    (0..n).map(|i| i % 2 == 0).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(labels)),
                Arc::new(StringArray::from(vec!["DE"; n])),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn rows_become_features_and_labels() {
        let selection = ColumnSelection {
            target: "label".into(),
            features: vec!["amount".into(), "flag".into()],
        };
        let set = training_set(&batch(vec![0, 1, 1]), &selection).expect("valid");
        assert_eq!(set.x, vec![vec![0.0, 1.0], vec![1.5, 0.0], vec![3.0, 1.0]]);
        assert_eq!(set.y, vec![0, 1, 1]);
        let err = training_set(&batch(vec![0, 2, 1]), &selection).expect_err("label 2");
        assert!(err.contains("row 1"), "{err}");
    }
}
