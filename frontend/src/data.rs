//! Server functions: what the pages load and do. Each one is a thin call
//! to the REST API through the [`crate::bridge`], so the rules live in one
//! place. On the server they run in process during rendering; from the
//! browser they are POSTs to `/ui/…` that the server runs the same way.

use leptos::prelude::*;
use serde_json::Value;

use leptos::server_fn::codec::GetUrl;

use crate::api::{DemoState, GateRow, Me, WorkflowDetail, WorkflowRow};
#[cfg(feature = "ssr")]
use crate::bridge::{get, get_optional, post, segment};

#[server(prefix = "/ui", endpoint = "me", input = GetUrl)]
pub async fn current_user() -> Result<Me, ServerFnError> {
    get("/api/me").await
}

#[server(prefix = "/ui", endpoint = "workflows", input = GetUrl)]
pub async fn list_workflows(state: Option<String>) -> Result<Vec<WorkflowRow>, ServerFnError> {
    match state.filter(|s| !s.is_empty()) {
        Some(state) => get(&format!("/api/workflows?state={}", segment(&state))).await,
        None => get("/api/workflows").await,
    }
}

#[server(prefix = "/ui", endpoint = "workflow", input = GetUrl)]
pub async fn workflow(id: String) -> Result<WorkflowDetail, ServerFnError> {
    get(&format!("/api/workflows/{}", segment(&id))).await
}

#[server(prefix = "/ui", endpoint = "cancel")]
pub async fn cancel_workflow(id: String, _csrf: String) -> Result<Value, ServerFnError> {
    post(
        &format!("/api/workflows/{}/cancel", segment(&id)),
        &serde_json::json!({}),
        &_csrf,
    )
    .await
}

#[server(prefix = "/ui", endpoint = "approvals", input = GetUrl)]
pub async fn approvals() -> Result<Vec<GateRow>, ServerFnError> {
    get("/api/approvals").await
}

#[server(prefix = "/ui", endpoint = "decide")]
pub async fn decide(
    workflow: String,
    gate: String,
    decision: String,
    comment: Option<String>,
    _csrf: String,
) -> Result<Value, ServerFnError> {
    let comment = comment.filter(|c| !c.trim().is_empty());
    post(
        &format!("/api/approvals/{}/{}", segment(&workflow), segment(&gate)),
        &serde_json::json!({"decision": decision, "comment": comment}),
        &_csrf,
    )
    .await
}

/// The deploy form's fields, as typed.
#[server(prefix = "/ui", endpoint = "deploy")]
pub async fn start_deploy(
    model: String,
    version: String,
    steps: String,
    analysis_seconds: Option<String>,
    holdout: Option<String>,
    training_data: Option<String>,
    _csrf: String,
) -> Result<Value, ServerFnError> {
    let goal = crate::forms::deploy_goal(
        &model,
        &version,
        &steps,
        analysis_seconds.as_deref(),
        holdout.as_deref(),
        training_data.as_deref(),
    )
    .map_err(ServerFnError::new)?;
    let started: Value = post("/api/workflows", &goal, &_csrf).await?;
    if let Some(id) = started["id"].as_str() {
        leptos_axum::redirect(&format!("/workflows/{}", segment(id)));
    }
    Ok(started)
}

#[server(prefix = "/ui", endpoint = "rollback")]
pub async fn start_rollback(
    model: String,
    version: String,
    reason: String,
    _csrf: String,
) -> Result<Value, ServerFnError> {
    let version: u32 = version
        .trim()
        .parse()
        .map_err(|_| ServerFnError::new("choose the version to take out of traffic"))?;
    let started: Value = post(
        "/api/workflows",
        &serde_json::json!({"goal": "rollback", "model": model, "version": version, "reason": reason}),
        &_csrf,
    )
    .await?;
    if let Some(id) = started["id"].as_str() {
        leptos_axum::redirect(&format!("/workflows/{}", segment(id)));
    }
    Ok(started)
}

#[server(prefix = "/ui", endpoint = "models", input = GetUrl)]
pub async fn models() -> Result<Value, ServerFnError> {
    get("/api/models").await
}

#[server(prefix = "/ui", endpoint = "versions", input = GetUrl)]
pub async fn versions(model: String) -> Result<Value, ServerFnError> {
    get(&format!("/api/models/{}/versions", segment(&model))).await
}

#[server(prefix = "/ui", endpoint = "lineage", input = GetUrl)]
pub async fn lineage(model: String, version: u32) -> Result<Value, ServerFnError> {
    get(&format!(
        "/api/models/{}/versions/{version}/lineage",
        segment(&model)
    ))
    .await
}

