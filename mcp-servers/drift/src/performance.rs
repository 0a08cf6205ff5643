//! Classification and regression metrics: pure functions over label, score
//! and value slices, with no I/O.
//!
//! Each function follows scikit-learn's definition (version 1.7), named in
//! its doc comment, so that a figure here means what the same figure means
//! in a notebook. `tests/reference_metrics.rs` checks them against
//! scikit-learn itself. Where scikit-learn warns that a metric is undefined
//! (`UndefinedMetricWarning`) and substitutes a value, these functions
//! substitute the same value, and the reports say so in `warnings`.
//!
//! Binary metrics take a `positive` label; every other label counts as
//! negative (one-vs-rest), so they also work on multiclass labels.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

/// Why a metric could not be computed from the given input.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricError {
    /// An input slice had no elements.
    Empty { what: &'static str },
    /// Two slices that pair up element by element had different lengths.
    LengthMismatch {
        left: &'static str,
        left_len: usize,
        right: &'static str,
        right_len: usize,
    },
    /// A value was NaN or infinite.
    NotFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
    /// A probability was outside `[0, 1]`.
    ProbabilityOutOfRange { index: usize, value: f64 },
    /// `y_true` held one class only, so a ranking metric is undefined.
    SingleClass { metric: &'static str },
    /// The metric needs more samples than were given.
    TooFewSamples {
        metric: &'static str,
        needed: usize,
        got: usize,
    },
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { what } => write!(f, "{what} is empty; at least one sample is needed"),
            Self::LengthMismatch {
                left,
                left_len,
                right,
                right_len,
            } => write!(
                f,
                "{left} has {left_len} values but {right} has {right_len}; they must be the same length"
            ),
            Self::NotFinite { what, index, value } => {
                write!(
                    f,
                    "{what}[{index}] is {value}; only finite numbers are allowed"
                )
            }
            Self::ProbabilityOutOfRange { index, value } => write!(
                f,
                "scores[{index}] is {value}; probabilities must lie in [0, 1]"
            ),
            Self::SingleClass { metric } => write!(
                f,
                "{metric} is undefined when y_true holds only one class; both the positive label and another label are needed"
            ),
            Self::TooFewSamples {
                metric,
                needed,
                got,
            } => write!(f, "{metric} needs at least {needed} samples, got {got}"),
        }
    }
}

impl std::error::Error for MetricError {}

/// Checks that two paired slices are non-empty and of equal length.
pub(crate) fn check_pair<A, B>(
    left: &'static str,
    a: &[A],
    right: &'static str,
    b: &[B],
) -> Result<(), MetricError> {
    if a.is_empty() {
        return Err(MetricError::Empty { what: left });
    }
    if a.len() != b.len() {
        return Err(MetricError::LengthMismatch {
            left,
            left_len: a.len(),
            right,
            right_len: b.len(),
        });
    }
    Ok(())
}

