//! A generated batch in the two shapes other parts of the demo take: one
//! row as a KServe v1 instance object, and the whole batch as CSV (the data
//! agent ingests CSV objects as well as Parquet datasets).

use std::fmt::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMillisecondType,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde_json::{Map, Number, Value};

/// A batch that cannot be exported as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ExportError(pub String);

/// Row `row` of `batch` as a KServe v1 instance: `{feature: number}` for
/// each name in `features`. Integer columns give integers, float columns
/// floats; a missing, non-numeric, null or non-finite value is an error.
pub fn row_instance(
    batch: &RecordBatch,
    row: usize,
    features: &[&str],
) -> Result<Map<String, Value>, ExportError> {
    if row >= batch.num_rows() {
        return Err(ExportError(format!(
            "row {row} is past the batch's {} rows",
            batch.num_rows()
        )));
    }
    let mut instance = Map::with_capacity(features.len());
    for name in features {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| ExportError(format!("the batch has no column {name:?}")))?;
        if column.is_null(row) {
            return Err(ExportError(format!("{name:?} is null in row {row}")));
        }
        let value = match column.data_type() {
            DataType::Int64 => Value::from(column.as_primitive::<Int64Type>().value(row)),
            DataType::Int32 => Value::from(column.as_primitive::<Int32Type>().value(row)),
            DataType::Float64 => {
                let x = column.as_primitive::<Float64Type>().value(row);
                Number::from_f64(x).map(Value::Number).ok_or_else(|| {
                    ExportError(format!("{name:?} is not finite ({x}) in row {row}"))
                })?
            }
            DataType::Boolean => Value::from(u8::from(column.as_boolean().value(row))),
            other => {
                return Err(ExportError(format!(
                    "{name:?} is {other}, not a numeric feature"
                )));
            }
        };
        instance.insert((*name).to_owned(), value);
    }
    Ok(instance)
}

/// The batch as CSV: a header row, then one line per row, CRLF-terminated
/// and quoted as RFC 4180 says (fields holding a comma, quote, CR or LF are
/// quoted, quotes doubled). Nulls are empty fields. Floats always carry a
/// decimal point so that type inference reads them back as floats;
/// timestamps are RFC 3339 in UTC.
pub fn to_csv(batch: &RecordBatch) -> Result<String, ExportError> {
    let schema = batch.schema();
    let mut out = String::new();
    let header: Vec<String> = schema.fields().iter().map(|f| quoted(f.name())).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    // Check every column's type before writing rows, so an unsupported
    // column fails at once rather than after the first row.
    for field in schema.fields() {
        if !supported(field.data_type()) {
            return Err(ExportError(format!(
                "column {:?} is {}, which to_csv does not write",
                field.name(),
                field.data_type()
            )));
        }
    }
    for row in 0..batch.num_rows() {
        for (i, column) in batch.columns().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if column.is_null(row) {
                continue;
            }
            write_cell(&mut out, column.as_ref(), row);
        }
        out.push_str("\r\n");
    }
    Ok(out)
}

fn supported(data_type: &DataType) -> bool {
    use DataType::*;
    match data_type {
        Utf8 | LargeUtf8 | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32
        | UInt64 | Float32 | Float64 => true,
        Timestamp(TimeUnit::Millisecond, tz) => tz.as_deref().is_none_or(is_utc),
        _ => false,
    }
}

fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "utc" | "Z" | "+00:00")
}

