//! Row work on one Arrow batch: reading CSV and Parquet, type coercion, the
//! time window, de-duplication, the holdout split, and shaping a batch for
//! the trip to the storage server. Pure functions over in-memory data, so
//! each is unit-tested without servers.

use std::collections::{BTreeMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, RecordBatchReader,
    StringArray, TimestampMillisecondArray,
};
use arrow_cast::cast::{CastOptions, cast_with_options};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// At most this many failing values are quoted per coerced column.
pub const MAX_EXAMPLES: usize = 5;
/// Quoted values are cut to this many characters.
const MAX_EXAMPLE_CHARS: usize = 80;
/// How many rows the storage server reads to infer CSV column types
/// (`put_dataset` with `source_key`); predictions of what it will store
/// read the same number.
pub const STORAGE_CSV_INFERENCE_ROWS: usize = 10_000;

/// A type a column can be coerced to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit integer. Text must be an integer, or a number with no
    /// fractional part ("3.0"); booleans become 1 and 0.
    Int,
    /// 64-bit float. Text must be a finite number.
    Float,
    /// Boolean. Text true/false, t/f, yes/no, y/n or 1/0, in any case.
    Bool,
    /// Text. Every value converts.
    String,
    /// UTC timestamp in milliseconds. Text in RFC 3339 (`2026-01-05T10:00:00Z`,
    /// any offset), `YYYY-MM-DD[T ]HH:MM:SS[.fff]` read as UTC, a bare date
    /// (midnight UTC), or an integer of epoch milliseconds; dates and other
    /// timestamp units convert exactly.
    Timestamp,
}

impl ColumnType {
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::Int => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::String => DataType::Utf8,
            ColumnType::Timestamp => utc_millis(),
        }
    }
}

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// What coercing one column did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColumnCoercion {
    pub column: String,
    /// The column's Arrow type before.
    pub from: String,
    pub to: ColumnType,
    /// Non-null values that converted.
    pub converted: u64,
    /// Non-null values that did not; their rows are dropped.
    pub failed: u64,
    /// Up to five distinct values that did not convert.
    pub examples: Vec<String>,
}

/// A batch after coercion.
#[derive(Debug, Clone)]
pub struct Coerced {
    pub batch: RecordBatch,
    pub columns: Vec<ColumnCoercion>,
    /// Rows dropped because at least one of their values did not convert.
    pub rows_dropped: u64,
}

/// The names of the columns of `batch`, for messages.
pub fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// Reads a CSV file with a header row; column types are inferred from all
/// rows (empty fields are nulls).
pub fn read_csv(bytes: Bytes) -> Result<RecordBatch, String> {
    let format = arrow_csv::reader::Format::default().with_header(true);
    let (schema, _) = format
        .infer_schema(Cursor::new(&bytes), None)
        .map_err(|e| format!("cannot read the CSV: {e}"))?;
    if schema.fields().is_empty() {
        return Err("the CSV has no columns".into());
    }
    let schema = Arc::new(schema);
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(64 * 1024)
        .build(Cursor::new(bytes))
        .map_err(|e| format!("cannot read the CSV: {e}"))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read the CSV: {e}"))?;
    let batch = arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| format!("cannot assemble the CSV's columns: {e}"))?;
    if batch.num_rows() == 0 {
        return Err("the CSV has a header but no rows".into());
    }
    Ok(batch)
}

/// Reads a Parquet file into one batch.
pub fn read_parquet(bytes: Bytes) -> Result<RecordBatch, String> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.with_batch_size(64 * 1024).build())
        .map_err(|e| format!("cannot read the Parquet file: {e}"))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read the Parquet file: {e}"))?;
    let batch = arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| format!("cannot assemble the Parquet file's columns: {e}"))?;
    if batch.num_rows() == 0 {
        return Err("the Parquet file has no rows".into());
    }
    Ok(batch)
}

