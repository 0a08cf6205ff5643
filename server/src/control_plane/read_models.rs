//! The dashboards' read models, through MCP with the control plane's own
//! read-only scopes (the access matrix): models, versions and lineage from
//! the registry, deployments from the cluster server, drift reports, and
//! canary-vs-stable metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use mlops_agent_kit::{McpCallError, McpEndpoints, McpPool};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use super::roles::Action;

pub struct ReadModels {
    pool: Option<McpPool>,
}

impl ReadModels {
    pub fn new(
        endpoints: Option<McpEndpoints>,
        tokens: Arc<dyn mlops_agent_kit::client::TokenSource>,
    ) -> Self {
        ReadModels {
            pool: endpoints.map(|e| {
                McpPool::new("control-plane", e, tokens)
                    .call_timeout(std::time::Duration::from_secs(10))
            }),
        }
    }

    pub async fn call(&self, server: &str, tool: &str, args: Value) -> Result<Value, Problem> {
        let pool = self.pool.as_ref().ok_or_else(|| {
            Problem::unavailable("the MCP servers are not configured (MLOPS_MCP_URLS)")
        })?;
        pool.call(server, tool, args).await.map_err(|e| match e {
            McpCallError::Tool { message, .. } if message.contains("may not call") => {
                Problem::bad_gateway(message)
            }
            McpCallError::Tool { message, .. } => Problem::not_found(message),
            other => Problem::bad_gateway(other.to_string()),
        })
    }

    /// Refuses (404) a goal naming a model version the registry lacks.
    /// The tools `server` lists, or why they could not be read.
    pub async fn tools(&self, server: &str) -> Result<Vec<(String, String)>, String> {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| "the MCP servers are not configured (MLOPS_MCP_URLS)".to_owned())?;
        pool.list_tools(server).await.map_err(|e| e.to_string())
    }

    pub async fn version_exists(&self, model: &str, version: u32) -> Result<(), Problem> {
        self.call(
            "registry",
            "get_model_version",
            json!({"model": model, "version": version}),
        )
        .await
        .map(|_| ())
        .map_err(|p| {
            if p.status == axum::http::StatusCode::NOT_FOUND {
                Problem::not_found(format!(
                    "{model} v{version} is not in the registry: {}",
                    p.detail
                ))
            } else {
                p
            }
        })
    }
}

/// `GET /api/models`
pub async fn models(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    Ok(Json(
        state
            .read_models
            .call("registry", "list_models", json!({}))
            .await?,
    ))
}

/// `GET /api/models/{model}/versions`
pub async fn versions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(model): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    Ok(Json(
        state
            .read_models
            .call("registry", "search_versions", json!({"model": model}))
            .await?,
    ))
}

/// `GET /api/models/{model}/versions/{version}/lineage`
pub async fn lineage(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((model, version)): Path<(String, u32)>,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    Ok(Json(
        state
            .read_models
            .call(
                "registry",
                "get_lineage",
                json!({"model": model, "version": version}),
            )
            .await?,
    ))
}