fn check_finite(what: &'static str, values: &[f64]) -> Result<(), MetricError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MetricError::NotFinite {
            what,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

fn check_probabilities(scores: &[f64]) -> Result<(), MetricError> {
    // NaN first, so that it is reported as NaN rather than as out of range.
    check_finite("scores", scores)?;
    match scores.iter().position(|p| !(0.0..=1.0).contains(p)) {
        Some(index) => Err(MetricError::ProbabilityOutOfRange {
            index,
            value: scores[index],
        }),
        None => Ok(()),
    }
}

/// `numerator / denominator`, or 0 when the denominator is 0: scikit-learn's
/// `zero_division="warn"` default for precision, recall and F1.
fn ratio_or_zero(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

/// The four cells of a one-vs-rest confusion matrix for one label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BinaryCounts {
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub true_negatives: u64,
}

impl BinaryCounts {
    /// Counts outcomes with `positive` as the positive label and every other
    /// label as negative.
    pub fn count(y_true: &[i64], y_pred: &[i64], positive: i64) -> Result<Self, MetricError> {
        check_pair("y_true", y_true, "y_pred", y_pred)?;
        let mut counts = Self {
            true_positives: 0,
            false_positives: 0,
            false_negatives: 0,
            true_negatives: 0,
        };
        for (&t, &p) in y_true.iter().zip(y_pred) {
            let cell = match (t == positive, p == positive) {
                (true, true) => &mut counts.true_positives,
                (false, true) => &mut counts.false_positives,
                (true, false) => &mut counts.false_negatives,
                (false, false) => &mut counts.true_negatives,
            };
            *cell += 1;
        }
        Ok(counts)
    }

    /// `tp / (tp + fp)`; 0 when nothing was predicted positive
    /// (`sklearn.metrics.precision_score`).
    pub fn precision(&self) -> f64 {
        ratio_or_zero(
            self.true_positives as f64,
            (self.true_positives + self.false_positives) as f64,
        )
    }

    /// `tp / (tp + fn)`; 0 when there are no actual positives
    /// (`sklearn.metrics.recall_score`).
    pub fn recall(&self) -> f64 {
        ratio_or_zero(
            self.true_positives as f64,
            (self.true_positives + self.false_negatives) as f64,
        )
    }

    /// `2·tp / (2·tp + fp + fn)`; 0 when there are neither actual nor
    /// predicted positives. This is scikit-learn's form of F1
    /// (`sklearn.metrics.f1_score`, 1.7): it equals the harmonic mean of
    /// precision and recall where those are defined, and is 0 when one
    /// of them was substituted by 0.
    pub fn f1(&self) -> f64 {
        let actual = self.true_positives + self.false_negatives;
        let predicted = self.true_positives + self.false_positives;
        ratio_or_zero(
            2.0 * self.true_positives as f64,
            (actual + predicted) as f64,
        )
    }
}

/// Fraction of samples whose predicted label equals the true label
/// (`sklearn.metrics.accuracy_score`).
pub fn accuracy(y_true: &[i64], y_pred: &[i64]) -> Result<f64, MetricError> {
    check_pair("y_true", y_true, "y_pred", y_pred)?;
    let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// Precision of the `positive` label, one-vs-rest (`precision_score` with
/// `pos_label=positive`, or `labels=[positive]` for multiclass input).
pub fn precision(y_true: &[i64], y_pred: &[i64], positive: i64) -> Result<f64, MetricError> {
    Ok(BinaryCounts::count(y_true, y_pred, positive)?.precision())
}

/// Recall of the `positive` label, one-vs-rest (`recall_score`).
pub fn recall(y_true: &[i64], y_pred: &[i64], positive: i64) -> Result<f64, MetricError> {
    Ok(BinaryCounts::count(y_true, y_pred, positive)?.recall())
}

/// F1 of the `positive` label, one-vs-rest (`f1_score`); see
/// [`BinaryCounts::f1`].
pub fn f1(y_true: &[i64], y_pred: &[i64], positive: i64) -> Result<f64, MetricError> {
    Ok(BinaryCounts::count(y_true, y_pred, positive)?.f1())
}

/// Unweighted means over labels of per-label precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MacroAverages {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Macro averages over every label that occurs in `y_true` or `y_pred`
/// (`precision_recall_fscore_support(average="macro")`): each label is
/// scored one-vs-rest, undefined scores count as 0, and the per-label
/// scores are averaged without weights.
pub fn macro_averages(y_true: &[i64], y_pred: &[i64]) -> Result<MacroAverages, MetricError> {
    check_pair("y_true", y_true, "y_pred", y_pred)?;
    let labels = sorted_labels(y_true, y_pred);
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for &label in &labels {
        let counts = BinaryCounts::count(y_true, y_pred, label)?;
        precision += counts.precision();
        recall += counts.recall();
        f1 += counts.f1();
    }
    let n = labels.len() as f64;
    Ok(MacroAverages {
        precision: precision / n,
        recall: recall / n,
        f1: f1 / n,
    })
}

fn sorted_labels(y_true: &[i64], y_pred: &[i64]) -> Vec<i64> {
    let labels: BTreeSet<i64> = y_true.iter().chain(y_pred).copied().collect();
    labels.into_iter().collect()
}

/// Counts of (true label, predicted label) pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    /// Every label found in `y_true` or `y_pred`, ascending.
    pub labels: Vec<i64>,
    /// `counts[i][j]`: samples whose true label is `labels[i]` and whose
    /// predicted label is `labels[j]`.
    pub counts: Vec<Vec<u64>>,
}

/// The confusion matrix with rows as true labels and columns as predicted
/// labels, both in ascending label order (`sklearn.metrics.confusion_matrix`
/// with `labels=None`).
pub fn confusion_matrix(y_true: &[i64], y_pred: &[i64]) -> Result<ConfusionMatrix, MetricError> {
    check_pair("y_true", y_true, "y_pred", y_pred)?;
    let labels = sorted_labels(y_true, y_pred);
    let mut counts = vec![vec![0; labels.len()]; labels.len()];
    // Every label came from these slices, so the lookups always succeed.
    let index = |label: &i64| labels.binary_search(label).unwrap_or_default();
    for (t, p) in y_true.iter().zip(y_pred) {
        counts[index(t)][index(p)] += 1;
    }
    Ok(ConfusionMatrix { labels, counts })
}

/// Area under the ROC curve of `scores` (higher means more likely
/// `positive`) against `y_true == positive`
/// (`sklearn.metrics.roc_auc_score`, binary case).
///
/// Like scikit-learn, the curve has one point per distinct score and the
/// area is the trapezoid rule over those points, so tied scores count as
/// half a correct ordering. Scores need not be probabilities, but must be
/// finite. Errors with [`MetricError::SingleClass`] when `y_true` does not
/// hold both positives and negatives (scikit-learn warns and returns NaN).
pub fn roc_auc(y_true: &[i64], scores: &[f64], positive: i64) -> Result<f64, MetricError> {
    check_pair("y_true", y_true, "scores", scores)?;
    check_finite("scores", scores)?;
    let mut ranked: Vec<(f64, bool)> = scores
        .iter()
        .zip(y_true)
        .map(|(&s, &t)| (s, t == positive))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));

    // Walk thresholds from the highest score down. Twice the area in units
    // of (false positives × true positives) is an integer, so accumulate it
    // exactly and divide once at the end.
    let (mut tp, mut fp, mut twice_area) = (0u64, 0u64, 0u128);
    let mut start = 0;
    while start < ranked.len() {
        let threshold = ranked[start].0;
        let end = start
            + ranked[start..]
                .iter()
                .take_while(|(s, _)| *s == threshold)
                .count();
        let positives_here = ranked[start..end].iter().filter(|(_, p)| *p).count() as u64;
        let (tp_before, fp_before) = (tp, fp);
        tp += positives_here;
        fp += (end - start) as u64 - positives_here;
        twice_area += u128::from(fp - fp_before) * u128::from(tp + tp_before);
        start = end;
    }
    if tp == 0 || fp == 0 {
        return Err(MetricError::SingleClass { metric: "ROC AUC" });
    }
    Ok(twice_area as f64 / (2.0 * tp as f64 * fp as f64))
}

