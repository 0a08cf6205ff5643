//! `generate-validation-report`: model quality, fairness and (when current
//! data is given) data drift of one version, as one artifact.

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ValidationConfig;
use crate::drift::{self, DataDriftReport, DriftRequest};
use crate::fairness::{self, FairnessRequest, FairnessThresholds, ModelFairnessReport};
use crate::quality::{self, MetricMinimums, ModelQualityReport, QualityRequest};
use crate::registry;
use crate::request::{DatasetVersion, optional_whole_number, short_hash, whole_number};
use crate::scoring;

/// Input of `generate-validation-report`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateValidationReportInput {
    /// Registered model name, e.g. "fraud-detector".
    pub model: String,
    /// The candidate version (1 or more).
    #[serde(deserialize_with = "whole_number")]
    #[schemars(range(min = 1))]
    pub version: u32,
    /// The labelled holdout for the quality and fairness checks.
    pub holdout: DatasetVersion,
    /// Quality minimums per metric (0-1); replace the agent's defaults
    /// (roc_auc 0.75, f1 0.25) when given.
    #[serde(default)]
    pub thresholds: Option<MetricMinimums>,
    /// Largest allowed drop of the primary metric below the champion
    /// (default 0.02).
    #[serde(default)]
    pub regression_tolerance: Option<f64>,
    /// Only for a version that records no protected attribute.
    #[serde(default)]
    pub protected_attribute: Option<String>,
    /// Fairness limits; each left out comes from the agent's config (0.1).
    #[serde(default)]
    pub fairness_thresholds: Option<FairnessThresholds>,
    /// Check drift against the last this many minutes of serving traffic
    /// (1-132480). Drift is checked only when this or `current` is given.
    #[serde(default, deserialize_with = "optional_whole_number")]
    #[schemars(range(min = 1, max = 132480))]
    pub window_minutes: Option<u32>,
    /// Check drift against this dataset version instead of traffic.
    #[serde(default)]
    pub current: Option<DatasetVersion>,
    /// Drift when at least this share of features drift (default 0.3).
    #[serde(default)]
    pub drift_share: Option<f64>,
}

/// Output of `generate-validation-report`: every check's verdict and
/// numbers.
///
/// Failing checks are a result: the task completes with `passed: false`
/// and the orchestrator decides (its policy halts a release on a failed
/// validation). The task fails only when a check could not run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ValidationReport {
    /// Every check that ran passed.
    pub passed: bool,
    pub model: String,
    pub version: u32,
    /// The checks that failed: `model-quality`, `model-fairness`, `data-drift`.
    pub failed_checks: Vec<String>,
    pub quality: ModelQualityReport,
    pub fairness: ModelFairnessReport,
    /// Absent when neither `window_minutes` nor `current` was given.
    pub drift: Option<DataDriftReport>,
}

impl ValidationReport {
    pub fn sentence(&self) -> String {
        let verdict = if self.passed {
            "passed validation".to_owned()
        } else {
            format!("failed validation ({})", self.failed_checks.join(", "))
        };
        let mut parts = vec![
            format!(
                "roc_auc {}, f1 {:.4} on {}@{}",
                self.quality
                    .metrics
                    .roc_auc
                    .map_or_else(|| "undefined".to_owned(), |v| format!("{v:.4}")),
                self.quality.metrics.f1,
                self.quality.holdout.dataset,
                short_hash(&self.quality.holdout.version)
            ),
            format!(
                "fairness by {}: demographic parity difference {:.4}, equalized odds difference {:.4}",
                self.fairness.protected_attribute,
                self.fairness.demographic_parity_difference,
                self.fairness.equalized_odds_difference
            ),
        ];
        match &self.drift {
            Some(drift) => parts.push(format!(
                "drift: {} of {} features",
                drift.number_of_drifted_features, drift.number_of_features
            )),
            None => parts.push("drift not checked (no current data given)".to_owned()),
        }
        format!(
            "{} v{} {verdict}: {}",
            self.model,
            self.version,
            parts.join("; ")
        )
    }
}

/// The `generate-validation-report` skill.
pub async fn run(
    config: &ValidationConfig,
    input: Value,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let input: GenerateValidationReportInput = mlops_agent_kit::parse_input(input)?;
    let quality_request = QualityRequest::new(
        &input.model,
        input.version,
        &input.holdout,
        input.thresholds.as_ref(),
        input.regression_tolerance,
        &config.quality,
    )?;
    let fairness_request = FairnessRequest::new(
        &input.model,
        input.version,
        &input.holdout,
        input.protected_attribute.as_deref(),
        input.fairness_thresholds.as_ref(),
        "fairness_thresholds",
        &config.fairness,
    )?;
    let drift_request = DriftRequest::optional(
        &input.model,
        input.version,
        input.window_minutes,
        input.current.as_ref(),
        input.drift_share,
        config.drift.drift_share,
    )?;

    // Everything that could reject the request is checked before the first
    // report is stored.
    let (registered, version) =
        registry::resolve(ctx, &quality_request.model, quality_request.version).await?;
    let attribute = fairness_request.attribute_for(&version)?;
    let drift_check = match drift_request {
        Some(request) => {
            let reference = drift::reference_for(ctx, &request, &version).await?;
            Some((request, reference))
        }
        None => None,
    };
    let holdout = scoring::load_dataset(ctx, "holdout", &quality_request.holdout).await?;
    let model = scoring::load_model(ctx, &version).await?;
    ctx.check_canceled()?;

    let quality = quality::evaluate(
        ctx,
        &quality_request,
        &registered,
        &version,
        model.clone(),
        &holdout,
    )
    .await?;
    ctx.progress(quality.sentence());
    ctx.check_canceled()?;

    let fairness = fairness::evaluate(
        ctx,
        &fairness_request,
        &version,
        model.clone(),
        &holdout,
        attribute,
    )
    .await?;
    ctx.progress(fairness.sentence());
    ctx.check_canceled()?;

    let drift = match &drift_check {
        Some((request, reference)) => {
            let report =
                drift::evaluate(ctx, request, &version, reference, model.feature_names()).await?;
            ctx.progress(report.sentence());
            Some(report)
        }
        None => None,
    };

    let failed_checks: Vec<String> = [
        (!quality.passed).then_some(crate::MODEL_QUALITY_ARTIFACT),
        (!fairness.passed).then_some(crate::MODEL_FAIRNESS_ARTIFACT),
        drift
            .as_ref()
            .and_then(|d| (!d.passed).then_some(crate::DATA_DRIFT_ARTIFACT)),
    ]
    .into_iter()
    .flatten()
    .map(str::to_owned)
    .collect();
    let report = ValidationReport {
        passed: failed_checks.is_empty(),
        model: version.model.clone(),
        version: version.version,
        failed_checks,
        quality,
        fairness,
        drift,
    };
    let sentence = report.sentence();
    Ok(SkillOutcome::single(
        crate::VALIDATION_REPORT_ARTIFACT,
        &report,
        sentence,
    ))
}