/// Coerces the columns named in `wanted`; a row with any value that does not
/// convert is dropped. Nulls stay null and are not failures. Every column
/// in `wanted` must exist (the caller checks, to name the bad field).
pub fn coerce(
    batch: &RecordBatch,
    wanted: &BTreeMap<String, ColumnType>,
) -> Result<Coerced, String> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let mut failed_rows = vec![false; batch.num_rows()];
    let mut reports = Vec::with_capacity(wanted.len());
    for (name, to) in wanted {
        let index = schema
            .index_of(name)
            .map_err(|_| format!("no column {name:?} to coerce"))?;
        let original = columns[index].clone();
        let converted = coerce_column(&original, *to)?;
        let mut failed = 0u64;
        let mut examples: Vec<String> = Vec::new();
        let formatter = ArrayFormatter::try_new(original.as_ref(), &FormatOptions::default())
            .map_err(|e| format!("cannot read column {name:?}: {e}"))?;
        for (row, failed_row) in failed_rows.iter_mut().enumerate() {
            if original.is_valid(row) && converted.is_null(row) {
                failed += 1;
                *failed_row = true;
                if examples.len() < MAX_EXAMPLES {
                    let text: String = formatter
                        .value(row)
                        .to_string()
                        .chars()
                        .take(MAX_EXAMPLE_CHARS)
                        .collect();
                    if !examples.contains(&text) {
                        examples.push(text);
                    }
                }
            }
        }
        let non_null = (original.len() - original.null_count()) as u64;
        reports.push(ColumnCoercion {
            column: name.clone(),
            from: original.data_type().to_string(),
            to: *to,
            converted: non_null - failed,
            failed,
            examples,
        });
        fields[index] = Field::new(name, converted.data_type().clone(), true);
        columns[index] = converted;
    }
    let coerced = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| format!("cannot assemble the coerced columns: {e}"))?;
    let keep = BooleanArray::from(failed_rows.iter().map(|f| !f).collect::<Vec<bool>>());
    let rows_dropped = failed_rows.iter().filter(|f| **f).count() as u64;
    Ok(Coerced {
        batch: filter(&coerced, &keep)?,
        columns: reports,
        rows_dropped,
    })
}

/// One column converted to `to`; a null where the input was not null marks
/// a value that did not convert.
fn coerce_column(array: &ArrayRef, to: ColumnType) -> Result<ArrayRef, String> {
    let from = array.data_type();
    if *from == to.arrow_type() {
        return Ok(array.clone());
    }
    let exact_cast = |target: DataType| {
        // `safe`: a value out of the target's range becomes null, which
        // counts as a failure, rather than failing the whole column.
        cast_with_options(array.as_ref(), &target, &CastOptions::default())
            .map_err(|e| format!("cannot convert {from} to {target}: {e}"))
    };
    match to {
        ColumnType::Int if from.is_integer() || *from == DataType::Boolean => {
            exact_cast(DataType::Int64)
        }
        ColumnType::Float if from.is_numeric() || *from == DataType::Boolean => {
            exact_cast(DataType::Float64)
        }
        ColumnType::Timestamp if is_temporal(from) => {
            let millis = epoch_millis_of_temporal(array)
                .ok_or_else(|| format!("cannot read {from} as a timestamp"))?;
            Ok(Arc::new(
                TimestampMillisecondArray::from(millis).with_timezone("UTC"),
            ))
        }
        _ => {
            let texts = texts(array)?;
            Ok(match to {
                ColumnType::Int => Arc::new(Int64Array::from(map_texts(&texts, parse_int))),
                ColumnType::Float => Arc::new(Float64Array::from(map_texts(&texts, parse_float))),
                ColumnType::Bool => Arc::new(BooleanArray::from(map_texts(&texts, parse_bool))),
                ColumnType::String => Arc::new(StringArray::from(texts)),
                ColumnType::Timestamp => Arc::new(
                    TimestampMillisecondArray::from(map_texts(&texts, parse_timestamp_ms))
                        .with_timezone("UTC"),
                ),
            })
        }
    }
}

fn map_texts<T>(texts: &[Option<String>], parse: fn(&str) -> Option<T>) -> Vec<Option<T>> {
    texts.iter().map(|t| t.as_deref().and_then(parse)).collect()
}

/// Each value as text, nulls as `None`.
fn texts(array: &ArrayRef) -> Result<Vec<Option<String>>, String> {
    let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
        .map_err(|e| format!("cannot read {} values as text: {e}", array.data_type()))?;
    Ok((0..array.len())
        .map(|row| {
            array
                .is_valid(row)
                .then(|| formatter.value(row).to_string())
        })
        .collect())
}

fn is_temporal(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}

