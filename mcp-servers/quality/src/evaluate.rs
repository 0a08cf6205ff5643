//! Evaluating expectations over one record batch. Pure computation: no I/O,
//! and "now" is an argument, so a result depends only on its inputs.

use std::collections::{HashMap, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::suite::{Expectation, TypeFamily, TypeName, ValueSetKind};

/// At most this many unexpected values are shown per expectation.
pub const MAX_EXAMPLES: usize = 5;

/// How one expectation fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExpectationResult {
    /// The expectation as the suite states it.
    pub expectation: Expectation,
    pub success: bool,
    /// What was measured: counts, fractions, observed min/max, a few
    /// unexpected values, the newest timestamp and its age.
    pub observed: Map<String, Value>,
    /// Why the expectation could not be evaluated (missing column, wrong
    /// type); such an expectation counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts over one checkpoint's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Statistics {
    pub evaluated_expectations: u32,
    pub successful_expectations: u32,
    pub unsuccessful_expectations: u32,
    /// 0-100.
    pub success_percent: f64,
}

impl Statistics {
    pub fn new(evaluated: u32, successful: u32) -> Self {
        Statistics {
            evaluated_expectations: evaluated,
            successful_expectations: successful,
            unsuccessful_expectations: evaluated.saturating_sub(successful),
            success_percent: if evaluated == 0 {
                100.0
            } else {
                100.0 * f64::from(successful) / f64::from(evaluated)
            },
        }
    }

    pub fn of(results: &[ExpectationResult]) -> Self {
        let successful = results.iter().filter(|r| r.success).count();
        // A suite holds at most MAX_EXPECTATIONS, far below u32::MAX.
        Statistics::new(results.len() as u32, successful as u32)
    }
}

/// Evaluates every expectation over `batch`, in order.
pub fn evaluate(
    batch: &RecordBatch,
    expectations: &[Expectation],
    now: DateTime<Utc>,
) -> Vec<ExpectationResult> {
    expectations
        .iter()
        .map(|expectation| {
            let (success, observed, error) = match evaluate_one(batch, expectation, now) {
                Ok(Verdict { success, observed }) => (success, observed, None),
                Err(why) => (false, Map::new(), Some(why)),
            };
            ExpectationResult {
                expectation: expectation.clone(),
                success,
                observed,
                error,
            }
        })
        .collect()
}

struct Verdict {
    success: bool,
    observed: Map<String, Value>,
}

/// Err: the expectation cannot be evaluated on this data, and why.
type Evaluation = Result<Verdict, String>;

fn evaluate_one(batch: &RecordBatch, expectation: &Expectation, now: DateTime<Utc>) -> Evaluation {
    match expectation {
        Expectation::ColumnExists { column, data_type } => {
            column_exists(batch, column, data_type.as_deref())
        }
        Expectation::NotNullFraction { column, min } => {
            not_null_fraction(lookup(batch, column)?, *min)
        }
        Expectation::ValuesBetween {
            column,
            min,
            max,
            mostly,
        } => values_between(
            lookup(batch, column)?,
            column,
            *min,
            *max,
            mostly.unwrap_or(1.0),
        ),
        Expectation::ValuesInSet {
            column,
            values,
            mostly,
        } => values_in_set(
            lookup(batch, column)?,
            column,
            values,
            mostly.unwrap_or(1.0),
        ),
        Expectation::ValuesUnique { column } => values_unique(lookup(batch, column)?),
        Expectation::RowCountBetween { min, max } => {
            let rows = batch.num_rows() as u64;
            let success = min.is_none_or(|m| rows >= m) && max.is_none_or(|m| rows <= m);
            Ok(Verdict {
                success,
                observed: object(json!({ "row_count": rows })),
            })
        }
        Expectation::Freshness {
            column,
            max_age_seconds,
        } => freshness(lookup(batch, column)?, column, *max_age_seconds, now),
    }
}

fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn lookup<'a>(batch: &'a RecordBatch, column: &str) -> Result<&'a ArrayRef, String> {
    batch.column_by_name(column).ok_or_else(|| {
        let mut names = column_names(batch);
        let more = names.len().saturating_sub(50);
        names.truncate(50);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "the dataset has no column {column:?}; its columns are {}{tail}",
            names.join(", ")
        )
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A dictionary column as its plain values, so every check sees one layout.
fn plain(array: &ArrayRef) -> Result<ArrayRef, String> {
    match array.data_type() {
        DataType::Dictionary(_, values) => arrow_cast::cast(array, values)
            .map_err(|e| format!("cannot decode the dictionary column: {e}")),
        _ => Ok(array.clone()),
    }
}

fn has_family(array: &dyn Array, family: TypeFamily) -> bool {
    TypeFamily::of(array.data_type()).contains(&family)
}

/// An integer, float or decimal column as f64. Integers beyond 2^53 lose
/// precision, which bounds and set members given as JSON numbers share.
fn numbers(array: &ArrayRef, column: &str, kind: &str) -> Result<Float64Array, String> {
    let array = plain(array)?;
    if !has_family(&array, TypeFamily::Number) {
        return Err(format!(
            "column {column:?} is {}; {kind} needs a numeric column (integer, float or decimal)",
            array.data_type()
        ));
    }
    let cast = arrow_cast::cast(&array, &DataType::Float64)
        .map_err(|e| format!("cannot read column {column:?} as numbers: {e}"))?;
    Ok(cast.as_primitive::<Float64Type>().clone())
}

/// A finite number as JSON (whole numbers without a fraction); NaN and the
/// infinities, which JSON cannot hold, as text.
fn number_json(v: f64) -> Value {
    if v.is_finite() {
        if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
            json!(v as i64)
        } else {
            json!(v)
        }
    } else {
        json!(v.to_string())
    }
}

/// The first few distinct unexpected values.
#[derive(Default)]
struct Examples(Vec<Value>);

impl Examples {
    fn offer(&mut self, value: impl FnOnce() -> Value) {
        if self.0.len() < MAX_EXAMPLES {
            let value = value();
            if !self.0.contains(&value) {
                self.0.push(value);
            }
        }
    }
}

/// Counts over a column's values for expectations on each non-null value;
/// nulls are neither expected nor unexpected.
struct Tally {
    elements: usize,
    nulls: usize,
    unexpected: usize,
    examples: Examples,
}

impl Tally {
    fn count<T>(
        values: impl Iterator<Item = Option<T>>,
        expected: impl Fn(&T) -> bool,
        example: impl Fn(&T) -> Value,
    ) -> Tally {
        let mut tally = Tally {
            elements: 0,
            nulls: 0,
            unexpected: 0,
            examples: Examples::default(),
        };
        for value in values {
            tally.elements += 1;
            match value {
                None => tally.nulls += 1,
                Some(v) if !expected(&v) => {
                    tally.unexpected += 1;
                    tally.examples.offer(|| example(&v));
                }
                Some(_) => {}
            }
        }
        tally
    }

    fn non_null(&self) -> usize {
        self.elements - self.nulls
    }

    /// Whether at least `mostly` of the non-null values are as expected; an
    /// all-null column has nothing unexpected.
    fn meets(&self, mostly: f64) -> bool {
        let non_null = self.non_null();
        non_null == 0 || (non_null - self.unexpected) as f64 / non_null as f64 >= mostly
    }

    fn observed(self) -> Map<String, Value> {
        let non_null = self.non_null();
        object(json!({
            "element_count": self.elements,
            "null_count": self.nulls,
            "non_null_count": non_null,
            "unexpected_count": self.unexpected,
            "unexpected_fraction": (non_null > 0).then(|| self.unexpected as f64 / non_null as f64),
            "unexpected_examples": self.examples.0,
        }))
    }
}

fn column_exists(batch: &RecordBatch, column: &str, data_type: Option<&str>) -> Evaluation {
    let schema = batch.schema();
    let Ok(field) = schema.field_with_name(column) else {
        return Ok(Verdict {
            success: false,
            observed: object(json!({ "exists": false, "columns": column_names(batch) })),
        });
    };
    let type_matches = match data_type {
        None => true,
        Some(name) => TypeName::parse(name)?.matches(field.data_type()),
    };
    Ok(Verdict {
        success: type_matches,
        observed: object(json!({
            "exists": true,
            "data_type": field.data_type().to_string(),
            "nullable": field.is_nullable(),
        })),
    })
}

