//! The trainer MCP server: training jobs on dataset versions, their progress,
//! logs, metrics and artifacts, and hyperparameter searches.
//!
//! Jobs are rows in Postgres (`trainer` schema) and run on a
//! [`TrainingBackend`]; the default trains in process with `mlops-models`
//! and writes the artifact to the object store at
//! `models/{job_id}/model.json` (URI `storage://models/{job_id}/model.json`).
//! The same dataset, columns, algorithm and seed give a byte-identical
//! artifact.
//!
//! Scopes (ARCHITECTURE §4): submitting jobs and searches needs
//! `trainer:run` (the training agent); every read needs `trainer:read`
//! (training and cost agents).

mod features;
mod in_process;
mod runner;
mod search;
mod store;

use std::sync::Arc;
use std::time::Duration;

use mlops_mcp_kit::{
    AuditLog, Caller, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema, require_scope,
};
use mlops_mcp_storage::{DatasetStore, keys};
use mlops_models::{ALGORITHM_NAMES, Algorithm};
use mlops_service_auth::access::scope::{TRAINER_READ, TRAINER_RUN};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, Implementation, JsonObject, ListResourceTemplatesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

pub use features::ColumnSelection;
pub use in_process::{BACKEND as IN_PROCESS_BACKEND, InProcessBackend, JobMetrics, artifact_uri};
pub use runner::{
    ProgressReporter, RunnerConfig, RunnerHandle, TrainingBackend, TrainingJob, TrainingOutcome,
};
pub use store::{JobFilter, JobRecord, JobStore, LogLine, SearchRecord};

use search::{MetricGoal, Strategy};
use store::{NewJob, NewSearch, STATES, SubmitError};

/// The server's name: the audience of its tokens and its audit label.
pub const SERVER: &str = "trainer";

const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;
const MAX_WAIT_SECONDS: u32 = 300;
const DEFAULT_SEARCH_WAIT_SECONDS: u32 = 60;