/// Epoch milliseconds of a timestamp or date column, from the stored
/// values (which are UTC whatever the column's zone), so no zone
/// arithmetic can shift them. `None` for other types.
fn epoch_millis_of_temporal(array: &ArrayRef) -> Option<Vec<Option<i64>>> {
    fn scaled<T: arrow_array::ArrowPrimitiveType<Native = N>, N: Into<i64> + Copy>(
        array: &ArrayRef,
        to_ms: impl Fn(i64) -> i64,
    ) -> Vec<Option<i64>> {
        array
            .as_primitive::<T>()
            .iter()
            .map(|v| v.map(|v| to_ms(v.into())))
            .collect()
    }
    Some(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scaled::<TimestampSecondType, _>(array, |s| s.saturating_mul(1000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType, _>(array, |ms| ms)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType, _>(array, |us| us.div_euclid(1000))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType, _>(array, |ns| ns.div_euclid(1_000_000))
        }
        DataType::Date32 => scaled::<Date32Type, _>(array, |days| days.saturating_mul(86_400_000)),
        DataType::Date64 => scaled::<Date64Type, _>(array, |ms| ms),
        _ => return None,
    })
}

/// Below 2^53 every integer is exactly a float, so "3.0" means 3 exactly.
const MAX_EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

pub fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Some(v);
    }
    let f: f64 = t.parse().ok()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() <= MAX_EXACT_FLOAT_INT).then_some(f as i64)
}

pub fn parse_float(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Epoch milliseconds of a timestamp written as text (see [`ColumnType::Timestamp`]).
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(t) {
        return Some(t.timestamp_millis());
    }
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, pattern) {
            return Some(naive.and_utc().timestamp_millis());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return date
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp_millis());
    }
    t.parse::<i64>().ok()
}

/// Event times of a column for a time window, in epoch milliseconds:
/// timestamp and date columns as stored, text parsed as
/// [`ColumnType::Timestamp`] does, integers as epoch milliseconds. A null or
/// unreadable value is `None`.
pub fn event_times(array: &ArrayRef) -> Result<Vec<Option<i64>>, String> {
    if let Some(millis) = epoch_millis_of_temporal(array) {
        return Ok(millis);
    }
    match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Int64 => {
            Ok(map_texts(&texts(array)?, parse_timestamp_ms))
        }
        other => Err(format!(
            "is {other}; a time window needs timestamps (coerce the column to `timestamp`)"
        )),
    }
}

/// Rows whose time lies in [`from`, `to`); a row without a readable time
/// is outside every window.
pub fn window_mask(times: &[Option<i64>], from: Option<i64>, to: Option<i64>) -> BooleanArray {
    times
        .iter()
        .map(|t| Some(t.is_some_and(|t| from.is_none_or(|f| t >= f) && to.is_none_or(|e| t < e))))
        .collect()
}

/// The first row of each distinct combination of `columns` (nulls equal
/// nulls); later repeats are false.
pub fn first_occurrences(batch: &RecordBatch, columns: &[String]) -> Result<BooleanArray, String> {
    let formatters: Vec<(ArrayRef, String)> = columns
        .iter()
        .map(|name| {
            batch
                .column_by_name(name)
                .cloned()
                .map(|c| (c, name.clone()))
                .ok_or_else(|| format!("no column {name:?} to de-duplicate on"))
        })
        .collect::<Result<_, _>>()?;
    let texts: Vec<Vec<Option<String>>> = formatters
        .iter()
        .map(|(array, _)| texts(array))
        .collect::<Result<_, _>>()?;
    let mut seen: HashSet<Vec<Option<&str>>> = HashSet::with_capacity(batch.num_rows());
    Ok((0..batch.num_rows())
        .map(|row| {
            let key: Vec<Option<&str>> = texts.iter().map(|c| c[row].as_deref()).collect();
            Some(seen.insert(key))
        })
        .collect())
}

/// Which rows go to the holdout: `round(rows × fraction)` of them, chosen by
/// a partial Fisher–Yates shuffle seeded with `seed`. The same row count,
/// fraction and seed always choose the same rows.
pub fn holdout_rows(rows: usize, fraction: f64, seed: u64) -> Result<Vec<bool>, String> {
    let holdout = (rows as f64 * fraction).round() as usize;
    if holdout == 0 || holdout >= rows {
        return Err(format!(
            "{rows} rows are too few to hold out {fraction} of them and keep both parts non-empty"
        ));
    }
    let mut order: Vec<usize> = (0..rows).collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..holdout {
        let j = rng.usize(i..rows);
        order.swap(i, j);
    }
    let mut mask = vec![false; rows];
    for &row in &order[..holdout] {
        mask[row] = true;
    }
    Ok(mask)
}

