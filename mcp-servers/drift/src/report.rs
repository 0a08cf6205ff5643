//! The data drift report: every compared column tested in parallel, then
//! the dataset verdict from the share of drifted columns.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::RecordBatch;
use serde::Serialize;

use crate::columns::{self, Frame, Histogram, SideSummary, Unusable};
use crate::kolmogorov::KsMethod;
use crate::stattest::{self, ColumnType, ScoreKind, StatTest};

/// How to run a drift report. `Default` is Evidently's defaults: every
/// column, tests chosen per column, default thresholds, drift share 0.5.
#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// Only these columns (each must be in both datasets); `None` compares
    /// every column of the current data that the reference also has.
    pub columns: Option<Vec<String>>,
    /// One test for every column (must suit each column's type).
    pub stattest: Option<StatTest>,
    /// A test per column; wins over `stattest`.
    pub per_column_stattest: BTreeMap<String, StatTest>,
    /// One threshold for every column; otherwise each test's default.
    pub stattest_threshold: Option<f64>,
    /// A threshold per column; wins over `stattest_threshold`.
    pub per_column_stattest_threshold: BTreeMap<String, f64>,
    /// The dataset drifts when at least this share of columns drift.
    pub drift_share: f64,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            columns: None,
            stattest: None,
            per_column_stattest: BTreeMap::new(),
            stattest_threshold: None,
            per_column_stattest_threshold: BTreeMap::new(),
            drift_share: 0.5,
        }
    }
}

/// Why a report could not be made; the message says what to change.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DriftError {
    #[error("{0}")]
    InvalidOptions(String),
    #[error("unknown column {column:?}: {why}")]
    UnknownColumn { column: String, why: String },
    #[error("column {column:?} cannot be compared: {why}")]
    Column { column: String, why: String },
    #[error("no columns to compare: {0}")]
    NothingToCompare(String),
}

/// How the test of a column was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestChoice {
    /// Evidently's default rule.
    Default,
    /// The report's `stattest`.
    Stattest,
    /// `per_column_stattest`.
    PerColumn,
}

/// One column's result.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnDrift {
    pub column: String,
    pub column_type: ColumnType,
    pub stattest: StatTest,
    /// Evidently's label for the score, e.g. "K-S p_value".
    pub stattest_name: &'static str,
    pub selected_by: TestChoice,
    /// The p-value or distance; `null` where scipy would give NaN.
    pub score: f64,
    pub score_kind: ScoreKind,
    pub threshold: f64,
    /// e.g. "p_value <= threshold".
    pub drift_condition: &'static str,
    pub drift_detected: bool,
    /// The statistic behind a p-value: KS D, chi-square, or z.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistic: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ks_method: Option<KsMethod>,
    /// Distinct values in reference ∪ current (used by the default rule).
    pub distinct_values: usize,
    /// Evidently would type this string column as text; it was compared as
    /// categorical because it was asked for by name.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub compared_text_as_categorical: bool,
    pub reference: SideSummary,
    pub current: SideSummary,
    pub histogram: Histogram,
}

/// A column left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedColumn {
    pub column: String,
    pub reason: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// `share_of_drifted_columns >= drift_share`.
    pub dataset_drift: bool,
    pub drift_share: f64,
    pub number_of_columns: usize,
    pub number_of_drifted_columns: usize,
    pub share_of_drifted_columns: f64,
    pub reference_rows: usize,
    pub current_rows: usize,
    pub columns: Vec<ColumnDrift>,
    pub skipped_columns: Vec<SkippedColumn>,
}

/// Compares `current` with `reference`, one batch each.
pub fn drift_report(
    reference: &RecordBatch,
    current: &RecordBatch,
    options: &DriftOptions,
) -> Result<DriftReport, DriftError> {
    drift_report_batches(
        std::slice::from_ref(reference),
        std::slice::from_ref(current),
        options,
    )
}

