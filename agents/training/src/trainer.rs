//! The trainer MCP server as the agent reads it: job and search records,
//! and the observations [`crate::watch::follow`] streams while they run.

use std::collections::BTreeMap;
use std::time::Duration;

use mlops_agent_kit::{SkillContext, SkillError};
use mlops_models::metrics::METRIC_NAMES;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::watch::Observation;

pub const SERVER: &str = "trainer";

/// A job as `get_job_status` (and `list_jobs`) describe it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobStatus {
    pub job_id: String,
    pub dataset_name: String,
    /// 64 hex digits.
    pub dataset_version: String,
    pub target: String,
    pub features: Vec<String>,
    /// `{"algorithm": "random_forest", "n_trees": 50, …}`, defaults filled in.
    pub algorithm: Map<String, Value>,
    pub seed: i64,
    pub validation_fraction: f64,
    /// queued, running, succeeded or failed.
    pub state: String,
    /// 0..=1.
    pub progress: f64,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub artifact_uri: Option<String>,
    #[serde(default)]
    pub search_id: Option<String>,
    #[serde(default)]
    pub trial_index: Option<i64>,
    #[serde(default)]
    pub submitted_at: Option<String>,
    #[serde(default)]
    pub duration_seconds: Option<f64>,
}

impl JobStatus {
    pub fn is_finished(&self) -> bool {
        self.state == "succeeded" || self.state == "failed"
    }

    pub fn algorithm_name(&self) -> Option<&str> {
        self.algorithm.get("algorithm").and_then(Value::as_str)
    }

    /// The hyperparameters alone (the spec without its `algorithm` tag).
    pub fn hyperparameters(&self) -> Map<String, Value> {
        let mut map = self.algorithm.clone();
        map.remove("algorithm");
        map
    }
}

/// One log line of a job.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogLine {
    pub seq: i64,
    pub line: String,
}

#[derive(Debug, Deserialize)]
struct JobLogs {
    lines: Vec<LogLine>,
}

/// A job being followed: its last status and the log lines seen since the
/// previous look.
#[derive(Debug, Clone)]
pub struct JobObservation {
    pub job_id: String,
    pub status: Option<JobStatus>,
    /// The highest log sequence number read.
    pub after_seq: i64,
    /// Log lines new in this look.
    pub new_lines: Vec<String>,
    /// The latest log line, kept across looks.
    pub last_line: Option<String>,
}

impl JobObservation {
    pub fn new(job_id: &str) -> Self {
        JobObservation {
            job_id: job_id.to_owned(),
            status: None,
            after_seq: 0,
            new_lines: Vec::new(),
            last_line: None,
        }
    }

    fn state(&self) -> &str {
        self.status.as_ref().map_or("queued", |s| s.state.as_str())
    }

    fn progress(&self) -> f64 {
        self.status.as_ref().map_or(0.0, |s| s.progress)
    }
}

impl Observation for JobObservation {
    fn finished(&self) -> bool {
        self.status.as_ref().is_some_and(JobStatus::is_finished)
    }

    fn subject(&self) -> String {
        format!("training job {}", self.job_id)
    }

    fn report(&self, elapsed: Duration) -> (String, Value) {
        let percent = (self.progress() * 100.0).round();
        let text = match (self.state(), &self.last_line) {
            ("queued", _) => format!("training job {} is queued at the trainer", self.job_id),
            (state, Some(line)) => {
                format!("training job {} {state}: {percent}% · {line}", self.job_id)
            }
            (state, None) => format!("training job {} {state}: {percent}%", self.job_id),
        };
        let detail = json!({
            "job_id": self.job_id,
            "state": self.state(),
            "progress": self.progress(),
            "elapsed_seconds": elapsed.as_secs_f64(),
            "last_log": self.last_line,
            "new_log_lines": self.new_lines,
        });
        (text, detail)
    }
}

/// One look at a job: its status, and its new log lines when it moved.
pub async fn look_at_job(
    ctx: &SkillContext,
    mut previous: JobObservation,
) -> Result<JobObservation, SkillError> {
    let status: JobStatus = ctx
        .mcp_as(
            SERVER,
            "get_job_status",
            json!({ "job_id": previous.job_id }),
        )
        .await?;
    let moved = previous
        .status
        .as_ref()
        .is_none_or(|before| before.state != status.state || before.progress != status.progress);
    previous.new_lines.clear();
    if moved && status.state != "queued" {
        let logs: JobLogs = ctx
            .mcp_as(
                SERVER,
                "get_job_logs",
                json!({
                    "job_id": previous.job_id,
                    "after_seq": previous.after_seq,
                    "limit": 200,
                }),
            )
            .await?;
        for line in logs.lines {
            previous.after_seq = previous.after_seq.max(line.seq);
            previous.last_line = Some(line.line.clone());
            previous.new_lines.push(line.line);
        }
    }
    previous.status = Some(status);
    Ok(previous)
}

