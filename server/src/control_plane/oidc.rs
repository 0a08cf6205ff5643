//! Sign-in: OIDC authorization code flow with PKCE, state and nonce
//! (`openidconnect`), against the configured issuer.
//!
//! - `GET /auth/login?next=/path` keeps state, nonce and the PKCE verifier
//!   in the (pre-login) session and redirects to the provider.
//! - `GET /auth/callback` takes them out again (so a replayed callback finds
//!   nothing), checks state, redeems the code with the verifier, verifies
//!   the ID token (signature against the provider's JWKS, issuer, audience,
//!   expiry, nonce), maps groups to roles, upserts the user, cycles the
//!   session id and signs the user in.
//! - `POST /auth/logout` ends the session and, when the provider supports
//!   it, continues to its `end_session_endpoint` (RP-initiated logout).
//!
//! The provider's metadata and keys are cached for an hour; a signature
//! that does not verify refreshes them once, so key rotation at the
//! provider needs no restart.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndSessionUrl, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata,
    RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::RwLock;
use tower_sessions::Session;

use super::AppState;
use super::audit::{self, Entry, Outcome};
use super::auth::{SessionUser, USER_KEY, random_token, session_user};
use super::config::OidcConfig;
use super::problem::Problem;
use super::roles::Role;

/// The session key of a sign-in in progress.
const PENDING_KEY: &str = "oidc_pending";
/// A sign-in must come back within this long.
const PENDING_TTL_SECONDS: i64 = 600;
/// How long provider metadata and keys are trusted before a refresh.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The least time between two forced refreshes (a bad token cannot make us
/// hammer the provider).
const REFRESH_FLOOR: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogoutMetadata {
    end_session_endpoint: Option<EndSessionUrl>,
}
impl AdditionalProviderMetadata for LogoutMetadata {}

type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// What the session remembers between login and callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    pkce_verifier: String,
    next: String,
    started_at: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The relying party: configuration, an HTTP client that never follows
/// redirects (OIDC requires it), and the cached provider metadata.
pub struct Oidc {
    config: OidcConfig,
    redirect_url: RedirectUrl,
    post_logout_url: String,
    http: reqwest::Client,
    metadata: RwLock<Option<(Arc<Metadata>, Instant)>>,
}

impl Oidc {
    pub fn new(config: OidcConfig, public_url: &str) -> anyhow::Result<Self> {
        let redirect_url = RedirectUrl::new(format!("{public_url}/auth/callback"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Oidc {
            config,
            redirect_url,
            post_logout_url: format!("{public_url}/"),
            http,
            metadata: RwLock::new(None),
        })
    }

    /// The HTTP client openidconnect calls; it owns a handle to ours, so
    /// its futures borrow nothing.
    fn http_client(
        &self,
    ) -> impl Fn(
        openidconnect::HttpRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send,
        >,
    > + Send
    + Sync
    + 'static {
        let http = self.http.clone();
        move |request| Box::pin(send(http.clone(), request))
    }
}

async fn send(
    http: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    {
        let (parts, body) = request.into_parts();
        let response = http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError(format!("the identity provider is unreachable: {e}")))?;
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| HttpError(e.to_string()))?;
        builder
            .body(body.to_vec())
            .map_err(|e| HttpError(e.to_string()))
    }
}

impl Oidc {
    /// The provider's metadata and keys; `force` refreshes them unless that
    /// happened a moment ago.
    async fn metadata(&self, force: bool) -> Result<Arc<Metadata>, Problem> {
        if let Some((meta, at)) = self.metadata.read().await.as_ref() {
            let age = at.elapsed();
            if age < METADATA_TTL && (!force || age < REFRESH_FLOOR) {
                return Ok(meta.clone());
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| Problem::internal(format!("bad issuer URL: {e}")))?;
        let meta = Metadata::discover_async(issuer, &self.http_client())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "OIDC discovery failed");
                Problem::unavailable(format!(
                    "the identity provider at {} is unavailable: {e}",
                    self.config.issuer
                ))
            })?;
        let meta = Arc::new(meta);
        *self.metadata.write().await = Some((meta.clone(), Instant::now()));
        Ok(meta)
    }

    fn client(
        &self,
        meta: &Metadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            meta.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_url.clone())
    }

    /// Roles from the configured claim of a verified ID token.
    fn roles(&self, claims: &Value) -> (Vec<String>, Vec<Role>) {
        let groups: Vec<String> = match &claims[&self.config.roles_claim] {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Value::String(one) => vec![one.clone()],
            _ => Vec::new(),
        };
        let roles: BTreeSet<Role> = groups
            .iter()
            .filter_map(|g| self.config.role_mapping.get(g).copied())
            .collect();
        (groups, roles.into_iter().collect())
    }
}

