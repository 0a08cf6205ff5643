//! Training jobs as the trainer MCP server reports them (`list_jobs`,
//! `get_job_metrics`), read with the cost agent's `trainer:read` scope.

use chrono::{DateTime, Utc};
use mlops_agent_kit::{SkillContext, SkillError};
use serde::Deserialize;
use serde_json::{Value, json};

/// The most jobs one `list_jobs` call returns.
pub const LIST_LIMIT: u32 = 200;

/// One job of `list_jobs` (the fields the cost agent uses).
#[derive(Debug, Clone, Deserialize)]
pub struct TrainerJob {
    pub job_id: String,
    pub dataset_name: String,
    pub features: Vec<String>,
    /// The algorithm spec with every hyperparameter, as the job ran it.
    pub algorithm: Value,
    pub backend: String,
    /// queued, running, succeeded or failed.
    pub state: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Start to finish (to now while running), as the trainer computes it.
    pub duration_seconds: Option<f64>,
}

impl TrainerJob {
    pub fn algorithm_name(&self) -> &str {
        self.algorithm
            .get("algorithm")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
    }
}

#[derive(Debug, Deserialize)]
struct JobList {
    jobs: Vec<TrainerJob>,
}

/// What `get_job_metrics` says about a job's size and fit.
#[derive(Debug, Clone, Deserialize)]
pub struct JobSize {
    pub train_rows: u64,
    pub validation_rows: u64,
    pub fit_seconds: f64,
}

#[derive(Debug, Deserialize)]
struct JobMetricsAnswer {
    metrics: JobSize,
}

/// Jobs newest first: in `state` (all when None), on `dataset` (all when
/// None), at most [`LIST_LIMIT`].
pub async fn list_jobs(
    ctx: &SkillContext,
    state: Option<&str>,
    dataset: Option<&str>,
) -> Result<Vec<TrainerJob>, SkillError> {
    let mut args = json!({ "limit": LIST_LIMIT });
    if let Some(state) = state {
        args["state"] = json!(state);
    }
    if let Some(dataset) = dataset {
        args["dataset"] = json!(dataset);
    }
    let list: JobList = ctx.mcp_as("trainer", "list_jobs", args).await?;
    Ok(list.jobs)
}

/// The row counts and fit time of a succeeded job.
pub async fn job_size(ctx: &SkillContext, job_id: &str) -> Result<JobSize, SkillError> {
    let answer: JobMetricsAnswer = ctx
        .mcp_as("trainer", "get_job_metrics", json!({ "job_id": job_id }))
        .await?;
    Ok(answer.metrics)
}
