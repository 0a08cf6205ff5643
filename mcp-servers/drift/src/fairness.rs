//! Group fairness metrics: how a classifier's outcomes differ between the
//! groups of one sensitive feature. Pure functions, no I/O.
//!
//! Definitions follow fairlearn 0.13 (`fairlearn.metrics`, default
//! `method="between_groups"`, `agg="worst_case"`), and
//! `tests/reference_metrics.rs` checks them against fairlearn itself:
//!
//! * selection rate `P(ŷ = positive | group)`;
//! * true positive rate `P(ŷ = positive | y = positive, group)`;
//! * false positive rate `P(ŷ = positive | y ≠ positive, group)`;
//! * a *difference* is the largest group value minus the smallest, a
//!   *ratio* the smallest divided by the largest.
//!
//! **Groups with no positives (or no negatives).** Their TPR (or FPR) is
//! undefined. fairlearn gets these rates from scikit-learn's
//! `confusion_matrix(normalize="true")`, which turns 0/0 into 0, so it
//! counts the rate as 0 in the equalized-odds figures. The summary figures
//! here do the same, so they match fairlearn; the per-group rows say `None`
//! rather than pretend the rate was measured, and the report warns,
//! because such a group can inflate the equalized odds difference up to 1.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::performance::{MetricError, check_pair};

/// Outcomes of one group (one value of the sensitive feature).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRates {
    /// The sensitive feature value.
    pub group: String,
    /// Samples in the group.
    pub count: usize,
    /// Samples whose true label is the positive label.
    pub positives: usize,
    /// Samples predicted as the positive label.
    pub selected: usize,
    /// `selected / count` (fairlearn `selection_rate`).
    pub selection_rate: f64,
    /// True positives / `positives` (fairlearn `true_positive_rate`);
    /// `None` when the group has no positives.
    pub true_positive_rate: Option<f64>,
    /// False positives / negatives (fairlearn `false_positive_rate`);
    /// `None` when the group has no negatives.
    pub false_positive_rate: Option<f64>,
}

impl GroupRates {
    /// The TPR as fairlearn uses it in group comparisons: 0 when undefined.
    fn fairlearn_tpr(&self) -> f64 {
        self.true_positive_rate.unwrap_or(0.0)
    }

    /// The FPR as fairlearn uses it in group comparisons: 0 when undefined.
    fn fairlearn_fpr(&self) -> f64 {
        self.false_positive_rate.unwrap_or(0.0)
    }
}

/// Per-group rates for one sensitive feature: at least one group, sorted
/// by group name (as fairlearn's `MetricFrame.by_group` is).
#[derive(Debug, Clone, PartialEq)]
pub struct ByGroup {
    groups: Vec<GroupRates>,
}

impl ByGroup {
    /// Splits the samples by `sensitive_features[i]` and computes each
    /// group's rates, with `positive` as the positive label and every other
    /// label negative. All three slices pair up element by element.
    ///
    /// Errors on empty input and on mismatched lengths.
    pub fn compute<S: AsRef<str>>(
        y_true: &[i64],
        y_pred: &[i64],
        sensitive_features: &[S],
        positive: i64,
    ) -> Result<Self, MetricError> {
        check_pair("y_true", y_true, "y_pred", y_pred)?;
        check_pair("y_true", y_true, "sensitive_features", sensitive_features)?;

        #[derive(Default)]
        struct Tally {
            count: usize,
            positives: usize,
            selected: usize,
            true_positives: usize,
        }
        let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
        for ((&t, &p), group) in y_true.iter().zip(y_pred).zip(sensitive_features) {
            let tally = tallies.entry(group.as_ref()).or_default();
            let (is_positive, is_selected) = (t == positive, p == positive);
            tally.count += 1;
            tally.positives += usize::from(is_positive);
            tally.selected += usize::from(is_selected);
            tally.true_positives += usize::from(is_positive && is_selected);
        }

        let rate = |numerator: usize, denominator: usize| {
            (denominator > 0).then(|| numerator as f64 / denominator as f64)
        };
        let groups = tallies
            .into_iter()
            .map(|(group, t)| GroupRates {
                group: group.to_owned(),
                count: t.count,
                positives: t.positives,
                selected: t.selected,
                // Every group has at least one sample.
                selection_rate: t.selected as f64 / t.count as f64,
                true_positive_rate: rate(t.true_positives, t.positives),
                false_positive_rate: rate(t.selected - t.true_positives, t.count - t.positives),
            })
            .collect();
        Ok(Self { groups })
    }

