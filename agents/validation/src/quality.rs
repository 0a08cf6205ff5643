//! `validate-model-quality`: the candidate's holdout performance against
//! minimums, and against the champion on the same holdout.

use std::collections::BTreeMap;
use std::sync::Arc;

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use mlops_mcp_drift::performance::{ClassificationMetrics, classification_report};
use mlops_models::Model;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::QualityConfig;
use crate::registry::{self, RegisteredModel, RegisteredVersion};
use crate::request::{self, CheckOutcome, DatasetVersion, HoldoutSummary, whole_number};
use crate::scoring::{self, LabelledData, Scored};

/// A holdout metric a minimum can be set on; higher is better for each.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum QualityMetric {
    /// Share of rows labelled correctly at probability 0.5.
    Accuracy,
    /// Of the rows predicted positive, the share that are.
    Precision,
    /// Of the positive rows, the share predicted positive.
    Recall,
    /// Harmonic mean of precision and recall.
    F1,
    /// Area under the ROC curve of the predicted probabilities.
    RocAuc,
}

impl QualityMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityMetric::Accuracy => "accuracy",
            QualityMetric::Precision => "precision",
            QualityMetric::Recall => "recall",
            QualityMetric::F1 => "f1",
            QualityMetric::RocAuc => "roc_auc",
        }
    }
}

/// Minimum holdout value per metric, each 0-1; a metric left out has no
/// minimum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricMinimums {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
}

impl MetricMinimums {
    /// The metrics that have a minimum, with it.
    pub fn to_map(&self) -> BTreeMap<QualityMetric, f64> {
        [
            (QualityMetric::Accuracy, self.accuracy),
            (QualityMetric::Precision, self.precision),
            (QualityMetric::Recall, self.recall),
            (QualityMetric::F1, self.f1),
            (QualityMetric::RocAuc, self.roc_auc),
        ]
        .into_iter()
        .filter_map(|(metric, minimum)| minimum.map(|m| (metric, m)))
        .collect()
    }
}

/// Input of `validate-model-quality`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateModelQualityInput {
    /// Registered model name, e.g. "fraud-detector".
    pub model: String,
    /// The candidate version number (1 or more).
    #[serde(deserialize_with = "whole_number")]
    #[schemars(range(min = 1))]
    pub version: u32,
    /// The labelled holdout dataset version the candidate (and the
    /// champion) are scored on; it must hold the model's features and
    /// label column.
    pub holdout: DatasetVersion,
    /// Minimum holdout value per metric (each 0-1), e.g. {"roc_auc": 0.8}.
    /// Replaces the agent's configured minimums (default roc_auc 0.75,
    /// f1 0.25) when given.
    #[serde(default)]
    pub thresholds: Option<MetricMinimums>,
    /// Largest allowed drop of the primary metric (configured; default
    /// roc_auc) below the champion's on the same holdout, absolute, 0 to
    /// below 1 (default from the agent's config, 0.02).
    #[serde(default)]
    pub regression_tolerance: Option<f64>,
}

/// Where a check's minimums came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdSource {
    Request,
    Config,
}

/// A validated quality request.
#[derive(Debug, Clone)]
pub struct QualityRequest {
    pub model: String,
    pub version: u32,
    pub holdout: DatasetVersion,
    pub thresholds: BTreeMap<QualityMetric, f64>,
    pub thresholds_from: ThresholdSource,
    pub primary_metric: QualityMetric,
    pub regression_tolerance: f64,
    pub champion_alias: String,
}

