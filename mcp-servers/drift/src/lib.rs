//! The drift MCP server: data drift reports that choose and score tests as
//! Evidently 0.7 does, model performance and fairness reports, all
//! persisted in Postgres (`drift` schema) and readable as `reports://{id}`.
//!
//! Scopes (ARCHITECTURE §4): the `run_*` tools need `drift:run`;
//! `list_reports`, `get_report` and the `reports://` resources need
//! `drift:read`. The validation and monitoring agents hold both; the control
//! plane reads.
//!
//! The statistics are also a library: [`drift_report`] compares two Arrow
//! record batches with no server or database.
//!
//! # Data drift: the rules
//!
//! These follow Evidently 0.7's `DataDriftPreset` (its legacy stattests
//! registry) and the scipy functions it calls; `tests/scipy_parity.rs`
//! checks every score against scipy to 1e-9 relative and every flag exactly,
//! and against Evidently itself when `MLOPS_EVIDENTLY_PYTHON` is set.
//!
//! **Columns.** By default every column of the current data that the
//! reference also has. Nulls, NaN and ±∞ are dropped first (a column with no
//! values left is skipped, or an error when named in `columns`).
//!
//! **Column type**, inferred from the current data as pandas would load it:
//! floats are *numerical*; integers are *categorical* when they have at most
//! 10 distinct values and *numerical* otherwise, except that an integer
//! column with nulls is numerical (pandas loads it as float); booleans and
//! dictionary-encoded strings are *categorical*; strings are *categorical*
//! unless more than half of the current values are distinct, which
//! Evidently calls *text*. Evidently's text drift is a trained-classifier
//! method this server does not offer, so text columns are skipped with that
//! reason, or compared as categorical when named in `columns`. Other types
//! (dates, lists, binary) are skipped.
//!
//! **Default test**, with n = distinct values in reference ∪ current:
//!
//! | reference rows | numerical | categorical |
//! |---|---|---|
//! | ≤ 1000 | n ≤ 2: `z`; 3 ≤ n ≤ 5: `chisquare`; n > 5: `ks` | n ≤ 2: `z`; else `chisquare` |
//! | > 1000 | n ≤ 5: `jensenshannon`; else `wasserstein` | `jensenshannon` |
//!
//! An explicit `stattest` or `per_column_stattest` must suit the column
//! type: `ks` and `wasserstein` are numerical only, `chisquare` and `z`
//! categorical only (the default rule may still pick them for a numerical
//! column with few values, as Evidently does), the others fit both.
//!
//! **Tests**, each with its score, default threshold and drift condition:
//!
//! | test | score | default threshold | drift when |
//! |---|---|---|---|
//! | `ks` | two-sample Kolmogorov–Smirnov p-value (scipy `ks_2samp`, two-sided, exact when both samples have ≤ 10 000 values, else the `kstwo` asymptotic) | 0.05 | p ≤ threshold |
//! | `chisquare` | p-value of Pearson's chi-square of the current counts against the reference shares × current size, k − 1 degrees of freedom (a category the reference lacks gives p = 0) | 0.05 | p < threshold |
//! | `z` | two-proportion Z test p-value 2(1 − Φ(\|z\|)) of "not the first category (sorted)"; 1 when both sides hold one and the same value | 0.05 | p < threshold |
//! | `wasserstein` | Wasserstein-1 distance / max(reference population std, 0.001) | 0.1 | score ≥ threshold |
//! | `jensenshannon` | Jensen–Shannon distance (natural log, scipy `jensenshannon`) of binned shares | 0.1 | score ≥ threshold |
//! | `psi` | Σ (r − c) ln(r / c) over binned shares | 0.1 | score ≥ threshold |
//! | `kl_div` | KL(reference ‖ current) of binned shares (scipy `entropy`) | 0.1 | score ≥ threshold |
//! | `hellinger` | √(1 − Σ√(r c)) over value shares (categorical) or over density histograms on Sturges edges of the distinct values (numerical) | 0.1 | score ≥ threshold |
//!
//! **Binning** for `jensenshannon`, `psi` and `kl_div`: a numerical column
//! with more than 20 distinct reference values is cut into Sturges bins
//! (numpy `histogram_bin_edges(reference ∪ current, "sturges")`: ⌈log₂ N⌉+1
//! equal bins, at least 1 wide for integer data); otherwise each distinct
//! value is a bin. Shares are count / rows. For `psi` and `kl_div` an empty
//! share becomes min(non-zero share)/10⁶ when that minimum is ≤ 0.0001,
//! else 0.0001, on each side separately; `jensenshannon` uses the raw shares.
//!
//! **Thresholds**: `per_column_stattest_threshold`, else
//! `stattest_threshold`, else the test's default. A threshold is a positive
//! number, below 1 for a p-value test.
//!
//! **Dataset drift**: the share of drifted columns ≥ `drift_share`
//! (default 0.5).
//!
//! Each column also carries a histogram (10 equal-width bins over the pooled
//! range, or the 50 most frequent categories) and per-side counts.
//!
//! **Where this departs from Evidently**, on purpose: text columns are
//! skipped (see above) instead of running Evidently's text-content
//! classifier; a column only one dataset has, or one with no values left,
//! is listed in `skipped_columns` where Evidently would fail the whole
//! report; a boolean column with nulls is compared as categorical where
//! pandas' object dtype would make Evidently ignore it. And where it cannot
//! match bit for bit: values are compared as f64, so Float32/Float16
//! columns (which numpy would bin in their own precision) and integers
//! beyond 2⁵³ may differ in the last bits.
//!
//! # Prediction logs
//!
//! The current data may be a window of a model's prediction log instead of
//! a dataset; see [`prediction_log`] for the segment layout the traffic
//! routers write. Feature columns (not starting with `_`) are compared.

