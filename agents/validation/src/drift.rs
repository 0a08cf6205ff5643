//! `check-data-drift`: the version's training data against recent serving
//! traffic (a window of the prediction log) or a given dataset version,
//! over the model's features, through the drift server's
//! `run_drift_report` (which stores the report as `reports://{id}`).

use chrono::{Duration, SecondsFormat, Utc};
use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use mlops_mcp_drift::{ColumnType, StatTest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::registry::{self, RegisteredVersion};
use crate::request::{self, DatasetVersion, optional_whole_number, whole_number};
use crate::scoring;

/// The longest window the drift server reads: 92 days.
pub const MAX_WINDOW_MINUTES: u32 = 92 * 24 * 60;

/// Input of `check-data-drift`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckDataDriftInput {
    /// Registered model name, e.g. "fraud-detector".
    pub model: String,
    /// The version whose training data is the reference (1 or more).
    #[serde(deserialize_with = "whole_number")]
    #[schemars(range(min = 1))]
    pub version: u32,
    /// Compare the last this many minutes of the model's prediction log
    /// (its serving traffic), 1-132480; give this or `current`.
    #[serde(default, deserialize_with = "optional_whole_number")]
    #[schemars(range(min = 1, max = 132480))]
    pub window_minutes: Option<u32>,
    /// Compare this dataset version instead; give this or `window_minutes`.
    #[serde(default)]
    pub current: Option<DatasetVersion>,
    /// The data counts as drifted when at least this share of the model's
    /// features drift, above 0 and at most 1 (default from the agent's
    /// config, 0.3).
    #[serde(default)]
    pub drift_share: Option<f64>,
}

/// The data compared with the training data.
#[derive(Debug, Clone, PartialEq)]
pub enum CurrentData {
    /// The last `minutes` of the prediction log, up to now.
    Window {
        minutes: u32,
    },
    Dataset(DatasetVersion),
}

/// A validated drift request.
#[derive(Debug, Clone)]
pub struct DriftRequest {
    pub model: String,
    pub version: u32,
    pub current: CurrentData,
    pub drift_share: f64,
}

impl DriftRequest {
    /// Checks the parts of a drift request. `None` when neither a window nor
    /// a dataset is given (the report then skips drift); rejections name
    /// the field.
    pub fn optional(
        model: &str,
        version: u32,
        window_minutes: Option<u32>,
        current: Option<&DatasetVersion>,
        drift_share: Option<f64>,
        default_share: f64,
    ) -> Result<Option<Self>, SkillError> {
        let current = match (window_minutes, current) {
            (Some(_), Some(_)) => {
                return Err(SkillError::bad_field(
                    "current",
                    "and `window_minutes` are exclusive: give the prediction-log window or a dataset version, not both",
                ));
            }
            (None, None) => return Ok(None),
            (Some(minutes), None) => {
                if !(1..=MAX_WINDOW_MINUTES).contains(&minutes) {
                    return Err(SkillError::bad_field(
                        "window_minutes",
                        format!("{minutes} must be between 1 and {MAX_WINDOW_MINUTES} (92 days)"),
                    ));
                }
                CurrentData::Window { minutes }
            }
            (None, Some(dataset)) => CurrentData::Dataset(dataset.checked("current")?),
        };
        let drift_share = match drift_share {
            Some(share) if !(share.is_finite() && share > 0.0 && share <= 1.0) => {
                return Err(SkillError::bad_field(
                    "drift_share",
                    format!("{share} must be above 0 and at most 1"),
                ));
            }
            Some(share) => share,
            None => default_share,
        };
        Ok(Some(DriftRequest {
            model: request::model_name(model)?,
            version: request::version_number(version)?,
            current,
            drift_share,
        }))
    }

    pub fn from_input(input: &CheckDataDriftInput, default_share: f64) -> Result<Self, SkillError> {
        DriftRequest::optional(
            &input.model,
            input.version,
            input.window_minutes,
            input.current.as_ref(),
            input.drift_share,
            default_share,
        )?
        .ok_or_else(|| {
            SkillError::bad_field(
                "window_minutes",
                "or `current` is needed: the prediction-log window or the dataset version to compare with the training data",
            )
        })
    }
}

/// Whether a score is a p-value (drift when small) or a distance (drift
/// when large).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    PValue,
    Distance,
}