fn not_null_fraction(array: &ArrayRef, min: f64) -> Evaluation {
    let elements = array.len();
    let nulls = array.logical_null_count();
    let fraction = (elements > 0).then(|| (elements - nulls) as f64 / elements as f64);
    Ok(Verdict {
        // An empty column has no nulls to object to.
        success: fraction.is_none_or(|f| f >= min),
        observed: object(json!({
            "element_count": elements,
            "null_count": nulls,
            "non_null_fraction": fraction,
        })),
    })
}

fn values_between(
    array: &ArrayRef,
    column: &str,
    min: Option<f64>,
    max: Option<f64>,
    mostly: f64,
) -> Evaluation {
    let values = numbers(array, column, "values_between")?;
    let in_range =
        |v: &f64| !v.is_nan() && min.is_none_or(|lo| *v >= lo) && max.is_none_or(|hi| *v <= hi);
    let tally = Tally::count(values.iter(), in_range, |v| number_json(*v));
    let success = tally.meets(mostly);
    let finite = || values.iter().flatten().filter(|v| !v.is_nan());
    let observed_min = finite().reduce(f64::min);
    let observed_max = finite().reduce(f64::max);
    let mut observed = tally.observed();
    observed.insert(
        "observed_min".into(),
        observed_min.map_or(Value::Null, number_json),
    );
    observed.insert(
        "observed_max".into(),
        observed_max.map_or(Value::Null, number_json),
    );
    Ok(Verdict { success, observed })
}

/// f64 bits with -0 folded into 0, so set membership is numeric equality.
fn number_key(v: f64) -> u64 {
    if v == 0.0 {
        0.0f64.to_bits()
    } else {
        v.to_bits()
    }
}

fn values_in_set(array: &ArrayRef, column: &str, set: &[Value], mostly: f64) -> Evaluation {
    let kind = ValueSetKind::of(set)?;
    let array = plain(array)?;
    let wrong_type = |wanted: &str| {
        format!(
            "column {column:?} is {}, but the set holds {wanted}",
            array.data_type()
        )
    };
    let tally = match kind {
        ValueSetKind::Strings => {
            if !has_family(&array, TypeFamily::String) {
                return Err(wrong_type("strings"));
            }
            let members: HashSet<&str> = set.iter().filter_map(Value::as_str).collect();
            let utf8 = arrow_cast::cast(&array, &DataType::Utf8)
                .map_err(|e| format!("cannot read column {column:?} as text: {e}"))?;
            Tally::count(
                utf8.as_string::<i32>().iter(),
                |v| members.contains(v),
                |v| json!(v),
            )
        }
        ValueSetKind::Numbers => {
            if !has_family(&array, TypeFamily::Number) {
                return Err(wrong_type("numbers"));
            }
            let members: HashSet<u64> = set
                .iter()
                .filter_map(Value::as_f64)
                .map(number_key)
                .collect();
            let values = numbers(&array, column, "values_in_set")?;
            Tally::count(
                values.iter(),
                |v| members.contains(&number_key(*v)),
                |v| number_json(*v),
            )
        }
        ValueSetKind::Booleans => {
            if !has_family(&array, TypeFamily::Boolean) {
                return Err(wrong_type("booleans"));
            }
            let members: HashSet<bool> = set.iter().filter_map(Value::as_bool).collect();
            Tally::count(
                array.as_boolean().iter(),
                |v| members.contains(v),
                |v| json!(v),
            )
        }
    };
    Ok(Verdict {
        success: tally.meets(mostly),
        observed: tally.observed(),
    })
}