/// Which scope each tool needs.
pub fn policy() -> ToolPolicy {
    ToolPolicy::new(&[
        ("submit_training_job", TRAINER_RUN),
        ("run_hyperparameter_search", TRAINER_RUN),
        ("get_job_status", TRAINER_READ),
        ("get_job_logs", TRAINER_READ),
        ("get_job_metrics", TRAINER_READ),
        ("list_jobs", TRAINER_READ),
        ("get_hyperparameter_search", TRAINER_READ),
    ])
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitTrainingJob {
    /// Dataset name, e.g. "transactions".
    pub dataset: String,
    /// Dataset version: its 64-hex content hash ("sha256:" prefix allowed).
    pub version: String,
    /// The label column: Boolean, or an integer column of 0/1.
    pub target: String,
    /// Feature columns (numeric or Boolean). Default: every numeric or
    /// Boolean column except the target and `exclude`.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Columns never to use as features, e.g. ids.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// "logistic_regression" or "random_forest".
    pub algorithm: String,
    /// logistic_regression: l2 (>= 0, default 1). random_forest: n_trees
    /// (1-500, default 50), max_depth (1-32, default 6), min_samples_split
    /// (>= 2, default 2), min_samples_leaf (>= 1, default 1),
    /// feature_fraction ((0, 1], default 0.7).
    #[serde(default)]
    pub hyperparameters: Map<String, Value>,
    /// Seeds the train/validation split and the algorithm (default 0). The
    /// same seed on the same data gives the same model, byte for byte.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Share of rows held out for validation metrics, 0.05-0.5 (default 0.2).
    #[serde(default)]
    pub validation_fraction: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunHyperparameterSearch {
    /// Dataset name.
    pub dataset: String,
    /// Dataset version (64-hex content hash).
    pub version: String,
    /// The label column.
    pub target: String,
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// "logistic_regression" or "random_forest".
    pub algorithm: String,
    /// Hyperparameter → a list of values (grid or random) or, for random
    /// search, a range {"min": 1, "max": 10} (integers when both ends are)
    /// or {"min": 0.001, "max": 10, "log": true}. A lone value is fixed.
    pub space: Map<String, Value>,
    /// "grid" (every combination, default) or "random".
    #[serde(default)]
    pub strategy: Option<String>,
    /// Random search: how many trials (1-50, default 10).
    #[serde(default)]
    pub trials: Option<u32>,
    /// Validation metric to pick the best trial by: roc_auc (default),
    /// accuracy, precision, recall, f1, or log_loss (lower is better).
    #[serde(default)]
    pub metric: Option<String>,
    /// Seeds the random draws, the split and every trial's fit (default 0);
    /// all trials share the split so they compare fairly.
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub validation_fraction: Option<f64>,
    /// Wait up to this many seconds (0-300, default 60) for the trials to
    /// finish before answering; get_hyperparameter_search follows up.
    #[serde(default)]
    pub wait_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    /// The job id (a UUID).
    pub job_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetJobLogs {
    pub job_id: String,
    /// Lines after this sequence number (default 0: from the start).
    #[serde(default)]
    pub after_seq: Option<u32>,
    /// At most this many lines (1-1000, default 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListJobs {
    /// queued, running, succeeded or failed.
    #[serde(default)]
    pub state: Option<String>,
    /// Only jobs on this dataset.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Only the trials of this search.
    #[serde(default)]
    pub search_id: Option<String>,
    /// At most this many (1-200, default 50), newest first.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRef {
    /// The search id (a UUID).
    pub search_id: String,
}

/// Limits and the backend new jobs go to.
#[derive(Debug, Clone)]
pub struct TrainerSettings {
    /// Most jobs waiting in the queue; submissions beyond it are refused.
    pub max_queued: usize,
    /// The backend new jobs are recorded for.
    pub backend: &'static str,
    pub runner: RunnerConfig,
}

impl Default for TrainerSettings {
    fn default() -> Self {
        TrainerSettings {
            max_queued: 64,
            backend: in_process::BACKEND,
            runner: RunnerConfig::default(),
        }
    }
}

/// The trainer server: one per connection; cheap to clone. The job runner
/// is started once per process with [`TrainerServer::spawn_runner`].
#[derive(Clone)]
pub struct TrainerServer {
    kit: Arc<ToolKit>,
    datasets: DatasetStore,
    jobs: JobStore,
    settings: Arc<TrainerSettings>,
    wake: Arc<Notify>,
    tool_router: ToolRouter<Self>,
}

/// What submit and search share, as given.
struct JobInput<'a> {
    dataset: &'a str,
    version: &'a str,
    target: &'a str,
    features: Option<&'a [String]>,
    exclude: &'a [String],
    seed: Option<u64>,
    validation_fraction: Option<f64>,
}

/// What submit and search share once checked: the dataset and columns.
struct CheckedInput {
    dataset: String,
    version: String,
    selection: ColumnSelection,
    seed: i64,
    validation_fraction: f64,
}

impl TrainerServer {
    /// A server reading datasets from `datasets` (the shared object store)
    /// and keeping jobs in `pool`, auditing every call there too.
    pub fn new(datasets: DatasetStore, pool: PgPool) -> Self {
        let kit = ToolKit::new(SERVER, policy(), Some(AuditLog::new(pool.clone(), SERVER)));
        TrainerServer {
            kit: Arc::new(kit),
            datasets,
            jobs: JobStore::new(pool),
            settings: Arc::new(TrainerSettings::default()),
            wake: Arc::new(Notify::new()),
            tool_router: Self::tool_router(),
        }
    }

    pub fn with_settings(mut self, settings: TrainerSettings) -> Self {
        self.settings = Arc::new(settings);
        self
    }

    pub fn kit(&self) -> &ToolKit {
        &self.kit
    }

    pub fn jobs(&self) -> &JobStore {
        &self.jobs
    }

    /// Starts this process's job runner with the in-process backend. Call
    /// once per process; it first fails jobs orphaned by a dead runner.
    pub fn spawn_runner(&self) -> RunnerHandle {
        self.spawn_runner_with(Arc::new(InProcessBackend::new(self.datasets.clone())))
    }

    /// Starts a job runner with another backend (its name should be the
    /// settings' `backend`, or it claims nothing new).
    pub fn spawn_runner_with(&self, backend: Arc<dyn TrainingBackend>) -> RunnerHandle {
        runner::spawn_runner(
            self.jobs.clone(),
            backend,
            self.settings.runner.clone(),
            self.wake.clone(),
        )
    }

    /// Checks the dataset version exists and the columns fit it.
    async fn check_input(&self, input: JobInput<'_>) -> Result<CheckedInput, ToolError> {
        let JobInput {
            dataset,
            version,
            target,
            features,
            exclude,
            seed,
            validation_fraction,
        } = input;
        let name = keys::dataset_name(dataset)?;
        let version = keys::dataset_version(version)?;
        let seed = seed.unwrap_or(0);
        let seed = i64::try_from(seed).map_err(|_| {
            ToolError::Invalid(format!("seed {seed} is too large; use 0-{}", i64::MAX))
        })?;
        let validation_fraction = validation_fraction.unwrap_or(DEFAULT_VALIDATION_FRACTION);
        if !(0.05..=0.5).contains(&validation_fraction) {
            return Err(ToolError::Invalid(format!(
                "validation_fraction must be between 0.05 and 0.5, got {validation_fraction}"
            )));
        }
        let manifest = self.datasets.manifest(&name, &version).await?;
        let selection =
            features::select_columns(&name, &manifest.columns, target, features, exclude)?;
        Ok(CheckedInput {
            dataset: name,
            version,
            selection,
            seed,
            validation_fraction,
        })
    }

    fn new_job(
        &self,
        input: &CheckedInput,
        algorithm: Algorithm,
        trial: Option<i32>,
        caller: &Caller,
    ) -> NewJob {
        NewJob {
            id: Uuid::now_v7(),
            dataset_name: input.dataset.clone(),
            dataset_version: input.version.clone(),
            target: input.selection.target.clone(),
            features: input.selection.features.clone(),
            algorithm,
            seed: input.seed,
            validation_fraction: input.validation_fraction,
            backend: self.settings.backend.to_owned(),
            trial_index: trial,
            submitted_by: caller.id(),
        }
    }

    async fn submit(&self, search: Option<&NewSearch>, jobs: &[NewJob]) -> Result<(), ToolError> {
        self.jobs
            .submit(search, jobs, self.settings.max_queued)
            .await
            .map_err(|e| match e {
                full @ SubmitError::QueueFull { .. } => ToolError::Conflict(full.to_string()),
                SubmitError::Database(e) => ToolError::internal("queue the job", e),
            })?;
        self.wake.notify_one();
        Ok(())
    }

    async fn job(&self, raw_id: &str) -> Result<JobRecord, ToolError> {
        let id = parse_id("job_id", raw_id)?;
        self.jobs
            .get(id)
            .await
            .map_err(|e| ToolError::internal("read the job", e))?
            .ok_or_else(|| ToolError::NotFound(format!("no training job {id}")))
    }

    async fn search_report(&self, raw_id: &str) -> Result<(SearchRecord, Value), ToolError> {
        let id = parse_id("search_id", raw_id)?;
        let search = self
            .jobs
            .search(id)
            .await
            .map_err(|e| ToolError::internal("read the search", e))?
            .ok_or_else(|| ToolError::NotFound(format!("no hyperparameter search {id}")))?;
        let trials = self
            .jobs
            .list(&JobFilter {
                search_id: Some(id),
                limit: search::MAX_TRIALS as i64,
                ..JobFilter::default()
            })
            .await
            .map_err(|e| ToolError::internal("read the search's trials", e))?;
        let report = search_report(&search, &trials)?;
        Ok((search, report))
    }
}

fn parse_id(what: &str, raw: &str) -> Result<Uuid, ToolError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| ToolError::Invalid(format!("{what} {raw:?} is not a UUID")))
}

