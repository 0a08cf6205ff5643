//! The small endpoints: who am I, personal API tokens, the audit log.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::audit::{self, AuditQuery, AuditRow, Entry, Outcome, Verification};
use super::auth::{Caller, Via, new_api_token, token_hash};
use super::problem::Problem;
use super::roles::{Action, TOKEN_SCOPES};

pub use mlops_frontend::api::Me;

/// `GET /api/me`
#[utoipa::path(get, path = "/api/me", tag = "session", responses((status = 200, body = Me), (status = 401, description = "not signed in")))]
pub async fn me(caller: Caller) -> Json<Me> {
    use super::roles::Action::*;
    let may = [
        Read,
        Deploy,
        Cancel,
        Decide,
        Rollback,
        Audit,
        ManageTokens,
        Demo,
    ]
    .into_iter()
    .filter(|a| caller.may(*a))
    .map(|a| a.as_str().to_owned())
    .collect();
    Json(Me {
        subject: caller.subject.clone(),
        name: caller.name.clone(),
        roles: caller.role_names().into_iter().map(str::to_owned).collect(),
        csrf_token: match &caller.via {
            Via::Session { csrf } => Some(csrf.clone()),
            Via::ApiToken { .. } => None,
        },
        may,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// Any of `read`, `workflows:write`, `approvals:write`.
    pub scopes: Vec<String>,
    /// 1-365 days; default 30.
    pub ttl_days: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: uuid::Uuid,
    /// Shown once; only its hash is kept.
    pub token: String,
    pub scopes: Vec<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// `POST /api/tokens`: a personal API token, for a signed-in person only
/// (a token cannot mint tokens).
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = NewToken, responses((status = 201, body = CreatedToken)))]
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), Problem> {
    let Json(body) = body.map_err(|e| Problem::bad_request(e.body_text()))?;
    if !matches!(caller.via, Via::Session { .. }) {
        return Err(Problem::forbidden(
            "API tokens are created from a signed-in session",
        ));
    }
    caller.require(&state, Action::ManageTokens, None).await?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Problem::bad_request("`name` must be 1-100 characters"));
    }
    if body.scopes.is_empty() {
        return Err(Problem::bad_request(format!(
            "`scopes` must list some of {TOKEN_SCOPES:?}"
        )));
    }
    if let Some(bad) = body
        .scopes
        .iter()
        .find(|s| !TOKEN_SCOPES.contains(&s.as_str()))
    {
        return Err(Problem::bad_request(format!(
            "unknown scope {bad:?}; use {TOKEN_SCOPES:?}"
        )));
    }
    let days = body.ttl_days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(Problem::bad_request("`ttl_days` must be 1-365"));
    }
    let token = new_api_token();
    let id = uuid::Uuid::now_v7();
    let expires_at = chrono::Utc::now() + chrono::Duration::days(days);
    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "INSERT INTO control.api_tokens (id, subject, name, token_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&caller.subject)
    .bind(name)
    .bind(token_hash(&token))
    .bind(&body.scopes)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &Entry {
            actor: &caller.subject,
            action: "create-api-token",
            target: Some(&id.to_string()),
            outcome: Outcome::Ok,
            detail: json!({"name": name, "scopes": body.scopes, "expires_at": expires_at}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id,
            token,
            scopes: body.scopes,
            expires_at,
        }),
    ))
}

/// A token as its owner sees it: never its secret.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TokenRow {
    pub id: uuid::Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /api/tokens`: the caller's tokens.
#[utoipa::path(get, path = "/api/tokens", tag = "tokens", responses((status = 200, body = Vec<TokenRow>)))]
pub async fn list_tokens(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<TokenRow>>, Problem> {
    let rows = sqlx::query_as(
        "SELECT id, name, scopes, created_at, expires_at, last_used_at, revoked_at
         FROM control.api_tokens WHERE subject = $1 ORDER BY created_at DESC",
    )
    .bind(&caller.subject)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

/// `DELETE /api/tokens/{id}`: revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens", params(("id" = uuid::Uuid, Path)), responses((status = 204, description = "revoked")))]
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<uuid::Uuid>,
) -> Result<StatusCode, Problem> {
    let mut tx = state.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE control.api_tokens SET revoked_at = now()
         WHERE id = $1 AND subject = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(&caller.subject)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Problem::not_found(format!("you have no live token {id}")));
    }
    audit::append(
        &mut tx,
        &Entry {
            actor: &caller.subject,
            action: "revoke-api-token",
            target: Some(&id.to_string()),
            outcome: Outcome::Ok,
            detail: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/audit`
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditQuery), responses((status = 200, body = Vec<AuditRow>)))]
pub async fn audit_log(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditRow>>, Problem> {
    caller.require(&state, Action::Audit, None).await?;
    Ok(Json(audit::query(&state.pool, &q).await?))
}

/// `GET /api/audit/verify`
#[utoipa::path(get, path = "/api/audit/verify", tag = "audit", responses((status = 200, description = "rows checked and the first broken link, if any")))]
pub async fn audit_verify(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Verification>, Problem> {
    caller.require(&state, Action::Audit, None).await?;
    Ok(Json(audit::verify(&state.pool).await?))
}
