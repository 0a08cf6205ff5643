//! The console's demo panel, when `mlops up` seeded the demo in this data
//! dir: the seeded versions, and the traffic generator's drift switch.
//!
//! The faulty canary is not a control here: the panel links to the deploy
//! form with the faulty version filled in, so it goes through the
//! orchestrator, its analysis and its automatic rollback like any release.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::audit::{self, Entry, Outcome};
use super::auth::Caller;
use super::problem::Problem;
use super::roles::Action;
use crate::services::{self, ServiceKind};

pub use mlops_frontend::api::DemoState;

/// The seeded demo, and where its traffic generator listens.
fn seeded(state: &AppState) -> Result<(crate::demo::SeededDemo, String), Problem> {
    let not_demo = || Problem::not_found("this control plane is not running the demo");
    let text = std::fs::read_to_string(crate::demo::seeded_path(&state.data_dir))
        .map_err(|_| not_demo())?;
    let demo: crate::demo::SeededDemo = serde_json::from_str(&text).map_err(|e| {
        Problem::bad_gateway(format!("the seeded demo's record is unreadable: {e}"))
    })?;
    let traffic = services::read(&state.data_dir)
        .ok()
        .and_then(|list| list.into_iter().find(|s| s.kind == ServiceKind::Traffic))
        .ok_or_else(not_demo)?;
    Ok((demo, traffic.url))
}

fn admin_token(state: &AppState) -> Result<String, Problem> {
    std::fs::read_to_string(state.data_dir.join("keys").join("traffic-admin-token"))
        .map(|t| t.trim().to_owned())
        .map_err(|e| Problem::bad_gateway(format!("the traffic generator's admin token: {e}")))
}

async fn traffic_state(state: &AppState, traffic: &str) -> Result<Value, Problem> {
    let response = state
        .http
        .get(format!("{traffic}/state"))
        .send()
        .await
        .map_err(|e| Problem::bad_gateway(format!("the traffic generator: {e}")))?;
    response
        .json()
        .await
        .map_err(|e| Problem::bad_gateway(format!("the traffic generator's state: {e}")))
}

fn demo_state(demo: &crate::demo::SeededDemo, traffic: &Value) -> DemoState {
    let dataset = |d: &Value| match (d["name"].as_str(), d["version"].as_str()) {
        (Some(name), Some(version)) => Some(format!("{name}@{version}")),
        _ => None,
    };
    DemoState {
        holdout: dataset(&demo.holdout),
        training_data: dataset(&demo.train),
        model: demo.model.clone(),
        champion: demo.champion,
        candidate: demo.candidate,
        faulty: demo.faulty,
        drift: traffic["drift"].as_bool().unwrap_or(false),
        rate_per_sec: traffic["rate_per_sec"].as_f64().unwrap_or(0.0),
    }
}

/// `GET /api/demo`
#[utoipa::path(get, path = "/api/demo", tag = "demo", responses((status = 200, body = DemoState), (status = 404, description = "not running the demo")))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<DemoState>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let (demo, traffic) = seeded(&state)?;
    let now = traffic_state(&state, &traffic).await?;
    Ok(Json(demo_state(&demo, &now)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSwitch {
    /// true: the generator drifts its inputs; false: back to the training
    /// distribution.
    pub on: bool,
}

/// `POST /api/demo/drift`
#[utoipa::path(post, path = "/api/demo/drift", tag = "demo", responses((status = 200, body = DemoState), (status = 403, description = "role"), (status = 404, description = "not running the demo")))]
pub async fn set_drift(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Result<Json<DriftSwitch>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<DemoState>, Problem> {
    let Json(switch) = body.map_err(|e| Problem::bad_request(e.body_text()))?;
    caller
        .require(&state, Action::Demo, Some("traffic"))
        .await?;
    let (demo, traffic) = seeded(&state)?;
    let response = state
        .http
        .put(format!("{traffic}/controls"))
        .bearer_auth(admin_token(&state)?)
        .json(&json!({ "drift": switch.on }))
        .send()
        .await
        .map_err(|e| Problem::bad_gateway(format!("the traffic generator: {e}")))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(Problem::bad_gateway(format!(
            "the traffic generator said {status}: {body}"
        )));
    }
    audit::record(
        &state.pool,
        &Entry {
            actor: &caller.subject,
            action: "demo-drift",
            target: Some(&demo.model),
            outcome: Outcome::Ok,
            detail: json!({ "drift": switch.on }),
        },
    )
    .await?;
    let now = traffic_state(&state, &traffic).await?;
    Ok(Json(demo_state(&demo, &now)))
}