/// The algorithm name and hyperparameters as one checked spec.
fn algorithm_spec(
    name: &str,
    hyperparameters: &Map<String, Value>,
) -> Result<Algorithm, ToolError> {
    if !ALGORITHM_NAMES.contains(&name) {
        return Err(ToolError::Invalid(format!(
            "unknown algorithm {name:?}; use one of {}",
            ALGORITHM_NAMES.join(", ")
        )));
    }
    if hyperparameters.contains_key("algorithm") {
        return Err(ToolError::Invalid(
            "`algorithm` is not a hyperparameter; name it in the `algorithm` argument".into(),
        ));
    }
    let mut spec = hyperparameters.clone();
    spec.insert("algorithm".into(), Value::String(name.to_owned()));
    Algorithm::from_json(&Value::Object(spec)).map_err(|e| ToolError::Invalid(e.to_string()))
}

/// A job as `get_job_status` shows it (metrics are `get_job_metrics`'s).
fn status_of(job: &JobRecord) -> Value {
    let mut value = serde_json::to_value(job).unwrap_or_else(|e| json!({ "error": e.to_string() }));
    if let Value::Object(map) = &mut value {
        map.remove("metrics");
        map.insert("job_id".into(), json!(job.id));
        map.insert("dataset_digest".into(), json!(job.dataset_digest()));
        map.insert("duration_seconds".into(), json!(job.duration_seconds()));
    }
    value
}

