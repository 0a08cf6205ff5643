//! Expectation suites as data: the kinds of expectation, their parameters,
//! and the checks that make an invalid suite impossible to store.

use std::str::FromStr;

use arrow_schema::DataType;
use mlops_mcp_kit::ToolError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// At most this many expectations in one suite.
pub const MAX_EXPECTATIONS: usize = 200;
/// At most this many members in a `values_in_set` list.
pub const MAX_SET_VALUES: usize = 1000;
/// The longest string a `values_in_set` list may hold.
const MAX_SET_STRING: usize = 1024;
/// The largest suite, serialized; far above any real suite, it keeps one
/// call from storing megabytes.
pub const MAX_SUITE_BYTES: usize = 256 * 1024;
/// Column names in datasets are short; this only keeps junk out.
const MAX_COLUMN_NAME: usize = 256;
/// A freshness window longer than a century is a units mistake, not a policy.
pub const MAX_AGE_SECONDS: u64 = 100 * 365 * 24 * 3600;

/// One expectation. Column expectations name a `column`; a missing column
/// or a column of the wrong type makes the expectation fail with an
/// `error`, it is not a tool error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// The column exists and, when `data_type` is given, has that type.
    ColumnExists {
        column: String,
        /// An Arrow type name as the dataset manifest writes it (Int64,
        /// Float64, Utf8, Boolean, Timestamp, Date32, …; "Timestamp" matches
        /// any unit and time zone), an exact Arrow type such as
        /// `Timestamp(ms, "UTC")`, or a family: integer, float, number,
        /// string, boolean, timestamp, date.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_type: Option<String>,
    },
    /// At least `min` (0-1) of the rows are non-null.
    NotNullFraction {
        column: String,
        /// Smallest acceptable fraction of non-null rows, 0-1.
        min: f64,
    },
    /// Non-null values of a numeric column lie in [`min`, `max`] (inclusive;
    /// give one or both). NaN is out of range.
    ValuesBetween {
        column: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        /// Fraction of the non-null values that must be in range, 0-1 (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mostly: Option<f64>,
    },
    /// Non-null values are members of `values`.
    ValuesInSet {
        column: String,
        /// 1-1000 strings, or numbers, or booleans (one kind per set),
        /// matching a string, numeric or boolean column.
        values: Vec<Value>,
        /// Fraction of the non-null values that must be in the set, 0-1 (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mostly: Option<f64>,
    },
    /// No non-null value occurs twice.
    ValuesUnique { column: String },
    /// The dataset has between `min` and `max` rows (inclusive; give one or both).
    RowCountBetween {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
    },
    /// The newest timestamp in `column` is at most `max_age_seconds` old.
    /// The column is an Arrow Timestamp or Date, Int64 epoch milliseconds,
    /// or ISO-8601 text.
    Freshness {
        column: String,
        /// 1 second to 100 years.
        max_age_seconds: u64,
    },
}

