//! Canary analysis: per model version, request rate, error rate, p50/p99
//! latency and traffic weight over a window, from the traffic router's
//! metrics. The version with the most traffic weight is the stable one.
//!
//! The metric contract (exported by the router at `/metrics`):
//! - `mlops_router_requests_total{model,version,code}`: counter; `code` is
//!   the HTTP status the client got, 5xx counts as an error;
//! - `mlops_router_request_duration_seconds{model,version}`: histogram;
//! - `mlops_router_traffic_weight{model,version}`: gauge, percent.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use mlops_mcp_kit::ToolError;
use serde::Serialize;

use crate::client::{PrometheusClient, QueryResult};
use crate::domain::{ModelLabel, PromDuration, PromQl, PromTime};

pub const REQUESTS: &str = "mlops_router_requests_total";
pub const DURATION_BUCKETS: &str = "mlops_router_request_duration_seconds_bucket";
pub const TRAFFIC_WEIGHT: &str = "mlops_router_traffic_weight";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Stable,
    Canary,
}

/// One version's numbers over the window; `None` where there is nothing
/// to compute from (no traffic: no error rate, no latency), never NaN.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStats {
    pub version: String,
    pub role: Option<Role>,
    /// The router's current weight for this version, percent.
    pub traffic_weight_percent: Option<f64>,
    pub requests_per_second: f64,
    pub errors_per_second: f64,
    /// 5xx responses / all responses.
    pub error_rate: Option<f64>,
    pub p50_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    /// Why a number is missing, when one is.
    pub note: Option<String>,
}

/// A canary against the stable version: canary minus stable.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub version: String,
    pub error_rate_delta: Option<f64>,
    pub p50_delta_seconds: Option<f64>,
    pub p99_delta_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    pub model: String,
    pub window: String,
    pub evaluated_at: String,
    pub stable_version: Option<String>,
    /// What decided which version is stable: "traffic_weight" or "request_rate".
    pub role_basis: Option<&'static str>,
    pub versions: Vec<VersionStats>,
    pub canaries_vs_stable: Vec<Comparison>,
    pub note: Option<String>,
}

/// The PromQL for each number, from validated parts only: `model` is a
/// slug and `window` is rendered from a number.
pub struct CanaryQueries {
    pub requests: String,
    pub errors: String,
    pub p50: String,
    pub p99: String,
    pub weight: String,
}

impl CanaryQueries {
    pub fn new(model: &ModelLabel, window: PromDuration) -> Self {
        let m = model.as_str();
        let quantile = |q: f64| {
            format!(
                "histogram_quantile({q}, sum by (version, le) (rate({DURATION_BUCKETS}{{model=\"{m}\"}}[{window}])))"
            )
        };
        CanaryQueries {
            requests: format!("sum by (version) (rate({REQUESTS}{{model=\"{m}\"}}[{window}]))"),
            errors: format!(
                "sum by (version) (rate({REQUESTS}{{model=\"{m}\",code=~\"5..\"}}[{window}]))"
            ),
            p50: quantile(0.5),
            p99: quantile(0.99),
            weight: format!("max by (version) ({TRAFFIC_WEIGHT}{{model=\"{m}\"}})"),
        }
    }
}