/// Mean cross-entropy of `probabilities` (each the predicted probability of
/// `positive`) against `y_true == positive`, natural log
/// (`sklearn.metrics.log_loss` on binary labels).
///
/// As in scikit-learn 1.7, the probability given to the true outcome (`p`
/// for a positive, `1 - p` for a negative) is clipped to
/// `[ε, 1 - ε]` with `ε = f64::EPSILON` (`np.finfo(float64).eps`), so a
/// confident miss costs about 36.04 rather than infinity. Unlike
/// scikit-learn, a `y_true` with one class is accepted: the positive label
/// is given, so the loss is still defined.
pub fn log_loss(y_true: &[i64], probabilities: &[f64], positive: i64) -> Result<f64, MetricError> {
    check_pair("y_true", y_true, "scores", probabilities)?;
    check_probabilities(probabilities)?;
    let total: f64 = y_true
        .iter()
        .zip(probabilities)
        .map(|(&t, &p)| {
            let p_true_outcome = if t == positive { p } else { 1.0 - p };
            -p_true_outcome.clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln()
        })
        .sum();
    Ok(total / y_true.len() as f64)
}

/// Mean absolute difference (`sklearn.metrics.mean_absolute_error`).
pub fn mean_absolute_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    check_regression(y_true, y_pred)?;
    let total: f64 = y_true.iter().zip(y_pred).map(|(t, p)| (t - p).abs()).sum();
    Ok(total / y_true.len() as f64)
}