/// Writes one non-null cell of a column `supported` accepted.
fn write_cell(out: &mut String, column: &dyn Array, row: usize) {
    match column.data_type() {
        DataType::Utf8 => out.push_str(&quoted(column.as_string::<i32>().value(row))),
        DataType::LargeUtf8 => out.push_str(&quoted(column.as_string::<i64>().value(row))),
        DataType::Boolean => out.push_str(if column.as_boolean().value(row) {
            "true"
        } else {
            "false"
        }),
        DataType::Int8 => push(out, column.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => push(out, column.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => push(out, column.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => push(out, column.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => push(out, column.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => push(out, column.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => push(out, column.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => push(out, column.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => push_float(
            out,
            f64::from(column.as_primitive::<Float32Type>().value(row)),
        ),
        DataType::Float64 => push_float(out, column.as_primitive::<Float64Type>().value(row)),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let ms = column.as_primitive::<TimestampMillisecondType>().value(row);
            match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
                Some(t) => out.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                // Out of chrono's range: the raw epoch milliseconds, which
                // still says what the value was.
                None => push(out, ms),
            }
        }
        _ => unreachable!("to_csv checked every column type with supported()"),
    }
}

fn push(out: &mut String, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

/// Rust's `Display` for f64 is the shortest string that reads back to the
/// same value and never uses an exponent; add ".0" to whole numbers so the
/// column stays a float column when read back.
fn push_float(out: &mut String, x: f64) {
    let start = out.len();
    push(out, x);
    if x.is_finite() && !out[start..].contains('.') {
        out.push_str(".0");
    }
}

fn quoted(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transactions::{FEATURES, TransactionsConfig, generate};
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn small() -> RecordBatch {
        generate(&TransactionsConfig {
            rows: 50,
            ..TransactionsConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn an_instance_holds_each_feature_as_a_number() {
        let batch = small();
        let instance = row_instance(&batch, 3, FEATURES).unwrap();
        assert_eq!(instance.len(), FEATURES.len());
        let amount = batch
            .column_by_name("amount")
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(3);
        assert_eq!(instance["amount"], Value::from(amount));
        assert!(instance["hour"].is_i64());
        assert!(instance["merchant_risk"].is_f64());
        for name in FEATURES {
            assert!(instance[*name].is_number(), "{name}");
        }
    }

    #[test]
    fn bad_instance_requests_say_what_is_wrong() {
        let batch = small();
        let err = |row, features: &[&str]| row_instance(&batch, row, features).unwrap_err().0;
        assert!(err(50, FEATURES).contains("row 50"));
        assert!(err(0, &["amount", "nope"]).contains("\"nope\""));
        assert!(err(0, &["merchant_category"]).contains("not a numeric feature"));
        let nan =
            RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(vec![f64::NAN])) as _)])
                .unwrap();
        assert!(
            row_instance(&nan, 0, &["x"])
                .unwrap_err()
                .0
                .contains("not finite")
        );
    }

    #[test]
    fn csv_quotes_as_rfc_4180_says() {
        let batch = RecordBatch::try_from_iter([
            (
                "name",
                Arc::new(StringArray::from(vec![
                    Some("plain"),
                    Some("a,b"),
                    Some("say \"hi\""),
                    Some("two\nlines"),
                    None,
                ])) as _,
            ),
            (
                "x",
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    Some(2.5),
                    Some(-0.125),
                    Some(1e-7),
                    Some(3.0),
                ])) as _,
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    None,
                    Some(-3),
                    Some(4),
                    Some(5),
                ])) as _,
            ),
        ])
        .unwrap();
        assert_eq!(
            to_csv(&batch).unwrap(),
            "name,x,n\r\nplain,1.0,1\r\n\"a,b\",2.5,\r\n\"say \"\"hi\"\"\",-0.125,-3\r\n\
             \"two\nlines\",0.0000001,4\r\n,3.0,5\r\n"
        );
    }

    #[test]
    fn csv_of_a_generated_batch_reads_back_with_the_same_values() {
        let batch = small();
        let csv = to_csv(&batch).unwrap();
        assert!(csv.starts_with(
            "transaction_id,event_time,amount,hour,distance_from_home_km,account_age_days,\
             txn_count_24h,card_present,merchant_risk,merchant_category,age_band,age_band_code,\
             is_fraud\r\n"
        ));
        assert!(
            csv.contains(",2026-01-05T00:01:00.000Z,"),
            "{}",
            &csv[..300]
        );
        // Read back the way the storage server ingests CSV: arrow-csv with
        // schema inference.
        let format = arrow_csv::reader::Format::default().with_header(true);
        let (schema, _) = format
            .infer_schema(std::io::Cursor::new(csv.as_bytes()), None)
            .unwrap();
        let schema = Arc::new(schema);
        let mut reader = arrow_csv::ReaderBuilder::new(schema.clone())
            .with_format(format)
            .build(std::io::Cursor::new(csv.as_bytes()))
            .unwrap();
        let back = reader.next().unwrap().unwrap();
        assert_eq!(back.num_rows(), batch.num_rows());
        for name in crate::transactions::BIASED_FEATURES.iter().chain(&[
            "is_fraud",
            "merchant_category",
            "age_band",
            "transaction_id",
        ]) {
            let original = batch.column_by_name(name).unwrap();
            let read = back.column_by_name(name).unwrap();
            assert_eq!(original.data_type(), read.data_type(), "{name}");
            assert_eq!(original.as_ref(), read.as_ref(), "{name}");
        }
        assert!(matches!(
            back.column_by_name("event_time").unwrap().data_type(),
            DataType::Timestamp(_, _)
        ));
    }

    #[test]
    fn csv_refuses_a_column_type_it_does_not_write() {
        let batch = RecordBatch::try_from_iter([(
            "d",
            Arc::new(arrow_array::Date32Array::from(vec![1])) as _,
        )])
        .unwrap();
        assert!(to_csv(&batch).unwrap_err().0.contains("\"d\""));
    }
}