/// The payload of a compact JWS whose signature was already verified.
fn jwt_payload(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// A local path to return to after sign-in; anything else (another host,
/// `//evil`) becomes `/`, so login is not an open redirect.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

fn oidc(state: &AppState) -> Result<&Oidc, Problem> {
    state.oidc.as_deref().ok_or_else(|| {
        Problem::unavailable("sign-in is not configured: set `oidc` in the control plane's config")
    })
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(query): Query<LoginQuery>,
) -> Result<Response, Problem> {
    let oidc = oidc(&state)?;
    let meta = oidc.metadata(false).await?;
    let client = oidc.client(&meta);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &oidc.config.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf_state, nonce) = request.url();
    let pending = Pending {
        state: csrf_state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        next: local_path(query.next.as_deref()),
        started_at: chrono::Utc::now().timestamp(),
    };
    session
        .insert(PENDING_KEY, pending)
        .await
        .map_err(Problem::internal)?;
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A refused sign-in: audited, and answered with a page that says why.
async fn refuse(state: &AppState, reason: String) -> Response {
    audit::record_or_log(
        &state.pool,
        &Entry {
            actor: "anonymous",
            action: "sign-in",
            target: None,
            outcome: Outcome::Refused,
            detail: json!({"reason": reason}),
        },
    )
    .await;
    tracing::warn!(%reason, "sign-in refused");
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in refused</title></head>\
         <body><main><h1>Sign-in refused</h1><p role=\"alert\">{}</p><p><a href=\"/auth/login\">Sign in again</a></p></main></body></html>",
        html_escape(&reason)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn callback(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, Problem> {
    let oidc = oidc(&state)?;
    // Taken out first: whatever happens next, this callback is its last use.
    let pending: Option<Pending> = session
        .remove(PENDING_KEY)
        .await
        .map_err(Problem::internal)?;
    if let Some(error) = &query.error {
        let text = query.error_description.as_deref().unwrap_or_default();
        return Ok(refuse(
            &state,
            format!("the identity provider said {error}: {text}"),
        )
        .await);
    }
    let Some(pending) = pending else {
        return Ok(refuse(
            &state,
            "no sign-in is in progress in this browser session (a replayed or stale callback)"
                .into(),
        )
        .await);
    };
    if chrono::Utc::now().timestamp() - pending.started_at > PENDING_TTL_SECONDS {
        return Ok(refuse(&state, "the sign-in took too long; start again".into()).await);
    }
    let (Some(code), Some(returned_state)) = (&query.code, &query.state) else {
        return Ok(refuse(&state, "the callback lacks code or state".into()).await);
    };
    if !super::auth::constant_time_eq(returned_state.as_bytes(), pending.state.as_bytes()) {
        return Ok(refuse(
            &state,
            "the state does not match this sign-in (possible CSRF)".into(),
        )
        .await);
    }
    let meta = oidc.metadata(false).await?;
    let tokens = match oidc
        .client(&meta)
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| Problem::internal(format!("the provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&oidc.http_client())
        .await
    {
        Ok(tokens) => tokens,
        Err(error) => {
            return Ok(refuse(
                &state,
                format!(
                    "the identity provider refused the code (used already, or not ours): {error}"
                ),
            )
            .await);
        }
    };
    let Some(id_token) = tokens.id_token() else {
        return Ok(refuse(&state, "the provider returned no ID token".into()).await);
    };
    let nonce = Nonce::new(pending.nonce.clone());
    let verified = {
        let client = oidc.client(&meta);
        id_token
            .claims(&client.id_token_verifier(), &nonce)
            .map(|_| ())
    };
    let verified = match verified {
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
            // The provider may have rotated its keys: refresh them once.
            let fresh = oidc.metadata(true).await?;
            let client = oidc.client(&fresh);
            id_token
                .claims(&client.id_token_verifier(), &nonce)
                .map(|_| ())
        }
        other => other,
    };
    if let Err(error) = verified {
        return Ok(refuse(&state, format!("the ID token does not verify: {error}")).await);
    }
    let token_text = id_token.to_string();
    let claims = jwt_payload(&token_text).unwrap_or(Value::Null);
    let subject = claims["sub"].as_str().unwrap_or_default().to_owned();
    let name = claims["name"].as_str().map(str::to_owned);
    let email = claims["email"].as_str().map(str::to_owned);
    let (groups, roles) = oidc.roles(&claims);
    let role_names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();

    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "INSERT INTO control.users (subject, name, email, groups, roles, last_login)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (subject) DO UPDATE SET name = $2, email = $3, groups = $4, roles = $5,
             last_login = now()",
    )
    .bind(&subject)
    .bind(&name)
    .bind(&email)
    .bind(&groups)
    .bind(&role_names)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &Entry {
            actor: &subject,
            action: "sign-in",
            target: None,
            outcome: Outcome::Ok,
            detail: json!({"groups": groups, "roles": role_names}),
        },
    )
    .await?;
    tx.commit().await?;

    // A new id for the signed-in session: an id planted before sign-in
    // (session fixation) is worth nothing after it.
    session.cycle_id().await.map_err(Problem::internal)?;
    session
        .insert(
            USER_KEY,
            SessionUser {
                subject: subject.clone(),
                name,
                email,
                roles,
                csrf: random_token(),
                login_at: chrono::Utc::now().timestamp(),
                id_token: Some(token_text),
            },
        )
        .await
        .map_err(Problem::internal)?;
    tracing::info!(%subject, roles = ?role_names, "signed in");
    Ok(Redirect::to(&pending.next).into_response())
}

pub async fn logout(
    State(state): State<Arc<AppState>>,
    session: Session,
) -> Result<Response, Problem> {
    let user = session_user(&session, &state).await?;
    session.flush().await.map_err(Problem::internal)?;
    let Some(user) = user else {
        return Ok(Redirect::to("/").into_response());
    };
    audit::record(
        &state.pool,
        &Entry {
            actor: &user.subject,
            action: "sign-out",
            target: None,
            outcome: Outcome::Ok,
            detail: json!({}),
        },
    )
    .await?;
    // RP-initiated logout, where the provider offers it.
    if let Some(oidc) = state.oidc.as_deref()
        && let Ok(meta) = oidc.metadata(false).await
        && let Some(end) = &meta.additional_metadata().end_session_endpoint
    {
        let mut url = end.url().clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = &user.id_token {
                q.append_pair("id_token_hint", hint);
            }
            q.append_pair("client_id", &oidc.config.client_id);
            q.append_pair("post_logout_redirect_uri", &oidc.post_logout_url);
        }
        return Ok(Redirect::to(url.as_str()).into_response());
    }
    Ok(Redirect::to("/").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path() {
        assert_eq!(local_path(Some("/workflows/1")), "/workflows/1");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn groups_map_to_roles() {
        let oidc = Oidc::new(
            OidcConfig {
                issuer: "http://idp".into(),
                client_id: "mlops".into(),
                client_secret: "s".into(),
                scopes: vec![],
                roles_claim: "groups".into(),
                role_mapping: super::super::config::default_role_mapping(),
            },
            "http://cp",
        )
        .unwrap();
        let (groups, roles) = oidc.roles(&json!({"groups": ["approvers", "unknown"]}));
        assert_eq!(groups, ["approvers", "unknown"]);
        assert_eq!(roles, [Role::Approver]);
        assert!(oidc.roles(&json!({})).1.is_empty());
    }
}