impl Expectation {
    /// The `type` tag, e.g. `values_between`.
    pub fn kind(&self) -> &'static str {
        match self {
            Expectation::ColumnExists { .. } => "column_exists",
            Expectation::NotNullFraction { .. } => "not_null_fraction",
            Expectation::ValuesBetween { .. } => "values_between",
            Expectation::ValuesInSet { .. } => "values_in_set",
            Expectation::ValuesUnique { .. } => "values_unique",
            Expectation::RowCountBetween { .. } => "row_count_between",
            Expectation::Freshness { .. } => "freshness",
        }
    }

    pub fn column(&self) -> Option<&str> {
        match self {
            Expectation::ColumnExists { column, .. }
            | Expectation::NotNullFraction { column, .. }
            | Expectation::ValuesBetween { column, .. }
            | Expectation::ValuesInSet { column, .. }
            | Expectation::ValuesUnique { column }
            | Expectation::Freshness { column, .. } => Some(column),
            Expectation::RowCountBetween { .. } => None,
        }
    }

    /// A short name for summaries: `values_between(amount)`.
    pub fn label(&self) -> String {
        match self.column() {
            Some(column) => format!("{}({column})", self.kind()),
            None => self.kind().to_owned(),
        }
    }

    /// Checks the parameters; the message says what is wrong.
    fn check(&self) -> Result<(), String> {
        if let Some(column) = self.column() {
            check_column(column)?;
        }
        match self {
            Expectation::ColumnExists { data_type, .. } => {
                if let Some(name) = data_type {
                    TypeName::parse(name)?;
                }
            }
            Expectation::NotNullFraction { min, .. } => check_fraction("min", *min)?,
            Expectation::ValuesBetween {
                min, max, mostly, ..
            } => {
                check_bounds(*min, *max)?;
                if let Some(m) = mostly {
                    check_fraction("mostly", *m)?;
                }
            }
            Expectation::ValuesInSet { values, mostly, .. } => {
                ValueSetKind::of(values)?;
                if let Some(m) = mostly {
                    check_fraction("mostly", *m)?;
                }
            }
            Expectation::ValuesUnique { .. } => {}
            Expectation::RowCountBetween { min, max } => {
                check_bounds(min.map(|v| v as f64), max.map(|v| v as f64))?;
            }
            Expectation::Freshness {
                max_age_seconds, ..
            } => {
                if !(1..=MAX_AGE_SECONDS).contains(max_age_seconds) {
                    return Err(format!(
                        "max_age_seconds {max_age_seconds} must be between 1 and {MAX_AGE_SECONDS} (100 years)"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_column(column: &str) -> Result<(), String> {
    if column.is_empty()
        || column.chars().count() > MAX_COLUMN_NAME
        || column.chars().any(char::is_control)
    {
        return Err(format!(
            "column {column:?} must be 1-{MAX_COLUMN_NAME} characters without control characters"
        ));
    }
    Ok(())
}

fn check_fraction(field: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{field} {value} must be a fraction between 0 and 1"
        ))
    }
}

fn check_bounds(min: Option<f64>, max: Option<f64>) -> Result<(), String> {
    match (min, max) {
        (None, None) => Err("give `min`, `max` or both".into()),
        (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is greater than max {hi}")),
        _ => Ok(()),
    }
}

/// What a `values_in_set` list holds; one kind per set, so the set says
/// which columns it can apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueSetKind {
    Strings,
    Numbers,
    Booleans,
}

impl ValueSetKind {
    pub fn of(values: &[Value]) -> Result<Self, String> {
        if values.is_empty() {
            return Err("values must not be empty".into());
        }
        if values.len() > MAX_SET_VALUES {
            return Err(format!(
                "values has {} members; at most {MAX_SET_VALUES}",
                values.len()
            ));
        }
        let kind_of = |i: usize, v: &Value| match v {
            Value::String(s) if s.len() <= MAX_SET_STRING => Ok(ValueSetKind::Strings),
            Value::String(_) => Err(format!("values[{i}] is longer than {MAX_SET_STRING} bytes")),
            Value::Number(_) => Ok(ValueSetKind::Numbers),
            Value::Bool(_) => Ok(ValueSetKind::Booleans),
            other => Err(format!(
                "values[{i}] is {other}; set members are strings, numbers or booleans"
            )),
        };
        let first = kind_of(0, &values[0])?;
        for (i, v) in values.iter().enumerate().skip(1) {
            if kind_of(i, v)? != first {
                return Err(format!(
                    "values[{i}] is {v}, but values[0] is {}; a set holds one kind (strings, numbers or booleans)",
                    values[0]
                ));
            }
        }
        Ok(first)
    }
}

/// A `column_exists` type, parsed: an Arrow type family or base name, or
/// an exact Arrow type.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeName {
    /// A friendly family such as `integer`.
    Family(TypeFamily),
    /// An Arrow base name such as `Timestamp`: any parameters match.
    ArrowName(&'static str),
    /// A full Arrow type such as `Timestamp(ms, "UTC")`.
    Exact(DataType),
}

/// Groups of Arrow types that expectations treat alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFamily {
    Integer,
    Float,
    Number,
    String,
    Boolean,
    Timestamp,
    Date,
}

/// Arrow `DataType` variant names a suite may name without parameters.
const ARROW_NAMES: &[&str] = &[
    "Null",
    "Boolean",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float16",
    "Float32",
    "Float64",
    "Timestamp",
    "Date32",
    "Date64",
    "Time32",
    "Time64",
    "Duration",
    "Interval",
    "Binary",
    "LargeBinary",
    "BinaryView",
    "FixedSizeBinary",
    "Utf8",
    "LargeUtf8",
    "Utf8View",
    "List",
    "LargeList",
    "FixedSizeList",
    "Struct",
    "Map",
    "Dictionary",
    "Decimal32",
    "Decimal64",
    "Decimal128",
    "Decimal256",
];

const FAMILIES: &[(&str, TypeFamily)] = &[
    ("integer", TypeFamily::Integer),
    ("int", TypeFamily::Integer),
    ("float", TypeFamily::Float),
    ("double", TypeFamily::Float),
    ("number", TypeFamily::Number),
    ("numeric", TypeFamily::Number),
    ("string", TypeFamily::String),
    ("text", TypeFamily::String),
    ("boolean", TypeFamily::Boolean),
    ("bool", TypeFamily::Boolean),
    ("timestamp", TypeFamily::Timestamp),
    ("datetime", TypeFamily::Timestamp),
    ("date", TypeFamily::Date),
];

impl TypeName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        // Family names first: "timestamp" is the family, which is also what
        // the Arrow name "Timestamp" means.
        if let Some((_, family)) = FAMILIES.iter().find(|(n, _)| n.eq_ignore_ascii_case(raw)) {
            return Ok(TypeName::Family(*family));
        }
        if let Some(name) = ARROW_NAMES.iter().find(|n| n.eq_ignore_ascii_case(raw)) {
            return Ok(TypeName::ArrowName(name));
        }
        if raw.contains('(')
            && let Ok(exact) = DataType::from_str(raw)
        {
            return Ok(TypeName::Exact(exact));
        }
        let families: Vec<&str> = FAMILIES.iter().map(|(n, _)| *n).collect();
        Err(format!(
            "data_type {raw:?} is not a known type; use an Arrow type name ({}), an exact Arrow type such as \
             Timestamp(ms, \"UTC\"), or one of {}",
            ARROW_NAMES.join(", "),
            families.join(", ")
        ))
    }

    pub fn matches(&self, actual: &DataType) -> bool {
        match self {
            TypeName::Family(family) => TypeFamily::of(actual).contains(family),
            TypeName::ArrowName(name) => arrow_name(actual) == *name,
            TypeName::Exact(exact) => exact == actual,
        }
    }
}