impl QualityRequest {
    /// Checks the parts of a quality request; rejections name the field.
    pub fn new(
        model: &str,
        version: u32,
        holdout: &DatasetVersion,
        thresholds: Option<&MetricMinimums>,
        regression_tolerance: Option<f64>,
        config: &QualityConfig,
    ) -> Result<Self, SkillError> {
        let (thresholds, thresholds_from) = match thresholds.map(MetricMinimums::to_map) {
            Some(given) if given.is_empty() => {
                return Err(SkillError::bad_field(
                    "thresholds",
                    "is empty; give at least one metric's minimum, or leave it out for the agent's defaults",
                ));
            }
            Some(given) => {
                for (metric, value) in &given {
                    request::unit_interval(&format!("thresholds.{}", metric.as_str()), *value)?;
                }
                (given, ThresholdSource::Request)
            }
            None => (config.thresholds.to_map(), ThresholdSource::Config),
        };
        let regression_tolerance = match regression_tolerance {
            Some(t) if !(t.is_finite() && (0.0..1.0).contains(&t)) => {
                return Err(SkillError::bad_field(
                    "regression_tolerance",
                    format!("{t} must be at least 0 and below 1"),
                ));
            }
            Some(t) => t,
            None => config.regression_tolerance,
        };
        Ok(QualityRequest {
            model: request::model_name(model)?,
            version: request::version_number(version)?,
            holdout: holdout.checked("holdout")?,
            thresholds,
            thresholds_from,
            primary_metric: config.primary_metric,
            regression_tolerance,
            champion_alias: config.champion_alias.clone(),
        })
    }

    pub fn from_input(
        input: &ValidateModelQualityInput,
        config: &QualityConfig,
    ) -> Result<Self, SkillError> {
        QualityRequest::new(
            &input.model,
            input.version,
            &input.holdout,
            input.thresholds.as_ref(),
            input.regression_tolerance,
            config,
        )
    }
}

/// A model's classification figures on the holdout (positive label 1,
/// labels at probability 0.5), as the drift server's performance report
/// computes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PerformanceFigures {
    pub samples: usize,
    pub positives: usize,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Absent when the holdout holds one class only.
    pub roc_auc: Option<f64>,
    pub log_loss: Option<f64>,
    pub true_positives: u64,
    pub false_positives: u64,
    pub true_negatives: u64,
    pub false_negatives: u64,
    /// Figures that were undefined and set as scikit-learn does.
    pub warnings: Vec<String>,
}

impl PerformanceFigures {
    fn from_report(report: ClassificationMetrics) -> Self {
        let counts = report.counts;
        PerformanceFigures {
            samples: report.samples,
            positives: (counts.true_positives + counts.false_negatives) as usize,
            accuracy: report.accuracy,
            precision: report.precision,
            recall: report.recall,
            f1: report.f1,
            roc_auc: report.roc_auc,
            log_loss: report.log_loss,
            true_positives: counts.true_positives,
            false_positives: counts.false_positives,
            true_negatives: counts.true_negatives,
            false_negatives: counts.false_negatives,
            warnings: report.warnings,
        }
    }

    /// The figures of scored predictions.
    pub fn of(scored: &Scored) -> Result<Self, SkillError> {
        classification_report(&scored.labels, &scored.predictions, Some(&scored.scores), 1)
            .map(Self::from_report)
            .map_err(|e| {
                SkillError::failed(format!("the holdout metrics could not be computed: {e}"))
            })
    }

    pub fn get(&self, metric: QualityMetric) -> Option<f64> {
        match metric {
            QualityMetric::Accuracy => Some(self.accuracy),
            QualityMetric::Precision => Some(self.precision),
            QualityMetric::Recall => Some(self.recall),
            QualityMetric::F1 => Some(self.f1),
            QualityMetric::RocAuc => self.roc_auc,
        }
    }
}

/// What a quality check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QualityCheckKind {
    /// The candidate's value is at least `threshold`.
    Minimum,
    /// The candidate's primary metric is at least the champion's minus the
    /// tolerance (`threshold` = champion − tolerance).
    NoRegression,
}

/// One check with its numbers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct QualityCheck {
    pub check: QualityCheckKind,
    pub metric: QualityMetric,
    pub outcome: CheckOutcome,
    /// The candidate's value; absent when undefined on this holdout.
    pub candidate: Option<f64>,
    /// The smallest passing value.
    pub threshold: Option<f64>,
    /// `no_regression`: the champion's value on the same holdout.
    pub champion: Option<f64>,
    /// `minimum`: candidate − threshold (the margin); `no_regression`:
    /// candidate − champion.
    pub delta: Option<f64>,
    /// `no_regression`: the allowed drop.
    pub tolerance: Option<f64>,
    pub detail: String,
}

