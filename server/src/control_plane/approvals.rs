//! Approval gates: the inbox and the decision endpoint.
//!
//! A decision is checked here (approver role, four-eyes, an open gate that
//! has not expired), signed as an approval token with the control plane's
//! key, and sent to the orchestrator on the workflow's task. The
//! orchestrator verifies the token itself; its refusal is passed back.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use mlops_service_auth::{ApprovalDecision, ApprovalGrant};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::audit::{self, Entry, Outcome};
use super::auth::Caller;
use super::problem::Problem;
use super::roles::Action;
use super::workflows::{GateRow, answer_gate};

/// `GET /api/approvals`: open gates, oldest first.
#[utoipa::path(get, path = "/api/approvals", tag = "approvals", responses((status = 200, body = Vec<GateRow>)))]
pub async fn inbox(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<GateRow>>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let rows = sqlx::query_as(
        "SELECT workflow, gate, node, description, role, requested_by, evidence, expires_at, state, decided_by, comment
         FROM control.gates WHERE state = 'open' ORDER BY opened_at",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve` or `reject`.
    pub decision: String,
    pub comment: Option<String>,
    /// The CSRF token, when sent as a form field (the guard reads it).
    #[serde(rename = "_csrf")]
    pub csrf: Option<String>,
}

/// `POST /api/approvals/{workflow}/{gate}`
#[utoipa::path(post, path = "/api/approvals/{workflow}/{gate}", tag = "approvals", params(("workflow" = String, Path), ("gate" = String, Path)), request_body = DecisionBody, responses((status = 200, description = "decided and sent to the orchestrator"), (status = 403, description = "not an approver, or four-eyes"), (status = 409, description = "gate closed or expired, or the orchestrator refused")))]
pub async fn decide(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((workflow, gate)): Path<(String, String)>,
    body: Result<Json<DecisionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, Problem> {
    let Json(body) = body.map_err(|e| Problem::bad_request(e.body_text()))?;
    let target = format!("{workflow}/{gate}");
    let decision = match body.decision.as_str() {
        "approve" => ApprovalDecision::Approve,
        "reject" => ApprovalDecision::Reject,
        other => {
            return Err(Problem::bad_request(format!(
                "decision must be \"approve\" or \"reject\", not {other:?}"
            )));
        }
    };
    let comment = body
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.len() > 2000) {
        return Err(Problem::bad_request(
            "the comment is longer than 2000 characters",
        ));
    }
    caller
        .require(&state, Action::Decide, Some(&target))
        .await?;
    let refuse = async |reason: String, problem: fn(String) -> Problem| -> Problem {
        audit::record_or_log(
            &state.pool,
            &Entry {
                actor: &caller.subject,
                action: "decide-gate",
                target: Some(&target),
                outcome: Outcome::Refused,
                detail: json!({"reason": reason, "decision": body.decision}),
            },
        )
        .await;
        problem(reason)
    };
    let gate_row: Option<(String, String, Option<chrono::DateTime<chrono::Utc>>, String)> =
        sqlx::query_as(
            "SELECT state, requested_by, expires_at, role FROM control.gates WHERE workflow = $1 AND gate = $2",
        )
        .bind(&workflow)
        .bind(&gate)
        .fetch_optional(&state.pool)
        .await?;
    let Some((gate_state, requested_by, expires_at, role)) = gate_row else {
        return Err(refuse(
            format!("no gate {gate} on workflow {workflow}"),
            Problem::not_found,
        )
        .await);
    };
    if gate_state != "open" {
        return Err(refuse(
            format!("gate {gate} is not open (it is {gate_state})"),
            Problem::conflict,
        )
        .await);
    }
    if expires_at.is_some_and(|t| t <= chrono::Utc::now()) {
        return Err(refuse(format!("gate {gate} has expired"), Problem::conflict).await);
    }
    if state.config.approvals.four_eyes && requested_by == caller.subject {
        return Err(refuse(
            format!(
                "four-eyes: {} requested this workflow and may not decide its gates",
                caller.subject
            ),
            Problem::forbidden,
        )
        .await);
    }
    if !caller.role_names().contains(&role.as_str()) {
        return Err(refuse(
            format!("gate {gate} needs the {role} role"),
            Problem::forbidden,
        )
        .await);
    }
    let (token, claims) = state
        .key
        .sign_approval(
            &state.public_url,
            &ApprovalGrant {
                approver: caller.subject.clone(),
                roles: caller.role_names().iter().map(|r| r.to_string()).collect(),
                workflow: workflow.clone(),
                gate: gate.clone(),
                decision,
                comment: comment.clone(),
                ttl: Duration::from_secs(state.config.approvals.token_ttl_seconds),
            },
        )
        .map_err(Problem::internal)?;
    if let Err(reason) = answer_gate(&state, &workflow, &token).await {
        return Err(refuse(
            format!("the orchestrator refused the approval: {reason}"),
            Problem::conflict,
        )
        .await);
    }
    audit::record(
        &state.pool,
        &Entry {
            actor: &caller.subject,
            action: "decide-gate",
            target: Some(&target),
            outcome: Outcome::Ok,
            detail: json!({"decision": body.decision, "comment": comment, "jti": claims.jti}),
        },
    )
    .await?;
    tracing::info!(%workflow, %gate, decision = %body.decision, by = %caller.subject, "gate decided");
    Ok(Json(
        json!({"workflow": workflow, "gate": gate, "decision": body.decision}),
    ))
}