/// Compares datasets given as several batches each (prediction-log
/// segments); a column absent from a batch counts as missing there.
pub fn drift_report_batches(
    reference: &[RecordBatch],
    current: &[RecordBatch],
    options: &DriftOptions,
) -> Result<DriftReport, DriftError> {
    validate(options)?;
    let reference_frame = Frame::from_batches(reference);
    let current_frame = Frame::from_batches(current);
    if reference_frame.rows == 0 {
        return Err(DriftError::NothingToCompare(
            "the reference has no rows".into(),
        ));
    }
    if current_frame.rows == 0 {
        return Err(DriftError::NothingToCompare(
            "the current data has no rows".into(),
        ));
    }

    let mut skipped = Vec::new();
    let mut planned: Vec<PlannedColumn> = Vec::new();
    match &options.columns {
        Some(names) => {
            for name in names {
                let why = match (
                    reference_frame.column(name).is_some(),
                    current_frame.column(name).is_some(),
                ) {
                    (true, true) => None,
                    (false, true) => Some("the reference does not have it"),
                    (true, false) => Some("the current data does not have it"),
                    (false, false) => Some("neither dataset has it"),
                };
                if let Some(why) = why {
                    return Err(DriftError::UnknownColumn {
                        column: name.clone(),
                        why: format!("{why}; the reference has {}", list_names(&reference_frame)),
                    });
                }
                if planned.iter().any(|p| p.name == name.as_str()) {
                    return Err(DriftError::InvalidOptions(format!(
                        "column {name:?} is listed twice in `columns`"
                    )));
                }
                planned.push(PlannedColumn {
                    name: name.as_str(),
                    explicit: true,
                });
            }
        }
        None => {
            for column in &current_frame.columns {
                if reference_frame.column(column.name).is_some() {
                    let explicit = options.per_column_stattest.contains_key(column.name)
                        || options
                            .per_column_stattest_threshold
                            .contains_key(column.name);
                    planned.push(PlannedColumn {
                        name: column.name,
                        explicit,
                    });
                } else {
                    skipped.push(SkippedColumn {
                        column: column.name.to_owned(),
                        reason: "only in the current data".into(),
                    });
                }
            }
            for column in &reference_frame.columns {
                if current_frame.column(column.name).is_none() {
                    skipped.push(SkippedColumn {
                        column: column.name.to_owned(),
                        reason: "only in the reference".into(),
                    });
                }
            }
        }
    }
    for name in options
        .per_column_stattest
        .keys()
        .chain(options.per_column_stattest_threshold.keys())
    {
        if !planned.iter().any(|p| p.name == name.as_str()) {
            return Err(DriftError::UnknownColumn {
                column: name.clone(),
                why: "a per-column option names it, but it is not among the compared columns"
                    .into(),
            });
        }
    }

    let outcomes = run_parallel(&planned, |column| {
        let reference_column = reference_frame
            .column(column.name)
            .expect("planned columns exist in the reference");
        let current_column = current_frame
            .column(column.name)
            .expect("planned columns exist in the current data");
        compare_column(column, reference_column, current_column, options)
    });

    let mut columns = Vec::new();
    for (column, outcome) in planned.iter().zip(outcomes) {
        match outcome {
            ColumnOutcome::Compared(drift) => columns.push(*drift),
            ColumnOutcome::Skipped(reason) => skipped.push(SkippedColumn {
                column: column.name.to_owned(),
                reason,
            }),
            ColumnOutcome::Failed(error) => return Err(error),
        }
    }
    if columns.is_empty() {
        let why = if skipped.is_empty() {
            "the datasets share no columns".to_owned()
        } else {
            skipped
                .iter()
                .map(|s| format!("{}: {}", s.column, s.reason))
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(DriftError::NothingToCompare(why));
    }
    let drifted = columns.iter().filter(|c| c.drift_detected).count();
    let share = drifted as f64 / columns.len() as f64;
    Ok(DriftReport {
        dataset_drift: share >= options.drift_share,
        drift_share: options.drift_share,
        number_of_columns: columns.len(),
        number_of_drifted_columns: drifted,
        share_of_drifted_columns: share,
        reference_rows: reference_frame.rows,
        current_rows: current_frame.rows,
        columns,
        skipped_columns: skipped,
    })
}

fn list_names(frame: &Frame<'_>) -> String {
    let names: Vec<String> = frame
        .columns
        .iter()
        .take(30)
        .map(|c| format!("{:?}", c.name))
        .collect();
    let more = frame.columns.len().saturating_sub(30);
    if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    }
}