/// The champion's figures on the same holdout.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ChampionFigures {
    pub version: u32,
    pub metrics: PerformanceFigures,
}

/// Output of `validate-model-quality`.
///
/// A check that runs and finds the model wanting is a result, not an
/// error: the task completes with `passed: false` and every number, and
/// the orchestrator decides what that means (its policy halts the release
/// on a failed validation). The task fails only when the checks could not
/// run at all: a tool, the store or an artifact unreachable or broken.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModelQualityReport {
    /// No check failed (skipped checks do not fail).
    pub passed: bool,
    pub model: String,
    pub version: u32,
    pub holdout: HoldoutSummary,
    /// The metric the champion comparison uses.
    pub primary_metric: QualityMetric,
    pub thresholds_from: ThresholdSource,
    /// The candidate's holdout figures.
    pub metrics: PerformanceFigures,
    /// The champion's figures on the same holdout, when a champion exists.
    pub champion: Option<ChampionFigures>,
    pub checks: Vec<QualityCheck>,
}

impl ModelQualityReport {
    pub fn sentence(&self) -> String {
        let checks: Vec<String> = self.checks.iter().map(check_phrase).collect();
        format!(
            "{} v{} {} model quality on {}@{}: {}",
            self.model,
            self.version,
            if self.passed { "passed" } else { "failed" },
            self.holdout.dataset,
            request::short_hash(&self.holdout.version),
            checks.join("; ")
        )
    }
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "undefined".to_owned(), |v| format!("{v:.4}"))
}

fn check_phrase(check: &QualityCheck) -> String {
    let verdict = match check.outcome {
        CheckOutcome::Pass => "ok",
        CheckOutcome::Fail => "FAIL",
        CheckOutcome::Skipped => "skipped",
    };
    match check.check {
        QualityCheckKind::Minimum => format!(
            "{} {} {} {} {verdict}",
            check.metric.as_str(),
            number(check.candidate),
            if check.outcome == CheckOutcome::Pass {
                "≥"
            } else {
                "<"
            },
            number(check.threshold)
        ),
        QualityCheckKind::NoRegression if check.outcome == CheckOutcome::Skipped => {
            format!("no regression {verdict} ({})", check.detail)
        }
        QualityCheckKind::NoRegression => format!(
            "{} vs champion {} (Δ {}) {verdict}",
            check.metric.as_str(),
            number(check.champion),
            check
                .delta
                .map_or_else(|| "undefined".to_owned(), |d| format!("{d:+.4}"))
        ),
    }
}

/// What the candidate is compared with.
#[derive(Debug, Clone)]
pub enum Baseline {
    /// No version carries the champion alias.
    NoChampion { alias: String },
    /// The candidate is the champion.
    CandidateIsChampion,
    Champion {
        version: u32,
        metrics: PerformanceFigures,
    },
}