mod columns;
pub mod evaluation;
pub mod kolmogorov;
pub mod prediction_log;
pub mod predictions;
mod radix;
pub mod report;
mod special;
mod stattest;
mod store;

pub mod fairness;
pub mod performance;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use chrono::{DateTime, Utc};
use mlops_mcp_kit::{
    AuditLog, Caller, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema, require_scope,
};
use mlops_mcp_storage::DatasetStore;
use mlops_service_auth::access::scope::{DRIFT_READ, DRIFT_RUN};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, Implementation, JsonObject, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub use columns::{Histogram, SideSummary};
pub use report::{
    ColumnDrift, DriftError, DriftOptions, DriftReport, SkippedColumn, TestChoice, drift_report,
    drift_report_batches,
};
pub use stattest::{ColumnType, ScoreKind, StatTest};
pub use store::{ReportKind, ReportQuery, ReportStore, ReportSummary, StoredReport};

use prediction_log::LogWindow;

/// The server's name: the audience of its tokens and its audit label.
pub const SERVER: &str = "drift";

/// Which scope each tool needs.
pub fn policy() -> ToolPolicy {
    ToolPolicy::new(&[
        ("run_drift_report", DRIFT_RUN),
        ("run_model_performance_report", DRIFT_RUN),
        ("run_fairness_report", DRIFT_RUN),
        ("list_reports", DRIFT_READ),
        ("get_report", DRIFT_READ),
        ("prediction_distribution", DRIFT_READ),
    ])
}

/// A dataset version on the storage server's object store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRef {
    /// Dataset name, e.g. "transactions".
    pub dataset: String,
    /// The version: its sha256 content hash, with or without "sha256:".
    pub version: String,
}

/// A window of a model's prediction log.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictionLogRef {
    /// The model whose traffic was logged.
    pub model: String,
    /// Start of the window (inclusive), RFC 3339, e.g. "2026-11-23T00:00:00Z".
    pub since: String,
    /// End of the window (exclusive), RFC 3339; default now. At most 92 days after `since`.
    #[serde(default)]
    pub until: Option<String>,
}