/// Runs the analysis at one instant, so every number is from the same moment.
pub async fn canary_vs_stable(
    client: &PrometheusClient,
    model: &ModelLabel,
    window: PromDuration,
    only_versions: Option<&[String]>,
) -> Result<CanaryReport, ToolError> {
    let at = PromTime::now();
    let queries = CanaryQueries::new(model, window);
    let by_version = async |query: &str| -> Result<BTreeMap<String, f64>, ToolError> {
        let query = PromQl::parse(query)?;
        let answer = client.instant(&query, Some(at)).await?;
        let QueryResult::Vector(series) = answer.result else {
            return Err(ToolError::Internal(format!(
                "Prometheus answered {} with a {}, not a vector",
                query.as_str(),
                answer.result.kind()
            )));
        };
        Ok(series
            .into_iter()
            .filter_map(|s| Some((s.metric.get("version")?.clone(), s.sample.value)))
            .collect())
    };
    let (requests, errors, p50, p99, weights) = tokio::try_join!(
        by_version(&queries.requests),
        by_version(&queries.errors),
        by_version(&queries.p50),
        by_version(&queries.p99),
        by_version(&queries.weight),
    )?;

    let seen: BTreeSet<&String> = requests
        .keys()
        .chain(weights.keys())
        .chain(p50.keys())
        .collect();
    if seen.is_empty() {
        let known = client
            .label_values("model", "{__name__=~\"mlops_router_.+\"}")
            .await?;
        if !known.iter().any(|k| k == model.as_str()) {
            let known = if known.is_empty() {
                "it has none from any router yet".to_owned()
            } else {
                format!("models it has: {}", known.join(", "))
            };
            return Err(ToolError::NotFound(format!(
                "Prometheus has no router metrics for model {:?}; {known}",
                model.as_str()
            )));
        }
    }

    let finite =
        |map: &BTreeMap<String, f64>, v: &str| map.get(v).copied().filter(|x| x.is_finite());
    let mut versions: Vec<VersionStats> = seen
        .iter()
        .map(|v| {
            let rps = finite(&requests, v).unwrap_or(0.0);
            let errors_per_second = if rps > 0.0 {
                finite(&errors, v).unwrap_or(0.0)
            } else {
                0.0
            };
            let served = rps > 0.0;
            VersionStats {
                version: (*v).clone(),
                role: None,
                traffic_weight_percent: finite(&weights, v),
                requests_per_second: rps,
                errors_per_second,
                error_rate: served.then(|| errors_per_second / rps),
                // With no requests the quantiles are NaN; with some they are numbers.
                p50_seconds: finite(&p50, v).filter(|_| served),
                p99_seconds: finite(&p99, v).filter(|_| served),
                note: (!served).then(|| format!("no traffic in the last {window}")),
            }
        })
        .collect();
    versions.sort_by(|a, b| version_order(&a.version, &b.version));

    let (stable, basis) = pick_stable(&versions);
    for v in &mut versions {
        v.role = stable.as_ref().map(|s| {
            if &v.version == s {
                Role::Stable
            } else {
                Role::Canary
            }
        });
    }
    let stable_stats = stable
        .as_ref()
        .and_then(|s| versions.iter().find(|v| &v.version == s))
        .cloned();
    let delta = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    let canaries_vs_stable = match &stable_stats {
        None => Vec::new(),
        Some(s) => versions
            .iter()
            .filter(|v| v.version != s.version)
            .map(|v| Comparison {
                version: v.version.clone(),
                error_rate_delta: delta(v.error_rate, s.error_rate),
                p50_delta_seconds: delta(v.p50_seconds, s.p50_seconds),
                p99_delta_seconds: delta(v.p99_seconds, s.p99_seconds),
            })
            .collect(),
    };

    let mut canaries_vs_stable = canaries_vs_stable;
    if let Some(only) = only_versions {
        for wanted in only {
            if !versions.iter().any(|v| &v.version == wanted) {
                versions.push(VersionStats {
                    version: wanted.clone(),
                    role: None,
                    traffic_weight_percent: None,
                    requests_per_second: 0.0,
                    errors_per_second: 0.0,
                    error_rate: None,
                    p50_seconds: None,
                    p99_seconds: None,
                    note: Some(format!(
                        "no router has reported version {wanted} of {}",
                        model.as_str()
                    )),
                });
            }
        }
        versions.retain(|v| only.contains(&v.version));
        canaries_vs_stable.retain(|c| only.contains(&c.version));
    }

    let note = versions.is_empty().then(|| {
        format!(
            "Prometheus has seen {} before, but no router reports it now",
            model.as_str()
        )
    });
    Ok(CanaryReport {
        model: model.as_str().to_owned(),
        window: window.to_string(),
        evaluated_at: at.rfc3339(),
        stable_version: stable,
        role_basis: basis,
        versions,
        canaries_vs_stable,
        note,
    })
}