/// The checks, from the figures: each minimum, then the champion
/// comparison on the primary metric.
pub fn judge(
    candidate: &PerformanceFigures,
    request: &QualityRequest,
    baseline: &Baseline,
) -> Vec<QualityCheck> {
    let mut checks: Vec<QualityCheck> = request
        .thresholds
        .iter()
        .map(|(&metric, &minimum)| {
            let value = candidate.get(metric);
            let (outcome, detail) = match value {
                Some(v) if v >= minimum => (CheckOutcome::Pass, format!("{v:.4} ≥ {minimum}")),
                Some(v) => (
                    CheckOutcome::Fail,
                    format!("{v:.4} is below the minimum {minimum}"),
                ),
                None => (
                    CheckOutcome::Fail,
                    format!(
                        "{} is undefined on this holdout (it holds one class only)",
                        metric.as_str()
                    ),
                ),
            };
            QualityCheck {
                check: QualityCheckKind::Minimum,
                metric,
                outcome,
                candidate: value,
                threshold: Some(minimum),
                champion: None,
                delta: value.map(|v| v - minimum),
                tolerance: None,
                detail,
            }
        })
        .collect();

    let metric = request.primary_metric;
    let tolerance = request.regression_tolerance;
    let value = candidate.get(metric);
    let (champion, outcome, detail) = match baseline {
        Baseline::NoChampion { alias } => (
            None,
            CheckOutcome::Skipped,
            format!("no version is aliased {alias:?}, so there is nothing to regress from"),
        ),
        Baseline::CandidateIsChampion => (
            value,
            CheckOutcome::Pass,
            "the candidate is the champion".to_owned(),
        ),
        Baseline::Champion { version, metrics } => {
            let champion = metrics.get(metric);
            match (value, champion) {
                (Some(c), Some(h)) if c >= h - tolerance => (
                    champion,
                    CheckOutcome::Pass,
                    format!(
                        "{c:.4} against champion v{version}'s {h:.4}, within the tolerance {tolerance}"
                    ),
                ),
                (Some(c), Some(h)) => (
                    champion,
                    CheckOutcome::Fail,
                    format!(
                        "{c:.4} is {:.4} below champion v{version}'s {h:.4}; at most {tolerance} is allowed",
                        h - c
                    ),
                ),
                (None, Some(h)) => (
                    champion,
                    CheckOutcome::Fail,
                    format!("undefined for the candidate, {h:.4} for champion v{version}"),
                ),
                (_, None) => (
                    None,
                    CheckOutcome::Skipped,
                    format!(
                        "{} is undefined for champion v{version} on this holdout",
                        metric.as_str()
                    ),
                ),
            }
        }
    };
    checks.push(QualityCheck {
        check: QualityCheckKind::NoRegression,
        metric,
        outcome,
        candidate: value,
        threshold: champion.map(|h| h - tolerance),
        champion,
        delta: value.zip(champion).map(|(c, h)| c - h),
        tolerance: Some(tolerance),
        detail,
    });
    checks
}

/// Scores the candidate (and the champion, when it is another version) on
/// the holdout and judges the figures.
pub async fn evaluate(
    ctx: &SkillContext,
    request: &QualityRequest,
    registered: &RegisteredModel,
    candidate: &RegisteredVersion,
    candidate_model: Arc<Model>,
    holdout: &LabelledData,
) -> Result<ModelQualityReport, SkillError> {
    ctx.progress(format!(
        "scoring {} on {}",
        candidate.label(),
        request.holdout.label()
    ));
    let scored = scoring::score_off_runtime(candidate_model, holdout, None)
        .await
        .map_err(|e| e.into_skill_error("holdout"))?;
    let metrics = PerformanceFigures::of(&scored)?;
    ctx.progress_with(
        format!(
            "{}: roc_auc {}, f1 {:.4} on {} rows",
            candidate.label(),
            number(metrics.roc_auc),
            metrics.f1,
            metrics.samples
        ),
        &metrics,
    );
    ctx.check_canceled()?;

    let baseline = match registered.alias(&request.champion_alias) {
        None => Baseline::NoChampion {
            alias: request.champion_alias.clone(),
        },
        Some(version) if version == candidate.version => Baseline::CandidateIsChampion,
        Some(version) => {
            let champion = registry::find_version(ctx, registered, version).await?;
            let model = scoring::load_model(ctx, &champion).await?;
            ctx.progress(format!(
                "scoring champion {} on the same holdout",
                champion.label()
            ));
            let scored = scoring::score_off_runtime(model, holdout, None)
                .await
                .map_err(|e| match e {
                    scoring::ScoreError::Unfit(why) => SkillError::bad_field(
                        "holdout",
                        format!("cannot score champion {}: {why}", champion.label()),
                    ),
                    other => other.into_skill_error("holdout"),
                })?;
            let metrics = PerformanceFigures::of(&scored)?;
            ctx.progress_with(
                format!(
                    "champion {}: roc_auc {}, f1 {:.4}",
                    champion.label(),
                    number(metrics.roc_auc),
                    metrics.f1
                ),
                &metrics,
            );
            Baseline::Champion { version, metrics }
        }
    };
    let checks = judge(&metrics, request, &baseline);
    let champion = match baseline {
        Baseline::NoChampion { .. } => None,
        Baseline::CandidateIsChampion => Some(ChampionFigures {
            version: candidate.version,
            metrics: metrics.clone(),
        }),
        Baseline::Champion { version, metrics } => Some(ChampionFigures { version, metrics }),
    };
    Ok(ModelQualityReport {
        passed: checks.iter().all(|c| c.outcome != CheckOutcome::Fail),
        model: candidate.model.clone(),
        version: candidate.version,
        holdout: holdout.summary(scored.rows()),
        primary_metric: request.primary_metric,
        thresholds_from: request.thresholds_from,
        metrics,
        champion,
        checks,
    })
}