/// Uniqueness compares values by their Arrow text form, which is exact for
/// every type (floats print their shortest round-trip form), so one path
/// serves all columns. Examples are shown as that text.
fn values_unique(array: &ArrayRef) -> Evaluation {
    let array = plain(array)?;
    let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
        .map_err(|e| format!("cannot compare values of type {}: {e}", array.data_type()))?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut non_null = 0usize;
    let mut examples = Examples::default();
    for i in 0..array.len() {
        if array.is_null(i) {
            continue;
        }
        non_null += 1;
        let count = seen.entry(formatter.value(i).to_string()).or_insert(0);
        *count += 1;
        if *count == 2 {
            examples.offer(|| json!(formatter.value(i).to_string()));
        }
    }
    let duplicated_values = seen.values().filter(|c| **c > 1).count();
    let duplicated_rows: usize = seen.values().filter(|c| **c > 1).sum();
    Ok(Verdict {
        success: duplicated_rows == 0,
        observed: object(json!({
            "element_count": array.len(),
            "non_null_count": non_null,
            "distinct_count": seen.len(),
            "duplicated_values": duplicated_values,
            "duplicated_rows": duplicated_rows,
            "unexpected_examples": examples.0,
        })),
    })
}

/// ISO-8601 text: with an offset or `Z`, or without one (read as UTC), or a
/// bare date (midnight UTC).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// The newest instant in a time column, or None when every value is null.
fn newest_instant(array: &ArrayRef, column: &str) -> Result<Option<DateTime<Utc>>, String> {
    let array = plain(array)?;
    let as_int = |to: &DataType| {
        arrow_cast::cast(&array, to).map_err(|e| format!("cannot read column {column:?}: {e}"))
    };
    let out_of_range = |raw: i64| {
        format!(
            "the newest value {raw} in column {column:?} is outside the representable time range"
        )
    };
    let newest_i64 = |a: &ArrayRef| a.as_primitive::<Int64Type>().iter().flatten().max();
    match array.data_type() {
        DataType::Timestamp(unit, _) => {
            // Arrow timestamps count from the Unix epoch in UTC whatever
            // their time zone, which only says how to display them.
            let Some(raw) = newest_i64(&as_int(&DataType::Int64)?) else {
                return Ok(None);
            };
            let instant = match unit {
                TimeUnit::Second => DateTime::from_timestamp(raw, 0),
                TimeUnit::Millisecond => DateTime::from_timestamp_millis(raw),
                TimeUnit::Microsecond => DateTime::from_timestamp_micros(raw),
                TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(raw)),
            };
            instant.map(Some).ok_or_else(|| out_of_range(raw))
        }
        // Int64 holds epoch milliseconds, as JSON and CSV writers emit them.
        DataType::Int64 | DataType::Date64 => {
            let Some(raw) = newest_i64(&as_int(&DataType::Int64)?) else {
                return Ok(None);
            };
            DateTime::from_timestamp_millis(raw)
                .map(Some)
                .ok_or_else(|| out_of_range(raw))
        }
        DataType::Date32 => {
            let days = as_int(&DataType::Int32)?;
            let Some(raw) = days.as_primitive::<Int32Type>().iter().flatten().max() else {
                return Ok(None);
            };
            DateTime::from_timestamp(i64::from(raw) * 86_400, 0)
                .map(Some)
                .ok_or_else(|| out_of_range(i64::from(raw)))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = as_int(&DataType::Utf8)?;
            let mut newest: Option<DateTime<Utc>> = None;
            let mut unparseable = 0usize;
            let mut examples = Examples::default();
            for value in text.as_string::<i32>().iter().flatten() {
                match parse_timestamp(value) {
                    Some(t) => newest = newest.max(Some(t)),
                    None => {
                        unparseable += 1;
                        examples.offer(|| json!(value));
                    }
                }
            }
            if unparseable > 0 {
                return Err(format!(
                    "column {column:?} has {unparseable} values that are not ISO-8601 timestamps, e.g. {}",
                    Value::Array(examples.0)
                ));
            }
            Ok(newest)
        }
        other => Err(format!(
            "column {column:?} is {other}; freshness needs a Timestamp or Date column, Int64 epoch \
             milliseconds, or ISO-8601 text"
        )),
    }
}

