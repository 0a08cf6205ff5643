//! `report-spend`: what training and serving cost over a window.
//!
//! - Training: each trainer job's running time inside the window, priced
//!   at the hourly price of the instance type the trainer runs on
//!   (`training_instance_type`; jobs record a backend, not an instance).
//! - Serving: each model server's and router's process CPU seconds in the
//!   window (`increase(process_cpu_seconds_total[window])` from
//!   Prometheus, through the metrics MCP server) × the CPU-second price.
//!   Targets Prometheus scraped but holds no CPU counter for are listed as
//!   unmeasured, and the report says what is missing rather than guessing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::CostSettings;
use crate::prices::InstanceType;
use crate::trainer_jobs::{self, LIST_LIMIT, TrainerJob};

/// Shortest window: a few scrape intervals.
pub const MIN_WINDOW_SECONDS: u64 = 10;
/// Longest window: 90 days.
pub const MAX_WINDOW_SECONDS: u64 = 90 * 86_400;
/// How far in the future `to` may lie (clock skew).
const FUTURE_SLACK_SECONDS: i64 = 60;
/// The serving targets, by the `component` label the cluster server's
/// scrape targets carry.
const SERVING_COMPONENTS: &str = "model-server|router";
/// Series a query may return.
const SERIES_LIMIT: u32 = 2000;

/// The CPU counter serving spend is computed from.
pub const CPU_METRIC: &str = "process_cpu_seconds_total";

/// What is missing when serving targets have no CPU counter.
pub const MISSING_CPU_METRIC: &str = "Prometheus holds no process_cpu_seconds_total series for \
     these serving targets (component=\"model-server\" or \"router\"): the model servers and \
     routers (mlops-serving) export only request counters, latency histograms and traffic \
     weights through mlops-metrics, whose Registry has no process collector. Serving spend \
     needs each of them to export process_cpu_seconds_total, the counter of user + system CPU \
     seconds of the process (read at scrape time from /proc/self/stat or getrusage), on its \
     /metrics; until then their CPU cost is not reported.";

/// Input of `report-spend`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSpendInput {
    /// Report the last this many seconds, ending now (10 s to 90 days;
    /// default: the agent's `default_report_window_seconds`, 24 h). Not
    /// with `from`/`to`.
    #[serde(default)]
    pub window_seconds: Option<u64>,
    /// Window start, RFC 3339 (e.g. "2026-01-05T00:00:00Z").
    #[serde(default)]
    pub from: Option<String>,
    /// Window end, RFC 3339 (default: now). Needs `from`.
    #[serde(default)]
    pub to: Option<String>,
    /// Only this model's deployments (its `model` label, e.g.
    /// "fraud-detector"). The trainer does not know which model a job
    /// became, so training runs are not filtered by it.
    #[serde(default)]
    pub model: Option<String>,
    /// Only training runs on this dataset.
    #[serde(default)]
    pub dataset: Option<String>,
}

/// The window a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SpendWindow {
    /// RFC 3339.
    #[schemars(with = "String")]
    pub from: DateTime<Utc>,
    /// RFC 3339.
    #[schemars(with = "String")]
    pub to: DateTime<Utc>,
    pub seconds: u64,
}

/// A checked request.
#[derive(Debug, Clone)]
pub struct SpendRequest {
    pub window: SpendWindow,
    pub model: Option<String>,
    pub dataset: Option<String>,
}

fn slug(field: &str, raw: &str) -> Result<String, SkillError> {
    let ok = raw.len() <= 63
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(SkillError::bad_field(
            field,
            format!("{raw:?} must be 1-63 characters of a-z, 0-9 and '-', starting with a letter"),
        ))
    }
}

fn timestamp(field: &str, raw: &str) -> Result<DateTime<Utc>, SkillError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            SkillError::bad_field(
                field,
                format!("{raw:?} is not an RFC 3339 time such as 2026-01-05T00:00:00Z ({e})"),
            )
        })
}

