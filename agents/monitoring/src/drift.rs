//! `detect-drift`: the live prediction log over a recent window against a
//! reference dataset (by default the training data the stable deployment
//! was deployed with), through the drift server's `run_drift_report`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use mlops_agent_kit::{SkillError, SkillOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::MonitoringConfig;
use crate::deployments::{self, DatasetReference};
use crate::model::ModelName;
use crate::tools::{Tools, refusal};

/// Longest window: a week of traffic.
pub const MAX_WINDOW_MINUTES: u32 = 7 * 24 * 60;

/// Input of `detect-drift`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectDriftInput {
    /// The deployed model whose live traffic is checked, e.g. "fraud-detector".
    pub model: String,
    /// How far back the prediction log is read, in minutes (1-10080;
    /// default from the agent's config, 3).
    #[serde(default)]
    pub window_minutes: Option<u32>,
    /// The data to compare with. Default: the training dataset recorded
    /// with the model's stable (most-traffic) deployment.
    #[serde(default)]
    pub reference: Option<DatasetReference>,
    /// The model drifts when at least this share of its features drift
    /// (0-1, exclusive of 0; default from the agent's config, 0.25).
    #[serde(default)]
    pub drift_share: Option<f64>,
}

/// The verdict of a drift check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    /// At least `drift_share` of the features drifted.
    Drifted,
    NoDrift,
    /// Too few predictions in the window to judge (see `min_rows`).
    InsufficientData,
}

/// One feature's test.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FeatureDrift {
    pub feature: String,
    /// "numerical" or "categorical", as the drift server typed the column.
    pub column_type: String,
    /// The test: ks, chisquare, z, wasserstein, jensenshannon, psi, kl_div, hellinger.
    pub stattest: String,
    /// Evidently's label for the score, e.g. "Wasserstein distance (normed)".
    pub stattest_name: String,
    /// The p-value or distance; absent where the test gives no number.
    pub score: Option<f64>,
    pub threshold: f64,
    /// e.g. "score >= threshold" or "p_value < threshold".
    pub drift_condition: String,
    pub drifted: bool,
}

/// A feature left out of the report, and why.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SkippedFeature {
    pub feature: String,
    pub reason: String,
}

/// The prediction-log window that was read.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DriftWindow {
    /// RFC 3339, inclusive.
    pub since: String,
    /// RFC 3339, exclusive.
    pub until: String,
    pub minutes: u32,
}

/// Output of `detect-drift`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DetectDriftOutput {
    pub model: String,
    pub status: DriftStatus,
    /// `status == drifted`.
    pub drifted: bool,
    /// The stored drift report (`reports://{id}` on the drift server);
    /// absent when the window held no predictions.
    pub report_id: Option<String>,
    pub report_uri: Option<String>,
    pub reference: DatasetReference,
    /// Where the reference came from: "input", or "deployment v<N>".
    pub reference_source: String,
    pub window: DriftWindow,
    pub reference_rows: u64,
    pub current_rows: u64,
    /// Fewest logged predictions for a verdict.
    pub min_rows: u64,
    /// The threshold: the model drifts when this share of features drift.
    pub drift_share: f64,
    pub share_of_drifted_features: f64,
    pub drifted_features: Vec<String>,
    pub features: Vec<FeatureDrift>,
    pub skipped_features: Vec<SkippedFeature>,
    pub note: Option<String>,
}