/// The data to compare with the reference: a dataset version, or a window
/// of the prediction log.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrentData {
    /// Dataset name; give it with `version`, or give `prediction_log`.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Dataset version (sha256 content hash).
    #[serde(default)]
    pub version: Option<String>,
    /// A window of a model's prediction log.
    #[serde(default)]
    pub prediction_log: Option<PredictionLogRef>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunDriftReport {
    /// The model the report is about (default: the prediction log's model).
    #[serde(default)]
    pub model: Option<String>,
    /// The reference data, usually the training dataset version.
    pub reference: DatasetRef,
    /// The data to check for drift.
    pub current: CurrentData,
    /// Only these columns; default every column the current data and the reference share.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// One test for every column instead of Evidently's choice per column.
    #[serde(default)]
    pub stattest: Option<StatTest>,
    /// A test per column, by column name; wins over `stattest`.
    #[serde(default)]
    pub per_column_stattest: Option<BTreeMap<String, StatTest>>,
    /// One threshold for every column instead of each test's default
    /// (0.05 for p-values, 0.1 for distances).
    #[serde(default)]
    pub stattest_threshold: Option<f64>,
    /// A threshold per column, by column name; wins over `stattest_threshold`.
    #[serde(default)]
    pub per_column_stattest_threshold: Option<BTreeMap<String, f64>>,
    /// The dataset drifts when at least this share of columns drift (0-1, default 0.5).
    #[serde(default)]
    pub drift_share: Option<f64>,
}

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Classification,
    Regression,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunModelPerformanceReport {
    #[serde(default)]
    pub model: Option<String>,
    /// Dataset name of the labelled predictions.
    pub dataset: String,
    /// Dataset version (sha256 content hash).
    pub version: String,
    /// "classification" or "regression".
    pub task: Task,
    /// The column with the true label or value.
    pub target_column: String,
    /// The column with the predicted label or value.
    pub prediction_column: String,
    /// Classification only: the predicted probability of the positive label, for ROC AUC and log loss.
    #[serde(default)]
    pub score_column: Option<String>,
    /// Classification only: the positive label (default 1).
    #[serde(default)]
    pub positive_label: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunFairnessReport {
    #[serde(default)]
    pub model: Option<String>,
    /// Dataset name of the labelled predictions.
    pub dataset: String,
    /// Dataset version (sha256 content hash).
    pub version: String,
    /// The column with the true class label.
    pub target_column: String,
    /// The column with the predicted class label.
    pub prediction_column: String,
    /// The column whose values are the groups to compare (e.g. "age_band").
    pub sensitive_column: String,
    /// The positive (favourable) label (default 1).
    #[serde(default)]
    pub positive_label: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListReports {
    #[serde(default)]
    pub model: Option<String>,
    /// "drift", "performance" or "fairness".
    #[serde(default)]
    pub kind: Option<ReportKind>,
    /// Only reports created at or after this RFC 3339 time.
    #[serde(default)]
    pub since: Option<String>,
    /// At most this many (1-200, default 50), newest first.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictionDistribution {
    /// The model whose traffic was logged.
    pub model: String,
    /// Start of the window (inclusive), RFC 3339, e.g. "2026-11-23T00:00:00Z".
    pub since: String,
    /// End of the window (exclusive), RFC 3339; default now.
    #[serde(default)]
    pub until: Option<String>,
    /// Equal-width bins (1-50, default 10).
    #[serde(default)]
    pub bins: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetReport {
    /// The report id (a UUID), as `run_*` and `list_reports` return it.
    pub id: String,
}

/// The drift server: cheap to clone, one per connection.
#[derive(Clone)]
pub struct DriftServer {
    kit: Arc<ToolKit>,
    datasets: DatasetStore,
    store: ReportStore,
    tool_router: ToolRouter<Self>,
}

fn model_name(raw: &str) -> Result<String, ToolError> {
    mlops_mcp_kit::slug("model", raw, 63)
}

fn parse_time(what: &str, raw: &str) -> Result<DateTime<Utc>, ToolError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ToolError::Invalid(format!(
                "{what} {raw:?} is not an RFC 3339 time such as 2026-11-23T10:00:00Z: {e}"
            ))
        })
}

fn parse_id(raw: &str) -> Result<Uuid, ToolError> {
    Uuid::parse_str(raw).map_err(|_| ToolError::Invalid(format!("report id {raw:?} is not a UUID")))
}

/// Runs CPU-heavy statistics off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ToolError::internal("compute a report", e))?
}