    /// The groups, sorted by name.
    pub fn groups(&self) -> &[GroupRates] {
        &self.groups
    }

    /// Largest minus smallest group selection rate (fairlearn
    /// `demographic_parity_difference`). 0 means equal selection rates.
    pub fn demographic_parity_difference(&self) -> f64 {
        self.difference(|g| g.selection_rate)
    }

    /// Smallest divided by largest group selection rate (fairlearn
    /// `demographic_parity_ratio`). `None` when no group selects anyone:
    /// fairlearn returns NaN (0/0) there.
    pub fn demographic_parity_ratio(&self) -> Option<f64> {
        self.ratio(|g| g.selection_rate)
    }

    /// The larger of the TPR difference and the FPR difference between
    /// groups (fairlearn `equalized_odds_difference`, `agg="worst_case"`),
    /// counting undefined rates as 0 as fairlearn does.
    pub fn equalized_odds_difference(&self) -> f64 {
        self.difference(GroupRates::fairlearn_tpr)
            .max(self.difference(GroupRates::fairlearn_fpr))
    }

    /// The smaller of the TPR ratio and the FPR ratio between groups
    /// (fairlearn `equalized_odds_ratio`, `agg="worst_case"`), counting
    /// undefined rates as 0 as fairlearn does.
    ///
    /// A component ratio is undefined (0/0) when every group's rate is 0;
    /// the other one is then the answer, and `None` means both are
    /// undefined. This matches fairlearn except when only the TPR ratio is
    /// undefined: fairlearn takes Python's `min` over `[NaN, fpr_ratio]`,
    /// which returns NaN because comparisons with NaN are false.
    pub fn equalized_odds_ratio(&self) -> Option<f64> {
        match (
            self.ratio(GroupRates::fairlearn_tpr),
            self.ratio(GroupRates::fairlearn_fpr),
        ) {
            (Some(tpr), Some(fpr)) => Some(tpr.min(fpr)),
            (one, other) => one.or(other),
        }
    }

    fn extremes(&self, value: impl Fn(&GroupRates) -> f64) -> (f64, f64) {
        self.groups
            .iter()
            .map(value)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    }

    fn difference(&self, value: impl Fn(&GroupRates) -> f64) -> f64 {
        let (lo, hi) = self.extremes(value);
        hi - lo
    }

    fn ratio(&self, value: impl Fn(&GroupRates) -> f64) -> Option<f64> {
        // Rates are never negative, so a zero maximum means all are zero.
        let (lo, hi) = self.extremes(value);
        (hi > 0.0).then(|| lo / hi)
    }
}

/// Everything [`fairness_report`] measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FairnessReport {
    pub samples: usize,
    pub positive_label: i64,
    /// One row per sensitive feature value, sorted by value.
    pub groups: Vec<GroupRates>,
    /// See [`ByGroup::demographic_parity_difference`].
    pub demographic_parity_difference: f64,
    /// See [`ByGroup::demographic_parity_ratio`].
    pub demographic_parity_ratio: Option<f64>,
    /// See [`ByGroup::equalized_odds_difference`].
    pub equalized_odds_difference: f64,
    /// See [`ByGroup::equalized_odds_ratio`].
    pub equalized_odds_ratio: Option<f64>,
    /// Conventions that shaped the figures, in plain words: undefined group
    /// rates counted as 0, undefined ratios, a single group.
    pub warnings: Vec<String>,
}