/// Numeric versions in numeric order, others after them by text.
fn version_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// The stable version carries the most traffic weight; where the router
/// reports no weights, the most requests. Ties go to the older version.
fn pick_stable(versions: &[VersionStats]) -> (Option<String>, Option<&'static str>) {
    let best = |key: &dyn Fn(&VersionStats) -> Option<f64>| {
        versions
            .iter()
            .filter_map(|v| key(v).map(|k| (k, v)))
            // `versions` is sorted oldest first; keep the first of equals.
            .fold(None::<(f64, &VersionStats)>, |best, (k, v)| match best {
                Some((b, _)) if b >= k => best,
                _ => Some((k, v)),
            })
            .map(|(_, v)| v.version.clone())
    };
    if let Some(v) = best(&|v| v.traffic_weight_percent) {
        return (Some(v), Some("traffic_weight"));
    }
    if let Some(v) = best(&|v| Some(v.requests_per_second).filter(|r| *r > 0.0)) {
        return (Some(v), Some("request_rate"));
    }
    (None, None)
}

impl CanaryReport {
    /// One line for people.
    pub fn summary(&self) -> String {
        if self.versions.is_empty() {
            return format!(
                "{} over {}: {}",
                self.model,
                self.window,
                self.note.as_deref().unwrap_or("no versions")
            );
        }
        let parts: Vec<String> = self
            .versions
            .iter()
            .map(|v| {
                let role = match v.role {
                    Some(Role::Stable) => " stable",
                    Some(Role::Canary) => " canary",
                    None => "",
                };
                let weight = v
                    .traffic_weight_percent
                    .map(|w| format!(" (weight {w}%)"))
                    .unwrap_or_default();
                match v.error_rate {
                    None => format!(
                        "v{}{role}{weight}: {}",
                        v.version,
                        v.note.as_deref().unwrap_or("no traffic")
                    ),
                    Some(rate) => format!(
                        "v{}{role}{weight}: {:.2} rps, {:.2}% errors, p50 {}, p99 {}",
                        v.version,
                        v.requests_per_second,
                        rate * 100.0,
                        millis(v.p50_seconds),
                        millis(v.p99_seconds)
                    ),
                }
            })
            .collect();
        format!("{} over {}: {}", self.model, self.window, parts.join("; "))
    }
}

fn millis(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "n/a".to_owned(), |s| format!("{:.1} ms", s * 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(version: &str, weight: Option<f64>, rps: f64) -> VersionStats {
        VersionStats {
            version: version.into(),
            role: None,
            traffic_weight_percent: weight,
            requests_per_second: rps,
            errors_per_second: 0.0,
            error_rate: None,
            p50_seconds: None,
            p99_seconds: None,
            note: None,
        }
    }

    #[test]
    fn stable_is_the_heaviest_weight_then_the_busiest_then_the_oldest() {
        let by_weight = [stats("3", Some(90.0), 1.0), stats("4", Some(10.0), 50.0)];
        assert_eq!(
            pick_stable(&by_weight),
            (Some("3".into()), Some("traffic_weight"))
        );
        let by_rate = [stats("3", None, 1.0), stats("4", None, 5.0)];
        assert_eq!(
            pick_stable(&by_rate),
            (Some("4".into()), Some("request_rate"))
        );
        let tie = [stats("3", Some(50.0), 1.0), stats("4", Some(50.0), 1.0)];
        assert_eq!(pick_stable(&tie).0, Some("3".into()));
        assert_eq!(pick_stable(&[stats("3", None, 0.0)]), (None, None));
    }

    #[test]
    fn versions_sort_numerically() {
        let mut v = vec!["10", "9", "canary", "1"];
        v.sort_by(|a, b| version_order(a, b));
        assert_eq!(v, ["1", "9", "10", "canary"]);
    }

    #[test]
    fn queries_are_built_from_validated_parts() {
        let q = CanaryQueries::new(
            &ModelLabel::parse("fraud-detector").unwrap(),
            PromDuration::from_millis(300_000),
        );
        assert_eq!(
            q.requests,
            "sum by (version) (rate(mlops_router_requests_total{model=\"fraud-detector\"}[5m]))"
        );
        assert!(q.errors.contains("code=~\"5..\""));
        assert!(
            q.p99
                .starts_with("histogram_quantile(0.99, sum by (version, le)")
        );
    }
}