impl ReportSpendInput {
    /// Checks the input; `now` ends a relative window.
    pub fn check(
        self,
        settings: &CostSettings,
        now: DateTime<Utc>,
    ) -> Result<SpendRequest, SkillError> {
        let in_range = |seconds: u64| (MIN_WINDOW_SECONDS..=MAX_WINDOW_SECONDS).contains(&seconds);
        let window = match (self.window_seconds, &self.from, &self.to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(SkillError::bad_field(
                    "window_seconds",
                    "cannot be given with `from`/`to`; give one or the other",
                ));
            }
            (None, None, Some(_)) => {
                return Err(SkillError::bad_field(
                    "from",
                    "is required when `to` is given",
                ));
            }
            (seconds, None, None) => {
                let seconds = seconds.unwrap_or(settings.default_report_window_seconds);
                if !in_range(seconds) {
                    return Err(SkillError::bad_field(
                        "window_seconds",
                        format!(
                            "must be {MIN_WINDOW_SECONDS} to {MAX_WINDOW_SECONDS}, got {seconds}"
                        ),
                    ));
                }
                SpendWindow {
                    from: now - Duration::seconds(seconds as i64),
                    to: now,
                    seconds,
                }
            }
            (None, Some(from), to) => {
                let from = timestamp("from", from)?;
                let to = to.as_deref().map(|t| timestamp("to", t)).transpose()?;
                let to = to.unwrap_or(now);
                if to > now + Duration::seconds(FUTURE_SLACK_SECONDS) {
                    return Err(SkillError::bad_field("to", "is in the future"));
                }
                let span = (to - from).num_seconds();
                if span <= 0 {
                    return Err(SkillError::bad_field("from", "must be before `to`"));
                }
                let seconds = span as u64;
                if !in_range(seconds) {
                    return Err(SkillError::bad_field(
                        "from",
                        format!(
                            "to `to` must span {MIN_WINDOW_SECONDS} s to {MAX_WINDOW_SECONDS} s, got {seconds} s"
                        ),
                    ));
                }
                // Whole seconds, so the PromQL range and the window agree.
                SpendWindow {
                    from: to - Duration::seconds(span),
                    to,
                    seconds,
                }
            }
        };
        Ok(SpendRequest {
            window,
            model: self
                .model
                .as_deref()
                .map(|m| slug("model", m))
                .transpose()?,
            dataset: self
                .dataset
                .as_deref()
                .map(|d| slug("dataset", d))
                .transpose()?,
        })
    }
}

/// One training run's spend in the window.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrainingRunSpend {
    pub job_id: String,
    pub dataset: String,
    pub algorithm: String,
    /// running, succeeded or failed.
    pub state: String,
    pub backend: String,
    pub instance_type: String,
    pub price_per_hour_usd: f64,
    /// RFC 3339.
    #[schemars(with = "String")]
    pub started_at: DateTime<Utc>,
    /// RFC 3339; null while running.
    #[schemars(with = "Option<String>")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Start to finish (to the window's end while running).
    pub duration_seconds: f64,
    /// The part of it inside the window: what is priced.
    pub billed_seconds: f64,
    /// billed_seconds / 3600 × price_per_hour_usd.
    pub cost_usd: f64,
}

/// Training spend.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrainingSpend {
    pub instance_type: InstanceType,
    pub runs: Vec<TrainingRunSpend>,
    pub billed_seconds: f64,
    pub total_usd: f64,
    /// The trainer lists at most 200 jobs; older ones may be missing.
    pub truncated: bool,
}

/// What Prometheus knows about the serving targets' CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServingStatus {
    /// Every serving target seen has a CPU counter.
    Measured,
    /// Some have one, some do not (see `unmeasured_targets`).
    Partial,
    /// Serving targets were scraped but none has a CPU counter.
    Unmeasured,
    /// Prometheus saw no serving target in the window.
    NoDeployments,
}

/// A model server (per version) or router (per model).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct ServingTarget {
    pub model: String,
    /// The model version; none for a router, which serves every version.
    pub version: Option<String>,
    /// "model-server" or "router".
    pub component: String,
}

/// One serving target's spend in the window.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentSpend {
    #[serde(flatten)]
    pub target: ServingTarget,
    /// CPU seconds the process used in the window.
    pub cpu_seconds: f64,
    /// cpu_seconds × cpu_second_price_usd.
    pub cost_usd: f64,
}

/// Serving spend.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ServingSpend {
    pub status: ServingStatus,
    pub cpu_second_price_usd: f64,
    pub cpu_second_price_source: String,
    pub deployments: Vec<DeploymentSpend>,
    pub cpu_seconds: f64,
    /// The measured deployments' cost.
    pub total_usd: f64,
    /// Targets Prometheus scraped in the window but holds no CPU counter for.
    pub unmeasured_targets: Vec<ServingTarget>,
    /// What is missing for the unmeasured targets, when there are any.
    pub missing: Option<String>,
}