fn validate(options: &DriftOptions) -> Result<(), DriftError> {
    let share = options.drift_share;
    if !(share.is_finite() && share > 0.0 && share <= 1.0) {
        return Err(DriftError::InvalidOptions(format!(
            "drift_share {share} must be in (0, 1]"
        )));
    }
    let check = |what: String, threshold: f64, test: Option<StatTest>| {
        check_threshold(&what, threshold, test).map_err(DriftError::InvalidOptions)
    };
    if let Some(t) = options.stattest_threshold {
        check("stattest_threshold".into(), t, options.stattest)?;
    }
    for (column, &t) in &options.per_column_stattest_threshold {
        let test = options
            .per_column_stattest
            .get(column)
            .copied()
            .or(options.stattest);
        check(format!("the threshold for column {column:?}"), t, test)?;
    }
    Ok(())
}

/// A threshold is a positive finite number; for a p-value test, below 1.
fn check_threshold(what: &str, threshold: f64, test: Option<StatTest>) -> Result<(), String> {
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(format!(
            "{what} {threshold} must be a positive finite number"
        ));
    }
    if let Some(test) = test
        && test.score_kind() == ScoreKind::PValue
        && threshold >= 1.0
    {
        return Err(format!(
            "{what} {threshold} must be below 1: {} gives a p-value",
            test.name()
        ));
    }
    Ok(())
}

struct PlannedColumn<'a> {
    name: &'a str,
    /// Named by the caller: a problem with it is an error, not a skip.
    explicit: bool,
}

enum ColumnOutcome {
    Compared(Box<ColumnDrift>),
    Skipped(String),
    Failed(DriftError),
}

/// Runs `work` over `items` on up to `available_parallelism` threads; the
/// results come back in item order.
fn run_parallel<'i, T: Sync, R: Send>(items: &'i [T], work: impl Fn(&'i T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len())
        .max(1);
    if threads == 1 {
        return items.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, work(item)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(done) => done,
                // A panic is a bug in this crate; re-raise it on the caller.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn compare_column(
    column: &PlannedColumn<'_>,
    reference: &columns::FrameColumn<'_>,
    current: &columns::FrameColumn<'_>,
    options: &DriftOptions,
) -> ColumnOutcome {
    let name = column.name;
    let fail = |why: String| {
        if column.explicit {
            ColumnOutcome::Failed(DriftError::Column {
                column: name.to_owned(),
                why,
            })
        } else {
            ColumnOutcome::Skipped(why)
        }
    };
    let prepared = match columns::prepare(reference, current, column.explicit) {
        Ok(p) => p,
        Err(unusable @ Unusable::Text) => return ColumnOutcome::Skipped(unusable.reason()),
        Err(unusable) => return fail(unusable.reason()),
    };
    let column_type = prepared.data.column_type();
    let distinct_values = prepared.data.distinct_values();
    let (stattest, selected_by) = match (options.per_column_stattest.get(name), options.stattest) {
        (Some(&t), _) => (t, TestChoice::PerColumn),
        (None, Some(t)) => (t, TestChoice::Stattest),
        (None, None) => (
            StatTest::default_for(column_type, prepared.data.reference_rows(), distinct_values),
            TestChoice::Default,
        ),
    };
    if selected_by != TestChoice::Default && !stattest.applies_to(column_type) {
        // A wrong explicit choice is the caller's to fix, named or not.
        return ColumnOutcome::Failed(DriftError::Column {
            column: name.to_owned(),
            why: format!(
                "stattest {} does not apply to {} columns; for those use {}",
                stattest.name(),
                type_name(column_type),
                applicable_tests(column_type)
            ),
        });
    }
    let threshold = options
        .per_column_stattest_threshold
        .get(name)
        .copied()
        .or(options.stattest_threshold)
        .unwrap_or_else(|| stattest.default_threshold());
    if let Err(why) = check_threshold("the threshold", threshold, Some(stattest)) {
        return ColumnOutcome::Failed(DriftError::Column {
            column: name.to_owned(),
            why,
        });
    }
    let score = match stattest::run(stattest, &prepared.data) {
        Ok(s) => s,
        Err(why) => return fail(why),
    };
    ColumnOutcome::Compared(Box::new(ColumnDrift {
        column: name.to_owned(),
        column_type,
        stattest,
        stattest_name: stattest.display_name(),
        selected_by,
        score: score.score,
        score_kind: stattest.score_kind(),
        threshold,
        drift_condition: stattest.drift_condition(),
        drift_detected: stattest.drifted(score.score, threshold),
        statistic: score.statistic,
        ks_method: score.ks_method,
        distinct_values,
        compared_text_as_categorical: prepared.text_like,
        histogram: columns::histogram(&prepared.data),
        reference: prepared.reference,
        current: prepared.current,
    }))
}

fn type_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Numerical => "numerical",
        ColumnType::Categorical => "categorical",
    }
}