/// The loaded current side of a drift report.
struct CurrentRows {
    batches: Vec<RecordBatch>,
    description: Value,
    log_model: Option<String>,
}

impl DriftServer {
    /// A server reading datasets and prediction logs from `datasets` and
    /// keeping reports (and the audit trail) in `pool`.
    pub fn new(datasets: DatasetStore, pool: PgPool) -> Self {
        DriftServer {
            kit: Arc::new(ToolKit::new(
                SERVER,
                policy(),
                Some(AuditLog::new(pool.clone(), SERVER)),
            )),
            datasets,
            store: ReportStore::new(pool),
            tool_router: Self::tool_router(),
        }
    }

    pub fn kit(&self) -> &ToolKit {
        &self.kit
    }

    pub fn reports(&self) -> &ReportStore {
        &self.store
    }

    async fn load_current(&self, current: &CurrentData) -> Result<CurrentRows, ToolError> {
        match (&current.dataset, &current.version, &current.prediction_log) {
            (Some(name), Some(version), None) => {
                let data = self.datasets.read(name, version).await?;
                Ok(CurrentRows {
                    description: json!({
                        "dataset": data.manifest.name,
                        "version": data.manifest.version,
                        "rows": data.batch.num_rows(),
                    }),
                    batches: vec![data.batch],
                    log_model: None,
                })
            }
            (None, None, Some(log)) => {
                let window = LogWindow::parse(&log.model, &log.since, log.until.as_deref())?;
                let rows = prediction_log::read_window(self.datasets.objects(), &window).await?;
                if rows.rows == 0 {
                    return Err(ToolError::NotFound(format!(
                        "the prediction log of {} has no rows between {} and {} ({} segments read)",
                        window.model, window.since, window.until, rows.segments
                    )));
                }
                Ok(CurrentRows {
                    description: json!({
                        "prediction_log": {
                            "model": window.model,
                            "since": window.since,
                            "until": window.until,
                            "segments": rows.segments,
                            "rows": rows.rows,
                        }
                    }),
                    log_model: Some(window.model),
                    batches: rows.batches,
                })
            }
            _ => Err(ToolError::Invalid(
                "current must be either {dataset, version} or {prediction_log: {model, since, until?}}"
                    .into(),
            )),
        }
    }

    async fn run_drift(
        &self,
        args: RunDriftReport,
        caller: &Caller,
    ) -> Result<ToolOutput, ToolError> {
        let mut model = args.model.as_deref().map(model_name).transpose()?;
        let options = DriftOptions {
            columns: args.columns.clone(),
            stattest: args.stattest,
            per_column_stattest: args.per_column_stattest.clone().unwrap_or_default(),
            stattest_threshold: args.stattest_threshold,
            per_column_stattest_threshold: args
                .per_column_stattest_threshold
                .clone()
                .unwrap_or_default(),
            drift_share: args.drift_share.unwrap_or(0.5),
        };
        let reference = self
            .datasets
            .read(&args.reference.dataset, &args.reference.version)
            .await?;
        let current = self.load_current(&args.current).await?;
        if model.is_none() {
            model = current.log_model.clone();
        }
        let reference_description = json!({
            "dataset": reference.manifest.name,
            "version": reference.manifest.version,
            "rows": reference.batch.num_rows(),
        });
        let task_options = options.clone();
        let reference_batch = reference.batch;
        let current_batches = current.batches;
        let result = blocking(move || {
            drift_report_batches(
                std::slice::from_ref(&reference_batch),
                &current_batches,
                &task_options,
            )
            .map_err(|e| ToolError::Invalid(e.to_string()))
        })
        .await?;

        let drifted: Vec<&str> = result
            .columns
            .iter()
            .filter(|c| c.drift_detected)
            .map(|c| c.column.as_str())
            .collect();
        let summary = json!({
            "dataset_drift": result.dataset_drift,
            "drift_share": result.drift_share,
            "number_of_columns": result.number_of_columns,
            "number_of_drifted_columns": result.number_of_drifted_columns,
            "share_of_drifted_columns": result.share_of_drifted_columns,
            "drifted_columns": drifted.iter().take(50).collect::<Vec<_>>(),
            "reference": reference_description,
            "current": current.description,
        });
        let sentence = format!(
            "{} of {} columns drifted ({:.0}%){}: {}",
            result.number_of_drifted_columns,
            result.number_of_columns,
            result.share_of_drifted_columns * 100.0,
            if result.dataset_drift {
                format!(" — dataset drift (drift_share {})", result.drift_share)
            } else {
                format!(" — no dataset drift (drift_share {})", result.drift_share)
            },
            if drifted.is_empty() {
                "none".to_owned()
            } else {
                drifted.join(", ")
            }
        );
        let body = json!({
            "kind": "drift",
            "model": model,
            "reference": reference_description,
            "current": current.description,
            "options": {
                "columns": options.columns,
                "stattest": options.stattest,
                "per_column_stattest": options.per_column_stattest,
                "stattest_threshold": options.stattest_threshold,
                "per_column_stattest_threshold": options.per_column_stattest_threshold,
                "drift_share": options.drift_share,
            },
            "result": result,
        });
        self.persist(
            ReportKind::Drift,
            model.as_deref(),
            summary,
            body,
            sentence,
            caller,
        )
        .await
    }