fn freshness(
    array: &ArrayRef,
    column: &str,
    max_age_seconds: u64,
    now: DateTime<Utc>,
) -> Evaluation {
    let newest = newest_instant(array, column)?;
    let age_seconds = newest.map(|t| (now - t).num_milliseconds() as f64 / 1000.0);
    // A newest value in the future has a negative age and passes: the data
    // is as fresh as it gets. The flag lets a reader spot a units mistake.
    let success = age_seconds.is_some_and(|age| age <= max_age_seconds as f64);
    let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    Ok(Verdict {
        success,
        observed: object(json!({
            "non_null_count": array.len() - array.logical_null_count(),
            "newest": newest.map(rfc3339),
            "age_seconds": age_seconds,
            "in_the_future": age_seconds.map(|age| age < 0.0),
            "as_of": rfc3339(now),
        })),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        BooleanArray, DictionaryArray, Int64Array, StringArray, TimestampMillisecondArray,
    };
    use arrow_schema::{Field, Schema};

    use super::*;
    use crate::suite::SuiteDefinition;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Six transactions: one null amount, one negative, one duplicate id,
    /// one unknown country.
    fn transactions() -> RecordBatch {
        let ts = |s: &str| parse_timestamp(s).unwrap().timestamp_millis();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("tx_id", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 5]))),
            (
                "amount",
                Arc::new(Float64Array::from(vec![
                    Some(12.5),
                    Some(830.0),
                    None,
                    Some(-4.0),
                    Some(99.0),
                    Some(7.25),
                ])),
            ),
            (
                "country",
                Arc::new(StringArray::from(vec![
                    Some("DE"),
                    Some("FR"),
                    Some("DE"),
                    None,
                    Some("XX"),
                    Some("FR"),
                ])),
            ),
            (
                "is_fraud",
                Arc::new(BooleanArray::from(vec![
                    false, true, false, false, false, true,
                ])),
            ),
            (
                "ts",
                Arc::new(
                    TimestampMillisecondArray::from(vec![
                        Some(ts("2026-11-23T10:00:00Z")),
                        Some(ts("2026-11-23T11:00:00Z")),
                        None,
                        Some(ts("2026-11-22T11:00:00Z")),
                        Some(ts("2026-11-23T11:30:00Z")),
                        Some(ts("2026-11-20T00:00:00Z")),
                    ])
                    .with_timezone("UTC"),
                ),
            ),
            (
                "ts_text",
                Arc::new(StringArray::from(vec![
                    "2026-11-23T10:00:00Z",
                    "2026-11-23 11:00:00",
                    "2026-11-23T11:30:00+01:00",
                    "2026-11-22",
                    "2026-11-21T00:00:00.250Z",
                    "2026-11-20T00:00:00Z",
                ])),
            ),
            (
                "ts_millis",
                Arc::new(Int64Array::from(vec![
                    ts("2026-11-23T09:00:00Z"),
                    ts("2026-11-23T08:00:00Z"),
                    ts("2026-11-23T07:00:00Z"),
                    ts("2026-11-23T06:00:00Z"),
                    ts("2026-11-23T05:00:00Z"),
                    ts("2026-11-23T04:00:00Z"),
                ])),
            ),
        ];
        let schema = Schema::new(
            columns
                .iter()
                .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(
            Arc::new(schema),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    fn run(expectation: Value) -> ExpectationResult {
        let suite = SuiteDefinition::parse(vec![expectation]).unwrap();
        evaluate(&transactions(), suite.expectations(), now())
            .pop()
            .unwrap()
    }

    #[test]
    fn column_exists_checks_presence_and_type() {
        let r = run(json!({"type": "column_exists", "column": "amount", "data_type": "Float64"}));
        assert!(r.success);
        assert_eq!(r.observed["data_type"], "Float64");
        assert!(
            run(json!({"type": "column_exists", "column": "amount", "data_type": "number"}))
                .success
        );
        assert!(
            run(json!({"type": "column_exists", "column": "ts", "data_type": "Timestamp"})).success
        );
        assert!(
            run(json!({"type": "column_exists", "column": "ts", "data_type": "timestamp"})).success
        );
        let wrong =
            run(json!({"type": "column_exists", "column": "amount", "data_type": "integer"}));
        assert!(!wrong.success && wrong.error.is_none());
        let missing = run(json!({"type": "column_exists", "column": "merchant"}));
        assert!(!missing.success && missing.error.is_none());
        assert_eq!(missing.observed["exists"], false);
        assert!(
            missing.observed["columns"]
                .as_array()
                .unwrap()
                .contains(&json!("tx_id"))
        );
    }

    #[test]
    fn not_null_fraction_is_over_all_rows() {
        let r = run(json!({"type": "not_null_fraction", "column": "amount", "min": 0.8}));
        assert!(r.success);
        assert_eq!(r.observed["null_count"], 1);
        assert!((r.observed["non_null_fraction"].as_f64().unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert!(!run(json!({"type": "not_null_fraction", "column": "amount", "min": 0.9})).success);
    }

    #[test]
    fn values_between_ignores_nulls_and_honours_mostly() {
        let r = run(json!({"type": "values_between", "column": "amount", "min": 0, "max": 1000}));
        assert!(!r.success);
        assert_eq!(r.observed["non_null_count"], 5);
        assert_eq!(r.observed["unexpected_count"], 1);
        assert_eq!(r.observed["unexpected_fraction"], 0.2);
        assert_eq!(r.observed["unexpected_examples"], json!([-4]));
        assert_eq!(r.observed["observed_min"], json!(-4));
        assert_eq!(r.observed["observed_max"], json!(830));
        // 4 of the 5 non-null values are in range: exactly 0.8.
        let mostly = |m: f64| {
            run(json!({"type": "values_between", "column": "amount", "min": 0, "max": 1000, "mostly": m}))
                .success
        };
        assert!(mostly(0.8));
        assert!(!mostly(0.81));
        // One bound is enough; integers are numbers too.
        assert!(run(json!({"type": "values_between", "column": "tx_id", "min": 1})).success);
        let r = run(json!({"type": "values_between", "column": "tx_id", "max": 4}));
        assert_eq!(r.observed["unexpected_examples"], json!([5]));
        assert_eq!(r.observed["unexpected_count"], 2);
    }

    #[test]
    fn values_between_on_text_cannot_be_evaluated() {
        let r = run(json!({"type": "values_between", "column": "country", "min": 0}));
        assert!(!r.success);
        let error = r.error.unwrap();
        assert!(
            error.contains("Utf8") && error.contains("numeric"),
            "{error}"
        );
        let r = run(json!({"type": "values_between", "column": "nope", "min": 0}));
        assert!(r.error.unwrap().contains("no column \"nope\""));
    }

    #[test]
    fn values_in_set_by_kind() {
        let r = run(json!({"type": "values_in_set", "column": "country", "values": ["DE", "FR"]}));
        assert!(!r.success);
        assert_eq!(
            r.observed["non_null_count"], 5,
            "the null country is not counted"
        );
        assert_eq!(r.observed["unexpected_count"], 1);
        assert_eq!(r.observed["unexpected_examples"], json!(["XX"]));
        assert!(run(json!({"type": "values_in_set", "column": "country", "values": ["DE", "FR"], "mostly": 0.8})).success);
        assert!(
            run(json!({"type": "values_in_set", "column": "tx_id", "values": [1, 2, 3, 4, 5.0]}))
                .success
        );
        assert!(
            run(json!({"type": "values_in_set", "column": "is_fraud", "values": [true, false]}))
                .success
        );
        let r = run(json!({"type": "values_in_set", "column": "is_fraud", "values": [false]}));
        assert_eq!(r.observed["unexpected_count"], 2);
        let r = run(json!({"type": "values_in_set", "column": "tx_id", "values": ["1"]}));
        assert!(r.error.unwrap().contains("the set holds strings"));
    }

    #[test]
    fn values_in_set_reads_dictionary_columns() {
        let dict: DictionaryArray<Int32Type> = vec!["a", "b", "a", "c"].into_iter().collect();
        let batch = RecordBatch::try_from_iter([("tag", Arc::new(dict) as ArrayRef)]).unwrap();
        let suite = SuiteDefinition::parse(vec![
            json!({"type": "values_in_set", "column": "tag", "values": ["a", "b"]}),
            json!({"type": "values_unique", "column": "tag"}),
        ])
        .unwrap();
        let results = evaluate(&batch, suite.expectations(), now());
        assert_eq!(results[0].observed["unexpected_examples"], json!(["c"]));
        assert_eq!(results[1].observed["duplicated_values"], 1);
    }

    #[test]
    fn values_unique_reports_duplicates() {
        let r = run(json!({"type": "values_unique", "column": "tx_id"}));
        assert!(!r.success);
        assert_eq!(r.observed["distinct_count"], 5);
        assert_eq!(r.observed["duplicated_values"], 1);
        assert_eq!(r.observed["duplicated_rows"], 2);
        assert_eq!(r.observed["unexpected_examples"], json!(["5"]));
        assert!(run(json!({"type": "values_unique", "column": "ts_millis"})).success);
        // Nulls are not values: the one null country does not count.
        let r = run(json!({"type": "values_unique", "column": "country"}));
        assert_eq!(r.observed["non_null_count"], 5);
        assert_eq!(r.observed["duplicated_rows"], 4);
    }

    #[test]
    fn row_count_between_is_inclusive() {
        assert!(run(json!({"type": "row_count_between", "min": 6, "max": 6})).success);
        assert!(!run(json!({"type": "row_count_between", "min": 7})).success);
        let r = run(json!({"type": "row_count_between", "max": 5}));
        assert!(!r.success);
        assert_eq!(r.observed["row_count"], 6);
    }

    #[test]
    fn freshness_over_timestamps_epoch_millis_and_text() {
        // Newest ts is 11:30, half an hour before now.
        let r = run(json!({"type": "freshness", "column": "ts", "max_age_seconds": 3600}));
        assert!(r.success, "{r:?}");
        assert_eq!(r.observed["newest"], "2026-11-23T11:30:00.000Z");
        assert_eq!(r.observed["age_seconds"], 1800.0);
        assert!(
            !run(json!({"type": "freshness", "column": "ts", "max_age_seconds": 1799})).success
        );
        // Epoch milliseconds: newest 09:00, three hours old.
        let r =
            run(json!({"type": "freshness", "column": "ts_millis", "max_age_seconds": 3 * 3600}));
        assert!(r.success);
        assert_eq!(r.observed["age_seconds"], 10800.0);
        // Text: the newest is "2026-11-23 11:00:00" read as UTC (the
        // "+01:00" one is 10:30 UTC).
        let r = run(json!({"type": "freshness", "column": "ts_text", "max_age_seconds": 3600}));
        assert_eq!(r.observed["newest"], "2026-11-23T11:00:00.000Z");
        assert!(r.success);
    }

    #[test]
    fn freshness_needs_a_time_column() {
        let r = run(json!({"type": "freshness", "column": "country", "max_age_seconds": 60}));
        let error = r.error.unwrap();
        assert!(
            error.contains("not ISO-8601") && error.contains("DE"),
            "{error}"
        );
        let r = run(json!({"type": "freshness", "column": "amount", "max_age_seconds": 60}));
        assert!(r.error.unwrap().contains("Float64"));
    }

    #[test]
    fn all_null_columns() {
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(Float64Array::from(vec![None, None])) as ArrayRef,
        )])
        .unwrap();
        let suite = SuiteDefinition::parse(vec![
            json!({"type": "values_between", "column": "x", "min": 0}),
            json!({"type": "not_null_fraction", "column": "x", "min": 0.5}),
            json!({"type": "freshness", "column": "x", "max_age_seconds": 60}),
        ])
        .unwrap();
        let results = evaluate(&batch, suite.expectations(), now());
        assert!(results[0].success, "nothing out of range");
        assert_eq!(results[0].observed["unexpected_fraction"], Value::Null);
        assert!(!results[1].success);
        assert!(
            results[2].error.is_some(),
            "a float column is no time column"
        );
        assert_eq!(Statistics::of(&results).successful_expectations, 1);
    }

    #[test]
    fn statistics() {
        let s = Statistics::new(4, 3);
        assert_eq!(s.unsuccessful_expectations, 1);
        assert_eq!(s.success_percent, 75.0);
    }
}