/// One feature's test.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FeatureDrift {
    pub feature: String,
    /// How the drift server typed the column.
    pub column_type: ColumnType,
    /// The test (Evidently's choice for the column type and size).
    pub stattest: StatTest,
    /// Evidently's label for the score, e.g. "Wasserstein distance (normed)".
    pub stattest_name: String,
    /// The p-value or distance; absent where the test gives no number.
    pub score: Option<f64>,
    pub score_kind: ScoreKind,
    pub threshold: f64,
    /// e.g. "p_value <= threshold" or "score >= threshold".
    pub drift_condition: String,
    pub drifted: bool,
}

/// A feature the drift server could not compare, and why.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SkippedFeature {
    pub feature: String,
    pub reason: String,
}

/// The training data the comparison used.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReferenceData {
    pub dataset: String,
    pub version: String,
    pub rows: u64,
}

/// The data compared with the reference: a dataset version or a window.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CurrentSummary {
    /// The dataset version, when one was compared.
    pub dataset: Option<String>,
    pub version: Option<String>,
    /// The prediction-log window, when one was compared.
    pub window: Option<DriftWindow>,
    pub rows: u64,
}

/// A prediction-log window.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DriftWindow {
    /// RFC 3339, inclusive.
    pub since: String,
    /// RFC 3339, exclusive.
    pub until: String,
    pub minutes: u32,
}

/// Output of `check-data-drift`.
///
/// Drift found is a result, not an error: the task completes with
/// `passed: false` and every number, and the orchestrator decides. The task
/// fails only when the comparison could not run (no traffic in the window,
/// a tool or the store unreachable).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DataDriftReport {
    /// `!drifted`.
    pub passed: bool,
    /// At least `drift_share` of the features drifted.
    pub drifted: bool,
    pub model: String,
    pub version: u32,
    pub reference: ReferenceData,
    pub current: CurrentSummary,
    /// The stored report on the drift server (`reports://{id}`), with
    /// histograms per feature.
    pub report_id: String,
    pub report_uri: String,
    pub drift_share: f64,
    pub number_of_features: usize,
    pub number_of_drifted_features: usize,
    pub share_of_drifted_features: f64,
    pub features: Vec<FeatureDrift>,
    pub skipped_features: Vec<SkippedFeature>,
}

impl DataDriftReport {
    pub fn sentence(&self) -> String {
        let drifted: Vec<String> = self
            .features
            .iter()
            .filter(|f| f.drifted)
            .map(|f| match f.score {
                Some(score) => format!("{} ({} {score:.4})", f.feature, f.stattest_name),
                None => f.feature.clone(),
            })
            .collect();
        let current = match (&self.current.window, &self.current.dataset) {
            (Some(window), _) => format!("the last {} minutes of traffic", window.minutes),
            (None, Some(dataset)) => dataset.clone(),
            (None, None) => "the current data".to_owned(),
        };
        format!(
            "{} v{}: {} of {} features drifted ({:.0}%, drift at {:.0}%) between {} and {} ({} rows){}{}",
            self.model,
            self.version,
            self.number_of_drifted_features,
            self.number_of_features,
            self.share_of_drifted_features * 100.0,
            self.drift_share * 100.0,
            self.reference.dataset,
            current,
            self.current.rows,
            if self.drifted {
                " — DRIFT"
            } else {
                " — no drift"
            },
            if drifted.is_empty() {
                String::new()
            } else {
                format!(": {}", drifted.join(", "))
            }
        )
    }
}

/// The drift server's answer to `run_drift_report`, as far as it is used.
#[derive(Debug, Deserialize)]
struct RunAnswer {
    id: String,
    uri: String,
    report: AnswerBody,
}

#[derive(Debug, Deserialize)]
struct AnswerBody {
    reference: AnswerRows,
    current: Value,
    result: AnswerResult,
}

#[derive(Debug, Deserialize)]
struct AnswerRows {
    rows: u64,
}

#[derive(Debug, Deserialize)]
struct AnswerResult {
    dataset_drift: bool,
    drift_share: f64,
    number_of_columns: usize,
    number_of_drifted_columns: usize,
    share_of_drifted_columns: f64,
    current_rows: u64,
    columns: Vec<AnswerColumn>,
    skipped_columns: Vec<AnswerSkipped>,
}

#[derive(Debug, Deserialize)]
struct AnswerColumn {
    column: String,
    column_type: ColumnType,
    stattest: StatTest,
    stattest_name: String,
    score: Option<f64>,
    score_kind: ScoreKind,
    threshold: f64,
    drift_condition: String,
    drift_detected: bool,
}