/// Computes per-group rates and the demographic parity and equalized odds
/// summaries of `y_pred` against `y_true` across the values of one
/// sensitive feature, with `positive` as the positive label.
///
/// Errors on empty input and on mismatched lengths.
pub fn fairness_report<S: AsRef<str>>(
    y_true: &[i64],
    y_pred: &[i64],
    sensitive_features: &[S],
    positive: i64,
) -> Result<FairnessReport, MetricError> {
    let by_group = ByGroup::compute(y_true, y_pred, sensitive_features, positive)?;
    let mut warnings = Vec::new();
    if by_group.groups.len() == 1 {
        warnings.push(format!(
            "only one group ({:?}); there is nothing to compare, so differences are 0",
            by_group.groups[0].group
        ));
    }
    let names = |pick: fn(&GroupRates) -> bool| -> Vec<&str> {
        by_group
            .groups
            .iter()
            .filter(|g| pick(g))
            .map(|g| g.group.as_str())
            .collect()
    };
    let without_positives = names(|g| g.true_positive_rate.is_none());
    if !without_positives.is_empty() {
        warnings.push(format!(
            "groups {without_positives:?} have no positives, so their true positive rate is undefined; as in fairlearn it counts as 0 in the equalized odds figures"
        ));
    }
    let without_negatives = names(|g| g.false_positive_rate.is_none());
    if !without_negatives.is_empty() {
        warnings.push(format!(
            "groups {without_negatives:?} have no negatives, so their false positive rate is undefined; as in fairlearn it counts as 0 in the equalized odds figures"
        ));
    }
    let dp_ratio = by_group.demographic_parity_ratio();
    if dp_ratio.is_none() {
        warnings.push(
            "no group has any positive prediction, so the demographic parity ratio is undefined (0/0)"
                .to_owned(),
        );
    }
    let eo_ratio = by_group.equalized_odds_ratio();
    match (
        by_group.ratio(GroupRates::fairlearn_tpr),
        by_group.ratio(GroupRates::fairlearn_fpr),
    ) {
        (None, None) => warnings.push(
            "no group has a true or a false positive, so the equalized odds ratio is undefined (0/0)"
                .to_owned(),
        ),
        (None, Some(_)) => warnings.push(
            "no group has a true positive, so the equalized odds ratio is the false positive rate ratio alone (fairlearn would return NaN)"
                .to_owned(),
        ),
        (Some(_), None) => warnings.push(
            "no group has a false positive, so the equalized odds ratio is the true positive rate ratio alone"
                .to_owned(),
        ),
        (Some(_), Some(_)) => {}
    }

    Ok(FairnessReport {
        samples: y_true.len(),
        positive_label: positive,
        demographic_parity_difference: by_group.demographic_parity_difference(),
        demographic_parity_ratio: dp_ratio,
        equalized_odds_difference: by_group.equalized_odds_difference(),
        equalized_odds_ratio: eo_ratio,
        groups: by_group.groups,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12
    }

    // Group a: 2 positives (1 caught), 2 negatives (1 selected).
    // Group b: no positives, 3 negatives (1 selected).
    // Group c: 1 positive (caught), 1 negative (not selected).
    const Y_TRUE: [i64; 9] = [1, 1, 0, 0, 0, 0, 0, 1, 0];
    const Y_PRED: [i64; 9] = [1, 0, 1, 0, 1, 0, 0, 1, 0];
    const GROUPS: [&str; 9] = ["a", "a", "a", "a", "b", "b", "b", "c", "c"];

    #[test]
    fn per_group_rates() {
        let by_group = ByGroup::compute(&Y_TRUE, &Y_PRED, &GROUPS, 1).unwrap();
        let g = by_group.groups();
        assert_eq!(
            g.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!((g[0].count, g[0].positives, g[0].selected), (4, 2, 2));
        assert_eq!(g[0].selection_rate, 0.5);
        assert_eq!(g[0].true_positive_rate, Some(0.5));
        assert_eq!(g[0].false_positive_rate, Some(0.5));
        assert!(close(g[1].selection_rate, 1.0 / 3.0));
        assert_eq!(g[1].true_positive_rate, None);
        assert!(close(g[1].false_positive_rate.unwrap(), 1.0 / 3.0));
        assert_eq!(g[2].true_positive_rate, Some(1.0));
        assert_eq!(g[2].false_positive_rate, Some(0.0));
    }

    #[test]
    fn summaries_follow_fairlearn_including_its_zero_for_undefined_tpr() {
        // Values fairlearn 0.13 gives for this data.
        let by_group = ByGroup::compute(&Y_TRUE, &Y_PRED, &GROUPS, 1).unwrap();
        assert!(close(by_group.demographic_parity_difference(), 1.0 / 6.0));
        assert!(close(
            by_group.demographic_parity_ratio().unwrap(),
            2.0 / 3.0
        ));
        // Group b's undefined TPR counts as 0 against c's 1.
        assert_eq!(by_group.equalized_odds_difference(), 1.0);
        assert_eq!(by_group.equalized_odds_ratio(), Some(0.0));
    }

    #[test]
    fn report_warns_about_undefined_rates() {
        let report = fairness_report(&Y_TRUE, &Y_PRED, &GROUPS, 1).unwrap();
        assert_eq!(report.samples, 9);
        assert_eq!(report.groups.len(), 3);
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(report.warnings[0].starts_with(r#"groups ["b"] have no positives"#));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["groups"][1]["true_positive_rate"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn ratios_are_undefined_when_nobody_is_selected() {
        let report = fairness_report(&Y_TRUE, &[0; 9], &GROUPS, 1).unwrap();
        assert_eq!(report.demographic_parity_difference, 0.0);
        assert_eq!(report.demographic_parity_ratio, None);
        assert_eq!(report.equalized_odds_difference, 0.0);
        assert_eq!(report.equalized_odds_ratio, None);
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("demographic parity ratio is undefined"))
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("equalized odds ratio is undefined"))
        );
    }

    #[test]
    fn equalized_odds_ratio_uses_the_defined_component() {
        // Perfect predictions: every FPR is 0, so only the TPR ratio counts
        // (b's undefined TPR is 0, so it is 0).
        let by_group = ByGroup::compute(&Y_TRUE, &Y_TRUE, &GROUPS, 1).unwrap();
        assert_eq!(by_group.equalized_odds_ratio(), Some(0.0));
        // Every prediction wrong: every TPR is 0 and every FPR is 1.
        let inverted: Vec<i64> = Y_TRUE.iter().map(|&y| 1 - y).collect();
        let by_group = ByGroup::compute(&Y_TRUE, &inverted, &GROUPS, 1).unwrap();
        assert_eq!(by_group.equalized_odds_ratio(), Some(1.0));
    }

    #[test]
    fn positive_label_need_not_be_one() {
        let y_true = [7, 7, 3, 3];
        let y_pred = [7, 3, 7, 3];
        let groups = [
            "x".to_owned(),
            "y".to_owned(),
            "x".to_owned(),
            "y".to_owned(),
        ];
        let by_group = ByGroup::compute(&y_true, &y_pred, &groups, 7).unwrap();
        assert_eq!(by_group.groups()[0].selection_rate, 1.0);
        assert_eq!(by_group.groups()[1].selection_rate, 0.0);
        assert_eq!(by_group.demographic_parity_difference(), 1.0);
    }

    #[test]
    fn single_group_has_no_disparity() {
        let report = fairness_report(&[1, 0], &[1, 1], &["all", "all"], 1).unwrap();
        assert_eq!(report.demographic_parity_difference, 0.0);
        assert_eq!(report.demographic_parity_ratio, Some(1.0));
        assert_eq!(report.equalized_odds_difference, 0.0);
        assert!(report.warnings[0].starts_with("only one group"));
    }

    #[test]
    fn bad_input_is_an_error() {
        let none: [&str; 0] = [];
        assert_eq!(
            fairness_report(&[], &[], &none, 1),
            Err(MetricError::Empty { what: "y_true" })
        );
        let err = fairness_report(&[1, 0], &[1, 0], &["a"], 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "y_true has 2 values but sensitive_features has 1; they must be the same length"
        );
        assert!(ByGroup::compute(&[1, 0], &[1], &["a", "b"], 1).is_err());
    }
}