/// Square root of the mean squared difference
/// (`sklearn.metrics.root_mean_squared_error`).
pub fn root_mean_squared_error(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    check_regression(y_true, y_pred)?;
    Ok((sum_squared_error(y_true, y_pred) / y_true.len() as f64).sqrt())
}

/// Coefficient of determination `1 - SS_res / SS_tot`
/// (`sklearn.metrics.r2_score` with its default `force_finite=True`).
///
/// When `y_true` is constant, `SS_tot` is 0 and the ratio undefined;
/// scikit-learn then gives 1.0 for perfect predictions and 0.0 otherwise,
/// and so does this. "Constant" is tested exactly (all values equal)
/// rather than through a floating-point mean, so that e.g. three 0.1s
/// count as constant. Needs at least two samples (scikit-learn returns NaN
/// for one).
pub fn r2_score(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MetricError> {
    check_regression(y_true, y_pred)?;
    if y_true.len() < 2 {
        return Err(MetricError::TooFewSamples {
            metric: "R²",
            needed: 2,
            got: y_true.len(),
        });
    }
    let residual = sum_squared_error(y_true, y_pred);
    let constant_target = y_true.iter().all(|&t| t == y_true[0]);
    if constant_target {
        return Ok(if residual == 0.0 { 1.0 } else { 0.0 });
    }
    let mean = y_true.iter().sum::<f64>() / y_true.len() as f64;
    let total: f64 = y_true.iter().map(|t| (t - mean).powi(2)).sum();
    Ok(1.0 - residual / total)
}

fn check_regression(y_true: &[f64], y_pred: &[f64]) -> Result<(), MetricError> {
    check_pair("y_true", y_true, "y_pred", y_pred)?;
    check_finite("y_true", y_true)?;
    check_finite("y_pred", y_pred)
}

fn sum_squared_error(y_true: &[f64], y_pred: &[f64]) -> f64 {
    y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p).powi(2))
        .sum()
}

/// Everything [`classification_report`] measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationMetrics {
    pub samples: usize,
    pub positive_label: i64,
    /// One-vs-rest counts for `positive_label`.
    pub counts: BinaryCounts,
    pub accuracy: f64,
    /// Precision, recall and F1 of `positive_label`.
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Averages over all labels present; equal-weighted per label.
    pub macro_average: MacroAverages,
    /// `None` when no scores were given, or when `y_true` holds one class
    /// only (then `warnings` says so).
    pub roc_auc: Option<f64>,
    /// `None` when no scores were given.
    pub log_loss: Option<f64>,
    pub confusion_matrix: ConfusionMatrix,
    /// Figures that were undefined and substituted as scikit-learn does,
    /// in plain words.
    pub warnings: Vec<String>,
}