pub fn filter(batch: &RecordBatch, keep: &BooleanArray) -> Result<RecordBatch, String> {
    arrow_select::filter::filter_record_batch(batch, keep)
        .map_err(|e| format!("cannot select rows: {e}"))
}

/// The batch with every column in a type the CSV carrier writes and reads
/// back: timestamps and dates become UTC milliseconds, views, dictionaries,
/// decimals and half floats their plain forms, an all-null column text.
/// Nested and binary columns cannot travel as CSV and are refused.
pub fn storable(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let cast_to = |target: DataType| {
            cast_with_options(column.as_ref(), &target, &CastOptions::default()).map_err(|e| {
                format!(
                    "column {:?}: cannot convert {} to {target}: {e}",
                    field.name(),
                    field.data_type()
                )
            })
        };
        let converted: ArrayRef = match field.data_type() {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64 => column.clone(),
            DataType::Timestamp(TimeUnit::Millisecond, None) => column.clone(),
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
                let millis = epoch_millis_of_temporal(column)
                    .expect("timestamp and date columns have epoch milliseconds");
                Arc::new(TimestampMillisecondArray::from(millis).with_timezone("UTC"))
            }
            DataType::Utf8View | DataType::Null => cast_to(DataType::Utf8)?,
            DataType::Float16
            | DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => cast_to(DataType::Float64)?,
            DataType::Dictionary(_, values) if is_plain(values) => {
                cast_to(values.as_ref().clone())?
            }
            other => {
                return Err(format!(
                    "column {:?} is {other}, which cannot be stored as a dataset column \
                     (text, numbers, booleans, timestamps and dates can)",
                    field.name()
                ));
            }
        };
        fields.push(Field::new(
            field.name(),
            converted.data_type().clone(),
            true,
        ));
        columns.push(converted);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| format!("cannot assemble the dataset's columns: {e}"))
}

fn is_plain(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Int64 | DataType::Float64
    )
}

/// A column the storage server will store with a different kind of type
/// than it had here (CSV carries no types; the server infers them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TypeChange {
    pub column: String,
    /// The Arrow type in the ingested batch.
    pub ingested: String,
    /// The Arrow type the stored dataset has.
    pub stored: String,
}

/// Broad kinds of column types: a change within a kind (Int32 → Int64,
/// timestamp units and zones) loses nothing that matters here.
fn kind_of(data_type: &DataType) -> &'static str {
    match data_type {
        t if t.is_integer() => "integer",
        t if t.is_floating() => "float",
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "float",
        DataType::Boolean => "boolean",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string",
        DataType::Timestamp(..) => "timestamp",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Null => "null",
        _ => "other",
    }
}

/// The types the storage server will infer for `csv`, the way its
/// `put_dataset` reads a CSV object.
pub fn stored_types(csv: &str) -> Result<Vec<(String, DataType)>, String> {
    let format = arrow_csv::reader::Format::default().with_header(true);
    let (schema, _) = format
        .infer_schema(
            Cursor::new(csv.as_bytes()),
            Some(STORAGE_CSV_INFERENCE_ROWS),
        )
        .map_err(|e| format!("the CSV would not read back: {e}"))?;
    Ok(schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect())
}

