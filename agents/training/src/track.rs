//! `track-experiment`: training runs (trainer) and registered versions
//! (registry) side by side in one table, ranked by a chosen metric.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::contract::{ExperimentRow, Goal, MetricName, TrackInput, TrackOutput};
use crate::request::{dataset_name, model_name};
use crate::train::JobMetrics;
use crate::trainer::{self, JobStatus, flat_metrics};

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// A version as the registry's `search_versions` lists it.
#[derive(Debug, Clone, Deserialize)]
struct VersionRecord {
    model: String,
    version: u32,
    #[serde(default)]
    params: Map<String, Value>,
    #[serde(default)]
    metrics: Map<String, Value>,
    dataset_digest: String,
    training_run_id: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VersionList {
    versions: Vec<VersionRecord>,
}

#[derive(Debug, Deserialize)]
struct JobList {
    jobs: Vec<JobStatus>,
}

fn row_from_job(job: &JobStatus) -> ExperimentRow {
    ExperimentRow {
        training_run_id: job.job_id.clone(),
        state: Some(job.state.clone()),
        dataset: Some(job.dataset_name.clone()),
        dataset_version: Some(job.dataset_version.clone()),
        algorithm: job.algorithm_name().map(str::to_owned),
        hyperparameters: job.hyperparameters(),
        seed: Some(job.seed),
        search_id: job.search_id.clone(),
        submitted_at: job.submitted_at.clone(),
        duration_seconds: job.duration_seconds,
        model: None,
        version: None,
        aliases: Vec::new(),
        metrics: BTreeMap::new(),
        value: None,
    }
}

/// Fills `row`'s registry side from `version`.
fn attach_version(row: &mut ExperimentRow, version: &VersionRecord) {
    row.model = Some(version.model.clone());
    row.version = Some(version.version);
    row.aliases = version.aliases.clone();
    if row.metrics.is_empty() {
        row.metrics = version
            .metrics
            .iter()
            .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v)))
            .collect();
    }
}

