//! `check-model-fairness`: how the candidate's outcomes differ between the
//! groups of its protected attribute on the holdout (fairlearn's
//! demographic parity and equalized odds differences).

use std::sync::Arc;

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use mlops_mcp_drift::fairness::{FairnessReport, fairness_report};
use mlops_models::Model;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::registry::{self, RegisteredVersion};
use crate::request::{self, CheckOutcome, DatasetVersion, HoldoutSummary, whole_number};
use crate::scoring::{self, LabelledData};

/// Largest allowed gaps between groups (also the agent's config section
/// `fairness`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FairnessLimits {
    /// Largest selection-rate gap between any two groups (default 0.1).
    pub demographic_parity_difference: f64,
    /// Largest gap in true or false positive rate between any two groups
    /// (default 0.1).
    pub equalized_odds_difference: f64,
}

impl Default for FairnessLimits {
    fn default() -> Self {
        FairnessLimits {
            demographic_parity_difference: 0.1,
            equalized_odds_difference: 0.1,
        }
    }
}

/// Limits a request may set; each missing one comes from the agent's config.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessThresholds {
    /// Largest allowed demographic parity difference, 0-1 (default 0.1).
    #[serde(default)]
    pub demographic_parity_difference: Option<f64>,
    /// Largest allowed equalized odds difference, 0-1 (default 0.1).
    #[serde(default)]
    pub equalized_odds_difference: Option<f64>,
}

/// Input of `check-model-fairness`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckModelFairnessInput {
    /// Registered model name, e.g. "fraud-detector".
    pub model: String,
    /// The version to check (1 or more).
    #[serde(deserialize_with = "whole_number")]
    #[schemars(range(min = 1))]
    pub version: u32,
    /// The labelled holdout dataset version; it must hold the model's
    /// features, its label and the protected attribute column.
    pub holdout: DatasetVersion,
    /// The column to group by. Only for a version whose registry entry
    /// records no protected attribute: the recorded one cannot be
    /// overridden.
    #[serde(default)]
    pub protected_attribute: Option<String>,
    /// Limits for this check; each one left out comes from the agent's config.
    #[serde(default)]
    pub thresholds: Option<FairnessThresholds>,
}

/// A validated fairness request.
#[derive(Debug, Clone)]
pub struct FairnessRequest {
    pub model: String,
    pub version: u32,
    pub holdout: DatasetVersion,
    pub protected_attribute: Option<String>,
    pub limits: FairnessLimits,
}

impl FairnessRequest {
    /// Checks the parts of a fairness request; `thresholds_field` is the
    /// input's name for the limits, for rejections.
    pub fn new(
        model: &str,
        version: u32,
        holdout: &DatasetVersion,
        protected_attribute: Option<&str>,
        thresholds: Option<&FairnessThresholds>,
        thresholds_field: &str,
        config: &FairnessLimits,
    ) -> Result<Self, SkillError> {
        let given = thresholds.cloned().unwrap_or_default();
        let limit = |name: &str, value: Option<f64>, default: f64| match value {
            Some(v) => request::unit_interval(&format!("{thresholds_field}.{name}"), v),
            None => Ok(default),
        };
        let limits = FairnessLimits {
            demographic_parity_difference: limit(
                "demographic_parity_difference",
                given.demographic_parity_difference,
                config.demographic_parity_difference,
            )?,
            equalized_odds_difference: limit(
                "equalized_odds_difference",
                given.equalized_odds_difference,
                config.equalized_odds_difference,
            )?,
        };
        let protected_attribute = protected_attribute
            .map(|raw| {
                let ok = !raw.is_empty()
                    && raw.len() <= 64
                    && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
                if ok {
                    Ok(raw.to_owned())
                } else {
                    Err(SkillError::bad_field(
                        "protected_attribute",
                        format!("{raw:?} must be a column name of 1-64 characters without spaces"),
                    ))
                }
            })
            .transpose()?;
        Ok(FairnessRequest {
            model: request::model_name(model)?,
            version: request::version_number(version)?,
            holdout: holdout.checked("holdout")?,
            protected_attribute,
            limits,
        })
    }

