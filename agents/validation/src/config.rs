//! The agent's settings (`MLOPS_AGENT_CONFIG`, YAML): the thresholds every
//! check uses when a request does not give its own.
//!
//! ```yaml
//! quality:
//!   thresholds: {roc_auc: 0.75, f1: 0.25}
//!   primary_metric: roc_auc
//!   regression_tolerance: 0.02
//!   champion_alias: champion
//! fairness:
//!   demographic_parity_difference: 0.1
//!   equalized_odds_difference: 0.1
//! drift:
//!   drift_share: 0.3
//! ```

use anyhow::{bail, ensure};
use serde::Deserialize;

use crate::fairness::FairnessLimits;
use crate::quality::{MetricMinimums, QualityMetric};

/// Everything configurable, with the defaults documented on each part.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationConfig {
    pub quality: QualityConfig,
    pub fairness: FairnessLimits,
    pub drift: DriftConfig,
}

/// `validate-model-quality` defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Minimum holdout value per metric. Defaults, for the demo's fraud
    /// problem (about 10% fraud, models scored at probability 0.5): ROC AUC
    /// ≥ 0.75 (a sound logistic regression reaches about 0.88; one that
    /// has lost the signal about 0.64) and F1 ≥ 0.25 (a sound model about
    /// 0.35; one that almost never predicts fraud is near 0, however good
    /// its accuracy looks on a 90% negative holdout).
    pub thresholds: MetricMinimums,
    /// The metric the champion comparison uses (default `roc_auc`, which
    /// does not depend on the 0.5 cut-off).
    pub primary_metric: QualityMetric,
    /// Largest allowed drop of the primary metric below the champion's on
    /// the same holdout, absolute (default 0.02).
    pub regression_tolerance: f64,
    /// The registry alias of the version in production (default `champion`).
    pub champion_alias: String,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            thresholds: MetricMinimums {
                roc_auc: Some(0.75),
                f1: Some(0.25),
                ..MetricMinimums::default()
            },
            primary_metric: QualityMetric::RocAuc,
            regression_tolerance: 0.02,
            champion_alias: "champion".into(),
        }
    }
}

/// `check-data-drift` defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    /// The data counts as drifted when at least this share of the model's
    /// features drift (default 0.3). Lower than Evidently's 0.5 because a
    /// gate before release should stop on a third of the inputs moving; not
    /// lower, because on a few hundred rows against a large reference the
    /// Wasserstein test flags two of the demo's seven features on clean
    /// data by chance (2/7 = 0.29), while the demo drift moves three.
    pub drift_share: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig { drift_share: 0.3 }
    }
}

impl ValidationConfig {
    /// Refuses settings no check could use, naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let in_unit = |key: &str, value: f64| -> anyhow::Result<()> {
            ensure!(
                value.is_finite() && (0.0..=1.0).contains(&value),
                "{key} is {value}; it must be between 0 and 1"
            );
            Ok(())
        };
        let thresholds = self.quality.thresholds.to_map();
        if thresholds.is_empty() {
            bail!("quality.thresholds is empty; give at least one metric's minimum");
        }
        for (metric, value) in &thresholds {
            in_unit(&format!("quality.thresholds.{}", metric.as_str()), *value)?;
        }
        let tolerance = self.quality.regression_tolerance;
        ensure!(
            tolerance.is_finite() && (0.0..1.0).contains(&tolerance),
            "quality.regression_tolerance is {tolerance}; it must be at least 0 and below 1"
        );
        mlops_mcp_kit::slug("quality.champion_alias", &self.quality.champion_alias, 63)?;
        in_unit(
            "fairness.demographic_parity_difference",
            self.fairness.demographic_parity_difference,
        )?;
        in_unit(
            "fairness.equalized_odds_difference",
            self.fairness.equalized_odds_difference,
        )?;
        let share = self.drift.drift_share;
        ensure!(
            share.is_finite() && share > 0.0 && share <= 1.0,
            "drift.drift_share is {share}; it must be above 0 and at most 1"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let config = ValidationConfig::default();
        config.validate().unwrap();
        assert_eq!(config.quality.thresholds.roc_auc, Some(0.75));
        assert_eq!(config.quality.thresholds.f1, Some(0.25));
        assert_eq!(config.quality.regression_tolerance, 0.02);
        assert_eq!(config.fairness.demographic_parity_difference, 0.1);
        assert_eq!(config.fairness.equalized_odds_difference, 0.1);
        assert_eq!(config.drift.drift_share, 0.3);
    }

    #[test]
    fn yaml_overrides_part_and_keeps_the_rest() {
        let config: ValidationConfig = serde_yaml::from_str(
            "quality:\n  thresholds: {accuracy: 0.8}\ndrift:\n  drift_share: 0.5\n",
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.quality.thresholds,
            MetricMinimums {
                accuracy: Some(0.8),
                ..MetricMinimums::default()
            }
        );
        assert_eq!(config.quality.primary_metric, QualityMetric::RocAuc);
        assert_eq!(config.drift.drift_share, 0.5);
        assert_eq!(config.fairness.equalized_odds_difference, 0.1);
    }

    #[test]
    fn bad_settings_name_their_key() {
        let unknown =
            serde_yaml::from_str::<ValidationConfig>("quality:\n  thresholds: {auc: 0.7}\n");
        assert!(unknown.is_err());
        let typo = serde_yaml::from_str::<ValidationConfig>("drift:\n  share: 0.2\n");
        assert!(typo.is_err());
        let mut config = ValidationConfig::default();
        config.drift.drift_share = 0.0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("drift.drift_share")
        );
        let mut config = ValidationConfig::default();
        config.quality.thresholds.f1 = Some(1.5);
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("quality.thresholds.f1")
        );
        let mut config = ValidationConfig::default();
        config.fairness.equalized_odds_difference = -0.1;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("equalized_odds")
        );
    }
}