/// A search as `get_hyperparameter_search` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SearchReport {
    pub search_id: String,
    /// running, succeeded or failed.
    pub state: String,
    pub metric: String,
    pub trials_total: u32,
    pub trials_finished: u32,
    pub trials_succeeded: u32,
    pub trials: Vec<SearchTrial>,
    #[serde(default)]
    pub best: Option<SearchBest>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SearchTrial {
    pub job_id: String,
    #[serde(default)]
    pub trial_index: Option<i64>,
    pub algorithm: Map<String, Value>,
    pub state: String,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SearchBest {
    pub job_id: String,
    #[serde(default)]
    pub trial_index: Option<i64>,
    pub algorithm: Map<String, Value>,
    #[serde(default)]
    pub value: Option<f64>,
}

/// A search being followed.
#[derive(Debug, Clone)]
pub struct SearchObservation {
    pub search_id: String,
    pub report: Option<SearchReport>,
}

impl Observation for SearchObservation {
    fn finished(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.state != "running")
    }

    fn subject(&self) -> String {
        format!("hyperparameter search {}", self.search_id)
    }

    fn report(&self, elapsed: Duration) -> (String, Value) {
        let Some(report) = &self.report else {
            return (
                format!("hyperparameter search {} submitted", self.search_id),
                json!({ "search_id": self.search_id, "elapsed_seconds": elapsed.as_secs_f64() }),
            );
        };
        let best = report.best.as_ref().map(|b| {
            json!({
                "training_run_id": b.job_id,
                "trial_index": b.trial_index,
                "hyperparameters": without_tag(&b.algorithm),
                "value": b.value,
            })
        });
        let text = match &report.best {
            Some(b) => format!(
                "search {}: {}/{} trials finished; best so far trial {} with {} {}",
                report.search_id,
                report.trials_finished,
                report.trials_total,
                b.trial_index.unwrap_or(-1),
                report.metric,
                b.value.map_or("n/a".to_owned(), |v| format!("{v:.4}"))
            ),
            None => format!(
                "search {}: {}/{} trials finished",
                report.search_id, report.trials_finished, report.trials_total
            ),
        };
        let detail = json!({
            "search_id": report.search_id,
            "state": report.state,
            "metric": report.metric,
            "trials_total": report.trials_total,
            "trials_finished": report.trials_finished,
            "trials_succeeded": report.trials_succeeded,
            "progress": if report.trials_total == 0 { 0.0 } else {
                f64::from(report.trials_finished) / f64::from(report.trials_total)
            },
            "best_so_far": best,
            "elapsed_seconds": elapsed.as_secs_f64(),
        });
        (text, detail)
    }
}

pub async fn look_at_search(
    ctx: &SkillContext,
    previous: SearchObservation,
) -> Result<SearchObservation, SkillError> {
    let report: SearchReport = ctx
        .mcp_as(
            SERVER,
            "get_hyperparameter_search",
            json!({ "search_id": previous.search_id }),
        )
        .await?;
    Ok(SearchObservation {
        search_id: previous.search_id,
        report: Some(report),
    })
}

/// An algorithm spec without its `algorithm` tag: the hyperparameters.
pub fn without_tag(spec: &Map<String, Value>) -> Map<String, Value> {
    let mut map = spec.clone();
    map.remove("algorithm");
    map
}

/// A job's metrics (from `get_job_metrics`) as flat name → number, the
/// form the registry keeps: validation metrics by their plain names, the
/// same on the training rows as `train_*`, and the row counts. Timings are
/// left out: they differ run to run and say nothing about the model.
pub fn flat_metrics(metrics: &Value) -> BTreeMap<String, f64> {
    let mut flat = BTreeMap::new();
    for (section, prefix) in [("validation", ""), ("train", "train_")] {
        for name in METRIC_NAMES {
            if let Some(value) = metrics
                .get(section)
                .and_then(|s| s.get(*name))
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite())
            {
                flat.insert(format!("{prefix}{name}"), value);
            }
        }
    }
    for count in ["train_rows", "validation_rows"] {
        if let Some(value) = metrics.get(count).and_then(Value::as_f64) {
            flat.insert(count.to_owned(), value);
        }
    }
    flat
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_flatten_to_the_registry_form() {
        let metrics = json!({
            "validation": {"rows": 200, "accuracy": 0.9, "precision": 0.5, "recall": 0.25,
                           "f1": 0.33, "roc_auc": 0.8, "log_loss": 0.3, "true_positives": 1},
            "train": {"accuracy": 0.95, "roc_auc": null, "log_loss": 0.2},
            "train_rows": 800, "validation_rows": 200, "fit_seconds": 1.25,
        });
        let flat = flat_metrics(&metrics);
        assert_eq!(flat["roc_auc"], 0.8);
        assert_eq!(flat["train_accuracy"], 0.95);
        assert_eq!(flat["validation_rows"], 200.0);
        assert!(
            !flat.contains_key("train_roc_auc"),
            "a missing AUC is left out"
        );
        assert!(
            !flat.contains_key("fit_seconds"),
            "timings are not model metrics"
        );
        assert!(!flat.contains_key("true_positives"));
    }

    #[test]
    fn job_progress_reads_as_a_line_and_detail() {
        let mut observation = JobObservation::new("j1");
        assert!(!observation.finished());
        let (text, _) = observation.report(Duration::from_secs(1));
        assert!(text.contains("queued"), "{text}");
        observation.status = Some(JobStatus {
            job_id: "j1".into(),
            dataset_name: "tx".into(),
            dataset_version: "ab".repeat(32),
            target: "y".into(),
            features: vec!["a".into()],
            algorithm: json!({"algorithm": "random_forest", "n_trees": 5})
                .as_object()
                .cloned()
                .unwrap(),
            seed: 1,
            validation_fraction: 0.2,
            state: "running".into(),
            progress: 0.456,
            error: None,
            artifact_uri: None,
            search_id: None,
            trial_index: None,
            submitted_at: None,
            duration_seconds: None,
        });
        observation.last_line = Some("grew tree 2/5".into());
        let (text, detail) = observation.report(Duration::from_secs(3));
        assert_eq!(text, "training job j1 running: 46% · grew tree 2/5");
        assert_eq!(detail["progress"], 0.456);
        assert_eq!(
            observation.status.as_ref().unwrap().hyperparameters(),
            json!({"n_trees": 5}).as_object().cloned().unwrap()
        );
    }
}