/// A check's output plus the drift server's whole answer (the stored
/// report), for attaching to a retraining request.
#[derive(Debug, Clone)]
pub struct DriftCheck {
    pub output: DetectDriftOutput,
    pub report: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RunAnswer {
    id: String,
    uri: String,
    report: ReportBody,
}

#[derive(Debug, Deserialize)]
struct ReportBody {
    reference: RowsOf,
    result: ReportResult,
}

#[derive(Debug, Deserialize)]
struct RowsOf {
    rows: u64,
}

#[derive(Debug, Deserialize)]
struct ReportResult {
    dataset_drift: bool,
    share_of_drifted_columns: f64,
    current_rows: u64,
    columns: Vec<RawColumn>,
    #[serde(default)]
    skipped_columns: Vec<RawSkipped>,
}

#[derive(Debug, Deserialize)]
struct RawColumn {
    column: String,
    column_type: String,
    stattest: String,
    stattest_name: String,
    score: Option<f64>,
    threshold: f64,
    drift_condition: String,
    drift_detected: bool,
}

#[derive(Debug, Deserialize)]
struct RawSkipped {
    column: String,
    reason: String,
}

/// A checked request: what [`check`] runs.
#[derive(Debug, Clone)]
pub struct DriftRequest {
    pub model: ModelName,
    pub window_minutes: u32,
    pub reference: Option<DatasetReference>,
    pub drift_share: f64,
}

impl DriftRequest {
    /// Validates the input; every rejection names its field.
    pub fn parse(input: DetectDriftInput, config: &MonitoringConfig) -> Result<Self, SkillError> {
        let model = ModelName::parse("model", &input.model)?;
        let window_minutes = input.window_minutes.unwrap_or(config.drift_window_minutes);
        if !(1..=MAX_WINDOW_MINUTES).contains(&window_minutes) {
            return Err(SkillError::bad_field(
                "window_minutes",
                format!("{window_minutes} must be between 1 and {MAX_WINDOW_MINUTES}"),
            ));
        }
        let drift_share = input.drift_share.unwrap_or(config.drift_share);
        if !(drift_share > 0.0 && drift_share <= 1.0) {
            return Err(SkillError::bad_field(
                "drift_share",
                format!("{drift_share} must be in (0, 1]"),
            ));
        }
        if let Some(reference) = &input.reference {
            check_reference(reference)?;
        }
        Ok(DriftRequest {
            model,
            window_minutes,
            reference: input.reference,
            drift_share,
        })
    }
}

/// A dataset reference the storage layer would accept: a slug name and a
/// sha256 version.
fn check_reference(reference: &DatasetReference) -> Result<(), SkillError> {
    let name = &reference.dataset;
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(SkillError::bad_field(
            "reference.dataset",
            format!(
                "{name:?} must be a dataset name: 1-63 characters of a-z, 0-9 and '-', starting with a letter"
            ),
        ));
    }
    let hex = reference
        .version
        .strip_prefix("sha256:")
        .unwrap_or(&reference.version);
    if hex.len() != 64
        || !hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(SkillError::bad_field(
            "reference.version",
            format!(
                "{:?} must be a dataset version: a sha256 content hash (64 lowercase hex digits)",
                reference.version
            ),
        ));
    }
    Ok(())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Resolves the reference (the input's, or the stable deployment's) and