/// Columns whose kind of type differs between `batch` and `stored`.
pub fn type_changes(batch: &RecordBatch, stored: &[(String, DataType)]) -> Vec<TypeChange> {
    batch
        .schema()
        .fields()
        .iter()
        .filter_map(|field| {
            let (_, stored_type) = stored.iter().find(|(name, _)| name == field.name())?;
            (kind_of(field.data_type()) != kind_of(stored_type)).then(|| TypeChange {
                column: field.name().clone(),
                ingested: field.data_type().to_string(),
                stored: stored_type.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::{Float64Type, Int64Type};

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn text_parsers_are_strict() {
        assert_eq!(parse_int(" 42 "), Some(42));
        assert_eq!(parse_int("3.0"), Some(3));
        assert_eq!(parse_int("3.5"), None);
        assert_eq!(parse_int("inf"), None);
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("NaN"), None);
        assert_eq!(parse_float("12,5"), None);
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        let ten = 1_767_607_200_000; // 2026-01-05T10:00:00Z
        assert_eq!(parse_timestamp_ms("2026-01-05T10:00:00Z"), Some(ten));
        assert_eq!(parse_timestamp_ms("2026-01-05T12:00:00+02:00"), Some(ten));
        assert_eq!(parse_timestamp_ms("2026-01-05 10:00:00"), Some(ten));
        assert_eq!(parse_timestamp_ms("2026-01-05T10:00:00.000"), Some(ten));
        assert_eq!(parse_timestamp_ms("2026-01-05"), Some(ten - 10 * 3_600_000));
        assert_eq!(parse_timestamp_ms("1767607200000"), Some(ten));
        assert_eq!(parse_timestamp_ms("yesterday"), None);
    }

    #[test]
    fn coercion_converts_counts_and_drops_failing_rows() {
        let input = batch(vec![
            (
                "amount",
                Arc::new(StringArray::from(vec![
                    Some("1.5"),
                    Some("oops"),
                    None,
                    Some("4"),
                    Some("oops"),
                ])) as ArrayRef,
            ),
            (
                "n",
                Arc::new(StringArray::from(vec![
                    Some("1"),
                    Some("2"),
                    Some("3"),
                    Some("x"),
                    Some("5"),
                ])) as ArrayRef,
            ),
        ]);
        let wanted = BTreeMap::from([
            ("amount".to_owned(), ColumnType::Float),
            ("n".to_owned(), ColumnType::Int),
        ]);
        let out = coerce(&input, &wanted).unwrap();
        // Rows 1 and 4 fail on amount, row 3 on n.
        assert_eq!(out.rows_dropped, 3);
        assert_eq!(out.batch.num_rows(), 2);
        let amount = &out.columns[0];
        assert_eq!((amount.converted, amount.failed), (2, 2));
        assert_eq!(amount.examples, vec!["oops".to_owned()]);
        assert_eq!(amount.from, "Utf8");
        let n = &out.columns[1];
        assert_eq!(
            (n.converted, n.failed, n.examples.clone()),
            (4, 1, vec!["x".to_owned()])
        );
        let amounts = out.batch.column(0).as_primitive::<Float64Type>();
        assert_eq!(amounts.value(0), 1.5);
        assert!(amounts.is_null(1), "a null stays null and is not a failure");
        let ns = out.batch.column(1).as_primitive::<Int64Type>();
        assert_eq!(ns.values().to_vec(), vec![1, 3]);
    }

    #[test]
    fn coercion_between_typed_columns_is_exact() {
        let input = batch(vec![
            (
                "flag",
                Arc::new(BooleanArray::from(vec![true, false])) as ArrayRef,
            ),
            (
                "x",
                Arc::new(Float64Array::from(vec![2.0, 2.5])) as ArrayRef,
            ),
            (
                "at",
                Arc::new(
                    arrow_array::TimestampSecondArray::from(vec![1_767_607_200, 0])
                        .with_timezone("+02:00"),
                ) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef),
        ]);
        let wanted = BTreeMap::from([
            ("flag".to_owned(), ColumnType::Int),
            ("x".to_owned(), ColumnType::Int),
            ("at".to_owned(), ColumnType::Timestamp),
            ("n".to_owned(), ColumnType::String),
        ]);
        let out = coerce(&input, &wanted).unwrap();
        // 2.5 is not an integer: that row goes.
        assert_eq!(out.batch.num_rows(), 1);
        let flag = out.batch.column_by_name("flag").unwrap();
        assert_eq!(flag.as_primitive::<Int64Type>().value(0), 1);
        let at = out.batch.column_by_name("at").unwrap();
        assert_eq!(at.data_type(), &utc_millis());
        assert_eq!(
            at.as_primitive::<TimestampMillisecondType>().value(0),
            1_767_607_200_000,
            "zones do not shift the instant"
        );
        let n = out.batch.column_by_name("n").unwrap();
        assert_eq!(n.as_string::<i32>().value(0), "7");
    }

    #[test]
    fn windows_are_half_open_and_drop_unknown_times() {
        let times = vec![Some(10), Some(20), None, Some(30), Some(19)];
        let mask = window_mask(&times, Some(19), Some(30));
        let kept: Vec<bool> = mask.iter().map(|v| v.unwrap()).collect();
        assert_eq!(kept, vec![false, true, false, false, true]);
        let open = window_mask(&times, None, Some(20));
        assert_eq!(open.true_count(), 2);
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2026-01-05T10:00:00Z"),
            Some("nope"),
            None,
        ]));
        assert_eq!(
            event_times(&text).unwrap(),
            vec![Some(1_767_607_200_000), None, None]
        );
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        assert!(event_times(&floats).unwrap_err().contains("coerce"));
    }

    #[test]
    fn dedupe_keeps_the_first_of_each_key() {
        let input = batch(vec![
            (
                "id",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b"),
                    Some("a"),
                    None,
                    None,
                ])) as ArrayRef,
            ),
            (
                "v",
                Arc::new(Int64Array::from(vec![1, 1, 1, 2, 2])) as ArrayRef,
            ),
        ]);
        let by_id = first_occurrences(&input, &["id".to_owned()]).unwrap();
        assert_eq!(by_id.true_count(), 3);
        assert!(!by_id.value(2) && !by_id.value(4));
        let by_both = first_occurrences(&input, &["id".to_owned(), "v".to_owned()]).unwrap();
        assert_eq!(by_both.true_count(), 3);
        let by_v = first_occurrences(&input, &["v".to_owned()]).unwrap();
        assert_eq!(by_v.true_count(), 2);
    }

    #[test]
    fn holdout_is_deterministic_and_sized() {
        let a = holdout_rows(1000, 0.2, 7).unwrap();
        assert_eq!(a.iter().filter(|h| **h).count(), 200);
        assert_eq!(a, holdout_rows(1000, 0.2, 7).unwrap());
        assert_ne!(a, holdout_rows(1000, 0.2, 8).unwrap());
        assert_eq!(
            holdout_rows(3, 0.5, 1)
                .unwrap()
                .iter()
                .filter(|h| **h)
                .count(),
            2
        );
        assert!(holdout_rows(1, 0.5, 1).is_err());
        assert!(holdout_rows(4, 0.05, 1).is_err(), "rounds to zero rows");
    }

    #[test]
    fn storable_batches_survive_csv_with_their_kinds() {
        let generated = mlops_demo_data::generate(&mlops_demo_data::TransactionsConfig {
            rows: 200,
            ..Default::default()
        })
        .unwrap();
        let ready = storable(&generated).unwrap();
        let csv = mlops_demo_data::to_csv(&ready).unwrap();
        let stored = stored_types(&csv).unwrap();
        assert_eq!(type_changes(&ready, &stored), vec![]);
        assert_eq!(stored.len(), generated.num_columns());

        let odd = batch(vec![
            (
                "d",
                Arc::new(arrow_array::Date32Array::from(vec![20_458])) as ArrayRef,
            ),
            (
                "zip",
                Arc::new(StringArray::from(vec!["01234"])) as ArrayRef,
            ),
        ]);
        let ready = storable(&odd).unwrap();
        assert_eq!(ready.column(0).data_type(), &utc_millis());
        let csv = mlops_demo_data::to_csv(&ready).unwrap();
        let changes = type_changes(&ready, &stored_types(&csv).unwrap());
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].column, "zip");
        assert_eq!(changes[0].stored, "Int64");

        let nested = batch(vec![(
            "b",
            Arc::new(arrow_array::BinaryArray::from(vec![b"x".as_ref()])) as ArrayRef,
        )]);
        assert!(storable(&nested).unwrap_err().contains("\"b\""));
    }

    #[test]
    fn csv_and_parquet_read_into_batches() {
        let csv = Bytes::from_static(b"id,amount\na,1.5\nb,oops\n");
        let batch = read_csv(csv).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            batch.column(1).data_type(),
            &DataType::Utf8,
            "a bad value makes text"
        );
        assert!(read_csv(Bytes::from_static(b"id\n")).is_err());

        let mut buf = Vec::new();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let back = read_parquet(Bytes::from(buf)).unwrap();
        assert_eq!(back, batch);
        assert!(read_parquet(Bytes::from_static(b"not parquet")).is_err());
    }
}