/// The variant name of an Arrow type: `Timestamp` for `Timestamp(ms, "UTC")`.
pub fn arrow_name(data_type: &DataType) -> String {
    let debug = format!("{data_type:?}");
    match debug.split_once('(') {
        Some((name, _)) => name.to_owned(),
        None => debug,
    }
}

impl TypeFamily {
    /// The families `data_type` belongs to; a dictionary counts as its values.
    pub fn of(data_type: &DataType) -> Vec<TypeFamily> {
        use DataType::*;
        match data_type {
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => {
                vec![TypeFamily::Integer, TypeFamily::Number]
            }
            Float16 | Float32 | Float64 => vec![TypeFamily::Float, TypeFamily::Number],
            Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => {
                vec![TypeFamily::Number]
            }
            Utf8 | LargeUtf8 | Utf8View => vec![TypeFamily::String],
            Boolean => vec![TypeFamily::Boolean],
            Timestamp(..) => vec![TypeFamily::Timestamp],
            Date32 | Date64 => vec![TypeFamily::Date],
            Dictionary(_, values) => TypeFamily::of(values),
            _ => vec![],
        }
    }
}

/// A suite's expectations, each checked: a value of this type is a valid suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct SuiteDefinition(Vec<Expectation>);

impl SuiteDefinition {
    /// Parses expectations as sent by a caller, each on its own so an error
    /// names the one that is wrong.
    pub fn parse(raw: Vec<Value>) -> Result<Self, ToolError> {
        let mut expectations = Vec::with_capacity(raw.len());
        for (i, value) in raw.into_iter().enumerate() {
            let kind = value
                .get("type")
                .and_then(Value::as_str)
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            let expectation: Expectation = serde_json::from_value(value).map_err(|e| {
                ToolError::Invalid(format!("expectations[{i}]{kind} is malformed: {e}"))
            })?;
            expectations.push(expectation);
        }
        Self::new(expectations)
    }