#[derive(Debug, Deserialize)]
struct AnswerSkipped {
    column: String,
    reason: String,
}

/// Compares the version's training data (`reference`) with the request's
/// current data over `features`. The drift server stores the report.
pub async fn evaluate(
    ctx: &SkillContext,
    request: &DriftRequest,
    version: &RegisteredVersion,
    reference: &DatasetVersion,
    features: &[String],
) -> Result<DataDriftReport, SkillError> {
    let (current, window) = match &request.current {
        CurrentData::Dataset(dataset) => (
            json!({ "dataset": dataset.dataset, "version": dataset.version }),
            None,
        ),
        CurrentData::Window { minutes } => {
            let until = Utc::now();
            let since = until - Duration::minutes(i64::from(*minutes));
            let window = DriftWindow {
                since: since.to_rfc3339_opts(SecondsFormat::Millis, true),
                until: until.to_rfc3339_opts(SecondsFormat::Millis, true),
                minutes: *minutes,
            };
            (
                json!({ "prediction_log": {
                    "model": version.model, "since": window.since, "until": window.until,
                }}),
                Some(window),
            )
        }
    };
    ctx.progress(format!(
        "comparing {} features of {} with its training data {}",
        features.len(),
        version.label(),
        reference.label()
    ));
    let answer: RunAnswer = ctx
        .mcp_as(
            "drift",
            "run_drift_report",
            json!({
                "model": version.model,
                "reference": { "dataset": reference.dataset, "version": reference.version },
                "current": current,
                "columns": features,
                "drift_share": request.drift_share,
            }),
        )
        .await?;
    Ok(to_report(answer, version, reference, window))
}