/// Sums.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SpendTotals {
    pub training_usd: f64,
    pub serving_usd: f64,
    pub total_usd: f64,
    /// False when part of the spend could not be measured.
    pub complete: bool,
    /// Why it is not complete.
    pub incomplete_because: Vec<String>,
}

/// Output of `report-spend`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SpendReport {
    pub window: SpendWindow,
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub training: TrainingSpend,
    pub serving: ServingSpend,
    pub totals: SpendTotals,
    /// Prices are the agent's configured table, not live cloud prices.
    pub price_note: String,
}

/// The training runs' spend inside `window` (pure).
pub fn training_spend(
    jobs: &[TrainerJob],
    window: &SpendWindow,
    instance: &InstanceType,
) -> TrainingSpend {
    let mut runs = Vec::new();
    for job in jobs {
        let Some(started) = job.started_at else {
            continue; // queued: nothing has run yet
        };
        let end = match job.finished_at {
            Some(finished) => finished,
            None if job.state == "running" => window.to,
            // A finished state without a finish time is not a run to price.
            None => continue,
        };
        let billed_ms = (end.min(window.to) - started.max(window.from)).num_milliseconds();
        if billed_ms <= 0 {
            continue;
        }
        let billed_seconds = billed_ms as f64 / 1000.0;
        runs.push(TrainingRunSpend {
            job_id: job.job_id.clone(),
            dataset: job.dataset_name.clone(),
            algorithm: job.algorithm_name().to_owned(),
            state: job.state.clone(),
            backend: job.backend.clone(),
            instance_type: instance.name.clone(),
            price_per_hour_usd: instance.price_per_hour_usd,
            started_at: started,
            finished_at: job.finished_at,
            duration_seconds: (end - started).num_milliseconds() as f64 / 1000.0,
            billed_seconds,
            cost_usd: instance.cost_of(billed_seconds),
        });
    }
    runs.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then(a.job_id.cmp(&b.job_id))
    });
    TrainingSpend {
        instance_type: instance.clone(),
        billed_seconds: runs.iter().map(|r| r.billed_seconds).sum(),
        total_usd: runs.iter().map(|r| r.cost_usd).sum(),
        runs,
        truncated: jobs.len() >= LIST_LIMIT as usize,
    }
}

/// The label matcher of the serving targets, optionally of one model.
fn serving_selector(model: Option<&str>) -> String {
    match model {
        // `model` passed the slug check: no quotes or backslashes in it.
        Some(model) => format!("{{component=~\"{SERVING_COMPONENTS}\",model=\"{model}\"}}"),
        None => format!("{{component=~\"{SERVING_COMPONENTS}\"}}"),
    }
}

/// CPU seconds per serving target over the window.
pub fn cpu_query(model: Option<&str>, seconds: u64) -> String {
    format!(
        "sum by (model, version, component) (increase({CPU_METRIC}{}[{seconds}s]))",
        serving_selector(model)
    )
}

/// Serving targets Prometheus scraped in the window.
pub fn targets_query(model: Option<&str>, seconds: u64) -> String {
    format!(
        "max by (model, version, component) (max_over_time(up{}[{seconds}s]))",
        serving_selector(model)
    )
}

#[derive(Debug, Deserialize)]
struct InstantAnswer {
    result_type: String,
    #[serde(default)]
    series: Vec<InstantSeries>,
    #[serde(default)]
    truncated: bool,
}

#[derive(Debug, Deserialize)]
struct InstantSeries {
    metric: BTreeMap<String, String>,
    /// A number, or "NaN"/"+Inf"/"-Inf" as text.
    value: Value,
}

/// Series of an instant vector answer as (target, value); non-finite
/// values and series without a `model` label are left out.
fn vector(answer: &Value) -> Result<Vec<(ServingTarget, f64)>, SkillError> {
    let answer: InstantAnswer = serde_json::from_value(answer.clone()).map_err(|e| {
        SkillError::failed(format!(
            "metrics/query_instant answered in an unexpected shape: {e}"
        ))
    })?;
    if answer.result_type != "vector" {
        return Err(SkillError::failed(format!(
            "metrics/query_instant answered a {}, not a vector",
            answer.result_type
        )));
    }
    if answer.truncated {
        return Err(SkillError::failed(format!(
            "more than {SERIES_LIMIT} serving series matched; report one model at a time (`model`)"
        )));
    }
    Ok(answer
        .series
        .into_iter()
        .filter_map(|s| {
            let value = s.value.as_f64().filter(|v| v.is_finite())?;
            let target = ServingTarget {
                model: s.metric.get("model")?.clone(),
                version: s.metric.get("version").cloned(),
                component: s.metric.get("component").cloned().unwrap_or_default(),
            };
            Some((target, value))
        })
        .collect())
}

