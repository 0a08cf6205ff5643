//! The metrics MCP server: the time series of the serving path (latency,
//! errors, throughput per model version) from a real Prometheus, through
//! its HTTP API. Tools: `query_instant` and `query_range` (PromQL),
//! `get_alerts`, and `canary_vs_stable`, which compares a model's versions
//! over a window from the traffic router's per-version metrics.
//!
//! [`prometheus`] runs that Prometheus: installs Debian's package if
//! missing, writes its config (one file_sd scrape job plus default alert
//! rules) and keeps the scrape targets current.
//!
//! Scopes (ARCHITECTURE §4): every tool needs `metrics:read` (the
//! monitoring and cost agents, and the control plane). The server owns no
//! tables; its audit rows go to `mcp.tool_calls`.

pub mod canary;
pub mod client;
pub mod domain;
pub mod prometheus;

use std::sync::Arc;

use mlops_mcp_kit::{AuditLog, Caller, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema};
use mlops_service_auth::access::scope::METRICS_READ;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, JsonObject, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

pub use canary::CanaryReport;
pub use client::PrometheusClient;

use client::{QueryAnswer, QueryResult};
use domain::{
    AlertState, ModelLabel, PromDuration, PromQl, PromTime, StepArg, TimeArg, VersionArg,
};

/// The server's name: the audience of its tokens and its audit label.
pub const SERVER: &str = "metrics";

/// Series returned by `query_instant` unless `limit` says otherwise, and the most it may say.
const INSTANT_SERIES: (u32, u32) = (200, 2_000);
/// Series returned by `query_range` unless `limit` says otherwise, and the most it may say.
const RANGE_SERIES: (u32, u32) = (50, 500);
/// Points `query_range` returns across all series; whole series beyond it are left out.
const RANGE_POINTS: usize = 20_000;

/// Alerts `get_alerts` returns at most; `truncated` says if more are active.
const MAX_ALERTS: usize = 500;

/// Which scope each tool needs.
pub fn policy() -> ToolPolicy {
    ToolPolicy::new(&[
        ("query_instant", METRICS_READ),
        ("query_range", METRICS_READ),
        ("get_alerts", METRICS_READ),
        ("canary_vs_stable", METRICS_READ),
    ])
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryInstant {
    /// A PromQL expression, e.g. `sum by (version) (rate(mlops_router_requests_total{model="fraud-detector"}[5m]))`.
    pub query: String,
    /// When to evaluate it: RFC 3339, unix seconds, "now" or "now-15m". Default: now.
    #[serde(default)]
    pub time: Option<TimeArg>,
    /// Return at most this many series (1-2000, default 200); `truncated` says if more matched.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRange {
    /// A PromQL expression.
    pub query: String,
    /// Range start: RFC 3339, unix seconds, "now" or "now-1h".
    pub start: TimeArg,
    /// Range end, not before `start`: RFC 3339, unix seconds, "now" or "now-5m".
    pub end: TimeArg,
    /// Resolution: a duration such as "15s", or seconds. At most 11,000 points per series.
    pub step: StepArg,
    /// Return at most this many series (1-500, default 50); `truncated` says if more matched.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetAlerts {
    /// Only alerts in this state: "firing" or "pending". Default: both.
    #[serde(default)]
    pub state: Option<String>,
    /// Only alerts about this model (their `model` label).
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryVsStable {
    /// The model, as in the router's `model` label, e.g. "fraud-detector".
    pub model: String,
    /// The window rates and quantiles are taken over, e.g. "5m" (10s-31d, default 5m).
    /// Make it several scrape intervals long.
    #[serde(default)]
    pub window: Option<String>,
    /// Only these versions (numbers or labels). Default: every version the router reports.
    #[serde(default)]
    pub versions: Option<Vec<VersionArg>>,
}

/// The metrics server: one per connection; cheap to clone.
#[derive(Clone)]
pub struct MetricsServer {
    kit: Arc<ToolKit>,
    prometheus: PrometheusClient,
    tool_router: ToolRouter<Self>,
}

impl MetricsServer {
    /// A server querying the Prometheus at `prometheus_url` (e.g.
    /// `http://127.0.0.1:9099`), auditing every call in `pool`.
    pub fn new(prometheus_url: String, pool: PgPool) -> Self {
        let kit = ToolKit::new(SERVER, policy(), Some(AuditLog::new(pool, SERVER)));
        MetricsServer {
            kit: Arc::new(kit),
            prometheus: PrometheusClient::new(prometheus_url),
            tool_router: Self::tool_router(),
        }
    }

    pub fn kit(&self) -> &ToolKit {
        &self.kit
    }
}

fn limit(raw: Option<u32>, (default, max): (u32, u32)) -> Result<usize, ToolError> {
    let limit = raw.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ToolError::Invalid(format!(
            "limit {limit} must be between 1 and {max}"
        )));
    }
    Ok(limit as usize)
}