    async fn persist(
        &self,
        kind: ReportKind,
        model: Option<&str>,
        summary: Value,
        body: Value,
        sentence: String,
        caller: &Caller,
    ) -> Result<ToolOutput, ToolError> {
        let stored = self
            .store
            .insert(kind, model, &summary, &body, &caller.id())
            .await?;
        tracing::info!(report = %stored.id, kind = kind.as_str(), model, "report stored");
        Ok(ToolOutput::new(
            format!("{} report {}: {sentence}", kind.as_str(), stored.uri),
            json!({
                "id": stored.id,
                "uri": stored.uri,
                "kind": kind,
                "model": stored.model,
                "created_at": stored.created_at,
                "created_by": stored.created_by,
                "summary": stored.summary,
                "report": body,
            }),
        ))
    }

    async fn run_performance(
        &self,
        args: RunModelPerformanceReport,
        caller: &Caller,
    ) -> Result<ToolOutput, ToolError> {
        let model = args.model.as_deref().map(model_name).transpose()?;
        if args.task == Task::Regression
            && (args.score_column.is_some() || args.positive_label.is_some())
        {
            return Err(ToolError::Invalid(
                "score_column and positive_label apply to classification only".into(),
            ));
        }
        let data = self.datasets.read(&args.dataset, &args.version).await?;
        let batch = data.batch;
        let target = evaluation::column(&batch, "target_column", &args.target_column)?.clone();
        let prediction =
            evaluation::column(&batch, "prediction_column", &args.prediction_column)?.clone();
        let score = args
            .score_column
            .as_deref()
            .map(|name| evaluation::column(&batch, "score_column", name).cloned())
            .transpose()?;
        let positive = args.positive_label.unwrap_or(1);
        let target_name = format!("target column {:?}", args.target_column);
        let prediction_name = format!("prediction column {:?}", args.prediction_column);
        let score_name = args
            .score_column
            .as_ref()
            .map(|n| format!("score column {n:?}"))
            .unwrap_or_default();
        let task = args.task;
        let (metrics, used, dropped, summary, sentence) = blocking(move || {
            let rows = batch.num_rows();
            match task {
                Task::Classification => {
                    let y_true = evaluation::labels(target.as_ref(), &target_name)?;
                    let y_pred = evaluation::labels(prediction.as_ref(), &prediction_name)?;
                    let scores = score
                        .as_ref()
                        .map(|s| evaluation::numbers(s.as_ref(), &score_name))
                        .transpose()?;
                    let (mut t, mut p, mut s) = (Vec::new(), Vec::new(), Vec::new());
                    for i in 0..rows {
                        let score_value = scores.as_ref().map(|s| s[i]);
                        if let (Some(a), Some(b), None | Some(Some(_))) =
                            (y_true[i], y_pred[i], score_value)
                        {
                            t.push(a);
                            p.push(b);
                            if let Some(Some(v)) = score_value {
                                s.push(v);
                            }
                        }
                    }
                    let used = t.len();
                    let metrics = performance::classification_report(
                        &t,
                        &p,
                        scores.as_ref().map(|_| s.as_slice()),
                        positive,
                    )
                    .map_err(|e| ToolError::Invalid(e.to_string()))?;
                    let summary = json!({
                        "task": "classification",
                        "samples": used,
                        "accuracy": metrics.accuracy,
                        "precision": metrics.precision,
                        "recall": metrics.recall,
                        "f1": metrics.f1,
                        "roc_auc": metrics.roc_auc,
                    });
                    let sentence = format!(
                        "{used} rows: accuracy {:.4}, F1 {:.4}{}",
                        metrics.accuracy,
                        metrics.f1,
                        metrics
                            .roc_auc
                            .map(|a| format!(", ROC AUC {a:.4}"))
                            .unwrap_or_default()
                    );
                    let metrics = serde_json::to_value(&metrics)
                        .map_err(|e| ToolError::internal("serialize metrics", e))?;
                    Ok((metrics, used, rows - used, summary, sentence))
                }
                Task::Regression => {
                    let y_true = evaluation::numbers(target.as_ref(), &target_name)?;
                    let y_pred = evaluation::numbers(prediction.as_ref(), &prediction_name)?;
                    let (t, p): (Vec<f64>, Vec<f64>) = y_true
                        .iter()
                        .zip(&y_pred)
                        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
                        .unzip();
                    let used = t.len();
                    let metrics = performance::regression_report(&t, &p)
                        .map_err(|e| ToolError::Invalid(e.to_string()))?;
                    let summary = json!({
                        "task": "regression",
                        "samples": used,
                        "mean_absolute_error": metrics.mean_absolute_error,
                        "root_mean_squared_error": metrics.root_mean_squared_error,
                        "r2": metrics.r2,
                    });
                    let sentence = format!(
                        "{used} rows: MAE {:.4}, RMSE {:.4}, R² {:.4}",
                        metrics.mean_absolute_error, metrics.root_mean_squared_error, metrics.r2
                    );
                    let metrics = serde_json::to_value(&metrics)
                        .map_err(|e| ToolError::internal("serialize metrics", e))?;
                    Ok((metrics, used, rows - used, summary, sentence))
                }
            }
        })
        .await?;
        let body = json!({
            "kind": "performance",
            "model": model,
            "task": args.task,
            "dataset": {"dataset": data.manifest.name, "version": data.manifest.version, "rows": used + dropped},
            "target_column": args.target_column,
            "prediction_column": args.prediction_column,
            "score_column": args.score_column,
            "positive_label": (args.task == Task::Classification).then_some(positive),
            "rows_used": used,
            "rows_dropped_for_missing_values": dropped,
            "metrics": metrics,
        });
        self.persist(
            ReportKind::Performance,
            model.as_deref(),
            summary,
            body,
            sentence,
            caller,
        )
        .await
    }