fn applicable_tests(t: ColumnType) -> String {
    StatTest::ALL
        .iter()
        .filter(|s| s.applies_to(t))
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, Float64Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

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

    fn datasets() -> (RecordBatch, RecordBatch) {
        let n = 400;
        let reference = batch(vec![
            (
                "x",
                Arc::new(Float64Array::from(
                    (0..n).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<_>>(),
                )),
            ),
            (
                "k",
                Arc::new(Int64Array::from((0..n).map(|i| i % 3).collect::<Vec<_>>())),
            ),
            (
                "s",
                Arc::new(StringArray::from(
                    (0..n)
                        .map(|i| ["a", "b"][(i % 2) as usize])
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "ref_only",
                Arc::new(Int64Array::from((0..n).collect::<Vec<_>>())),
            ),
        ]);
        let current = batch(vec![
            (
                "x",
                Arc::new(Float64Array::from(
                    (0..n)
                        .map(|i| (i as f64 * 0.37).sin() + 1.0)
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "k",
                Arc::new(Int64Array::from((0..n).map(|i| i % 3).collect::<Vec<_>>())),
            ),
            (
                "s",
                Arc::new(StringArray::from(
                    (0..n)
                        .map(|i| ["a", "b"][(i % 2) as usize])
                        .collect::<Vec<_>>(),
                )),
            ),
        ]);
        (reference, current)
    }

    #[test]
    fn default_report_picks_tests_and_counts_drift() {
        let (reference, current) = datasets();
        let report = drift_report(&reference, &current, &DriftOptions::default()).unwrap();
        let by_name = |n: &str| report.columns.iter().find(|c| c.column == n).unwrap();
        assert_eq!(by_name("x").stattest, StatTest::Ks);
        assert!(by_name("x").drift_detected);
        assert_eq!(by_name("k").stattest, StatTest::Chisquare);
        assert!(!by_name("k").drift_detected);
        assert_eq!(by_name("s").stattest, StatTest::Z);
        assert_eq!(report.number_of_columns, 3);
        assert_eq!(report.number_of_drifted_columns, 1);
        assert!(!report.dataset_drift);
        assert_eq!(report.skipped_columns[0].column, "ref_only");
    }

    #[test]
    fn bad_options_are_refused_with_reasons() {
        let (reference, current) = datasets();
        let run = |options: DriftOptions| {
            drift_report(&reference, &current, &options)
                .unwrap_err()
                .to_string()
        };
        let err = run(DriftOptions {
            columns: Some(vec!["nope".into()]),
            ..Default::default()
        });
        assert!(err.contains("unknown column \"nope\""), "{err}");
        let err = run(DriftOptions {
            stattest: Some(StatTest::Ks),
            ..Default::default()
        });
        assert!(err.contains("does not apply to categorical"), "{err}");
        let err = run(DriftOptions {
            stattest_threshold: Some(-1.0),
            ..Default::default()
        });
        assert!(err.contains("positive"), "{err}");
        let err = run(DriftOptions {
            stattest: Some(StatTest::Psi),
            stattest_threshold: Some(f64::NAN),
            ..Default::default()
        });
        assert!(err.contains("positive finite"), "{err}");
        let err = run(DriftOptions {
            drift_share: 0.0,
            ..Default::default()
        });
        assert!(err.contains("drift_share"), "{err}");
        let err = run(DriftOptions {
            per_column_stattest: [("x".to_owned(), StatTest::Z)].into(),
            ..Default::default()
        });
        assert!(err.contains("does not apply to numerical"), "{err}");
    }

    #[test]
    fn a_p_value_threshold_of_one_or_more_is_refused_per_column() {
        let (reference, current) = datasets();
        let options = DriftOptions {
            stattest_threshold: Some(2.0),
            ..Default::default()
        };
        let err = drift_report(&reference, &current, &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be below 1"), "{err}");
    }
}