    pub fn new(expectations: Vec<Expectation>) -> Result<Self, ToolError> {
        if expectations.is_empty() || expectations.len() > MAX_EXPECTATIONS {
            return Err(ToolError::Invalid(format!(
                "a suite has 1-{MAX_EXPECTATIONS} expectations; got {}",
                expectations.len()
            )));
        }
        for (i, expectation) in expectations.iter().enumerate() {
            expectation.check().map_err(|why| {
                ToolError::Invalid(format!("expectations[{i}] ({}): {why}", expectation.kind()))
            })?;
            if let Some(first) = expectations[..i].iter().position(|e| e == expectation) {
                return Err(ToolError::Invalid(format!(
                    "expectations[{i}] repeats expectations[{first}]"
                )));
            }
        }
        let bytes = serde_json::to_vec(&expectations).map_or(0, |b| b.len());
        if bytes > MAX_SUITE_BYTES {
            return Err(ToolError::Invalid(format!(
                "the suite is {bytes} bytes as JSON; at most {MAX_SUITE_BYTES}"
            )));
        }
        Ok(SuiteDefinition(expectations))
    }

    pub fn expectations(&self) -> &[Expectation] {
        &self.0
    }

    pub fn into_expectations(self) -> Vec<Expectation> {
        self.0
    }
}

/// A suite name: `^[a-z][a-z0-9-]{0,62}$`, e.g. `transactions-basic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteName(String);