    async fn run_fairness(
        &self,
        args: RunFairnessReport,
        caller: &Caller,
    ) -> Result<ToolOutput, ToolError> {
        let model = args.model.as_deref().map(model_name).transpose()?;
        let data = self.datasets.read(&args.dataset, &args.version).await?;
        let batch = data.batch;
        let target = evaluation::column(&batch, "target_column", &args.target_column)?.clone();
        let prediction =
            evaluation::column(&batch, "prediction_column", &args.prediction_column)?.clone();
        let sensitive =
            evaluation::column(&batch, "sensitive_column", &args.sensitive_column)?.clone();
        let positive = args.positive_label.unwrap_or(1);
        let names = (
            format!("target column {:?}", args.target_column),
            format!("prediction column {:?}", args.prediction_column),
            format!("sensitive column {:?}", args.sensitive_column),
        );
        let (metrics, used, dropped, summary, sentence) = blocking(move || {
            let rows = batch.num_rows();
            let y_true = evaluation::labels(target.as_ref(), &names.0)?;
            let y_pred = evaluation::labels(prediction.as_ref(), &names.1)?;
            let groups = evaluation::groups(sensitive.as_ref(), &names.2)?;
            let mut t = Vec::new();
            let mut p = Vec::new();
            let mut g: Vec<String> = Vec::new();
            for i in 0..rows {
                if let (Some(a), Some(b), Some(c)) = (y_true[i], y_pred[i], &groups[i]) {
                    t.push(a);
                    p.push(b);
                    g.push(c.clone());
                }
            }
            let used = t.len();
            let metrics = fairness::fairness_report(&t, &p, &g, positive)
                .map_err(|e| ToolError::Invalid(e.to_string()))?;
            let summary = json!({
                "samples": used,
                "groups": metrics.groups.len(),
                "demographic_parity_difference": metrics.demographic_parity_difference,
                "demographic_parity_ratio": metrics.demographic_parity_ratio,
                "equalized_odds_difference": metrics.equalized_odds_difference,
                "equalized_odds_ratio": metrics.equalized_odds_ratio,
            });
            let sentence = format!(
                "{used} rows in {} groups: demographic parity difference {:.4}, equalized odds difference {:.4}",
                metrics.groups.len(),
                metrics.demographic_parity_difference,
                metrics.equalized_odds_difference
            );
            let metrics = serde_json::to_value(&metrics)
                .map_err(|e| ToolError::internal("serialize metrics", e))?;
            Ok((metrics, used, rows - used, summary, sentence))
        })
        .await?;
        let body = json!({
            "kind": "fairness",
            "model": model,
            "dataset": {"dataset": data.manifest.name, "version": data.manifest.version, "rows": used + dropped},
            "target_column": args.target_column,
            "prediction_column": args.prediction_column,
            "sensitive_column": args.sensitive_column,
            "positive_label": positive,
            "rows_used": used,
            "rows_dropped_for_missing_values": dropped,
            "metrics": metrics,
        });
        self.persist(
            ReportKind::Fairness,
            model.as_deref(),
            summary,
            body,
            sentence,
            caller,
        )
        .await
    }
}