/// runs the report. A model without deployment, or without a recorded
/// reference when none is given, is a rejection naming the field.
pub async fn check(
    tools: &dyn Tools,
    request: &DriftRequest,
    min_rows: u64,
) -> Result<DriftCheck, SkillError> {
    let model = &request.model;
    let deployment = deployments::of(tools, model).await?.ok_or_else(|| {
        SkillError::bad_field(
            "model",
            format!("{model:?} has no deployment: there is no live traffic to check"),
        )
    })?;
    let (reference, reference_source) = match &request.reference {
        Some(reference) => (reference.clone(), "input".to_owned()),
        None => {
            let stable = deployment.stable(None).ok_or_else(|| {
                SkillError::bad_field(
                    "reference",
                    format!("is needed: no version of {model} takes traffic, so there is no stable deployment to take it from"),
                )
            })?;
            let reference = stable.reference.clone().ok_or_else(|| {
                SkillError::bad_field(
                    "reference",
                    format!(
                        "is needed: {model} v{} was deployed without its training dataset",
                        stable.version
                    ),
                )
            })?;
            (reference, format!("deployment v{}", stable.version))
        }
    };

    let until = Utc::now();
    let since = until - Duration::minutes(i64::from(request.window_minutes));
    let window = DriftWindow {
        since: rfc3339(since),
        until: rfc3339(until),
        minutes: request.window_minutes,
    };
    tools.progress(
        &format!(
            "comparing the last {} min of {model}'s predictions with {}@{} ({reference_source})",
            request.window_minutes,
            reference.dataset,
            short(&reference.version)
        ),
        json!({ "window": &window, "reference": &reference }),
    );
    tools.check_canceled()?;
    let answer = tools
        .call(
            "drift",
            "run_drift_report",
            json!({
                "model": model.as_str(),
                "reference": &reference,
                "current": { "prediction_log": {
                    "model": model.as_str(),
                    "since": &window.since,
                    "until": &window.until,
                }},
                "drift_share": request.drift_share,
            }),
        )
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        // The drift server's word for an empty window; not a failure, the
        // model simply had no traffic.
        Err(error) if refusal(&error).is_some_and(|m| m.contains("has no rows")) => {
            let output = DetectDriftOutput {
                model: model.to_string(),
                status: DriftStatus::InsufficientData,
                drifted: false,
                report_id: None,
                report_uri: None,
                reference,
                reference_source,
                window,
                reference_rows: 0,
                current_rows: 0,
                min_rows,
                drift_share: request.drift_share,
                share_of_drifted_features: 0.0,
                drifted_features: Vec::new(),
                features: Vec::new(),
                skipped_features: Vec::new(),
                note: Some("no predictions were logged in the window".into()),
            };
            return Ok(DriftCheck {
                output,
                report: None,
            });
        }
        Err(error) => return Err(error),
    };
    let parsed: RunAnswer = serde_json::from_value(answer.clone()).map_err(|e| {
        SkillError::failed(format!(
            "drift/run_drift_report answered in an unexpected shape: {e}"
        ))
    })?;
    let result = parsed.report.result;
    let features: Vec<FeatureDrift> = result
        .columns
        .into_iter()
        .map(|c| FeatureDrift {
            feature: c.column,
            column_type: c.column_type,
            stattest: c.stattest,
            stattest_name: c.stattest_name,
            score: c.score,
            threshold: c.threshold,
            drift_condition: c.drift_condition,
            drifted: c.drift_detected,
        })
        .collect();
    let status = verdict(result.dataset_drift, result.current_rows, min_rows);
    let output = DetectDriftOutput {
        model: model.to_string(),
        status,
        drifted: status == DriftStatus::Drifted,
        report_id: Some(parsed.id),
        report_uri: Some(parsed.uri),
        reference,
        reference_source,
        window,
        reference_rows: parsed.report.reference.rows,
        current_rows: result.current_rows,
        min_rows,
        drift_share: request.drift_share,
        share_of_drifted_features: result.share_of_drifted_columns,
        drifted_features: features
            .iter()
            .filter(|f| f.drifted)
            .map(|f| f.feature.clone())
            .collect(),
        features,
        skipped_features: result
            .skipped_columns
            .into_iter()
            .map(|s| SkippedFeature {
                feature: s.column,
                reason: s.reason,
            })
            .collect(),
        note: (status == DriftStatus::InsufficientData).then(|| {
            format!(
                "{} predictions in the window; at least {min_rows} are needed for a verdict",
                result.current_rows
            )
        }),
    };
    Ok(DriftCheck {
        output,
        report: Some(answer),
    })
}

/// The verdict from the report's dataset-drift flag and the rows it saw.
pub fn verdict(dataset_drift: bool, current_rows: u64, min_rows: u64) -> DriftStatus {
    if current_rows < min_rows {
        DriftStatus::InsufficientData
    } else if dataset_drift {
        DriftStatus::Drifted
    } else {
        DriftStatus::NoDrift
    }
}

