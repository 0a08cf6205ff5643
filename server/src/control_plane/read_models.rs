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