#[tool_router]
impl DriftServer {
    /// Data drift between a reference dataset and a current dataset or a
    /// window of the prediction log: a test per column (Evidently's choice,
    /// or yours), score, threshold, drift flag and histograms; the dataset
    /// drifts when the share of drifted columns reaches drift_share.
    #[tool(name = "run_drift_report", input_schema = input_schema::<RunDriftReport>())]
    async fn run_drift_report(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "run_drift_report",
                raw,
                async |args: RunDriftReport, caller: &Caller| self.run_drift(args, caller).await,
            )
            .await
    }

    /// Classification (accuracy, precision, recall, F1, ROC AUC, log loss,
    /// confusion matrix) or regression (MAE, RMSE, R²) metrics of labelled
    /// predictions in a dataset.
    #[tool(
        name = "run_model_performance_report",
        input_schema = input_schema::<RunModelPerformanceReport>()
    )]
    async fn run_model_performance_report(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "run_model_performance_report",
                raw,
                async |args: RunModelPerformanceReport, caller: &Caller| {
                    self.run_performance(args, caller).await
                },
            )
            .await
    }

    /// Group fairness of a classifier across the values of a sensitive
    /// column: per-group selection, true and false positive rates,
    /// demographic parity and equalized odds differences and ratios.
    #[tool(name = "run_fairness_report", input_schema = input_schema::<RunFairnessReport>())]
    async fn run_fairness_report(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "run_fairness_report",
                raw,
                async |args: RunFairnessReport, caller: &Caller| {
                    self.run_fairness(args, caller).await
                },
            )
            .await
    }

    /// Stored reports, newest first, filtered by model, kind and time.
    #[tool(name = "list_reports", input_schema = input_schema::<ListReports>())]
    async fn list_reports(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "list_reports",
                raw,
                async |args: ListReports, _caller: &Caller| {
                    let limit = args.limit.unwrap_or(50);
                    if !(1..=200).contains(&limit) {
                        return Err(ToolError::Invalid(format!(
                            "limit {limit} must be between 1 and 200"
                        )));
                    }
                    let query = ReportQuery {
                        model: args.model.as_deref().map(model_name).transpose()?,
                        kind: args.kind,
                        since: args
                            .since
                            .as_deref()
                            .map(|s| parse_time("since", s))
                            .transpose()?,
                        limit: i64::from(limit),
                    };
                    let reports = self.store.list(&query).await?;
                    Ok(ToolOutput::new(
                        format!("{} reports", reports.len()),
                        json!({ "reports": reports }),
                    ))
                },
            )
            .await
    }

    /// How the scores the model served are spread, per version, over a
    /// window of its prediction log: bin edges, counts per bin, mean.
    #[tool(
        name = "prediction_distribution",
        input_schema = input_schema::<PredictionDistribution>()
    )]
    async fn prediction_distribution(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "prediction_distribution",
                raw,
                async |args: PredictionDistribution, _caller: &Caller| {
                    let bins = args.bins.unwrap_or(10);
                    if !(1..=50).contains(&bins) {
                        return Err(ToolError::Invalid(format!(
                            "bins {bins} must be between 1 and 50"
                        )));
                    }
                    let window = LogWindow::parse(&args.model, &args.since, args.until.as_deref())?;
                    let rows = prediction_log::read_window_columns(
                        self.datasets.objects(),
                        &window,
                        prediction_log::Columns::Outputs,
                    )
                    .await?;
                    let (scores, missing) =
                        predictions::scores(&rows.batches).map_err(ToolError::Conflict)?;
                    let d = predictions::distribution(&scores, missing, bins as usize);
                    let sentence = format!(
                        "{} scores of {} between {} and {}, {} version(s)",
                        scores.len(),
                        window.model,
                        window.since,
                        window.until,
                        d.versions.len()
                    );
                    Ok(ToolOutput::new(
                        sentence,
                        json!({
                            "model": window.model,
                            "since": window.since,
                            "until": window.until,
                            "segments": rows.segments,
                            "distribution": d,
                        }),
                    ))
                },
            )
            .await
    }

    /// One stored report with its full body (also readable as reports://{id}).
    #[tool(name = "get_report", input_schema = input_schema::<GetReport>())]
    async fn get_report(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_report",
                raw,
                async |args: GetReport, _caller: &Caller| {
                    let report = self.store.get(parse_id(&args.id)?).await?;
                    Ok(ToolOutput::new(
                        format!(
                            "{} report {} of {}",
                            report.summary.kind.as_str(),
                            report.summary.uri,
                            report.summary.created_at
                        ),
                        &report,
                    ))
                },
            )
            .await
    }
}