fn short(version: &str) -> &str {
    let hex = version.strip_prefix("sha256:").unwrap_or(version);
    hex.get(..12).unwrap_or(hex)
}

/// One line for people.
pub fn summary(output: &DetectDriftOutput) -> String {
    let scores: Vec<String> = output
        .features
        .iter()
        .filter(|f| f.drifted)
        .map(|f| match f.score {
            Some(score) => format!(
                "{} ({} {score:.3} vs {})",
                f.feature, f.stattest, f.threshold
            ),
            None => format!("{} ({})", f.feature, f.stattest),
        })
        .collect();
    match output.status {
        DriftStatus::Drifted => format!(
            "{}: drift — {} of {} features drifted ({:.0}% ≥ {:.0}%) over the last {} min ({} predictions): {}; report {}",
            output.model,
            output.drifted_features.len(),
            output.features.len(),
            output.share_of_drifted_features * 100.0,
            output.drift_share * 100.0,
            output.window.minutes,
            output.current_rows,
            scores.join(", "),
            output.report_uri.as_deref().unwrap_or("-"),
        ),
        DriftStatus::NoDrift => format!(
            "{}: no drift — {} of {} features drifted ({:.0}% < {:.0}%) over the last {} min ({} predictions); report {}",
            output.model,
            output.drifted_features.len(),
            output.features.len(),
            output.share_of_drifted_features * 100.0,
            output.drift_share * 100.0,
            output.window.minutes,
            output.current_rows,
            output.report_uri.as_deref().unwrap_or("-"),
        ),
        DriftStatus::InsufficientData => format!(
            "{}: not enough traffic to judge drift over the last {} min ({})",
            output.model,
            output.window.minutes,
            output.note.as_deref().unwrap_or("too few predictions"),
        ),
    }
}

pub async fn run(
    tools: &dyn Tools,
    config: &MonitoringConfig,
    input: DetectDriftInput,
) -> Result<SkillOutcome, SkillError> {
    let request = DriftRequest::parse(input, config)?;
    let checked = check(tools, &request, config.min_drift_rows).await?;
    let summary = summary(&checked.output);
    Ok(SkillOutcome::single("drift-check", checked.output, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: Value) -> DetectDriftInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn requests_are_validated_field_by_field() {
        let config = MonitoringConfig::default();
        let ok = DriftRequest::parse(input(json!({"model": "fraud-detector"})), &config).unwrap();
        assert_eq!(ok.window_minutes, 3);
        assert_eq!(ok.drift_share, 0.25);
        let err = |j: Value| {
            DriftRequest::parse(input(j), &config)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(json!({"model": "fraud-detector", "window_minutes": 0}))
                .contains("`window_minutes`")
        );
        assert!(
            err(json!({"model": "fraud-detector", "drift_share": 1.5})).contains("`drift_share`")
        );
        assert!(err(json!({"model": "Fraud"})).contains("`model`"));
        assert!(
            err(json!({"model": "m", "reference": {"dataset": "transactions", "version": "abc"}}))
                .contains("`reference.version`")
        );
        assert!(
            err(json!({"model": "m", "reference": {"dataset": "../x", "version": "a".repeat(64)}}))
                .contains("`reference.dataset`")
        );
        let sha = format!("sha256:{}", "a".repeat(64));
        assert!(
            DriftRequest::parse(
                input(
                    json!({"model": "m", "reference": {"dataset": "transactions", "version": sha}})
                ),
                &config
            )
            .is_ok()
        );
    }

    #[test]
    fn too_few_rows_is_no_verdict() {
        assert_eq!(verdict(true, 50, 200), DriftStatus::InsufficientData);
        assert_eq!(verdict(true, 500, 200), DriftStatus::Drifted);
        assert_eq!(verdict(false, 500, 200), DriftStatus::NoDrift);
    }
}