    pub fn from_input(
        input: &CheckModelFairnessInput,
        config: &FairnessLimits,
    ) -> Result<Self, SkillError> {
        FairnessRequest::new(
            &input.model,
            input.version,
            &input.holdout,
            input.protected_attribute.as_deref(),
            input.thresholds.as_ref(),
            "thresholds",
            config,
        )
    }

    /// The attribute to group by: the version's own, or the request's when
    /// the version records none. Anything else is a rejection of
    /// `protected_attribute`.
    pub fn attribute_for(
        &self,
        version: &RegisteredVersion,
    ) -> Result<(String, AttributeSource), SkillError> {
        match (&version.protected_attribute, &self.protected_attribute) {
            (Some(recorded), None) => Ok((recorded.clone(), AttributeSource::Version)),
            (Some(recorded), Some(asked)) if recorded == asked => {
                Ok((recorded.clone(), AttributeSource::Version))
            }
            (Some(recorded), Some(asked)) => Err(SkillError::bad_field(
                "protected_attribute",
                format!(
                    "{asked:?} differs from {recorded:?}, which {} records; a request may not override the recorded attribute",
                    version.label()
                ),
            )),
            (None, Some(asked)) => Ok((asked.clone(), AttributeSource::Request)),
            (None, None) => Err(SkillError::bad_field(
                "protected_attribute",
                format!(
                    "is needed: {} records no protected attribute, so give the column to group by",
                    version.label()
                ),
            )),
        }
    }
}

/// Where the protected attribute came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeSource {
    /// The version's registry entry.
    Version,
    /// The request (the version records none).
    Request,
}

/// One group's outcomes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GroupFigures {
    /// The protected attribute's value.
    pub group: String,
    pub count: usize,
    /// Rows whose true label is positive.
    pub positives: usize,
    /// Rows predicted positive.
    pub selected: usize,
    pub selection_rate: f64,
    /// Absent when the group has no positives.
    pub true_positive_rate: Option<f64>,
    /// Absent when the group has no negatives.
    pub false_positive_rate: Option<f64>,
}

/// A gap that has a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FairnessMetric {
    DemographicParityDifference,
    EqualizedOddsDifference,
}

/// One limit with its numbers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FairnessCheck {
    pub metric: FairnessMetric,
    pub outcome: CheckOutcome,
    pub value: f64,
    /// The largest passing value.
    pub threshold: f64,
    /// threshold − value: the margin (negative when it fails).
    pub delta: f64,
    pub detail: String,
}

/// Output of `check-model-fairness`.
///
/// Groups whose gap is over a limit are a result, not an error: the task
/// completes with `passed: false` and every number, and the orchestrator
/// decides. The task fails only when the check could not run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModelFairnessReport {
    /// Every limit held (skipped checks do not fail).
    pub passed: bool,
    pub model: String,
    pub version: u32,
    pub holdout: HoldoutSummary,
    pub protected_attribute: String,
    pub attribute_from: AttributeSource,
    /// The favourable label (1: flagged as fraud).
    pub positive_label: i64,
    /// Per group, sorted by group.
    pub groups: Vec<GroupFigures>,
    pub demographic_parity_difference: f64,
    /// Smallest over largest selection rate; absent when no group is selected.
    pub demographic_parity_ratio: Option<f64>,
    pub equalized_odds_difference: f64,
    pub equalized_odds_ratio: Option<f64>,
    pub checks: Vec<FairnessCheck>,
    /// Conventions that shaped the figures (fairlearn's), in plain words.
    pub warnings: Vec<String>,
}

impl ModelFairnessReport {
    pub fn sentence(&self) -> String {
        let rates: Vec<String> = self
            .groups
            .iter()
            .map(|g| format!("{} {:.3}", g.group, g.selection_rate))
            .collect();
        format!(
            "{} v{} {} fairness by {} on {}@{}: demographic parity difference {:.4} (≤ {}), equalized odds difference {:.4} (≤ {}); selection rates {}",
            self.model,
            self.version,
            if self.passed { "passed" } else { "failed" },
            self.protected_attribute,
            self.holdout.dataset,
            request::short_hash(&self.holdout.version),
            self.demographic_parity_difference,
            self.limit(FairnessMetric::DemographicParityDifference),
            self.equalized_odds_difference,
            self.limit(FairnessMetric::EqualizedOddsDifference),
            rates.join(", ")
        )
    }

