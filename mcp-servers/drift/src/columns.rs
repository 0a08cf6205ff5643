//! From Arrow columns to what the tests compare: finite values, sorted, or
//! counts per category; and the column type, inferred as Evidently 0.7 does
//! from the current data as pandas would load it.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch};
use arrow_schema::DataType;
use serde::Serialize;

use crate::radix::sort_f64;
use crate::stattest::{
    Category, CategoryCounts, ColumnData, NumericSamples, distinct_sorted, linspace,
};

/// Evidently types an integer column with at most this many distinct values
/// as categorical.
const INTEGER_CARDINALITY_LIMIT: usize = 10;
/// Bins of the numerical histograms in a report (Evidently's `nbinsx`).
pub const HISTOGRAM_BINS: usize = 10;
/// Categories listed by name in a histogram; the rest are summed as "other".
pub const HISTOGRAM_CATEGORIES: usize = 50;

/// One column of a dataset, possibly spread over several record batches
/// (prediction-log segments), some of which may lack it.
pub struct FrameColumn<'a> {
    pub name: &'a str,
    pub chunks: Vec<&'a dyn Array>,
    /// Rows of batches that do not have this column: missing values.
    pub absent_rows: usize,
}

/// A dataset as columns in order of first appearance.
pub struct Frame<'a> {
    pub rows: usize,
    pub columns: Vec<FrameColumn<'a>>,
}

impl<'a> Frame<'a> {
    pub fn from_batches(batches: &'a [RecordBatch]) -> Frame<'a> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut columns: Vec<FrameColumn<'a>> = Vec::new();
        let mut index: HashMap<&'a str, usize> = HashMap::new();
        for batch in batches {
            let mut seen: Vec<&'a str> = Vec::new();
            for (field, array) in batch.schema_ref().fields().iter().zip(batch.columns()) {
                let name = field.name().as_str();
                // A repeated name in one batch: the first column counts.
                if seen.contains(&name) {
                    continue;
                }
                seen.push(name);
                let i = *index.entry(name).or_insert_with(|| {
                    columns.push(FrameColumn {
                        name,
                        chunks: Vec::new(),
                        absent_rows: 0,
                    });
                    columns.len() - 1
                });
                columns[i].chunks.push(array.as_ref());
            }
        }
        for column in &mut columns {
            let present: usize = column.chunks.iter().map(|c| c.len()).sum();
            column.absent_rows = rows.saturating_sub(present);
        }
        Frame { rows, columns }
    }