/// Computes every classification metric in one pass over the input.
///
/// * `y_true`, `y_pred`: labels, same non-zero length.
/// * `scores`: optional predicted probability of `positive` per sample,
///   each in `[0, 1]`; enables ROC AUC and log loss.
/// * `positive`: the label treated as positive for the binary figures;
///   other labels are negative.
///
/// Errors on empty input, mismatched lengths, and scores that are NaN,
/// infinite or outside `[0, 1]`. A `y_true` with one class is not an error
/// (a monitoring window may well hold no positives); ROC AUC is then
/// `None` with a warning.
pub fn classification_report(
    y_true: &[i64],
    y_pred: &[i64],
    scores: Option<&[f64]>,
    positive: i64,
) -> Result<ClassificationMetrics, MetricError> {
    let counts = BinaryCounts::count(y_true, y_pred, positive)?;
    let mut warnings = Vec::new();
    let (mut roc, mut loss) = (None, None);
    if let Some(scores) = scores {
        loss = Some(log_loss(y_true, scores, positive)?);
        match roc_auc(y_true, scores, positive) {
            Ok(area) => roc = Some(area),
            Err(MetricError::SingleClass { .. }) => warnings.push(format!(
                "ROC AUC is undefined: y_true holds {} only",
                if counts.true_positives + counts.false_negatives == 0 {
                    "negatives"
                } else {
                    "positives"
                }
            )),
            Err(other) => return Err(other),
        }
    }

    let actual = counts.true_positives + counts.false_negatives;
    let predicted = counts.true_positives + counts.false_positives;
    if actual == 0 && predicted == 0 {
        warnings.push(format!(
            "label {positive} occurs in neither y_true nor y_pred; its precision, recall and F1 are set to 0"
        ));
    } else if predicted == 0 {
        warnings.push(format!(
            "no sample was predicted {positive}; precision is set to 0"
        ));
    } else if actual == 0 {
        warnings.push(format!("no sample is truly {positive}; recall is set to 0"));
    }

    let confusion = confusion_matrix(y_true, y_pred)?;
    // The positive label's own gaps were reported above.
    let never_predicted: Vec<i64> = confusion
        .labels
        .iter()
        .enumerate()
        .filter(|&(j, &label)| label != positive && confusion.counts.iter().all(|row| row[j] == 0))
        .map(|(_, &label)| label)
        .collect();
    let never_true: Vec<i64> = confusion
        .labels
        .iter()
        .zip(&confusion.counts)
        .filter(|&(&label, row)| label != positive && row.iter().all(|&c| c == 0))
        .map(|(&label, _)| label)
        .collect();
    if !never_predicted.is_empty() {
        warnings.push(format!(
            "labels {never_predicted:?} are never predicted; their precision counts as 0 in the macro average"
        ));
    }
    if !never_true.is_empty() {
        warnings.push(format!(
            "labels {never_true:?} never occur in y_true; their recall counts as 0 in the macro average"
        ));
    }

    Ok(ClassificationMetrics {
        samples: y_true.len(),
        positive_label: positive,
        counts,
        accuracy: accuracy(y_true, y_pred)?,
        precision: counts.precision(),
        recall: counts.recall(),
        f1: counts.f1(),
        macro_average: macro_averages(y_true, y_pred)?,
        roc_auc: roc,
        log_loss: loss,
        confusion_matrix: confusion,
        warnings,
    })
}

/// Everything [`regression_report`] measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionMetrics {
    pub samples: usize,
    pub mean_absolute_error: f64,
    pub root_mean_squared_error: f64,
    pub r2: f64,
}

