//! The traffic router's metrics, read through the metrics server's
//! `query_instant` tool.
//!
//! The contract (each router exports it at `/metrics`, Prometheus scrapes):
//! `mlops_router_requests_total{model,version,code}` (counter; a 5xx `code`
//! is an error), `mlops_router_request_duration_seconds{model,version}`
//! (histogram) and `mlops_router_traffic_weight{model,version}` (gauge,
//! percent).

use std::collections::BTreeMap;

use mlops_agent_kit::SkillError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::tools::{Tools, call_as};

pub const REQUESTS: &str = "mlops_router_requests_total";
pub const DURATION_BUCKETS: &str = "mlops_router_request_duration_seconds_bucket";
pub const TRAFFIC_WEIGHT: &str = "mlops_router_traffic_weight";

/// Series an instant query may return before the answer is cut short.
const SERIES_LIMIT: u32 = 2_000;

/// One series of an instant vector: its labels and value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// NaN where Prometheus said "NaN" (e.g. a quantile of no requests).
    pub value: f64,
}

#[derive(Debug, Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: Value,
}

#[derive(Debug, Deserialize)]
struct InstantAnswer {
    result_type: String,
    #[serde(default)]
    series: Vec<RawSeries>,
    #[serde(default)]
    truncated: bool,
}

/// A sample value as the metrics server writes it: a number, or
/// Prometheus's text for NaN and ±Inf.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// Evaluates `query` at unix time `at` and returns its vector.
pub async fn instant(tools: &dyn Tools, query: &str, at: f64) -> Result<Vec<Sample>, SkillError> {
    let answer: InstantAnswer = call_as(
        tools,
        "metrics",
        "query_instant",
        json!({ "query": query, "time": at, "limit": SERIES_LIMIT }),
    )
    .await?;
    if answer.result_type != "vector" {
        return Err(SkillError::failed(format!(
            "metrics/query_instant answered {query} with a {}, not a vector",
            answer.result_type
        )));
    }
    if answer.truncated {
        return Err(SkillError::failed(format!(
            "{query} matched more than {SERIES_LIMIT} series; the answer would be partial"
        )));
    }
    answer
        .series
        .into_iter()
        .map(|s| {
            let value = number(&s.value).ok_or_else(|| {
                SkillError::failed(format!(
                    "{query}: a sample value {} is not a number",
                    s.value
                ))
            })?;
            Ok(Sample {
                labels: s.metric,
                value,
            })
        })
        .collect()
}

/// `samples` keyed by their `version` label; series without one are left out.
pub fn by_version(samples: &[Sample]) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter_map(|s| Some((s.labels.get("version")?.clone(), s.value)))
        .collect()
}

/// Numeric versions in numeric order, others after them by text.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// Now, as the unix seconds Prometheus takes (millisecond precision).
pub fn now_unix() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_numbers_and_prometheus_texts() {
        assert_eq!(number(&json!(1.5)), Some(1.5));
        assert!(number(&json!("NaN")).unwrap().is_nan());
        assert_eq!(number(&json!("+Inf")), Some(f64::INFINITY));
        assert_eq!(number(&json!("2")), Some(2.0));
        assert_eq!(number(&json!(null)), None);
    }

    #[test]
    fn versions_sort_numerically() {
        let mut v = vec!["10", "9", "canary", "1"];
        v.sort_by(|a, b| version_order(a, b));
        assert_eq!(v, ["1", "9", "10", "canary"]);
    }
}