fn to_error_data(error: ToolError) -> ErrorData {
    match error {
        ToolError::NotFound(m) => ErrorData::resource_not_found(m, None),
        ToolError::Invalid(m) | ToolError::Conflict(m) => ErrorData::invalid_params(m, None),
        ToolError::Internal(m) => ErrorData::internal_error(m, None),
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DriftServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("mlops-drift", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Drift, model performance and fairness reports. run_drift_report compares a reference \
             dataset with a current dataset or a prediction-log window, choosing tests per column as \
             Evidently 0.7 does. Reports are stored; list them with list_reports and read them as \
             reports://{id}.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        require_scope(&ctx, DRIFT_READ, "read reports")?;
        let reports = self
            .store
            .list(&ReportQuery {
                limit: 50,
                ..Default::default()
            })
            .await
            .map_err(to_error_data)?;
        Ok(ListResourcesResult::with_all_items(
            reports
                .into_iter()
                .map(|r| {
                    let name = format!(
                        "{} report{} {}",
                        r.kind.as_str(),
                        r.model.map(|m| format!(" for {m}")).unwrap_or_default(),
                        r.created_at.format("%Y-%m-%d %H:%M:%S")
                    );
                    Resource::new(r.uri, name).with_mime_type("application/json")
                })
                .collect(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("reports://{id}", "drift, performance or fairness report"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        require_scope(&ctx, DRIFT_READ, "read reports")?;
        let raw = request.uri.strip_prefix("reports://").ok_or_else(|| {
            ErrorData::resource_not_found(
                format!("no resource {:?}; try reports://{{id}}", request.uri),
                None,
            )
        })?;
        let id = parse_id(raw).map_err(to_error_data)?;
        let report = self.store.get(id).await.map_err(to_error_data)?;
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri.clone())]).into())
    }
}
