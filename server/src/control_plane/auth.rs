//! Who is calling: a signed-in person (session cookie) or a personal API
//! token (`Authorization: Bearer mlp_…`), with their roles. Also CSRF
//! protection for every state-changing request made with a session.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{Method, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;

use super::AppState;
use super::audit::{self, Entry, Outcome};
use super::problem::Problem;
use super::roles::{Action, Role, may};

/// The session key of the signed-in user.
pub const USER_KEY: &str = "user";
/// The header a browser sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field a plain HTML form sends it in.
pub const CSRF_FIELD: &str = "_csrf";
/// Personal API tokens start with this, so they are recognisable in logs
/// and secret scanners.
pub const API_TOKEN_PREFIX: &str = "mlp_";

/// What the session holds about the signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub roles: Vec<Role>,
    /// This session's CSRF token (random, never in a cookie).
    pub csrf: String,
    /// Unix seconds; the absolute timeout counts from here.
    pub login_at: i64,
    /// For RP-initiated logout's `id_token_hint`.
    pub id_token: Option<String>,
}

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    Session { csrf: String },
    ApiToken { id: uuid::Uuid, scopes: Vec<String> },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub name: Option<String>,
    pub roles: Vec<Role>,
    pub via: Via,
}

impl Caller {
    /// May this caller take `action`? Token callers also need the scope.
    pub fn may(&self, action: Action) -> bool {
        let scoped = match &self.via {
            Via::Session { .. } => true,
            Via::ApiToken { scopes, .. } => scopes.iter().any(|s| s == action.scope()),
        };
        scoped && may(&self.roles, action)
    }

    /// Refuses (403, audited) unless the caller may take `action` on `target`.
    pub async fn require(
        &self,
        state: &AppState,
        action: Action,
        target: Option<&str>,
    ) -> Result<(), Problem> {
        if self.may(action) {
            return Ok(());
        }
        // The role is the rule; the token's scope only narrows it, so a
        // missing role is the reason to give first.
        let reason = if !may(&self.roles, action) {
            format!(
                "{} may not {}: it needs one of the roles {}",
                self.subject,
                action.as_str(),
                action
                    .roles()
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("this API token lacks the {} scope", action.scope())
        };
        audit::record_or_log(
            &state.pool,
            &Entry {
                actor: &self.subject,
                action: action.as_str(),
                target,
                outcome: Outcome::Refused,
                detail: json!({"reason": reason, "roles": self.role_names()}),
            },
        )
        .await;
        Err(Problem::forbidden(reason))
    }

    pub fn role_names(&self) -> Vec<&'static str> {
        self.roles.iter().map(|r| r.as_str()).collect()
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Problem::unauthorized("Authorization must be `Bearer <token>`"))?;
            return api_token_caller(state, token.trim()).await;
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, e)| Problem::internal(e))?;
        let user = session_user(&session, state).await?;
        let Some(user) = user else {
            return Err(Problem::unauthorized(
                "sign in first (GET /auth/login), or send a personal API token",
            ));
        };
        Ok(Caller {
            subject: user.subject,
            name: user.name,
            roles: user.roles,
            via: Via::Session { csrf: user.csrf },
        })
    }
}

/// The session's user, if signed in and inside the absolute timeout; an
/// expired session is ended here.
pub async fn session_user(
    session: &Session,
    state: &AppState,
) -> Result<Option<SessionUser>, Problem> {
    let user: Option<SessionUser> = session.get(USER_KEY).await.map_err(Problem::internal)?;
    let Some(user) = user else { return Ok(None) };
    let age = chrono::Utc::now().timestamp() - user.login_at;
    if age > state.config.session.absolute_hours * 3600 {
        session.flush().await.map_err(Problem::internal)?;
        return Ok(None);
    }
    Ok(Some(user))
}