/// A row for a version whose run the trainer did not list: what the
/// registry recorded about it.
fn row_from_version(version: &VersionRecord) -> ExperimentRow {
    let param_str = |key: &str| {
        version
            .params
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut hyperparameters = version.params.clone();
    for key in [
        "dataset",
        "dataset_version",
        "target",
        "features",
        "algorithm",
        "seed",
        "validation_fraction",
    ] {
        hyperparameters.remove(key);
    }
    let mut row = ExperimentRow {
        training_run_id: version.training_run_id.clone(),
        state: None,
        dataset: param_str("dataset"),
        dataset_version: version
            .dataset_digest
            .strip_prefix("sha256:")
            .map(str::to_owned),
        algorithm: param_str("algorithm"),
        hyperparameters,
        seed: version.params.get("seed").and_then(Value::as_i64),
        search_id: None,
        submitted_at: version.created_at.clone(),
        duration_seconds: None,
        model: None,
        version: None,
        aliases: Vec::new(),
        metrics: BTreeMap::new(),
        value: None,
    };
    attach_version(&mut row, version);
    row
}

/// Best first by `metric`; rows without it last, newest first among ties.
fn rank(rows: &mut [ExperimentRow], goal: Goal) {
    rows.sort_by(|a, b| match (a.value, b.value) {
        (Some(x), Some(y)) => {
            let order = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
            let order = match goal {
                Goal::Maximize => order.reverse(),
                Goal::Minimize => order,
            };
            order.then_with(|| b.submitted_at.cmp(&a.submitted_at))
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => b.submitted_at.cmp(&a.submitted_at),
    });
}

pub async fn run(ctx: &SkillContext, input: TrackInput) -> Result<SkillOutcome, SkillError> {
    let model = input
        .model
        .as_deref()
        .map(|m| model_name("model", m))
        .transpose()?;
    let dataset = input
        .dataset
        .as_deref()
        .map(|d| dataset_name("dataset", d))
        .transpose()?;
    let limit = input.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(SkillError::bad_field(
            "limit",
            format!("must be 1-{MAX_LIMIT}, got {limit}"),
        ));
    }
    let metric = input.metric.unwrap_or(MetricName::RocAuc);
    let goal = metric.goal();

    let mut version_query = json!({ "limit": limit });
    if let Some(model) = &model {
        version_query["model"] = json!(model);
    }
    let versions: VersionList = ctx
        .mcp_as(crate::lineage::SERVER, "search_versions", version_query)
        .await?;
    let versions: Vec<VersionRecord> = versions
        .versions
        .into_iter()
        .filter(|v| {
            dataset
                .as_ref()
                .is_none_or(|d| v.params.get("dataset").and_then(Value::as_str) == Some(d.as_str()))
        })
        .collect();

    // Which runs to list: those on the asked dataset, else on the datasets
    // the model's versions were trained on, else all.
    let datasets: Option<BTreeSet<String>> = match (&dataset, &model) {
        (Some(d), _) => Some(BTreeSet::from([d.clone()])),
        (None, Some(_)) => Some(
            versions
                .iter()
                .filter_map(|v| v.params.get("dataset").and_then(Value::as_str))
                .map(str::to_owned)
                .collect(),
        ),
        (None, None) => None,
    };
    let mut jobs: Vec<JobStatus> = Vec::new();
    match &datasets {
        None => {
            let listed: JobList = ctx
                .mcp_as(trainer::SERVER, "list_jobs", json!({ "limit": limit }))
                .await?;
            jobs.extend(listed.jobs);
        }
        Some(names) => {
            for name in names {
                let listed: JobList = ctx
                    .mcp_as(
                        trainer::SERVER,
                        "list_jobs",
                        json!({ "dataset": name, "limit": limit }),
                    )
                    .await?;
                jobs.extend(listed.jobs);
            }
        }
    }
    // Newest first, at most `limit` (several datasets may give more).
    let mut listed_ids = BTreeSet::new();
    jobs.retain(|job| listed_ids.insert(job.job_id.clone()));
    jobs.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at));
    jobs.truncate(limit as usize);
    let runs_listed = jobs.len();

    let by_run: BTreeMap<&str, &VersionRecord> = versions
        .iter()
        .map(|v| (v.training_run_id.as_str(), v))
        .collect();
    let mut rows = Vec::with_capacity(jobs.len() + versions.len());
    let mut seen_runs = BTreeSet::new();
    for job in &jobs {
        ctx.check_canceled()?;
        let mut row = row_from_job(job);
        if job.state == "succeeded" {
            let metrics: JobMetrics = ctx
                .mcp_as(
                    trainer::SERVER,
                    "get_job_metrics",
                    json!({ "job_id": job.job_id }),
                )
                .await?;
            row.metrics = flat_metrics(&metrics.metrics);
        }
        if let Some(version) = by_run.get(job.job_id.as_str()) {
            attach_version(&mut row, version);
        }
        seen_runs.insert(job.job_id.clone());
        rows.push(row);
    }
    for version in &versions {
        if !seen_runs.contains(&version.training_run_id) {
            rows.push(row_from_version(version));
        }
    }
    for row in &mut rows {
        row.value = row.metrics.get(metric.as_str()).copied();
    }
    rank(&mut rows, goal);
    let best = rows.first().filter(|r| r.value.is_some()).cloned();

    let summary = match &best {
        Some(best) => format!(
            "{} runs and {} versions compared; best {} {:.4}: run {}{}",
            runs_listed,
            versions.len(),
            metric.as_str(),
            best.value.unwrap_or(f64::NAN),
            best.training_run_id,
            match (&best.model, best.version) {
                (Some(model), Some(version)) => format!(" ({model} v{version})"),
                _ => " (not registered)".to_owned(),
            }
        ),
        None => format!(
            "{} runs and {} versions found; none reports {}",
            runs_listed,
            versions.len(),
            metric.as_str()
        ),
    };
    let output = TrackOutput {
        metric,
        goal,
        rows,
        best,
        runs_listed,
        versions_listed: versions.len(),
    };
    Ok(SkillOutcome::single("experiments", output, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, value: Option<f64>, at: &str) -> ExperimentRow {
        ExperimentRow {
            training_run_id: id.into(),
            state: Some("succeeded".into()),
            dataset: None,
            dataset_version: None,
            algorithm: None,
            hyperparameters: Map::new(),
            seed: None,
            search_id: None,
            submitted_at: Some(at.into()),
            duration_seconds: None,
            model: None,
            version: None,
            aliases: Vec::new(),
            metrics: BTreeMap::new(),
            value,
        }
    }

    #[test]
    fn ranking_puts_the_best_first_and_unscored_last() {
        let mut rows = vec![
            row("a", Some(0.7), "1"),
            row("b", None, "3"),
            row("c", Some(0.9), "2"),
            row("d", Some(0.9), "4"),
        ];
        rank(&mut rows, Goal::Maximize);
        let order: Vec<&str> = rows.iter().map(|r| r.training_run_id.as_str()).collect();
        assert_eq!(order, ["d", "c", "a", "b"], "ties go to the newest");
        rank(&mut rows, Goal::Minimize);
        let order: Vec<&str> = rows.iter().map(|r| r.training_run_id.as_str()).collect();
        assert_eq!(order, ["a", "d", "c", "b"]);
    }

    #[test]
    fn a_version_row_reads_its_params() {
        let version: VersionRecord = serde_json::from_value(json!({
            "model": "fraud-detector", "version": 2,
            "params": {"dataset": "transactions", "algorithm": "random_forest", "seed": 3,
                       "n_trees": 10, "features": ["a"], "target": "y"},
            "metrics": {"roc_auc": 0.8},
            "dataset_digest": format!("sha256:{}", "ab".repeat(32)),
            "training_run_id": "run-1", "aliases": ["champion"],
            "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let row = row_from_version(&version);
        assert_eq!(row.dataset.as_deref(), Some("transactions"));
        assert_eq!(row.dataset_version, Some("ab".repeat(32)));
        assert_eq!(
            row.hyperparameters,
            json!({"n_trees": 10}).as_object().cloned().unwrap()
        );
        assert_eq!(row.metrics["roc_auc"], 0.8);
        assert_eq!(row.version, Some(2));
        assert_eq!(row.aliases, ["champion"]);
    }
}