    fn limit(&self, metric: FairnessMetric) -> f64 {
        self.checks
            .iter()
            .find(|c| c.metric == metric)
            .map_or(f64::NAN, |c| c.threshold)
    }
}

/// The checks, from fairlearn-style figures; each is `skipped` when there
/// is only one group to compare.
pub fn judge(report: &FairnessReport, limits: &FairnessLimits) -> Vec<FairnessCheck> {
    let one_group = report.groups.len() < 2;
    [
        (
            FairnessMetric::DemographicParityDifference,
            report.demographic_parity_difference,
            limits.demographic_parity_difference,
        ),
        (
            FairnessMetric::EqualizedOddsDifference,
            report.equalized_odds_difference,
            limits.equalized_odds_difference,
        ),
    ]
    .into_iter()
    .map(|(metric, value, threshold)| {
        let (outcome, detail) = if one_group {
            (
                CheckOutcome::Skipped,
                "the holdout holds one group only, so there is nothing to compare".to_owned(),
            )
        } else if value <= threshold {
            (CheckOutcome::Pass, format!("{value:.4} ≤ {threshold}"))
        } else {
            (
                CheckOutcome::Fail,
                format!("{value:.4} is over the limit {threshold}"),
            )
        };
        FairnessCheck {
            metric,
            outcome,
            value,
            threshold,
            delta: threshold - value,
            detail,
        }
    })
    .collect()
}

/// Scores the version on the holdout and measures the gaps between the
/// groups of `attribute`.
pub async fn evaluate(
    ctx: &SkillContext,
    request: &FairnessRequest,
    version: &RegisteredVersion,
    model: Arc<Model>,
    holdout: &LabelledData,
    (attribute, attribute_from): (String, AttributeSource),
) -> Result<ModelFairnessReport, SkillError> {
    ctx.progress(format!(
        "scoring {} on {} grouped by {attribute}",
        version.label(),
        request.holdout.label()
    ));
    let scored = scoring::score_off_runtime(model, holdout, Some(&attribute))
        .await
        .map_err(|e| e.into_skill_error("holdout"))?;
    let groups = scored.groups.as_deref().unwrap_or_default();
    let report = fairness_report(&scored.labels, &scored.predictions, groups, 1).map_err(|e| {
        SkillError::failed(format!("the fairness figures could not be computed: {e}"))
    })?;
    let checks = judge(&report, &request.limits);
    let result = ModelFairnessReport {
        passed: checks.iter().all(|c| c.outcome != CheckOutcome::Fail),
        model: version.model.clone(),
        version: version.version,
        holdout: holdout.summary(scored.rows()),
        protected_attribute: attribute,
        attribute_from,
        positive_label: report.positive_label,
        groups: report
            .groups
            .iter()
            .map(|g| GroupFigures {
                group: g.group.clone(),
                count: g.count,
                positives: g.positives,
                selected: g.selected,
                selection_rate: g.selection_rate,
                true_positive_rate: g.true_positive_rate,
                false_positive_rate: g.false_positive_rate,
            })
            .collect(),
        demographic_parity_difference: report.demographic_parity_difference,
        demographic_parity_ratio: report.demographic_parity_ratio,
        equalized_odds_difference: report.equalized_odds_difference,
        equalized_odds_ratio: report.equalized_odds_ratio,
        checks,
        warnings: report.warnings,
    };
    ctx.progress_with(
        format!(
            "demographic parity difference {:.4}, equalized odds difference {:.4} over {} groups",
            result.demographic_parity_difference,
            result.equalized_odds_difference,
            result.groups.len()
        ),
        &result.groups,
    );
    Ok(result)
}