/// Serving spend from the two queries' answers (pure).
pub fn serving_spend(
    cpu_answer: &Value,
    targets_answer: &Value,
    settings: &CostSettings,
) -> Result<ServingSpend, SkillError> {
    let cpu = vector(cpu_answer)?;
    let seen: BTreeSet<ServingTarget> = vector(targets_answer)?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let measured: BTreeSet<&ServingTarget> = cpu.iter().map(|(t, _)| t).collect();
    let unmeasured_targets: Vec<ServingTarget> = seen
        .iter()
        .filter(|t| !measured.contains(t))
        .cloned()
        .collect();
    let mut deployments: Vec<DeploymentSpend> = cpu
        .into_iter()
        .map(|(target, cpu_seconds)| DeploymentSpend {
            target,
            cpu_seconds,
            cost_usd: cpu_seconds * settings.cpu_second_price_usd,
        })
        .collect();
    deployments.sort_by(|a, b| a.target.cmp(&b.target));
    let status = match (deployments.is_empty(), unmeasured_targets.is_empty()) {
        (true, true) => ServingStatus::NoDeployments,
        (false, true) => ServingStatus::Measured,
        (false, false) => ServingStatus::Partial,
        (true, false) => ServingStatus::Unmeasured,
    };
    Ok(ServingSpend {
        status,
        cpu_second_price_usd: settings.cpu_second_price_usd,
        cpu_second_price_source: settings.cpu_second_price_source.clone(),
        cpu_seconds: deployments.iter().map(|d| d.cpu_seconds).sum(),
        total_usd: deployments.iter().map(|d| d.cost_usd).sum(),
        deployments,
        missing: (!unmeasured_targets.is_empty()).then(|| MISSING_CPU_METRIC.to_owned()),
        unmeasured_targets,
    })
}

fn totals(training: &TrainingSpend, serving: &ServingSpend) -> SpendTotals {
    let mut incomplete_because = Vec::new();
    if training.truncated {
        incomplete_because.push(format!(
            "the trainer listed its newest {LIST_LIMIT} jobs only; older runs in the window are not counted"
        ));
    }
    if !serving.unmeasured_targets.is_empty() {
        incomplete_because.push(format!(
            "{} serving target(s) have no {CPU_METRIC}, so their CPU cost is not included",
            serving.unmeasured_targets.len()
        ));
    }
    SpendTotals {
        training_usd: training.total_usd,
        serving_usd: serving.total_usd,
        total_usd: training.total_usd + serving.total_usd,
        complete: incomplete_because.is_empty(),
        incomplete_because,
    }
}

async fn instant(
    ctx: &SkillContext,
    query: String,
    at: DateTime<Utc>,
) -> Result<Value, SkillError> {
    ctx.mcp(
        "metrics",
        "query_instant",
        json!({
            "query": query,
            "time": at.timestamp_millis() as f64 / 1000.0,
            "limit": SERIES_LIMIT,
        }),
    )
    .await
}