/// The report, from the drift server's answer.
fn to_report(
    answer: RunAnswer,
    version: &RegisteredVersion,
    reference: &DatasetVersion,
    window: Option<DriftWindow>,
) -> DataDriftReport {
    let result = answer.report.result;
    let current_dataset = |key: &str| {
        answer
            .report
            .current
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    DataDriftReport {
        passed: !result.dataset_drift,
        drifted: result.dataset_drift,
        model: version.model.clone(),
        version: version.version,
        reference: ReferenceData {
            dataset: reference.dataset.clone(),
            version: reference.version.clone(),
            rows: answer.report.reference.rows,
        },
        current: CurrentSummary {
            dataset: current_dataset("dataset"),
            version: current_dataset("version"),
            window,
            rows: result.current_rows,
        },
        report_id: answer.id,
        report_uri: answer.uri,
        drift_share: result.drift_share,
        number_of_features: result.number_of_columns,
        number_of_drifted_features: result.number_of_drifted_columns,
        share_of_drifted_features: result.share_of_drifted_columns,
        features: result
            .columns
            .into_iter()
            .map(|c| FeatureDrift {
                feature: c.column,
                column_type: c.column_type,
                stattest: c.stattest,
                stattest_name: c.stattest_name,
                score: c.score,
                score_kind: c.score_kind,
                threshold: c.threshold,
                drift_condition: c.drift_condition,
                drifted: c.drift_detected,
            })
            .collect(),
        skipped_features: result
            .skipped_columns
            .into_iter()
            .map(|s| SkippedFeature {
                feature: s.column,
                reason: s.reason,
            })
            .collect(),
    }
}

/// What a drift check needs before it may run (and store a report): the
/// training dataset, and a current dataset that exists.
pub async fn reference_for(
    ctx: &SkillContext,
    request: &DriftRequest,
    version: &RegisteredVersion,
) -> Result<DatasetVersion, SkillError> {
    let reference = version
        .training_dataset()
        .map_err(|why| SkillError::bad_field("version", why))?;
    if let CurrentData::Dataset(dataset) = &request.current {
        scoring::ensure_dataset(ctx, "current", dataset).await?;
    }
    Ok(reference)
}

/// The `check-data-drift` skill.
pub async fn run(
    default_share: f64,
    input: Value,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let input: CheckDataDriftInput = mlops_agent_kit::parse_input(input)?;
    let request = DriftRequest::from_input(&input, default_share)?;
    let (_, version) = registry::resolve(ctx, &request.model, request.version).await?;
    let reference = reference_for(ctx, &request, &version).await?;
    let model = scoring::load_model(ctx, &version).await?;
    let report = evaluate(ctx, &request, &version, &reference, model.feature_names()).await?;
    let sentence = report.sentence();
    Ok(SkillOutcome::single(
        crate::DATA_DRIFT_ARTIFACT,
        &report,
        sentence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset() -> DatasetVersion {
        DatasetVersion {
            dataset: "transactions-current".into(),
            version: "c".repeat(64),
        }
    }

    #[test]
    fn a_window_or_a_dataset_and_never_both() {
        let window = DriftRequest::optional("m", 1, Some(60), None, None, 0.3)
            .unwrap()
            .unwrap();
        assert_eq!(window.current, CurrentData::Window { minutes: 60 });
        assert_eq!(window.drift_share, 0.3);
        let data = DriftRequest::optional("m", 1, None, Some(&dataset()), Some(0.5), 0.3)
            .unwrap()
            .unwrap();
        assert_eq!(data.current, CurrentData::Dataset(dataset()));
        assert_eq!(data.drift_share, 0.5);
        assert!(
            DriftRequest::optional("m", 1, None, None, None, 0.3)
                .unwrap()
                .is_none()
        );
        let both = DriftRequest::optional("m", 1, Some(5), Some(&dataset()), None, 0.3)
            .unwrap_err()
            .to_string();
        assert!(both.contains("`current`"), "{both}");
    }

    #[test]
    fn bad_windows_and_shares_name_their_field() {
        for (minutes, share, field) in [
            (Some(0), None, "`window_minutes`"),
            (Some(MAX_WINDOW_MINUTES + 1), None, "`window_minutes`"),
            (Some(10), Some(0.0), "`drift_share`"),
            (Some(10), Some(1.5), "`drift_share`"),
        ] {
            let err = DriftRequest::optional("m", 1, minutes, None, share, 0.3)
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{err}");
        }
        let input: CheckDataDriftInput =
            serde_json::from_value(json!({"model": "m", "version": 1})).unwrap();
        let err = DriftRequest::from_input(&input, 0.3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`window_minutes`"), "{err}");
    }

    #[test]
    fn the_servers_answer_maps_to_the_report() {
        let answer: RunAnswer = serde_json::from_value(json!({
            "id": "0190", "uri": "reports://0190", "kind": "drift",
            "report": {
                "reference": {"dataset": "train", "version": "a", "rows": 4000},
                "current": {"prediction_log": {"model": "m", "rows": 1000}},
                "result": {
                    "dataset_drift": true, "drift_share": 0.3, "number_of_columns": 2,
                    "number_of_drifted_columns": 1, "share_of_drifted_columns": 0.5,
                    "reference_rows": 4000, "current_rows": 1000,
                    "columns": [{
                        "column": "amount", "column_type": "numerical", "stattest": "wasserstein",
                        "stattest_name": "Wasserstein distance (normed)", "selected_by": "default",
                        "score": 0.41, "score_kind": "distance", "threshold": 0.1,
                        "drift_condition": "score >= threshold", "drift_detected": true,
                        "distinct_values": 900
                    }, {
                        "column": "hour", "column_type": "numerical", "stattest": "wasserstein",
                        "stattest_name": "Wasserstein distance (normed)",
                        "score": null, "score_kind": "distance", "threshold": 0.1,
                        "drift_condition": "score >= threshold", "drift_detected": false
                    }],
                    "skipped_columns": [{"column": "x", "reason": "only in the reference"}]
                }
            }
        }))
        .unwrap();
        let version = RegisteredVersion {
            model: "m".into(),
            version: 2,
            status: "active".into(),
            params: json!({"dataset": "train"}),
            dataset_digest: format!("sha256:{}", "a".repeat(64)),
            artifact_uri: "storage://models/j/model.json".into(),
            protected_attribute: None,
            aliases: Vec::new(),
        };
        let reference = version.training_dataset().unwrap();
        let report = to_report(answer, &version, &reference, None);
        assert!(report.drifted && !report.passed);
        assert_eq!(report.report_uri, "reports://0190");
        assert_eq!(report.reference.rows, 4000);
        assert_eq!(report.current.rows, 1000);
        assert_eq!(report.current.dataset, None);
        assert_eq!(report.features[0].stattest, StatTest::Wasserstein);
        assert_eq!(report.features[0].score, Some(0.41));
        assert!(report.features[0].drifted);
        assert_eq!(report.features[1].score, None);
        assert_eq!(report.skipped_features[0].feature, "x");
        let sentence = report.sentence();
        assert!(sentence.contains("1 of 2 features drifted"), "{sentence}");
        assert!(
            sentence.contains("amount (Wasserstein distance (normed) 0.4100)"),
            "{sentence}"
        );
    }
}