/// The `check-model-fairness` skill.
pub async fn run(
    config: &FairnessLimits,
    input: Value,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let input: CheckModelFairnessInput = mlops_agent_kit::parse_input(input)?;
    let request = FairnessRequest::from_input(&input, config)?;
    let (_, version) = registry::resolve(ctx, &request.model, request.version).await?;
    let attribute = request.attribute_for(&version)?;
    let holdout = scoring::load_dataset(ctx, "holdout", &request.holdout).await?;
    let model = scoring::load_model(ctx, &version).await?;
    let report = evaluate(ctx, &request, &version, model, &holdout, attribute).await?;
    let sentence = report.sentence();
    Ok(SkillOutcome::single(
        crate::MODEL_FAIRNESS_ARTIFACT,
        &report,
        sentence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(attribute: Option<&str>) -> RegisteredVersion {
        RegisteredVersion {
            model: "fraud-detector".into(),
            version: 3,
            status: "active".into(),
            params: Value::Null,
            dataset_digest: format!("sha256:{}", "a".repeat(64)),
            artifact_uri: "storage://models/j/model.json".into(),
            protected_attribute: attribute.map(str::to_owned),
            aliases: Vec::new(),
        }
    }

    fn request(
        attribute: Option<&str>,
        thresholds: Option<FairnessThresholds>,
    ) -> Result<FairnessRequest, SkillError> {
        FairnessRequest::new(
            "fraud-detector",
            3,
            &DatasetVersion {
                dataset: "holdout".into(),
                version: "b".repeat(64),
            },
            attribute,
            thresholds.as_ref(),
            "thresholds",
            &FairnessLimits::default(),
        )
    }

    #[test]
    fn the_recorded_attribute_wins_and_cannot_be_overridden() {
        let plain = request(None, None).unwrap();
        assert_eq!(
            plain.attribute_for(&version(Some("age_band"))).unwrap(),
            ("age_band".to_owned(), AttributeSource::Version)
        );
        let err = plain.attribute_for(&version(None)).unwrap_err().to_string();
        assert!(err.contains("`protected_attribute`"), "{err}");
        let asked = request(Some("gender"), None).unwrap();
        assert_eq!(
            asked.attribute_for(&version(None)).unwrap(),
            ("gender".to_owned(), AttributeSource::Request)
        );
        let err = asked
            .attribute_for(&version(Some("age_band")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("may not override"), "{err}");
        let same = request(Some("age_band"), None).unwrap();
        assert!(same.attribute_for(&version(Some("age_band"))).is_ok());
        let err = request(Some("age band"), None).unwrap_err().to_string();
        assert!(err.contains("`protected_attribute`"), "{err}");
    }

    #[test]
    fn limits_merge_with_the_config_and_are_checked() {
        let r = request(
            None,
            Some(FairnessThresholds {
                demographic_parity_difference: Some(0.05),
                equalized_odds_difference: None,
            }),
        )
        .unwrap();
        assert_eq!(r.limits.demographic_parity_difference, 0.05);
        assert_eq!(r.limits.equalized_odds_difference, 0.1);
        let err = request(
            None,
            Some(FairnessThresholds {
                demographic_parity_difference: None,
                equalized_odds_difference: Some(1.5),
            }),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`thresholds.equalized_odds_difference`"),
            "{err}"
        );
    }

    #[test]
    fn gaps_over_the_limits_fail_with_their_numbers() {
        // Group a selects everyone, group b no one.
        let labels = [1, 0, 1, 0];
        let predictions = [1, 1, 0, 0];
        let groups = ["a", "a", "b", "b"];
        let report = fairness_report(&labels, &predictions, &groups, 1).unwrap();
        let checks = judge(&report, &FairnessLimits::default());
        let dp = &checks[0];
        assert_eq!(dp.metric, FairnessMetric::DemographicParityDifference);
        assert_eq!((dp.outcome, dp.value), (CheckOutcome::Fail, 1.0));
        assert!((dp.delta + 0.9).abs() < 1e-12);
        assert_eq!(checks[1].outcome, CheckOutcome::Fail);

        let fair = fairness_report(&[1, 0, 1, 0], &[1, 0, 1, 0], &groups, 1).unwrap();
        let checks = judge(&fair, &FairnessLimits::default());
        assert!(checks.iter().all(|c| c.outcome == CheckOutcome::Pass));

        let single = fairness_report(&[1, 0], &[1, 1], &["a", "a"], 1).unwrap();
        let checks = judge(&single, &FairnessLimits::default());
        assert!(checks.iter().all(|c| c.outcome == CheckOutcome::Skipped));
    }
}