    pub fn column(&self, name: &str) -> Option<&FrameColumn<'a>> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// What kind of values an Arrow type holds, as pandas would see them.
#[derive(Debug, Clone, PartialEq)]
enum Family {
    Float,
    Integer,
    /// Strings: categorical, or text when most values are distinct.
    Text,
    /// Dictionary-encoded strings: pandas' `category` dtype, always categorical.
    Dictionary,
    Boolean,
    /// Only nulls.
    Null,
    Unsupported(DataType),
}

impl Family {
    fn of(data_type: &DataType) -> Family {
        match data_type {
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Family::Float,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => Family::Integer,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Family::Text,
            DataType::Dictionary(_, values)
                if matches!(
                    values.as_ref(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                Family::Dictionary
            }
            DataType::Boolean => Family::Boolean,
            DataType::Null => Family::Null,
            other => Family::Unsupported(other.clone()),
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Family::Float | Family::Integer)
    }

    fn is_string(&self) -> bool {
        matches!(self, Family::Text | Family::Dictionary)
    }

    fn describe(&self) -> String {
        match self {
            Family::Float => "floating-point".into(),
            Family::Integer => "integer".into(),
            Family::Text => "string".into(),
            Family::Dictionary => "dictionary-encoded string".into(),
            Family::Boolean => "boolean".into(),
            Family::Null => "all-null".into(),
            Family::Unsupported(t) => format!("{t}"),
        }
    }
}

/// The family of a column over all its chunks: integers and floats mix to
/// floats (as pandas' concat does); any other mix is refused.
fn column_family(column: &FrameColumn<'_>) -> Result<Family, String> {
    let mut family = Family::Null;
    for chunk in &column.chunks {
        let next = Family::of(chunk.data_type());
        family = match (&family, &next) {
            (_, Family::Null) => family,
            (Family::Null, _) => next,
            (a, b) if a == b => family,
            (a, b) if a.is_numeric() && b.is_numeric() => Family::Float,
            (a, b) if a.is_string() && b.is_string() => Family::Text,
            (a, b) => {
                return Err(format!(
                    "holds {} values in one part and {} in another",
                    a.describe(),
                    b.describe()
                ));
            }
        };
    }
    Ok(family)
}

/// Per-side facts for a report.
#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    /// Values compared (missing and non-finite values dropped).
    pub rows: usize,
    /// Nulls, NaN and ±infinity, which Evidently drops before testing.
    pub missing: usize,
    pub distinct: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
}

/// Reference and current counts per bin or category, for charts.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Histogram {
    /// Equal-width bins over the pooled range: bin i is [edges[i],
    /// edges[i+1]), the last bin closed.
    Bins {
        edges: Vec<f64>,
        reference: Vec<u64>,
        current: Vec<u64>,
    },
    /// The most frequent categories (pooled), then the rest as `other_*`.
    Categories {
        categories: Vec<String>,
        reference: Vec<u64>,
        current: Vec<u64>,
        other_reference: u64,
        other_current: u64,
    },
}

/// A column ready to test.
pub struct PreparedColumn {
    pub data: ColumnData,
    pub reference: SideSummary,
    pub current: SideSummary,
    /// Evidently would type this column as text (most strings distinct);
    /// it is compared as categorical only because it was asked for.
    pub text_like: bool,
}