fn status_line(job: &JobRecord) -> String {
    let algorithm = job.algorithm["algorithm"].as_str().unwrap_or("?");
    match job.state.as_str() {
        "queued" => format!("job {} ({algorithm}) is queued", job.id),
        "running" => format!(
            "job {} ({algorithm}) is running: {:.0}%",
            job.id,
            job.progress * 100.0
        ),
        "succeeded" => format!(
            "job {} ({algorithm}) succeeded: {}",
            job.id,
            job.artifact_uri.as_deref().unwrap_or("no artifact")
        ),
        _ => format!(
            "job {} ({algorithm}) failed: {}",
            job.id,
            job.error.as_deref().unwrap_or("no error recorded")
        ),
    }
}

/// A validation metric of a finished job.
fn validation_metric(job: &JobRecord, metric: &str) -> Option<f64> {
    job.metrics
        .as_ref()?
        .get("validation")?
        .get(metric)?
        .as_f64()
}

fn search_report(search: &SearchRecord, trials: &[JobRecord]) -> Result<Value, ToolError> {
    let goal = search::metric_direction(&search.metric)?;
    let scores: Vec<(usize, f64)> = trials
        .iter()
        .enumerate()
        .filter(|(_, t)| t.state == "succeeded")
        .filter_map(|(i, t)| validation_metric(t, &search.metric).map(|v| (i, v)))
        .collect();
    let best = search::best_trial(&scores, goal).map(|i| &trials[i]);
    let finished = trials.iter().filter(|t| t.is_finished()).count();
    let succeeded = trials.iter().filter(|t| t.state == "succeeded").count();
    let state = if finished < trials.len() {
        "running"
    } else if succeeded > 0 {
        "succeeded"
    } else {
        "failed"
    };
    Ok(json!({
        "search_id": search.id,
        "state": state,
        "dataset": search.dataset_name,
        "version": search.dataset_version,
        "target": search.target,
        "algorithm": search.algorithm,
        "strategy": search.strategy,
        "space": search.space,
        "metric": search.metric,
        "goal": match goal { MetricGoal::Maximize => "maximize", MetricGoal::Minimize => "minimize" },
        "seed": search.seed,
        "trials_total": trials.len(),
        "trials_finished": finished,
        "trials_succeeded": succeeded,
        "trials": trials.iter().map(|t| json!({
            "job_id": t.id,
            "trial_index": t.trial_index,
            "algorithm": t.algorithm,
            "state": t.state,
            "progress": t.progress,
            "value": validation_metric(t, &search.metric),
            "error": t.error,
        })).collect::<Vec<_>>(),
        "best": best.map(|t| json!({
            "job_id": t.id,
            "trial_index": t.trial_index,
            "algorithm": t.algorithm,
            "value": validation_metric(t, &search.metric),
            "artifact_uri": t.artifact_uri,
            "artifact_sha256": t.artifact_sha256,
        })),
    }))
}

