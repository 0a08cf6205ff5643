//! The token endpoint: `POST /oauth/token`, the OAuth 2.0 client credentials
//! grant (RFC 6749 §4.4) with an `audience` parameter, as service clients
//! use it to get short-lived tokens for one MCP server or agent.
//!
//! What a client gets is decided by the access matrix
//! ([`mlops_service_auth::access::grant`]), never by what it asks for: a
//! request may narrow its scopes with `scope`, not widen them.

use std::time::Duration;

use axum::Form;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mlops_service_auth::access::grant;
use mlops_service_auth::{ClientSecrets, Scope, SigningKey, TokenRequest};
use serde::{Deserialize, Serialize};

/// Lifetime of a service token from this endpoint.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// The form body of a token request.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
}

#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
}

/// An error in RFC 6749 §5.2's shape.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({
                "error": self.error,
                "error_description": self.description,
            })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"mlops token service\""),
            );
        }
        response
    }
}

/// Client credentials from `Authorization: Basic` (preferred) or the form.
fn client_credentials(
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<(String, String), OAuthError> {
    let unauthorized = |why: &str| OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", why);
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let raw = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Basic "))
            .ok_or_else(|| unauthorized("Authorization must be `Basic base64(id:secret)`"))?;
        let decoded = STANDARD
            .decode(raw.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| unauthorized("the Basic credentials are not base64 of `id:secret`"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| unauthorized("the Basic credentials lack a `:`"))?;
        return Ok((id.to_owned(), secret.to_owned()));
    }
    match (&form.client_id, &form.client_secret) {
        (Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
        _ => Err(unauthorized(
            "authenticate with HTTP Basic or client_id and client_secret",
        )),
    }
}

/// Handles one token request.
pub fn issue(
    key: &SigningKey,
    secrets: &ClientSecrets,
    issuer: &str,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<Response, OAuthError> {
    let bad =
        |error: &'static str, why: String| OAuthError::new(StatusCode::BAD_REQUEST, error, why);
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(bad(
                "unsupported_grant_type",
                format!("grant_type {other:?} is not supported; use client_credentials"),
            ));
        }
        None => {
            return Err(bad(
                "invalid_request",
                "grant_type is required (client_credentials)".into(),
            ));
        }
    }
    let (client_id, secret) = client_credentials(headers, form)?;
    if !secrets.verify(&client_id, &secret) {
        tracing::warn!(client = %client_id, "token request with bad client credentials");
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        ));
    }
    let audience = form
        .audience
        .as_deref()
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| bad("invalid_request", "audience is required".into()))?;
    let granted = grant(&client_id, audience).ok_or_else(|| {
        tracing::warn!(client = %client_id, audience, "token refused by the access matrix");
        bad(
            "invalid_target",
            format!("the access matrix gives {client_id:?} no access to {audience:?}"),
        )
    })?;
    let scopes: Vec<&str> = match form.scope.as_deref().map(str::split_ascii_whitespace) {
        None => granted.clone(),
        Some(requested) => {
            let requested: Vec<&str> = requested.collect();
            if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
                return Err(bad(
                    "invalid_scope",
                    format!("{client_id:?} may not hold scope {extra:?} at {audience:?}"),
                ));
            }
            requested
        }
    };
    let scopes = scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("invalid_scope", e.to_string()))?;
    let request = TokenRequest::new(&client_id, audience, scopes, SERVICE_TOKEN_TTL)
        .map_err(|e| bad("invalid_request", e.to_string()))?;
    let (token, claims) = key.mint(issuer, &request).map_err(|e| {
        tracing::error!(error = %e, "minting failed");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the token could not be signed",
        )
    })?;
    tracing::info!(client = %client_id, audience, scope = %claims.scope, jti = %claims.jti, "service token issued");
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: SERVICE_TOKEN_TTL.as_secs(),
            scope: claims.scope,
        }),
    )
        .into_response())
}

/// Axum's form extractor rejects a malformed body before we see it; this
/// keeps the answer in OAuth's error shape.
pub fn form_rejection(rejection: axum::extract::rejection::FormRejection) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("the body must be application/x-www-form-urlencoded: {rejection}"),
    )
}

pub type TokenFormResult = Result<Form<TokenForm>, axum::extract::rejection::FormRejection>;