/// A sample value as JSON: a number, or Prometheus's text for NaN and ±Inf.
fn number(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else if value.is_nan() {
        json!("NaN")
    } else if value > 0.0 {
        json!("+Inf")
    } else {
        json!("-Inf")
    }
}

fn labels_text(metric: &client::Labels) -> String {
    let name = metric.get("__name__").cloned().unwrap_or_default();
    let labels: Vec<String> = metric
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// Shapes an instant query's answer, keeping at most `limit` series.
fn instant_output(answer: QueryAnswer, limit: usize) -> ToolOutput {
    let warnings = answer.warnings;
    match answer.result {
        QueryResult::Vector(mut series) => {
            series.sort_by(|a, b| a.metric.cmp(&b.metric));
            let total = series.len();
            series.truncate(limit);
            let shown: Vec<String> = series
                .iter()
                .take(5)
                .map(|s| format!("{} {}", labels_text(&s.metric), number(s.sample.value)))
                .collect();
            let more = if total > shown.len() {
                format!(" (+{} more)", total - shown.len())
            } else {
                String::new()
            };
            ToolOutput::new(
                format!("{total} series: {}{more}", shown.join("; ")),
                json!({
                    "result_type": "vector",
                    "series": series.iter().map(|s| json!({
                        "metric": s.metric,
                        "time": s.sample.time,
                        "value": number(s.sample.value),
                    })).collect::<Vec<_>>(),
                    "series_total": total,
                    "truncated": total > series.len(),
                    "warnings": warnings,
                }),
            )
        }
        QueryResult::Scalar(sample) => ToolOutput::new(
            format!("scalar {}", number(sample.value)),
            json!({"result_type": "scalar", "time": sample.time, "value": number(sample.value), "warnings": warnings}),
        ),
        QueryResult::String { time, value } => ToolOutput::new(
            format!("string {value:?}"),
            json!({"result_type": "string", "time": time, "value": value, "warnings": warnings}),
        ),
        // An instant query never yields a matrix unless the expression is a
        // range selector, which Prometheus returns as one; pass it through.
        QueryResult::Matrix(series) => range_output(
            QueryAnswer {
                result: QueryResult::Matrix(series),
                warnings,
            },
            limit,
        ),
    }
}

/// Shapes a range query's answer: at most `limit` series and
/// [`RANGE_POINTS`] points in all, whole series at a time.
fn range_output(answer: QueryAnswer, limit: usize) -> ToolOutput {
    let QueryResult::Matrix(mut series) = answer.result else {
        return instant_output(answer, limit);
    };
    series.sort_by(|a, b| a.metric.cmp(&b.metric));
    let total = series.len();
    let mut points = 0;
    let mut kept = Vec::new();
    for s in series.into_iter().take(limit) {
        if points + s.samples.len() > RANGE_POINTS && !kept.is_empty() {
            break;
        }
        points += s.samples.len();
        kept.push(s);
    }
    let names: Vec<String> = kept
        .iter()
        .take(5)
        .map(|s| labels_text(&s.metric))
        .collect();
    ToolOutput::new(
        format!(
            "{total} series, {points} points{}: {}",
            if total > kept.len() {
                format!(" ({} shown)", kept.len())
            } else {
                String::new()
            },
            names.join("; ")
        ),
        json!({
            "result_type": "matrix",
            "series": kept.iter().map(|s| json!({
                "metric": s.metric,
                "values": s.samples.iter().map(|p| json!([p.time, number(p.value)])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "series_total": total,
            "points": points,
            "truncated": total > kept.len(),
            "warnings": answer.warnings,
        }),
    )
}

#[tool_router]
impl MetricsServer {
    /// Evaluates a PromQL expression at one instant (now by default).
    #[tool(name = "query_instant", input_schema = input_schema::<QueryInstant>())]
    async fn query_instant(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "query_instant",
                raw,
                async |args: QueryInstant, _caller: &Caller| {
                    let query = PromQl::parse(&args.query)?;
                    let limit = limit(args.limit, INSTANT_SERIES)?;
                    let time = args
                        .time
                        .as_ref()
                        .map(|t| PromTime::parse("time", t, PromTime::now()))
                        .transpose()?;
                    let answer = self.prometheus.instant(&query, time).await?;
                    Ok(instant_output(answer, limit))
                },
            )
            .await
    }

    /// Evaluates a PromQL expression over a time range at a fixed step.
    #[tool(name = "query_range", input_schema = input_schema::<QueryRange>())]
    async fn query_range(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "query_range",
                raw,
                async |args: QueryRange, _caller: &Caller| {
                    let query = PromQl::parse(&args.query)?;
                    let limit = limit(args.limit, RANGE_SERIES)?;
                    let now = PromTime::now();
                    let start = PromTime::parse("start", &args.start, now)?;
                    let end = PromTime::parse("end", &args.end, now)?;
                    let step = PromDuration::parse_step(&args.step)?;
                    domain::check_range(start, end, step)?;
                    let answer = self.prometheus.range(&query, start, end, step).await?;
                    Ok(range_output(answer, limit))
                },
            )
            .await
    }

    /// The alerts Prometheus's rules hold active (pending or firing).
    #[tool(name = "get_alerts", input_schema = input_schema::<GetAlerts>())]
    async fn get_alerts(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_alerts",
                raw,
                async |args: GetAlerts, _caller: &Caller| {
                    let state = args.state.as_deref().map(AlertState::parse).transpose()?;
                    let model = args.model.as_deref().map(ModelLabel::parse).transpose()?;
                    let mut alerts = self.prometheus.alerts().await?;
                    alerts.retain(|a| {
                        state.is_none_or(|s| a.state == s.as_str())
                            && model.as_ref().is_none_or(|m| {
                                a.labels.get("model").map(String::as_str) == Some(m.as_str())
                            })
                    });
                    alerts.sort_by(|a, b| (&a.state, &a.labels).cmp(&(&b.state, &b.labels)));
                    let names: Vec<String> = alerts
                        .iter()
                        .take(10)
                        .map(|a| {
                            let name = a.labels.get("alertname").map(String::as_str).unwrap_or("?");
                            let about: Vec<String> = ["model", "version", "instance"]
                                .iter()
                                .filter_map(|k| a.labels.get(*k).map(|v| format!("{k}={v}")))
                                .collect();
                            format!("{name} {} ({})", a.state, about.join(" "))
                        })
                        .collect();
                    let summary = if alerts.is_empty() {
                        "no active alerts".to_owned()
                    } else {
                        format!("{} active: {}", alerts.len(), names.join("; "))
                    };
                    let total = alerts.len();
                    alerts.truncate(MAX_ALERTS);
                    Ok(ToolOutput::new(
                        summary,
                        json!({ "alerts": alerts, "alerts_total": total, "truncated": total > MAX_ALERTS }),
                    ))
                },
            )
            .await
    }

    /// Per version of a model over a window: requests per second, error
    /// rate (5xx share), p50/p99 latency and traffic weight; the version
    /// with the most weight is `stable`, the others `canary`.
    #[tool(name = "canary_vs_stable", input_schema = input_schema::<CanaryVsStable>())]
    async fn canary_vs_stable(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "canary_vs_stable",
                raw,
                async |args: CanaryVsStable, _caller: &Caller| {
                    let model = ModelLabel::parse(&args.model)?;
                    let window = domain::window(args.window.as_deref().unwrap_or("5m"))?;
                    let versions = args
                        .versions
                        .as_ref()
                        .map(|vs| {
                            if vs.is_empty() || vs.len() > 50 {
                                return Err(ToolError::Invalid(
                                    "versions must list 1-50 versions, or be left out".into(),
                                ));
                            }
                            vs.iter()
                                .map(domain::version_label)
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .transpose()?;
                    let report = canary::canary_vs_stable(
                        &self.prometheus,
                        &model,
                        window,
                        versions.as_deref(),
                    )
                    .await?;
                    Ok(ToolOutput::new(report.summary(), &report))
                },
            )
            .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MetricsServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mlops-metrics", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Time series of the serving path from Prometheus: PromQL instant and range queries, \
                 active alerts, and canary_vs_stable, which compares a model's versions (request rate, \
                 error rate, p50/p99 latency, traffic weight) over a window.",
            )
    }
}