fn search_line(report: &Value) -> String {
    let metric = report["metric"].as_str().unwrap_or("?");
    let progress = format!(
        "search {}: {}/{} trials finished",
        report["search_id"].as_str().unwrap_or("?"),
        report["trials_finished"],
        report["trials_total"]
    );
    match report.get("best").filter(|b| !b.is_null()) {
        Some(best) => format!(
            "{progress}; best so far trial {} ({metric} {:.4}) {}",
            best["trial_index"],
            best["value"].as_f64().unwrap_or(f64::NAN),
            best["algorithm"]
        ),
        None => format!("{progress}; no trial has succeeded yet"),
    }
}

#[tool_router]
impl TrainerServer {
    /// Queues a training job: an algorithm with hyperparameters fitted on a
    /// dataset version, seeded. Returns the job id; poll get_job_status.
    #[tool(name = "submit_training_job", input_schema = input_schema::<SubmitTrainingJob>())]
    async fn submit_training_job(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "submit_training_job",
                raw,
                async |args: SubmitTrainingJob, caller: &Caller| {
                    let algorithm = algorithm_spec(&args.algorithm, &args.hyperparameters)?;
                    let input = self
                        .check_input(JobInput {
                            dataset: &args.dataset,
                            version: &args.version,
                            target: &args.target,
                            features: args.features.as_deref(),
                            exclude: &args.exclude,
                            seed: args.seed,
                            validation_fraction: args.validation_fraction,
                        })
                        .await?;
                    let job = self.new_job(&input, algorithm, None, caller);
                    self.submit(None, std::slice::from_ref(&job)).await?;
                    Ok(ToolOutput::new(
                        format!(
                            "queued job {}: {} on {}@{} predicting {} from {} features",
                            job.id,
                            job.algorithm.name(),
                            job.dataset_name,
                            job.dataset_version,
                            job.target,
                            job.features.len()
                        ),
                        json!({
                            "job_id": job.id,
                            "state": "queued",
                            "dataset": job.dataset_name,
                            "version": job.dataset_version,
                            "dataset_digest": format!("sha256:{}", job.dataset_version),
                            "target": job.target,
                            "features": job.features,
                            "algorithm": job.algorithm,
                            "seed": job.seed,
                            "validation_fraction": job.validation_fraction,
                            "backend": job.backend,
                        }),
                    ))
                },
            )
            .await
    }

    /// A job's state, progress, timings and artifact URI.
    #[tool(name = "get_job_status", input_schema = input_schema::<JobRef>())]
    async fn get_job_status(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_job_status",
                raw,
                async |args: JobRef, _caller: &Caller| {
                    let job = self.job(&args.job_id).await?;
                    Ok(ToolOutput::new(status_line(&job), status_of(&job)))
                },
            )
            .await
    }

    /// A job's log lines in order, paged by sequence number.
    #[tool(name = "get_job_logs", input_schema = input_schema::<GetJobLogs>())]
    async fn get_job_logs(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_job_logs",
                raw,
                async |args: GetJobLogs, _caller: &Caller| {
                    let limit = args.limit.unwrap_or(200);
                    if !(1..=1000).contains(&limit) {
                        return Err(ToolError::Invalid(format!(
                            "limit {limit} must be between 1 and 1000"
                        )));
                    }
                    let after = i32::try_from(args.after_seq.unwrap_or(0)).map_err(|_| {
                        ToolError::Invalid("after_seq is larger than any sequence number".into())
                    })?;
                    let job = self.job(&args.job_id).await?;
                    let mut lines = self
                        .jobs
                        .logs(job.id, after, i64::from(limit) + 1)
                        .await
                        .map_err(|e| ToolError::internal("read the job's logs", e))?;
                    let more = lines.len() > limit as usize;
                    lines.truncate(limit as usize);
                    let next = lines.last().map_or(after, |l| l.seq);
                    Ok(ToolOutput::new(
                        format!(
                            "{} log lines of job {} ({}){}",
                            lines.len(),
                            job.id,
                            job.state,
                            if more { "; more follow" } else { "" }
                        ),
                        json!({
                            "job_id": job.id,
                            "state": job.state,
                            "lines": lines,
                            "next_after_seq": next,
                            "more": more,
                        }),
                    ))
                },
            )
            .await
    }

    /// Validation and training metrics of a succeeded job (accuracy,
    /// precision, recall, f1, roc_auc, log_loss, confusion counts).
    #[tool(name = "get_job_metrics", input_schema = input_schema::<JobRef>())]
    async fn get_job_metrics(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_job_metrics",
                raw,
                async |args: JobRef, _caller: &Caller| {
                    let job = self.job(&args.job_id).await?;
                    let metrics = match (job.state.as_str(), &job.metrics) {
                        ("succeeded", Some(metrics)) => metrics.clone(),
                        ("failed", _) => {
                            return Err(ToolError::Conflict(format!(
                                "job {} failed, so it has no metrics: {}",
                                job.id,
                                job.error.as_deref().unwrap_or("no error recorded")
                            )));
                        }
                        (state, _) => {
                            return Err(ToolError::Conflict(format!(
                                "job {} is {state} ({:.0}%); metrics are recorded when it succeeds",
                                job.id,
                                job.progress * 100.0
                            )));
                        }
                    };
                    let auc = validation_metric(&job, "roc_auc");
                    Ok(ToolOutput::new(
                        format!(
                            "job {} validation roc_auc {}, accuracy {}",
                            job.id,
                            auc.map_or("n/a".into(), |v| format!("{v:.4}")),
                            validation_metric(&job, "accuracy")
                                .map_or("n/a".into(), |v| format!("{v:.4}"))
                        ),
                        json!({
                            "job_id": job.id,
                            "algorithm": job.algorithm,
                            "dataset_digest": job.dataset_digest(),
                            "seed": job.seed,
                            "artifact_uri": job.artifact_uri,
                            "metrics": metrics,
                        }),
                    ))
                },
            )
            .await
    }

    /// Jobs, newest first, by state, dataset or search.
    #[tool(name = "list_jobs", input_schema = input_schema::<ListJobs>())]
    async fn list_jobs(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "list_jobs",
                raw,
                async |args: ListJobs, _caller: &Caller| {
                    let limit = args.limit.unwrap_or(50);
                    if !(1..=200).contains(&limit) {
                        return Err(ToolError::Invalid(format!(
                            "limit {limit} must be between 1 and 200"
                        )));
                    }
                    if let Some(state) = &args.state
                        && !STATES.contains(&state.as_str())
                    {
                        return Err(ToolError::Invalid(format!(
                            "state {state:?} is not known; use one of {}",
                            STATES.join(", ")
                        )));
                    }
                    let dataset = args
                        .dataset
                        .as_deref()
                        .map(keys::dataset_name)
                        .transpose()?;
                    let search_id = args
                        .search_id
                        .as_deref()
                        .map(|raw| parse_id("search_id", raw))
                        .transpose()?;
                    let jobs = self
                        .jobs
                        .list(&JobFilter {
                            state: args.state,
                            dataset_name: dataset,
                            search_id,
                            limit: i64::from(limit),
                        })
                        .await
                        .map_err(|e| ToolError::internal("list jobs", e))?;
                    Ok(ToolOutput::new(
                        format!("{} jobs", jobs.len()),
                        json!({ "jobs": jobs.iter().map(status_of).collect::<Vec<_>>() }),
                    ))
                },
            )
            .await
    }

    /// Runs a grid or seeded random search: one training job per trial on
    /// the same split, then names the best trial by a validation metric.
    /// Waits up to wait_seconds for the trials.
    #[tool(name = "run_hyperparameter_search", input_schema = input_schema::<RunHyperparameterSearch>())]
    async fn run_hyperparameter_search(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "run_hyperparameter_search",
                raw,
                async |args: RunHyperparameterSearch, caller: &Caller| {
                    algorithm_spec(&args.algorithm, &Map::new())?;
                    let strategy = Strategy::parse(args.strategy.as_deref().unwrap_or("grid"))?;
                    let metric = args.metric.clone().unwrap_or_else(|| "roc_auc".into());
                    search::metric_direction(&metric)?;
                    let wait = args.wait_seconds.unwrap_or(DEFAULT_SEARCH_WAIT_SECONDS);
                    if wait > MAX_WAIT_SECONDS {
                        return Err(ToolError::Invalid(format!(
                            "wait_seconds must be 0-{MAX_WAIT_SECONDS}, got {wait}"
                        )));
                    }
                    let input = self
                        .check_input(JobInput {
                            dataset: &args.dataset,
                            version: &args.version,
                            target: &args.target,
                            features: args.features.as_deref(),
                            exclude: &args.exclude,
                            seed: args.seed,
                            validation_fraction: args.validation_fraction,
                        })
                        .await?;
                    let trials = search::plan_trials(
                        &args.algorithm,
                        &args.space,
                        strategy,
                        args.trials,
                        input.seed as u64,
                    )?;
                    let new_search = NewSearch {
                        id: Uuid::now_v7(),
                        dataset_name: input.dataset.clone(),
                        dataset_version: input.version.clone(),
                        target: input.selection.target.clone(),
                        algorithm: args.algorithm.clone(),
                        strategy: strategy.as_str().into(),
                        space: Value::Object(args.space.clone()),
                        metric,
                        seed: input.seed,
                        submitted_by: caller.id(),
                    };
                    let jobs: Vec<NewJob> = trials
                        .into_iter()
                        .enumerate()
                        .map(|(i, algorithm)| {
                            self.new_job(&input, algorithm, Some(i as i32), caller)
                        })
                        .collect();
                    self.submit(Some(&new_search), &jobs).await?;

                    let deadline =
                        tokio::time::Instant::now() + Duration::from_secs(u64::from(wait));
                    let search_id = new_search.id.to_string();
                    loop {
                        let (_, report) = self.search_report(&search_id).await?;
                        let done = report["state"] != "running";
                        if done || tokio::time::Instant::now() >= deadline {
                            return Ok(ToolOutput::new(search_line(&report), report));
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                },
            )
            .await
    }

    /// A search's trials with their metric, and the best trial so far.
    #[tool(name = "get_hyperparameter_search", input_schema = input_schema::<SearchRef>())]
    async fn get_hyperparameter_search(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_hyperparameter_search",
                raw,
                async |args: SearchRef, _caller: &Caller| {
                    let (_, report) = self.search_report(&args.search_id).await?;
                    Ok(ToolOutput::new(search_line(&report), report))
                },
            )
            .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TrainerServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "mlops-trainer",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "Training jobs on dataset versions: submit a job (logistic_regression or \
                 random_forest, seeded), poll its status, read its logs and validation metrics, \
                 and run grid or random hyperparameter searches. Artifacts are written to \
                 storage://models/{job_id}/model.json.",
        )
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("trainer://jobs/{job_id}", "training job"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        require_scope(&ctx, TRAINER_READ, "read training jobs")?;
        let id = request.uri.strip_prefix("trainer://jobs/").ok_or_else(|| {
            ErrorData::resource_not_found(
                format!(
                    "no resource {:?}; try trainer://jobs/{{job_id}}",
                    request.uri
                ),
                None,
            )
        })?;
        let job = self.job(id).await.map_err(|e| match e {
            ToolError::NotFound(m) => ErrorData::resource_not_found(m, None),
            ToolError::Invalid(m) => ErrorData::invalid_params(m, None),
            other => ErrorData::internal_error(other.to_string(), None),
        })?;
        let mut body = status_of(&job);
        if let Value::Object(map) = &mut body {
            map.insert("metrics".into(), job.metrics.clone().unwrap_or(Value::Null));
        }
        let text = serde_json::to_string_pretty(&body)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri.clone())]).into())
    }
}