/// The `validate-model-quality` skill.
pub async fn run(
    config: &QualityConfig,
    input: Value,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let input: ValidateModelQualityInput = mlops_agent_kit::parse_input(input)?;
    let request = QualityRequest::from_input(&input, config)?;
    let (registered, candidate) = registry::resolve(ctx, &request.model, request.version).await?;
    let holdout = scoring::load_dataset(ctx, "holdout", &request.holdout).await?;
    let model = scoring::load_model(ctx, &candidate).await?;
    let report = evaluate(ctx, &request, &registered, &candidate, model, &holdout).await?;
    let sentence = report.sentence();
    Ok(SkillOutcome::single(
        crate::MODEL_QUALITY_ARTIFACT,
        &report,
        sentence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(roc_auc: Option<f64>, f1: f64) -> PerformanceFigures {
        PerformanceFigures {
            samples: 1000,
            positives: 100,
            accuracy: 0.9,
            precision: 0.5,
            recall: 0.3,
            f1,
            roc_auc,
            log_loss: Some(0.3),
            true_positives: 30,
            false_positives: 30,
            true_negatives: 870,
            false_negatives: 70,
            warnings: Vec::new(),
        }
    }

    fn request() -> QualityRequest {
        QualityRequest::new(
            "fraud-detector",
            2,
            &DatasetVersion {
                dataset: "holdout".into(),
                version: "a".repeat(64),
            },
            None,
            None,
            &QualityConfig::default(),
        )
        .unwrap()
    }

    fn outcome(
        checks: &[QualityCheck],
        kind: QualityCheckKind,
        metric: QualityMetric,
    ) -> &QualityCheck {
        checks
            .iter()
            .find(|c| c.check == kind && c.metric == metric)
            .unwrap()
    }

    #[test]
    fn minimums_pass_and_fail_with_their_margins() {
        let checks = judge(
            &figures(Some(0.88), 0.2),
            &request(),
            &Baseline::NoChampion {
                alias: "champion".into(),
            },
        );
        let auc = outcome(&checks, QualityCheckKind::Minimum, QualityMetric::RocAuc);
        assert_eq!(auc.outcome, CheckOutcome::Pass);
        assert!((auc.delta.unwrap() - 0.13).abs() < 1e-12);
        let f1 = outcome(&checks, QualityCheckKind::Minimum, QualityMetric::F1);
        assert_eq!(f1.outcome, CheckOutcome::Fail);
        assert_eq!(f1.threshold, Some(0.25));
        let regression = outcome(
            &checks,
            QualityCheckKind::NoRegression,
            QualityMetric::RocAuc,
        );
        assert_eq!(regression.outcome, CheckOutcome::Skipped);
        assert!(regression.detail.contains("champion"));
    }

    #[test]
    fn regression_beyond_the_tolerance_fails() {
        let champion = |auc| Baseline::Champion {
            version: 1,
            metrics: figures(Some(auc), 0.4),
        };
        let within = judge(&figures(Some(0.87), 0.4), &request(), &champion(0.885));
        let check = outcome(
            &within,
            QualityCheckKind::NoRegression,
            QualityMetric::RocAuc,
        );
        assert_eq!(check.outcome, CheckOutcome::Pass);
        assert!((check.delta.unwrap() + 0.015).abs() < 1e-12);
        assert!((check.threshold.unwrap() - 0.865).abs() < 1e-12);
        let beyond = judge(&figures(Some(0.80), 0.4), &request(), &champion(0.885));
        let check = outcome(
            &beyond,
            QualityCheckKind::NoRegression,
            QualityMetric::RocAuc,
        );
        assert_eq!(check.outcome, CheckOutcome::Fail);
        assert_eq!(check.champion, Some(0.885));
        assert!(
            check.detail.contains("below champion v1"),
            "{}",
            check.detail
        );
        let same = judge(
            &figures(Some(0.8), 0.4),
            &request(),
            &Baseline::CandidateIsChampion,
        );
        let check = outcome(&same, QualityCheckKind::NoRegression, QualityMetric::RocAuc);
        assert_eq!(
            (check.outcome, check.delta),
            (CheckOutcome::Pass, Some(0.0))
        );
    }

    #[test]
    fn an_undefined_metric_fails_its_minimum() {
        let checks = judge(
            &figures(None, 0.4),
            &request(),
            &Baseline::CandidateIsChampion,
        );
        let auc = outcome(&checks, QualityCheckKind::Minimum, QualityMetric::RocAuc);
        assert_eq!(auc.outcome, CheckOutcome::Fail);
        assert!(auc.detail.contains("undefined"));
    }

    #[test]
    fn request_thresholds_replace_the_config_and_are_checked() {
        let holdout = DatasetVersion {
            dataset: "holdout".into(),
            version: "a".repeat(64),
        };
        let config = QualityConfig::default();
        let given = MetricMinimums {
            recall: Some(0.5),
            ..MetricMinimums::default()
        };
        let r = QualityRequest::new("m", 1, &holdout, Some(&given), Some(0.05), &config).unwrap();
        assert_eq!(r.thresholds, BTreeMap::from([(QualityMetric::Recall, 0.5)]));
        assert_eq!(r.thresholds_from, ThresholdSource::Request);
        assert_eq!(r.regression_tolerance, 0.05);
        let bad = MetricMinimums {
            f1: Some(2.0),
            ..MetricMinimums::default()
        };
        let err = QualityRequest::new("m", 1, &holdout, Some(&bad), None, &config).unwrap_err();
        assert!(err.to_string().contains("`thresholds.f1`"), "{err}");
        let err = QualityRequest::new(
            "m",
            1,
            &holdout,
            Some(&MetricMinimums::default()),
            None,
            &config,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`thresholds`"), "{err}");
        let err = QualityRequest::new("m", 1, &holdout, None, Some(-0.1), &config).unwrap_err();
        assert!(err.to_string().contains("`regression_tolerance`"), "{err}");
        let err = QualityRequest::new("m", 0, &holdout, None, None, &config).unwrap_err();
        assert!(err.to_string().contains("`version`"), "{err}");
    }

    #[test]
    fn unknown_metrics_are_refused_by_name() {
        let err = mlops_agent_kit::parse_input::<ValidateModelQualityInput>(serde_json::json!({
            "model": "m", "version": 1,
            "holdout": {"dataset": "h", "version": "a"},
            "thresholds": {"auc": 0.7}
        }))
        .unwrap_err()
        .to_string();
        assert!(err.contains("thresholds"), "{err}");
    }

    #[test]
    fn the_sentence_carries_the_numbers() {
        let report = ModelQualityReport {
            passed: false,
            model: "fraud-detector".into(),
            version: 2,
            holdout: HoldoutSummary {
                dataset: "holdout".into(),
                version: "a".repeat(64),
                rows: 1000,
                rows_scored: 1000,
            },
            primary_metric: QualityMetric::RocAuc,
            thresholds_from: ThresholdSource::Config,
            metrics: figures(Some(0.8), 0.2),
            champion: None,
            checks: judge(
                &figures(Some(0.8), 0.2),
                &request(),
                &Baseline::CandidateIsChampion,
            ),
        };
        let sentence = report.sentence();
        assert!(sentence.contains("failed"), "{sentence}");
        assert!(sentence.contains("f1 0.2000 < 0.2500 FAIL"), "{sentence}");
        assert!(
            sentence.contains("roc_auc 0.8000 ≥ 0.7500 ok"),
            "{sentence}"
        );
    }
}