/// Why a column cannot be compared.
#[derive(Debug, Clone)]
pub enum Unusable {
    /// Evidently's text type (strings mostly distinct): its text drift is a
    /// model-based method this server does not offer.
    Text,
    /// A type neither numerical nor categorical (dates, lists, binary…).
    UnsupportedType(String),
    /// The two datasets hold different kinds of values.
    Incompatible(String),
    /// No values left on one side after dropping missing ones.
    Empty(&'static str),
}

impl Unusable {
    pub fn reason(&self) -> String {
        match self {
            Unusable::Text => "typed text (more than half of the current values are distinct); Evidently's text drift is not offered, name the column in `columns` to compare it as categorical".into(),
            Unusable::UnsupportedType(t) => format!("type {t} is neither numerical nor categorical"),
            Unusable::Incompatible(why) => why.clone(),
            Unusable::Empty(side) => format!("the {side} data has no values in this column after dropping nulls, NaN and infinities"),
        }
    }
}

#[derive(Default)]
struct NumericSink {
    values: Vec<f64>,
    missing: usize,
}

impl NumericSink {
    fn push(&mut self, v: f64) {
        if v.is_finite() {
            self.values.push(v);
        } else {
            self.missing += 1;
        }
    }
}

fn collect_primitive<T: ArrowPrimitiveType>(
    array: &dyn Array,
    convert: impl Fn(T::Native) -> f64,
    sink: &mut NumericSink,
) -> bool {
    let Some(values) = array.as_primitive_opt::<T>() else {
        return false;
    };
    if values.null_count() == 0 {
        sink.values.reserve(values.len());
        for &v in values.values().iter() {
            sink.push(convert(v));
        }
    } else {
        for v in values.iter() {
            match v {
                Some(v) => sink.push(convert(v)),
                None => sink.missing += 1,
            }
        }
    }
    true
}

/// Finite values of a numeric column, and how many were missing
/// (nulls, non-finite, or rows of parts without the column).
fn numeric_values(column: &FrameColumn<'_>) -> (Vec<f64>, usize, bool) {
    let mut sink = NumericSink::default();
    let mut nulls = column.absent_rows;
    for &chunk in &column.chunks {
        let handled = match chunk.data_type() {
            DataType::Float64 => collect_primitive::<Float64Type>(chunk, |v| v, &mut sink),
            DataType::Float32 => collect_primitive::<Float32Type>(chunk, f64::from, &mut sink),
            DataType::Float16 => collect_primitive::<Float16Type>(chunk, f64::from, &mut sink),
            DataType::Int64 => collect_primitive::<Int64Type>(chunk, |v| v as f64, &mut sink),
            DataType::Int32 => collect_primitive::<Int32Type>(chunk, f64::from, &mut sink),
            DataType::Int16 => collect_primitive::<Int16Type>(chunk, f64::from, &mut sink),
            DataType::Int8 => collect_primitive::<Int8Type>(chunk, f64::from, &mut sink),
            DataType::UInt64 => collect_primitive::<UInt64Type>(chunk, |v| v as f64, &mut sink),
            DataType::UInt32 => collect_primitive::<UInt32Type>(chunk, f64::from, &mut sink),
            DataType::UInt16 => collect_primitive::<UInt16Type>(chunk, f64::from, &mut sink),
            DataType::UInt8 => collect_primitive::<UInt8Type>(chunk, f64::from, &mut sink),
            _ => false,
        };
        if handled {
            nulls += chunk.null_count();
        } else {
            // An all-null part: every row is missing.
            sink.missing += chunk.len();
            nulls += chunk.len();
        }
    }
    let missing = sink.missing + column.absent_rows;
    (sink.values, missing, nulls > 0)
}

/// Counts per string value of a string column, for side 0 (reference) or 1
/// (current); returns the missing count.
fn count_strings<'a>(
    column: &FrameColumn<'a>,
    side: usize,
    counts: &mut HashMap<&'a str, [u64; 2]>,
) -> usize {
    let mut missing = column.absent_rows;
    fn add<'a>(
        counts: &mut HashMap<&'a str, [u64; 2]>,
        side: usize,
        missing: &mut usize,
        value: Option<&'a str>,
    ) {
        match value {
            Some(s) => counts.entry(s).or_insert([0, 0])[side] += 1,
            None => *missing += 1,
        }
    }
    for &chunk in &column.chunks {
        if let Some(strings) = chunk.as_string_opt::<i32>() {
            strings
                .iter()
                .for_each(|v| add(counts, side, &mut missing, v));
        } else if let Some(strings) = chunk.as_string_opt::<i64>() {
            strings
                .iter()
                .for_each(|v| add(counts, side, &mut missing, v));
        } else if let Some(strings) = chunk.as_string_view_opt() {
            strings
                .iter()
                .for_each(|v| add(counts, side, &mut missing, v));
        } else if let Some(dictionary) = chunk.as_any_dictionary_opt() {
            let values: &'a dyn Array = dictionary.values().as_ref();
            let value_at = |i: usize| -> Option<&'a str> {
                if values.is_null(i) {
                    return None;
                }
                if let Some(s) = values.as_string_opt::<i32>() {
                    Some(s.value(i))
                } else if let Some(s) = values.as_string_opt::<i64>() {
                    Some(s.value(i))
                } else {
                    values.as_string_view_opt().map(|s| s.value(i))
                }
            };
            let nulls = chunk.logical_nulls();
            let mut per_key = vec![0u64; values.len()];
            for (row, key) in dictionary.normalized_keys().into_iter().enumerate() {
                if nulls.as_ref().is_some_and(|n| n.is_null(row)) || key >= per_key.len() {
                    missing += 1;
                } else {
                    per_key[key] += 1;
                }
            }
            for (key, count) in per_key.into_iter().enumerate() {
                if count == 0 {
                    continue;
                }
                match value_at(key) {
                    Some(s) => counts.entry(s).or_insert([0, 0])[side] += count,
                    None => missing += count as usize,
                }
            }
        } else {
            missing += chunk.len();
        }
    }
    missing
}