/// sha256 of a token's secret: what is stored and looked up.
pub fn token_hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// A new random personal API token.
pub fn new_api_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system RNG works");
    format!("{API_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A random token for CSRF and similar uses.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system RNG works");
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn api_token_caller(state: &AppState, token: &str) -> Result<Caller, Problem> {
    if !token.starts_with(API_TOKEN_PREFIX) {
        return Err(Problem::unauthorized(
            "not a personal API token (they start with mlp_)",
        ));
    }
    #[derive(sqlx::FromRow)]
    struct TokenOwner {
        id: uuid::Uuid,
        subject: String,
        name: Option<String>,
        roles: Vec<String>,
        scopes: Vec<String>,
    }
    let row: Option<TokenOwner> = sqlx::query_as(
        "UPDATE control.api_tokens t SET last_used_at = now()
             FROM control.users u
             WHERE t.token_hash = $1 AND t.subject = u.subject
               AND t.revoked_at IS NULL AND t.expires_at > now()
             RETURNING t.id, u.subject, u.name, u.roles, t.scopes",
    )
    .bind(token_hash(token))
    .fetch_optional(&state.pool)
    .await?;
    let Some(TokenOwner {
        id,
        subject,
        name,
        roles,
        scopes,
    }) = row
    else {
        return Err(Problem::unauthorized(
            "unknown, expired or revoked API token",
        ));
    };
    Ok(Caller {
        subject,
        name,
        roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
        via: Via::ApiToken { id, scopes },
    })
}

/// Paths that take no session: service endpoints with their own auth.
fn csrf_exempt(path: &str) -> bool {
    path == "/oauth/token" || path.starts_with("/api/hooks/")
}

/// Refuses a state-changing request made with a signed-in session unless it
/// carries the session's CSRF token (header or form field) and, when the
/// browser says where it comes from, an allowed Origin. Requests with an
/// `Authorization` header carry no ambient credentials and need neither.
pub async fn csrf_guard(
    State(state): State<Arc<AppState>>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe
        || request.headers().contains_key(header::AUTHORIZATION)
        || csrf_exempt(request.uri().path())
    {
        return next.run(request).await;
    }
    let user = match session_user(&session, &state).await {
        Ok(Some(user)) => user,
        Ok(None) => return next.run(request).await,
        Err(problem) => return problem.into_response(),
    };
    let path = request.uri().path().to_owned();
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !state.origin_allowed(origin) {
            return refuse_csrf(
                &state,
                &user,
                &path,
                &format!("cross-origin request from {origin}"),
            )
            .await;
        }
    }
    let header_token = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (request, presented) = match header_token {
        Some(token) => (request, Some(token)),
        None => match form_token(request).await {
            Ok(pair) => pair,
            Err(problem) => return problem.into_response(),
        },
    };
    let ok = presented
        .as_deref()
        .is_some_and(|p| constant_time_eq(p.as_bytes(), user.csrf.as_bytes()));
    if !ok {
        let reason = if presented.is_some() {
            "the CSRF token does not match this session"
        } else {
            "missing CSRF token (send the x-csrf-token header or the _csrf form field)"
        };
        return refuse_csrf(&state, &user, &path, reason).await;
    }
    next.run(request).await
}

async fn refuse_csrf(state: &AppState, user: &SessionUser, path: &str, reason: &str) -> Response {
    audit::record_or_log(
        &state.pool,
        &Entry {
            actor: &user.subject,
            action: "csrf-check",
            target: Some(path),
            outcome: Outcome::Refused,
            detail: json!({"reason": reason}),
        },
    )
    .await;
    Problem::forbidden(reason).into_response()
}

/// Reads `_csrf` from an urlencoded form body and puts the body back.
async fn form_token(request: Request) -> Result<(Request, Option<String>), Problem> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| Problem::bad_request("form body too large (64 KiB at most)"))?;
    let token = url_form_field(&bytes, CSRF_FIELD);
    Ok((
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        token,
    ))
}

fn url_form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_found() {
        assert_eq!(
            url_form_field(b"a=1&_csrf=abc%2Bd&b=2", "_csrf").as_deref(),
            Some("abc+d")
        );
        assert_eq!(url_form_field(b"a=1", "_csrf"), None);
    }

    #[test]
    fn api_tokens_look_like_tokens() {
        let token = new_api_token();
        assert!(token.starts_with("mlp_") && token.len() > 40);
        assert_ne!(token, new_api_token());
        assert_eq!(token_hash(&token).len(), 32);
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