impl SuiteName {
    pub fn parse(raw: &str) -> Result<Self, ToolError> {
        mlops_mcp_kit::slug("suite name", raw, 63).map(SuiteName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A suite version number, 1 or more.
pub fn suite_version(raw: u32) -> Result<i32, ToolError> {
    i32::try_from(raw).ok().filter(|v| *v > 0).ok_or_else(|| {
        ToolError::Invalid(format!("suite version {raw} must be a positive integer"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(values: Value) -> Result<SuiteDefinition, String> {
        let Value::Array(items) = values else {
            panic!("test suites are arrays")
        };
        SuiteDefinition::parse(items).map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_parses_and_round_trips() {
        let raw = json!([
            {"type": "column_exists", "column": "amount", "data_type": "Float64"},
            {"type": "column_exists", "column": "ts", "data_type": "timestamp"},
            {"type": "not_null_fraction", "column": "amount", "min": 0.95},
            {"type": "values_between", "column": "amount", "min": 0, "max": 10000, "mostly": 0.99},
            {"type": "values_between", "column": "amount", "min": 0},
            {"type": "values_in_set", "column": "country", "values": ["DE", "FR"]},
            {"type": "values_unique", "column": "tx_id"},
            {"type": "row_count_between", "min": 1, "max": 1000000},
            {"type": "freshness", "column": "ts", "max_age_seconds": 86400}
        ]);
        let suite = parse(raw).unwrap();
        assert_eq!(suite.expectations().len(), 9);
        let json = serde_json::to_value(&suite).unwrap();
        let back = parse(json).unwrap();
        assert_eq!(back, suite);
        assert_eq!(suite.expectations()[3].label(), "values_between(amount)");
    }

    #[test]
    fn malformed_expectations_name_the_one_that_is_wrong() {
        let cases = [
            (json!([{"type": "column_exists"}]), "missing field `column`"),
            (
                json!([{"type": "column_exists", "column": "a", "colour": "red"}]),
                "unknown field `colour`",
            ),
            (
                json!([{"type": "no_such_kind", "column": "a"}]),
                "unknown variant",
            ),
            (json!([{"column": "a"}]), "missing field `type`"),
            (
                json!([{"type": "values_between", "column": "a", "min": 5, "max": 1}]),
                "min 5 is greater than max 1",
            ),
            (
                json!([{"type": "values_between", "column": "a"}]),
                "give `min`, `max` or both",
            ),
            (
                json!([{"type": "values_between", "column": "a", "min": 0, "mostly": 1.5}]),
                "mostly 1.5 must be a fraction",
            ),
            (
                json!([{"type": "not_null_fraction", "column": "a", "min": -0.1}]),
                "min -0.1 must be a fraction",
            ),
            (
                json!([{"type": "values_in_set", "column": "a", "values": []}]),
                "values must not be empty",
            ),
            (
                json!([{"type": "values_in_set", "column": "a", "values": ["x", 1]}]),
                "one kind",
            ),
            (
                json!([{"type": "values_in_set", "column": "a", "values": [null]}]),
                "strings, numbers or booleans",
            ),
            (
                json!([{"type": "column_exists", "column": "a", "data_type": "Integer64"}]),
                "not a known type",
            ),
            (
                json!([{"type": "row_count_between", "min": 10, "max": 2}]),
                "min 10 is greater than max 2",
            ),
            (
                json!([{"type": "row_count_between", "min": -1}]),
                "invalid value",
            ),
            (
                json!([{"type": "freshness", "column": "ts", "max_age_seconds": 0}]),
                "between 1 and",
            ),
            (
                json!([{"type": "values_unique", "column": ""}]),
                "column \"\"",
            ),
            (json!([]), "1-200 expectations"),
            (
                Value::Array(
                    (0..200)
                        .map(|i| json!({"type": "values_in_set", "column": format!("c{i}"), "values": vec!["x".repeat(1000); 2]}))
                        .collect(),
                ),
                "at most 262144",
            ),
            (
                json!([{"type": "values_unique", "column": "a"}, {"type": "values_unique", "column": "a"}]),
                "expectations[1] repeats expectations[0]",
            ),
        ];
        for (raw, expected) in cases {
            let err = parse(raw.clone()).expect_err(&raw.to_string());
            assert!(
                err.contains(expected),
                "{raw}: {err:?} should mention {expected:?}"
            );
        }
        let err = parse(json!([
            {"type": "values_unique", "column": "a"},
            {"type": "values_between", "column": "a", "min": 2, "max": 1}
        ]))
        .unwrap_err();
        assert!(err.starts_with("expectations[1] (values_between)"), "{err}");
    }

    #[test]
    fn type_names_match_arrow_types() {
        use arrow_schema::TimeUnit;
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        for (name, data_type, expected) in [
            ("Int64", DataType::Int64, true),
            ("int64", DataType::Int64, true),
            ("Int64", DataType::Int32, false),
            ("integer", DataType::Int32, true),
            ("integer", DataType::Float64, false),
            ("number", DataType::UInt8, true),
            ("float", DataType::Float32, true),
            ("string", DataType::Utf8, true),
            ("Utf8", DataType::LargeUtf8, false),
            ("boolean", DataType::Boolean, true),
            ("Timestamp", ts.clone(), true),
            ("timestamp", ts.clone(), true),
            ("Timestamp(ms, \"UTC\")", ts.clone(), true),
            ("Timestamp(ms)", ts.clone(), false),
            ("date", DataType::Date32, true),
            (
                "string",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
        ] {
            let parsed = TypeName::parse(name).unwrap();
            assert_eq!(
                parsed.matches(&data_type),
                expected,
                "{name} vs {data_type}"
            );
        }
        assert!(TypeName::parse("varchar").is_err());
    }

    #[test]
    fn suite_names_and_versions() {
        assert!(SuiteName::parse("transactions-basic").is_ok());
        assert!(SuiteName::parse("Transactions").is_err());
        assert!(suite_version(0).is_err());
        assert!(suite_version(u32::MAX).is_err());
        assert_eq!(suite_version(3).unwrap(), 3);
    }
}
