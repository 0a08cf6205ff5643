//! Binary classification metrics over labels and predicted P(class = 1).

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Probabilities are clipped to [EPS, 1 - EPS] for log loss so one confident
/// mistake gives a large, finite loss.
const LOG_LOSS_EPS: f64 = 1e-15;

/// Validation metrics of a binary classifier at threshold 0.5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BinaryClassificationMetrics {
    pub rows: usize,
    pub positives: usize,
    pub accuracy: f64,
    /// 0 when nothing is predicted positive.
    pub precision: f64,
    /// 0 when there are no positives.
    pub recall: f64,
    /// 0 when precision and recall are both 0.
    pub f1: f64,
    /// Area under the ROC curve; `None` when the labels hold one class only.
    pub roc_auc: Option<f64>,
    pub log_loss: f64,
    pub true_positives: usize,
    pub false_positives: usize,
    pub true_negatives: usize,
    pub false_negatives: usize,
}

impl BinaryClassificationMetrics {
    /// A metric by name, for ranking search trials: `accuracy`, `precision`,
    /// `recall`, `f1`, `roc_auc`, or `log_loss` (lower is better; the caller
    /// decides the direction).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "accuracy" => Some(self.accuracy),
            "precision" => Some(self.precision),
            "recall" => Some(self.recall),
            "f1" => Some(self.f1),
            "roc_auc" => self.roc_auc,
            "log_loss" => Some(self.log_loss),
            _ => None,
        }
    }
}

/// The metric names `BinaryClassificationMetrics::get` knows.
pub const METRIC_NAMES: &[&str] = &[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
];

/// Metrics of `probabilities` (P(class = 1)) against `labels` (0/1).
pub fn binary_classification_metrics(
    labels: &[i64],
    probabilities: &[f64],
) -> Result<BinaryClassificationMetrics, ModelError> {
    if labels.len() != probabilities.len() {
        return Err(ModelError::InvalidTrainingData(format!(
            "{} labels but {} predictions",
            labels.len(),
            probabilities.len()
        )));
    }
    if labels.is_empty() {
        return Err(ModelError::InvalidTrainingData(
            "no rows to compute metrics on".into(),
        ));
    }
    if let Some(i) = labels.iter().position(|&l| l != 0 && l != 1) {
        return Err(ModelError::InvalidTrainingData(format!(
            "label {} at row {i}; labels must be 0 or 1",
            labels[i]
        )));
    }
    if let Some(i) = probabilities
        .iter()
        .position(|p| !p.is_finite() || !(0.0..=1.0).contains(p))
    {
        return Err(ModelError::InvalidTrainingData(format!(
            "probability {} at row {i} is not in [0, 1]",
            probabilities[i]
        )));
    }

    let (mut tp, mut fp, mut tn, mut fn_) = (0usize, 0usize, 0usize, 0usize);
    let mut log_loss_sum = 0.0;
    for (&label, &p) in labels.iter().zip(probabilities) {
        match (label == 1, p >= 0.5) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
            (true, false) => fn_ += 1,
        }
        let clipped = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
        log_loss_sum -= if label == 1 {
            clipped.ln()
        } else {
            (1.0 - clipped).ln()
        };
    }
    let rows = labels.len();
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Ok(BinaryClassificationMetrics {
        rows,
        positives: tp + fn_,
        accuracy: ratio(tp + tn, rows),
        precision,
        recall,
        f1,
        roc_auc: roc_auc(labels, probabilities),
        log_loss: log_loss_sum / rows as f64,
        true_positives: tp,
        false_positives: fp,
        true_negatives: tn,
        false_negatives: fn_,
    })
}

/// ROC AUC as the Mann–Whitney statistic: the chance a random positive
/// scores above a random negative, ties counting one half (average ranks).
fn roc_auc(labels: &[i64], scores: &[f64]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l == 1).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start..end (0-based) share their mean, 1-based.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end]
            .iter()
            .filter(|&&i| labels[i] == 1)
            .count();
        positive_rank_sum += mean_rank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn confusion_counts_and_ratios() {
        let labels = [1, 1, 1, 0, 0, 0, 0, 1];
        let probabilities = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.4, 0.7];
        let m = binary_classification_metrics(&labels, &probabilities).expect("valid");
        assert_eq!(
            (
                m.true_positives,
                m.false_positives,
                m.true_negatives,
                m.false_negatives
            ),
            (3, 1, 3, 1)
        );
        assert!(close(m.accuracy, 6.0 / 8.0));
        assert!(close(m.precision, 0.75));
        assert!(close(m.recall, 0.75));
        assert!(close(m.f1, 0.75));
        // Pairs (pos, neg) ranked right: 0.9,0.8,0.7 beat all 4 negatives;
        // 0.3 beats 0.2 and 0.1 only: (12 + 2) / 16.
        assert!(close(m.roc_auc.expect("two classes"), 14.0 / 16.0));
        let expected_log_loss = -[0.9f64, 0.8, 0.3, 0.4, 0.8, 0.9, 0.6, 0.7]
            .iter()
            .map(|p| p.ln())
            .sum::<f64>()
            / 8.0;
        assert!(close(m.log_loss, expected_log_loss));
    }

    #[test]
    fn ties_count_half_and_one_class_has_no_auc() {
        let m = binary_classification_metrics(&[1, 0], &[0.5, 0.5]).expect("valid");
        assert!(close(m.roc_auc.expect("two classes"), 0.5));
        let single = binary_classification_metrics(&[1, 1], &[0.2, 0.9]).expect("valid");
        assert_eq!(single.roc_auc, None);
        assert!(close(single.precision, 1.0));
        let none_predicted = binary_classification_metrics(&[1, 0], &[0.1, 0.2]).expect("valid");
        assert_eq!((none_predicted.precision, none_predicted.f1), (0.0, 0.0));
    }

    #[test]
    fn log_loss_stays_finite_on_confident_mistakes() {
        let m = binary_classification_metrics(&[1, 0], &[0.0, 1.0]).expect("valid");
        assert!(m.log_loss.is_finite() && m.log_loss > 30.0);
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(binary_classification_metrics(&[1], &[0.5, 0.5]).is_err());
        assert!(binary_classification_metrics(&[], &[]).is_err());
        assert!(binary_classification_metrics(&[2], &[0.5]).is_err());
        assert!(binary_classification_metrics(&[1], &[f64::NAN]).is_err());
    }
}