/// Runs `report-spend`.
pub async fn report_spend(
    settings: &CostSettings,
    request: SpendRequest,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let window = request.window;
    ctx.progress(format!(
        "reading training jobs from the trainer for {} – {}",
        window.from.to_rfc3339(),
        window.to.to_rfc3339()
    ));
    let jobs = trainer_jobs::list_jobs(ctx, None, request.dataset.as_deref()).await?;
    let training = training_spend(&jobs, &window, &settings.training_instance);
    ctx.progress_with(
        format!(
            "{} training runs: ${:.6}",
            training.runs.len(),
            training.total_usd
        ),
        json!({ "training_usd": training.total_usd, "runs": training.runs.len() }),
    );

    ctx.progress("reading serving CPU seconds from Prometheus");
    let model = request.model.as_deref();
    let cpu_answer = instant(ctx, cpu_query(model, window.seconds), window.to).await?;
    let targets_answer = instant(ctx, targets_query(model, window.seconds), window.to).await?;
    let serving = serving_spend(&cpu_answer, &targets_answer, settings)?;
    if let Some(missing) = &serving.missing {
        tracing::warn!(targets = serving.unmeasured_targets.len(), "{missing}");
    }

    let totals = totals(&training, &serving);
    let serving_line = match serving.status {
        ServingStatus::Measured => format!(
            "serving ${:.6} ({:.1} CPU s over {} targets)",
            serving.total_usd,
            serving.cpu_seconds,
            serving.deployments.len()
        ),
        ServingStatus::NoDeployments => "no serving targets in the window".to_owned(),
        ServingStatus::Partial | ServingStatus::Unmeasured => format!(
            "serving ${:.6} measured; {} target(s) NOT measured: no {CPU_METRIC} exported",
            serving.total_usd,
            serving.unmeasured_targets.len()
        ),
    };
    let summary = format!(
        "spend over {} s: training ${:.6} ({} runs on {}), {serving_line}; total ${:.6}{}",
        window.seconds,
        training.total_usd,
        training.runs.len(),
        training.instance_type.name,
        totals.total_usd,
        if totals.complete { "" } else { " (incomplete)" }
    );
    let report = SpendReport {
        window,
        model: request.model,
        dataset: request.dataset,
        training,
        serving,
        totals,
        price_note:
            "prices come from the cost agent's configured price table, not live cloud prices".into(),
    };
    Ok(SkillOutcome::single("spend-report", report, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CostConfig;

    fn settings() -> CostSettings {
        CostConfig::default().check().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn check(input: Value) -> Result<SpendRequest, SkillError> {
        mlops_agent_kit::parse_input::<ReportSpendInput>(input)?
            .check(&settings(), at("2026-01-05T12:00:00Z"))
    }

    fn rejection(input: Value) -> String {
        match check(input) {
            Err(SkillError::Rejected(reason)) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn job(id: &str, state: &str, started: Option<&str>, finished: Option<&str>) -> TrainerJob {
        TrainerJob {
            job_id: id.into(),
            dataset_name: "transactions".into(),
            features: vec!["a".into()],
            algorithm: json!({"algorithm": "logistic_regression", "l2": 1.0}),
            backend: "in-process".into(),
            state: state.into(),
            started_at: started.map(at),
            finished_at: finished.map(at),
            duration_seconds: None,
        }
    }

    #[test]
    fn windows_are_relative_or_absolute() {
        let relative = check(json!({"window_seconds": 3600})).unwrap().window;
        assert_eq!(relative.from, at("2026-01-05T11:00:00Z"));
        assert_eq!(relative.seconds, 3600);
        let default = check(json!({})).unwrap().window;
        assert_eq!(default.seconds, 86_400);
        let absolute = check(json!({"from": "2026-01-05T10:00:00Z", "to": "2026-01-05T10:30:00Z"}))
            .unwrap()
            .window;
        assert_eq!(absolute.seconds, 1800);
        let open = check(json!({"from": "2026-01-05T11:59:00+00:00"}))
            .unwrap()
            .window;
        assert_eq!(open.to, at("2026-01-05T12:00:00Z"));
    }

    #[test]
    fn bad_input_names_the_field() {
        assert!(rejection(json!({"window_seconds": 1})).contains("`window_seconds`"));
        assert!(
            rejection(json!({"window_seconds": 60, "from": "2026-01-05T10:00:00Z"}))
                .contains("`window_seconds`")
        );
        assert!(rejection(json!({"to": "2026-01-05T10:00:00Z"})).contains("`from`"));
        assert!(rejection(json!({"from": "yesterday"})).contains("`from`"));
        assert!(
            rejection(json!({"from": "2026-01-05T10:00:00Z", "to": "2026-01-05T09:00:00Z"}))
                .contains("`from`")
        );
        assert!(
            rejection(json!({"from": "2026-01-05T10:00:00Z", "to": "2026-01-06T10:00:00Z"}))
                .contains("`to`")
        );
        assert!(rejection(json!({"model": "Fraud\"} or vector(1)"})).contains("`model`"));
        assert!(rejection(json!({"dataset": "../x"})).contains("`dataset`"));
        assert!(rejection(json!({"window": 60})).contains("window"));
    }

    #[test]
    fn training_runs_are_priced_for_their_time_in_the_window() {
        let settings = settings();
        let window = SpendWindow {
            from: at("2026-01-05T10:00:00Z"),
            to: at("2026-01-05T11:00:00Z"),
            seconds: 3600,
        };
        let jobs = vec![
            job(
                "inside",
                "succeeded",
                Some("2026-01-05T10:10:00Z"),
                Some("2026-01-05T10:10:30.5Z"),
            ),
            job(
                "straddles",
                "failed",
                Some("2026-01-05T09:59:00Z"),
                Some("2026-01-05T10:01:00Z"),
            ),
            job(
                "before",
                "succeeded",
                Some("2026-01-05T09:00:00Z"),
                Some("2026-01-05T09:10:00Z"),
            ),
            job("running", "running", Some("2026-01-05T10:59:00Z"), None),
            job("queued", "queued", None, None),
        ];
        let spend = training_spend(&jobs, &window, &settings.training_instance);
        let ids: Vec<&str> = spend.runs.iter().map(|r| r.job_id.as_str()).collect();
        assert_eq!(ids, ["straddles", "inside", "running"]);
        let price = settings.training_instance.price_per_hour_usd;
        assert_eq!(spend.runs[1].billed_seconds, 30.5);
        assert!((spend.runs[1].cost_usd - 30.5 / 3600.0 * price).abs() < 1e-15);
        assert_eq!(spend.runs[0].duration_seconds, 120.0);
        assert_eq!(spend.runs[0].billed_seconds, 60.0);
        assert_eq!(spend.runs[2].billed_seconds, 60.0);
        assert_eq!(spend.billed_seconds, 150.5);
        assert!((spend.total_usd - 150.5 / 3600.0 * price).abs() < 1e-12);
        assert!(!spend.truncated);
    }

    #[test]
    fn queries_select_the_serving_targets() {
        assert_eq!(
            cpu_query(Some("fraud-detector"), 3600),
            "sum by (model, version, component) (increase(process_cpu_seconds_total\
             {component=~\"model-server|router\",model=\"fraud-detector\"}[3600s]))"
        );
        assert!(targets_query(None, 60).contains("max_over_time(up{component=~"));
    }

    fn answer(series: Value) -> Value {
        json!({"result_type": "vector", "series": series, "series_total": 0, "truncated": false})
    }

    #[test]
    fn serving_spend_prices_cpu_and_names_what_is_missing() {
        let settings = settings();
        let v1 = json!({"model": "fraud-detector", "version": "1", "component": "model-server"});
        let v2 = json!({"model": "fraud-detector", "version": "2", "component": "model-server"});
        let router = json!({"model": "fraud-detector", "component": "router"});
        let targets = answer(json!([
            {"metric": v1, "time": 0, "value": 1},
            {"metric": v2, "time": 0, "value": 1},
            {"metric": router, "time": 0, "value": 1},
        ]));

        let none = serving_spend(&answer(json!([])), &targets, &settings).unwrap();
        assert_eq!(none.status, ServingStatus::Unmeasured);
        assert_eq!(none.unmeasured_targets.len(), 3);
        assert!(none.missing.as_deref().unwrap().contains(CPU_METRIC));
        assert_eq!(none.total_usd, 0.0);

        let cpu = answer(json!([
            {"metric": v1, "time": 0, "value": 12.5},
            {"metric": v2, "time": 0, "value": "NaN"},
        ]));
        let partial = serving_spend(&cpu, &targets, &settings).unwrap();
        assert_eq!(partial.status, ServingStatus::Partial);
        assert_eq!(partial.deployments.len(), 1);
        assert_eq!(partial.deployments[0].target.version.as_deref(), Some("1"));
        assert!((partial.total_usd - 12.5 * settings.cpu_second_price_usd).abs() < 1e-15);
        assert_eq!(partial.unmeasured_targets.len(), 2);

        let all = answer(json!([
            {"metric": v1, "time": 0, "value": 1.0},
            {"metric": v2, "time": 0, "value": 2.0},
            {"metric": router, "time": 0, "value": 3.0},
        ]));
        let measured = serving_spend(&all, &targets, &settings).unwrap();
        assert_eq!(measured.status, ServingStatus::Measured);
        assert_eq!(measured.cpu_seconds, 6.0);
        assert!(measured.missing.is_none());

        let empty = serving_spend(&answer(json!([])), &answer(json!([])), &settings).unwrap();
        assert_eq!(empty.status, ServingStatus::NoDeployments);
    }

    #[test]
    fn totals_say_when_they_are_incomplete() {
        let settings = settings();
        let window = SpendWindow {
            from: at("2026-01-05T10:00:00Z"),
            to: at("2026-01-05T11:00:00Z"),
            seconds: 3600,
        };
        let training = training_spend(&[], &window, &settings.training_instance);
        let targets = answer(
            json!([{"metric": {"model": "m", "version": "1", "component": "model-server"}, "value": 1}]),
        );
        let serving = serving_spend(&answer(json!([])), &targets, &settings).unwrap();
        let totals = totals(&training, &serving);
        assert!(!totals.complete);
        assert!(totals.incomplete_because[0].contains(CPU_METRIC));
    }
}