/// Counts of false and true, and the missing count.
fn count_booleans(column: &FrameColumn<'_>) -> ([u64; 2], usize) {
    let mut counts = [0u64; 2];
    let mut missing = column.absent_rows;
    for &chunk in &column.chunks {
        match chunk.as_boolean_opt() {
            Some(bools) => {
                for v in bools.iter() {
                    match v {
                        Some(b) => counts[usize::from(b)] += 1,
                        None => missing += 1,
                    }
                }
            }
            None => missing += chunk.len(),
        }
    }
    (counts, missing)
}

/// Prepares one column: types it from the current data (Evidently's
/// `infer_column_type`), checks the reference holds the same kind of
/// values, drops missing values, sorts or counts.
/// `force_categorical_text` compares a text-typed string column as
/// categorical instead of refusing it.
pub fn prepare(
    reference: &FrameColumn<'_>,
    current: &FrameColumn<'_>,
    force_categorical_text: bool,
) -> Result<PreparedColumn, Unusable> {
    let current_family = column_family(current)
        .map_err(|why| Unusable::Incompatible(format!("the current column {why}")))?;
    let reference_family = column_family(reference)
        .map_err(|why| Unusable::Incompatible(format!("the reference column {why}")))?;
    let incompatible = || {
        Unusable::Incompatible(format!(
            "the current column holds {} values but the reference holds {}",
            current_family.describe(),
            reference_family.describe()
        ))
    };
    match &current_family {
        Family::Float | Family::Integer => {
            if !(reference_family.is_numeric() || reference_family == Family::Null) {
                return Err(incompatible());
            }
            let (mut cur, cur_missing, cur_nulls) = numeric_values(current);
            let (mut refv, ref_missing, ref_nulls) = numeric_values(reference);
            if refv.is_empty() {
                return Err(Unusable::Empty("reference"));
            }
            if cur.is_empty() {
                return Err(Unusable::Empty("current"));
            }
            sort_f64(&mut cur);
            sort_f64(&mut refv);
            let cur_distinct = distinct_sorted(&cur);
            let ref_distinct = distinct_sorted(&refv);
            // pandas loads an integer column with nulls as float64, which
            // Evidently types numerical whatever its cardinality.
            let integer_dtype = current_family == Family::Integer && !cur_nulls;
            let categorical = integer_dtype && cur_distinct <= INTEGER_CARDINALITY_LIMIT;
            let summary = |values: &[f64], missing: usize, distinct: usize| SideSummary {
                rows: values.len(),
                missing,
                distinct,
                min: values.first().copied(),
                max: values.last().copied(),
                mean: Some(crate::special::long_sum(values.iter().copied()) / values.len() as f64),
            };
            let reference_summary = summary(&refv, ref_missing, ref_distinct);
            let current_summary = summary(&cur, cur_missing, cur_distinct);
            let data = if categorical {
                ColumnData::Categorical(CategoryCounts::of_sorted_numbers(&refv, &cur))
            } else {
                ColumnData::Numeric(NumericSamples {
                    reference: refv,
                    current: cur,
                    integer: integer_dtype && reference_family == Family::Integer && !ref_nulls,
                })
            };
            Ok(PreparedColumn {
                data,
                reference: reference_summary,
                current: current_summary,
                text_like: false,
            })
        }
        Family::Text | Family::Dictionary => {
            if !(reference_family.is_string() || reference_family == Family::Null) {
                return Err(incompatible());
            }
            let mut counts: HashMap<&str, [u64; 2]> = HashMap::new();
            let ref_missing = count_strings(reference, 0, &mut counts);
            let cur_missing = count_strings(current, 1, &mut counts);
            let mut entries: Vec<(&str, [u64; 2])> = counts.into_iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let table = CategoryCounts {
                keys: entries
                    .iter()
                    .map(|(k, _)| Category::Text((*k).to_owned()))
                    .collect(),
                reference: entries.iter().map(|(_, c)| c[0]).collect(),
                current: entries.iter().map(|(_, c)| c[1]).collect(),
            };
            let cur_rows = table.current_total() as usize;
            let text_like = current_family == Family::Text
                && table.current_distinct() as f64 > cur_rows as f64 * 0.5;
            if text_like && !force_categorical_text {
                return Err(Unusable::Text);
            }
            categorical_column(table, ref_missing, cur_missing, text_like)
        }
        Family::Boolean => {
            if !matches!(reference_family, Family::Boolean | Family::Null) {
                return Err(incompatible());
            }
            let (ref_counts, ref_missing) = count_booleans(reference);
            let (cur_counts, cur_missing) = count_booleans(current);
            let mut table = CategoryCounts::default();
            for (value, index) in [(false, 0), (true, 1)] {
                if ref_counts[index] + cur_counts[index] > 0 {
                    table.keys.push(Category::Bool(value));
                    table.reference.push(ref_counts[index]);
                    table.current.push(cur_counts[index]);
                }
            }
            categorical_column(table, ref_missing, cur_missing, false)
        }
        Family::Null => Err(Unusable::Empty("current")),
        Family::Unsupported(t) => Err(Unusable::UnsupportedType(t.to_string())),
    }
}

