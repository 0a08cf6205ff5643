//! `monitor-model-performance`: per version of a model over a window,
//! request rate, error rate, p50/p95 latency and traffic weight, from the
//! router's metrics in Prometheus; plus the alerts firing for the model.

use std::collections::{BTreeMap, BTreeSet};

use mlops_agent_kit::{SkillError, SkillOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::MonitoringConfig;
use crate::model::ModelName;
use crate::router_metrics::{
    DURATION_BUCKETS, REQUESTS, TRAFFIC_WEIGHT, by_version, instant, now_unix, version_order,
};
use crate::tools::{Tools, call_as};

/// Longest window: a day.
pub const MAX_WINDOW_SECONDS: u32 = 86_400;

/// Input of `monitor-model-performance`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerformanceInput {
    /// The model, as deployed and labelled by its router, e.g. "fraud-detector".
    pub model: String,
    /// The window rates and quantiles are taken over, in seconds (10-86400;
    /// default from the agent's config, 300). Make it several scrape intervals long.
    #[serde(default)]
    pub window_seconds: Option<u32>,
}

/// One version's numbers over the window. A number is absent where there
/// is nothing to compute it from (no requests: no error rate, no latency).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VersionPerformance {
    pub version: String,
    /// The router's current weight for this version, percent.
    pub traffic_weight_percent: Option<f64>,
    pub requests_per_second: f64,
    /// 5xx responses / all responses.
    pub error_rate: Option<f64>,
    pub p50_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
}

/// An alert Prometheus's rules hold firing for the model.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FiringAlert {
    /// The rule's name, e.g. "ModelVersionErrorRateHigh".
    pub name: String,
    pub version: Option<String>,
    pub severity: Option<String>,
    pub summary: Option<String>,
    /// Since when the condition holds (RFC 3339).
    pub active_at: Option<String>,
    /// The expression's value when last evaluated.
    pub value: Option<String>,
}

/// Output of `monitor-model-performance`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PerformanceOutput {
    pub model: String,
    pub window_seconds: u32,
    /// When every number was evaluated (RFC 3339): all at one instant.
    pub evaluated_at: String,
    /// Oldest version first.
    pub versions: Vec<VersionPerformance>,
    pub firing_alerts: Vec<FiringAlert>,
}

/// As the metrics server passes Prometheus's alert on (camelCase).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAlert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    active_at: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AlertsAnswer {
    alerts: Vec<RawAlert>,
}

/// The PromQL for each number; `model` is a validated slug and the window
/// is rendered from a number, so nothing from input is pasted as text.
fn queries(model: &ModelName, window_seconds: u32) -> [String; 5] {
    let m = model.as_str();
    let w = format!("{window_seconds}s");
    let quantile = |q: f64| {
        format!(
            "histogram_quantile({q}, sum by (version, le) (rate({DURATION_BUCKETS}{{model=\"{m}\"}}[{w}])))"
        )
    };
    [
        format!("sum by (version) (rate({REQUESTS}{{model=\"{m}\"}}[{w}]))"),
        format!("sum by (version) (rate({REQUESTS}{{model=\"{m}\",code=~\"5..\"}}[{w}]))"),
        quantile(0.5),
        quantile(0.95),
        format!("max by (version) ({TRAFFIC_WEIGHT}{{model=\"{m}\"}})"),
    ]
}