/// Computes MAE, RMSE and R² of `y_pred` against `y_true`.
///
/// Errors on empty input, mismatched lengths, NaN or infinite values, and
/// fewer than two samples (R² needs two).
pub fn regression_report(y_true: &[f64], y_pred: &[f64]) -> Result<RegressionMetrics, MetricError> {
    Ok(RegressionMetrics {
        samples: y_true.len(),
        r2: r2_score(y_true, y_pred)?,
        mean_absolute_error: mean_absolute_error(y_true, y_pred)?,
        root_mean_squared_error: root_mean_squared_error(y_true, y_pred)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12
    }

    #[test]
    fn binary_scores_follow_the_confusion_cells() {
        // tp = 2, fp = 1, fn = 1, tn = 2
        let y_true = [1, 1, 1, 0, 0, 0];
        let y_pred = [1, 1, 0, 1, 0, 0];
        let counts = BinaryCounts::count(&y_true, &y_pred, 1).unwrap();
        assert_eq!(
            counts,
            BinaryCounts {
                true_positives: 2,
                false_positives: 1,
                false_negatives: 1,
                true_negatives: 2
            }
        );
        assert!(close(accuracy(&y_true, &y_pred).unwrap(), 4.0 / 6.0));
        assert!(close(precision(&y_true, &y_pred, 1).unwrap(), 2.0 / 3.0));
        assert!(close(recall(&y_true, &y_pred, 1).unwrap(), 2.0 / 3.0));
        assert!(close(f1(&y_true, &y_pred, 1).unwrap(), 2.0 / 3.0));
        // Swapping the positive label scores the other class.
        assert!(close(precision(&y_true, &y_pred, 0).unwrap(), 2.0 / 3.0));
    }

    #[test]
    fn undefined_precision_recall_and_f1_are_zero() {
        // Nothing predicted positive: precision undefined.
        assert_eq!(precision(&[1, 0], &[0, 0], 1).unwrap(), 0.0);
        // No actual positives: recall undefined.
        assert_eq!(recall(&[0, 0], &[1, 0], 1).unwrap(), 0.0);
        // Neither: all three 0, even though every prediction is right.
        assert_eq!(f1(&[0, 0], &[0, 0], 1).unwrap(), 0.0);
        assert_eq!(accuracy(&[0, 0], &[0, 0]).unwrap(), 1.0);
    }

    #[test]
    fn empty_and_mismatched_input_are_errors() {
        assert_eq!(
            accuracy(&[], &[]),
            Err(MetricError::Empty { what: "y_true" })
        );
        let err = precision(&[1, 0], &[1], 1).unwrap_err();
        assert!(matches!(
            err,
            MetricError::LengthMismatch {
                left_len: 2,
                right_len: 1,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "y_true has 2 values but y_pred has 1; they must be the same length"
        );
        assert!(roc_auc(&[1, 0], &[0.5], 1).is_err());
        assert!(mean_absolute_error(&[], &[]).is_err());
    }

    #[test]
    fn macro_average_covers_labels_seen_in_either_slice() {
        // Label 2 is predicted but never true: its precision and recall are 0.
        let y_true = [0, 0, 1, 1];
        let y_pred = [0, 2, 1, 1];
        let m = macro_averages(&y_true, &y_pred).unwrap();
        // per label precision: 0 → 1, 1 → 1, 2 → 0
        assert!(close(m.precision, 2.0 / 3.0));
        // recall: 0 → 1/2, 1 → 1, 2 → 0
        assert!(close(m.recall, 1.5 / 3.0));
        // f1: 0 → 2/3, 1 → 1, 2 → 0
        assert!(close(m.f1, (2.0 / 3.0 + 1.0) / 3.0));
    }

    #[test]
    fn confusion_matrix_sorts_labels_with_true_rows() {
        let cm = confusion_matrix(&[3, -1, 3, 7], &[3, 3, -1, 7]).unwrap();
        assert_eq!(cm.labels, vec![-1, 3, 7]);
        assert_eq!(cm.counts, vec![vec![0, 1, 0], vec![1, 1, 0], vec![0, 0, 1]]);
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        assert_eq!(
            roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8], 1).unwrap(),
            0.75
        );
        // All scores tied: the curve is the diagonal.
        assert_eq!(roc_auc(&[0, 1, 0, 1], &[0.5; 4], 1).unwrap(), 0.5);
        // One positive tied with one of two negatives, above the other.
        assert_eq!(roc_auc(&[1, 0, 0], &[0.7, 0.7, 0.1], 1).unwrap(), 0.75);
        // Perfectly inverted ranking.
        assert_eq!(roc_auc(&[1, 1, 0], &[0.0, 0.1, 0.9], 1).unwrap(), 0.0);
        // Scores need not be probabilities.
        assert_eq!(roc_auc(&[0, 1], &[-3.0, 12.0], 1).unwrap(), 1.0);
    }

    #[test]
    fn roc_auc_rejects_one_class_and_nan() {
        assert_eq!(
            roc_auc(&[0, 0], &[0.1, 0.2], 1),
            Err(MetricError::SingleClass { metric: "ROC AUC" })
        );
        assert_eq!(
            roc_auc(&[1, 1], &[0.1, 0.2], 1),
            Err(MetricError::SingleClass { metric: "ROC AUC" })
        );
        assert!(matches!(
            roc_auc(&[0, 1], &[0.1, f64::NAN], 1),
            Err(MetricError::NotFinite { index: 1, .. })
        ));
    }

    #[test]
    fn log_loss_clips_certain_mistakes() {
        let eps = f64::EPSILON;
        // A certain miss costs -ln(ε), not infinity.
        assert!(close(log_loss(&[1], &[0.0], 1).unwrap(), -eps.ln()));
        // A certain hit costs -ln(1 - ε), not 0.
        assert_eq!(log_loss(&[0], &[0.0], 1).unwrap(), -(1.0 - eps).ln());
        let expected = -(0.8f64.ln() + 0.6f64.ln()) / 2.0;
        assert!(close(log_loss(&[1, 0], &[0.8, 0.4], 1).unwrap(), expected));
        // The positive label decides which column the probability is for.
        assert!(close(log_loss(&[5, 9], &[0.8, 0.4], 5).unwrap(), expected));
    }

    #[test]
    fn log_loss_rejects_non_probabilities() {
        assert_eq!(
            log_loss(&[1, 0], &[0.5, 1.5], 1),
            Err(MetricError::ProbabilityOutOfRange {
                index: 1,
                value: 1.5
            })
        );
        assert!(matches!(
            log_loss(&[1, 0], &[-0.1, 0.5], 1),
            Err(MetricError::ProbabilityOutOfRange { index: 0, .. })
        ));
        assert!(matches!(
            log_loss(&[1, 0], &[f64::NAN, 0.5], 1),
            Err(MetricError::NotFinite { index: 0, .. })
        ));
    }

    #[test]
    fn regression_metrics_on_a_small_example() {
        let y_true = [3.0, -0.5, 2.0, 7.0];
        let y_pred = [2.5, 0.0, 2.0, 8.0];
        let report = regression_report(&y_true, &y_pred).unwrap();
        assert!(close(report.mean_absolute_error, 0.5));
        assert!(close(report.root_mean_squared_error, 0.375f64.sqrt()));
        // sklearn's documented example value for these inputs.
        assert!(close(report.r2, 0.9486081370449679));
    }

    #[test]
    fn r2_on_a_constant_target_is_one_or_zero() {
        assert_eq!(r2_score(&[0.1, 0.1, 0.1], &[0.1, 0.1, 0.1]).unwrap(), 1.0);
        assert_eq!(r2_score(&[0.1, 0.1, 0.1], &[0.1, 0.2, 0.1]).unwrap(), 0.0);
        assert!(matches!(
            r2_score(&[1.0], &[1.0]),
            Err(MetricError::TooFewSamples { got: 1, .. })
        ));
        assert!(matches!(
            r2_score(&[1.0, f64::INFINITY], &[1.0, 2.0]),
            Err(MetricError::NotFinite {
                what: "y_true",
                index: 1,
                ..
            })
        ));
    }

    #[test]
    fn report_with_one_class_keeps_going_and_warns() {
        let report =
            classification_report(&[0, 0, 0], &[0, 1, 0], Some(&[0.1, 0.9, 0.2]), 1).unwrap();
        assert_eq!(report.roc_auc, None);
        assert!(report.log_loss.is_some());
        assert_eq!(report.recall, 0.0);
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("ROC AUC is undefined: y_true holds negatives only")),
            "{:?}",
            report.warnings
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("recall is set to 0"))
        );
    }

    #[test]
    fn report_without_scores_has_no_ranking_metrics() {
        let report = classification_report(&[0, 1, 1], &[0, 1, 0], None, 1).unwrap();
        assert_eq!((report.roc_auc, report.log_loss), (None, None));
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(report.confusion_matrix.counts, vec![vec![1, 0], vec![1, 1]]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["counts"]["true_positives"], 1);
        assert_eq!(json["macro_average"]["precision"], 0.75);
    }

    #[test]
    fn report_rejects_scores_that_are_not_probabilities() {
        let err = classification_report(&[0, 1], &[0, 1], Some(&[-2.0, 3.0]), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "scores[0] is -2; probabilities must lie in [0, 1]"
        );
        let err = classification_report(&[0, 1], &[0, 1], Some(&[0.5]), 1).unwrap_err();
        assert!(matches!(err, MetricError::LengthMismatch { .. }));
    }
}