fn categorical_column(
    table: CategoryCounts,
    ref_missing: usize,
    cur_missing: usize,
    text_like: bool,
) -> Result<PreparedColumn, Unusable> {
    if table.reference_total() == 0 {
        return Err(Unusable::Empty("reference"));
    }
    if table.current_total() == 0 {
        return Err(Unusable::Empty("current"));
    }
    let side = |rows: u64, missing: usize, distinct: usize| SideSummary {
        rows: rows as usize,
        missing,
        distinct,
        min: None,
        max: None,
        mean: None,
    };
    Ok(PreparedColumn {
        reference: side(
            table.reference_total(),
            ref_missing,
            table.reference_distinct(),
        ),
        current: side(table.current_total(), cur_missing, table.current_distinct()),
        data: ColumnData::Categorical(table),
        text_like,
    })
}

/// The histogram of a prepared column.
pub fn histogram(data: &ColumnData) -> Histogram {
    match data {
        ColumnData::Numeric(n) => {
            let min = n.reference[0].min(n.current[0]);
            let max = n.reference[n.reference.len() - 1].max(n.current[n.current.len() - 1]);
            let (first, last) = if min == max {
                (min - 0.5, max + 0.5)
            } else {
                (min, max)
            };
            let edges = linspace(first, last, HISTOGRAM_BINS + 1);
            Histogram::Bins {
                reference: crate::stattest::bin_counts(&n.reference, &edges),
                current: crate::stattest::bin_counts(&n.current, &edges),
                edges,
            }
        }
        ColumnData::Categorical(c) => {
            let mut order: Vec<usize> = (0..c.keys.len()).collect();
            order.sort_by(|&a, &b| {
                (c.reference[b] + c.current[b])
                    .cmp(&(c.reference[a] + c.current[a]))
                    .then(c.keys[a].cmp(&c.keys[b]))
            });
            let (shown, rest) = order.split_at(order.len().min(HISTOGRAM_CATEGORIES));
            Histogram::Categories {
                categories: shown.iter().map(|&i| c.keys[i].label()).collect(),
                reference: shown.iter().map(|&i| c.reference[i]).collect(),
                current: shown.iter().map(|&i| c.current[i]).collect(),
                other_reference: rest.iter().map(|&i| c.reference[i]).sum(),
                other_current: rest.iter().map(|&i| c.current[i]).sum(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;
    use crate::stattest::ColumnType;

    fn batch(columns: Vec<(&str, Arc<dyn Array>)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn types_follow_evidently() {
        let few_ints: Arc<dyn Array> = Arc::new(Int64Array::from(
            (0..100).map(|i| i % 4).collect::<Vec<_>>(),
        ));
        let many_ints: Arc<dyn Array> = Arc::new(Int64Array::from((0..100).collect::<Vec<_>>()));
        let ints_with_null: Arc<dyn Array> = Arc::new(Int64Array::from(
            (0..100)
                .map(|i| if i == 0 { None } else { Some(i % 4) })
                .collect::<Vec<_>>(),
        ));
        let floats: Arc<dyn Array> =
            Arc::new(Float64Array::from(vec![1.0, f64::NAN, 2.0, f64::INFINITY]));
        let strings: Arc<dyn Array> = Arc::new(StringArray::from(
            (0..100).map(|i| format!("s{}", i % 3)).collect::<Vec<_>>(),
        ));
        let ids: Arc<dyn Array> = Arc::new(StringArray::from(
            (0..100).map(|i| format!("id{i}")).collect::<Vec<_>>(),
        ));
        let bools: Arc<dyn Array> = Arc::new(BooleanArray::from(vec![true, false, true, true]));
        let batches = [batch(vec![
            ("few", few_ints.clone()),
            ("many", many_ints),
            ("nullable", ints_with_null),
            ("strings", strings),
            ("ids", ids),
        ])];
        let frame = Frame::from_batches(&batches);
        let col = |n: &str| frame.column(n).unwrap();
        let kind = |n: &str| prepare(col(n), col(n), false).map(|p| p.data.column_type());
        assert_eq!(kind("few").unwrap(), ColumnType::Categorical);
        assert_eq!(kind("many").unwrap(), ColumnType::Numerical);
        assert_eq!(kind("nullable").unwrap(), ColumnType::Numerical);
        assert_eq!(kind("strings").unwrap(), ColumnType::Categorical);
        assert!(matches!(kind("ids"), Err(Unusable::Text)));
        assert!(prepare(col("ids"), col("ids"), true).unwrap().text_like);

        let other = [batch(vec![("f", floats)]), batch(vec![("b", bools)])];
        let frame = Frame::from_batches(&other);
        let f = prepare(
            frame.column("f").unwrap(),
            frame.column("f").unwrap(),
            false,
        )
        .unwrap();
        // NaN and infinity are dropped; the second part lacks the column.
        assert_eq!(f.current.rows, 2);
        assert_eq!(f.current.missing, 6);
        let b = prepare(
            frame.column("b").unwrap(),
            frame.column("b").unwrap(),
            false,
        )
        .unwrap();
        assert_eq!(b.data.column_type(), ColumnType::Categorical);
    }

    #[test]
    fn a_column_missing_from_a_part_counts_as_missing() {
        let a: Arc<dyn Array> = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        let b: Arc<dyn Array> = Arc::new(Float64Array::from(vec![3.0]));
        let batches = [
            batch(vec![("x", a.clone()), ("y", a)]),
            batch(vec![("y", b)]),
        ];
        let frame = Frame::from_batches(&batches);
        assert_eq!(frame.rows, 3);
        assert_eq!(frame.column("x").unwrap().absent_rows, 1);
        let x = frame.column("x").unwrap();
        let prepared = prepare(x, x, false).unwrap();
        assert_eq!((prepared.current.rows, prepared.current.missing), (2, 1));
    }

    #[test]
    fn mismatched_kinds_are_refused() {
        let nums: Arc<dyn Array> = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        let strs: Arc<dyn Array> = Arc::new(StringArray::from(vec!["a", "a"]));
        let r = [batch(vec![("c", nums)])];
        let c = [batch(vec![("c", strs)])];
        let (r, c) = (Frame::from_batches(&r), Frame::from_batches(&c));
        let err = prepare(r.column("c").unwrap(), c.column("c").unwrap(), false)
            .err()
            .unwrap();
        assert!(err.reason().contains("string"), "{}", err.reason());
    }
}