pub async fn run(
    tools: &dyn Tools,
    config: &MonitoringConfig,
    input: PerformanceInput,
) -> Result<SkillOutcome, SkillError> {
    let model = ModelName::parse("model", &input.model)?;
    let window_seconds = input
        .window_seconds
        .unwrap_or(config.performance_window_seconds);
    if !(10..=MAX_WINDOW_SECONDS).contains(&window_seconds) {
        return Err(SkillError::bad_field(
            "window_seconds",
            format!("{window_seconds} must be between 10 and {MAX_WINDOW_SECONDS}"),
        ));
    }

    let at = now_unix();
    let [requests, errors, p50, p95, weights] = queries(&model, window_seconds);
    let (requests, errors, p50, p95, weights) = tokio::try_join!(
        instant(tools, &requests, at),
        instant(tools, &errors, at),
        instant(tools, &p50, at),
        instant(tools, &p95, at),
        instant(tools, &weights, at),
    )?;
    let (requests, errors, p50, p95, weights) = (
        by_version(&requests),
        by_version(&errors),
        by_version(&p50),
        by_version(&p95),
        by_version(&weights),
    );
    let mut names: Vec<&String> = requests
        .keys()
        .chain(weights.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    names.sort_by(|a, b| version_order(a, b));
    let finite =
        |map: &BTreeMap<String, f64>, v: &str| map.get(v).copied().filter(|x| x.is_finite());
    let versions: Vec<VersionPerformance> = names
        .into_iter()
        .map(|v| {
            let rps = finite(&requests, v).unwrap_or(0.0);
            let served = rps > 0.0;
            let ms =
                |map: &BTreeMap<String, f64>| finite(map, v).filter(|_| served).map(|s| s * 1000.0);
            VersionPerformance {
                version: v.clone(),
                traffic_weight_percent: finite(&weights, v),
                requests_per_second: rps,
                error_rate: served.then(|| finite(&errors, v).unwrap_or(0.0) / rps),
                p50_latency_ms: ms(&p50),
                p95_latency_ms: ms(&p95),
            }
        })
        .collect();

    let alerts: AlertsAnswer = call_as(
        tools,
        "metrics",
        "get_alerts",
        json!({ "state": "firing", "model": model.as_str() }),
    )
    .await?;
    let firing_alerts: Vec<FiringAlert> = alerts
        .alerts
        .into_iter()
        .map(|a| FiringAlert {
            name: a.labels.get("alertname").cloned().unwrap_or_default(),
            version: a.labels.get("version").cloned(),
            severity: a.labels.get("severity").cloned(),
            summary: a.annotations.get("summary").cloned(),
            active_at: a.active_at,
            value: a.value,
        })
        .collect();

    let output = PerformanceOutput {
        model: model.to_string(),
        window_seconds,
        evaluated_at: chrono::DateTime::from_timestamp_millis((at * 1000.0) as i64)
            .unwrap_or_default()
            .to_rfc3339(),
        versions,
        firing_alerts,
    };
    let summary = summary(&output);
    Ok(SkillOutcome::single("model-performance", output, summary))
}

fn summary(output: &PerformanceOutput) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} ms"));
    let versions: Vec<String> = output
        .versions
        .iter()
        .map(|v| {
            let weight = v
                .traffic_weight_percent
                .map(|w| format!(" ({w}%)"))
                .unwrap_or_default();
            match v.error_rate {
                None => format!("v{}{weight}: no traffic", v.version),
                Some(rate) => format!(
                    "v{}{weight}: {:.2} rps, {:.2}% errors, p50 {}, p95 {}",
                    v.version,
                    v.requests_per_second,
                    rate * 100.0,
                    ms(v.p50_latency_ms),
                    ms(v.p95_latency_ms)
                ),
            }
        })
        .collect();
    let versions = if versions.is_empty() {
        "no router metrics".to_owned()
    } else {
        versions.join("; ")
    };
    let alerts = if output.firing_alerts.is_empty() {
        "no alerts firing".to_owned()
    } else {
        let names: Vec<String> = output
            .firing_alerts
            .iter()
            .map(|a| match &a.version {
                Some(v) => format!("{} (v{v})", a.name),
                None => a.name.clone(),
            })
            .collect();
        format!("firing: {}", names.join(", "))
    };
    format!(
        "{} over {}s: {versions}; {alerts}",
        output.model, output.window_seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_built_from_validated_parts() {
        let model = ModelName::parse("model", "fraud-detector").unwrap();
        let [requests, errors, _, p95, weight] = queries(&model, 300);
        assert_eq!(
            requests,
            "sum by (version) (rate(mlops_router_requests_total{model=\"fraud-detector\"}[300s]))"
        );
        assert!(errors.contains("code=~\"5..\""));
        assert!(p95.starts_with("histogram_quantile(0.95, sum by (version, le)"));
        assert!(weight.contains("mlops_router_traffic_weight"));
    }
}