#[server(prefix = "/ui", endpoint = "releases", input = GetUrl)]
pub async fn releases(model: String, version: u32) -> Result<Value, ServerFnError> {
    get(&format!(
        "/api/models/{}/versions/{version}/releases",
        segment(&model)
    ))
    .await
}

#[server(prefix = "/ui", endpoint = "deployments", input = GetUrl)]
pub async fn deployments() -> Result<Value, ServerFnError> {
    get("/api/deployments").await
}

#[server(prefix = "/ui", endpoint = "canary", input = GetUrl)]
pub async fn canary(model: String, window: Option<String>) -> Result<Value, ServerFnError> {
    match window.filter(|w| !w.is_empty()) {
        Some(w) => {
            get(&format!(
                "/api/models/{}/canary?window={}",
                segment(&model),
                segment(&w)
            ))
            .await
        }
        None => get(&format!("/api/models/{}/canary", segment(&model))).await,
    }
}

#[server(prefix = "/ui", endpoint = "drift", input = GetUrl)]
pub async fn drift(model: Option<String>, since: Option<String>) -> Result<Value, ServerFnError> {
    let mut query = vec!["limit=200".to_owned()];
    if let Some(m) = model.filter(|m| !m.is_empty()) {
        query.push(format!("model={}", segment(&m)));
    }
    if let Some(s) = since.filter(|s| !s.is_empty()) {
        query.push(format!("since={}", segment(&s)));
    }
    get(&format!("/api/drift?{}", query.join("&"))).await
}

#[server(prefix = "/ui", endpoint = "audit", input = GetUrl)]
pub async fn audit(
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
) -> Result<Vec<Value>, ServerFnError> {
    let mut query = vec!["limit=200".to_owned()];
    for (name, value) in [("actor", actor), ("action", action), ("outcome", outcome)] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            query.push(format!("{name}={}", segment(&v)));
        }
    }
    get(&format!("/api/audit?{}", query.join("&"))).await
}

#[server(prefix = "/ui", endpoint = "verify", input = GetUrl)]
pub async fn verify_audit() -> Result<Value, ServerFnError> {
    get("/api/audit/verify").await
}

#[server(prefix = "/ui", endpoint = "agents", input = GetUrl)]
pub async fn agents() -> Result<Value, ServerFnError> {
    get("/api/agents").await
}

/// The registry's model names, for the deploy form.
#[server(prefix = "/ui", endpoint = "model-names", input = GetUrl)]
pub async fn model_names() -> Result<Vec<String>, ServerFnError> {
    let listed: Value = get("/api/models").await?;
    Ok(listed["models"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .filter_map(|m| m["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

#[server(prefix = "/ui", endpoint = "node-activity", input = GetUrl)]
pub async fn node_activity(workflow: String, node: String) -> Result<Vec<Value>, ServerFnError> {
    get(&format!(
        "/api/workflows/{}/nodes/{}/activity",
        segment(&workflow),
        segment(&node)
    ))
    .await
}

#[server(prefix = "/ui", endpoint = "drift-features", input = GetUrl)]
pub async fn drift_features(model: String, range: Option<String>) -> Result<Value, ServerFnError> {
    let since = crate::forms::since(range.as_deref()).map_err(ServerFnError::new)?;
    get(&format!(
        "/api/drift/features?model={}&since={}",
        segment(&model),
        segment(&since)
    ))
    .await
}

/// The demo panel's state; `None` when not running the demo.
#[server(prefix = "/ui", endpoint = "demo", input = GetUrl)]
pub async fn demo() -> Result<Option<DemoState>, ServerFnError> {
    get_optional("/api/demo").await
}

/// Switches the demo traffic's drift on or off (`on`: "true" or "false").
#[server(prefix = "/ui", endpoint = "demo-drift")]
pub async fn set_demo_drift(on: String, _csrf: String) -> Result<DemoState, ServerFnError> {
    let on = match on.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(ServerFnError::new("on must be true or false")),
    };
    post("/api/demo/drift", &serde_json::json!({ "on": on }), &_csrf).await
}

/// The served scores' distribution per version over the chosen range.
#[server(prefix = "/ui", endpoint = "predictions", input = GetUrl)]
pub async fn predictions(model: String, range: Option<String>) -> Result<Value, ServerFnError> {
    let since = crate::forms::since(range.as_deref()).map_err(ServerFnError::new)?;
    get(&format!(
        "/api/predictions?model={}&since={}",
        segment(&model),
        segment(&since)
    ))
    .await
}