/// `GET /api/deployments`: per-model state from the cluster server.
pub async fn deployments(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    Ok(Json(
        state
            .read_models
            .call("cluster", "get_deployment_status", json!({}))
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftQuery {
    pub model: Option<String>,
    pub since: Option<String>,
    pub limit: Option<u32>,
}

/// `GET /api/drift`: drift reports.
pub async fn drift(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<DriftQuery>,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let mut args = json!({"kind": "drift"});
    if let Some(model) = q.model {
        args["model"] = json!(model);
    }
    if let Some(since) = q.since {
        args["since"] = json!(since);
    }
    if let Some(limit) = q.limit {
        args["limit"] = json!(limit);
    }
    Ok(Json(
        state
            .read_models
            .call("drift", "list_reports", args)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryQuery {
    pub window: Option<String>,
}

/// `GET /api/models/{model}/canary`: canary vs stable from Prometheus.
pub async fn canary(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(model): Path<String>,
    Query(q): Query<CanaryQuery>,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let mut args = json!({"model": model});
    if let Some(window) = q.window {
        args["window"] = json!(window);
    }
    Ok(Json(
        state
            .read_models
            .call("metrics", "canary_vs_stable", args)
            .await?,
    ))
}

/// `GET /api/agents`: every agent `mlops up` started, with its A2A card and
/// health, and every MCP server with its tools. Each is asked directly and
/// in parallel, with a short timeout, so one hung service shows as such
/// instead of hanging the page.
pub async fn agents(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, Problem> {
    use mlops_frontend::api::ServiceKind;
    caller.require(&state, Action::Read, None).await?;
    let services = crate::services::read(&state.data_dir).unwrap_or_default();
    let timeout = std::time::Duration::from_secs(3);
    let agents = services
        .iter()
        .filter(|s| s.kind == ServiceKind::Agent)
        .map(|s| {
            let http = state.http.clone();
            let (name, url) = (s.name.clone(), s.url.clone());
            async move {
                let card = async {
                    let response = http
                        .get(format!("{url}/.well-known/agent-card.json"))
                        .timeout(timeout)
                        .send()
                        .await?
                        .error_for_status()?;
                    response.json::<Value>().await
                }
                .await;
                match card {
                    Ok(card) => json!({"name": name, "url": url, "healthy": true, "card": card}),
                    Err(e) => {
                        json!({"name": name, "url": url, "healthy": false, "error": e.to_string()})
                    }
                }
            }
        });
    let servers = services
        .iter()
        .filter(|s| s.kind == ServiceKind::Mcp)
        .map(|s| {
            let (name, url) = (s.name.clone(), s.url.clone());
            let server = name.strip_prefix("mcp-").unwrap_or(&name).to_owned();
            let read_models = &state.read_models;
            async move {
                match read_models.tools(&server).await {
                    Ok(tools) => {
                        let tools: Vec<Value> = tools
                            .into_iter()
                            .map(|(name, description)| json!({"name": name, "description": description}))
                            .collect();
                        json!({"name": server, "url": url, "healthy": true, "tools": tools})
                    }
                    Err(e) => json!({"name": server, "url": url, "healthy": false, "error": e}),
                }
            }
        });
    let (agents, servers) = tokio::join!(
        futures::future::join_all(agents),
        futures::future::join_all(servers)
    );
    Ok(Json(json!({"agents": agents, "mcp_servers": servers})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftFeaturesQuery {
    pub model: String,
    pub since: Option<String>,
    /// How many recent reports to chart (1–30, default 20).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionsQuery {
    pub model: String,
    /// RFC 3339; the window's start (default: an hour ago).
    pub since: Option<String>,
}

/// `GET /api/predictions?model=…&since=…`: the served scores' distribution
/// per version over the window, from the prediction log (drift server).
pub async fn predictions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<PredictionsQuery>,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let since = q
        .since
        .unwrap_or_else(|| (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339());
    let out = state
        .read_models
        .call(
            "drift",
            "prediction_distribution",
            json!({"model": q.model, "since": since}),
        )
        .await?;
    Ok(Json(out))
}

/// `GET /api/drift/features?model=…`: each feature's drift score over the
/// recent reports, with its test and threshold, and the latest report's
/// histograms — what the monitoring page charts.
pub async fn drift_features(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<DriftFeaturesQuery>,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=30).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 30"));
    }
    let mut args = json!({"kind": "drift", "model": q.model, "limit": limit});
    if let Some(since) = &q.since {
        args["since"] = json!(since);
    }
    let listed = state
        .read_models
        .call("drift", "list_reports", args)
        .await?;
    let summaries = listed["reports"].as_array().cloned().unwrap_or_default();
    let reports = futures::future::join_all(summaries.iter().map(|s| {
        let id = s["id"].as_str().unwrap_or_default().to_owned();
        let read_models = &state.read_models;
        async move {
            read_models
                .call("drift", "get_report", json!({"id": id}))
                .await
        }
    }))
    .await;
    let dated: Vec<(String, Value)> = summaries
        .iter()
        .zip(reports)
        .filter_map(|(s, r)| Some((s["created_at"].as_str()?.to_owned(), r.ok()?)))
        .collect();
    Ok(Json(feature_series(&q.model, dated)))
}

/// Turns `(created_at, report)` pairs, newest first, into per-feature
/// series, oldest first, plus the newest report's columns.
fn feature_series(model: &str, mut reports: Vec<(String, Value)>) -> Value {
    reports.sort_by(|a, b| a.0.cmp(&b.0));
    let mut features: Vec<Value> = Vec::new();
    for (at, report) in &reports {
        let columns = report["report"]["result"]["columns"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for column in columns {
            let name = column["column"].as_str().unwrap_or_default().to_owned();
            let point = json!({
                "at": at,
                "score": column["score"],
                "drift_detected": column["drift_detected"],
            });
            match features.iter_mut().find(|f| f["column"] == name.as_str()) {
                Some(feature) => {
                    if let Some(points) = feature["points"].as_array_mut() {
                        points.push(point);
                    }
                    // The latest report names the test in force now.
                    for key in [
                        "stattest",
                        "stattest_name",
                        "threshold",
                        "score_kind",
                        "drift_condition",
                    ] {
                        feature[key] = column[key].clone();
                    }
                }
                None => features.push(json!({
                    "column": name,
                    "stattest": column["stattest"],
                    "stattest_name": column["stattest_name"],
                    "threshold": column["threshold"],
                    "score_kind": column["score_kind"],
                    "drift_condition": column["drift_condition"],
                    "points": [point],
                })),
            }
        }
    }
    let latest = reports.last().map(|(at, report)| {
        json!({
            "at": at,
            "summary": {
                "dataset_drift": report["report"]["result"]["dataset_drift"],
                "number_of_drifted_columns": report["report"]["result"]["number_of_drifted_columns"],
                "number_of_columns": report["report"]["result"]["number_of_columns"],
            },
            "columns": report["report"]["result"]["columns"],
            "reference": report["report"]["reference"],
            "current": report["report"]["current"],
        })
    });
    json!({"model": model, "reports": reports.len(), "features": features, "latest": latest})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(score: f64, drifted: bool) -> Value {
        json!({"report": {"result": {"dataset_drift": drifted, "number_of_drifted_columns": u8::from(drifted), "number_of_columns": 1,
            "columns": [{"column": "amount", "stattest": "wasserstein", "stattest_name": "Wasserstein distance (normed)",
                "threshold": 0.1, "score_kind": "distance", "drift_condition": "score >= threshold",
                "score": score, "drift_detected": drifted,
                "histogram": {"kind": "bins", "edges": [0.0, 1.0, 2.0], "reference": [5, 5], "current": [1, 9]}}]}}})
    }

    #[test]
    fn series_run_oldest_first_with_the_latest_test() {
        let out = feature_series(
            "fraud-detector",
            vec![
                ("2026-12-04T10:01:00Z".into(), report(0.3, true)),
                ("2026-12-04T10:00:00Z".into(), report(0.05, false)),
            ],
        );
        assert_eq!(out["reports"], 2);
        let amount = &out["features"][0];
        assert_eq!(amount["column"], "amount");
        assert_eq!(amount["threshold"], 0.1);
        assert_eq!(amount["points"][0]["score"], 0.05);
        assert_eq!(amount["points"][1]["drift_detected"], true);
        assert_eq!(out["latest"]["at"], "2026-12-04T10:01:00Z");
        assert_eq!(out["latest"]["columns"][0]["histogram"]["current"][1], 9);
    }

    #[test]
    fn no_reports_is_an_empty_answer() {
        let out = feature_series("m", vec![]);
        assert_eq!(out["features"], json!([]));
        assert!(out["latest"].is_null());
    }
}
