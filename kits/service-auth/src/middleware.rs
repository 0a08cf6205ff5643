use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{AuthError, ServiceClaims, TokenVerifier};

/// The verified caller, placed in the request extensions by [`require_bearer`].
#[derive(Debug, Clone)]
pub struct Authenticated(pub ServiceClaims);

/// axum middleware: rejects a request without a valid bearer token for this
/// service with `401` (RFC 6750) and an RFC 9457 problem body.
///
/// Use with `axum::middleware::from_fn_with_state(verifier, require_bearer)`.
pub async fn require_bearer(
    State(verifier): State<Arc<TokenVerifier>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let result = match token {
        None => Err(AuthError::MissingToken),
        Some(token) => verifier.verify(token).await,
    };
    match result {
        Ok(claims) => {
            tracing::Span::current().record("caller", claims.sub.as_str());
            request.extensions_mut().insert(Authenticated(claims));
            next.run(request).await
        }
        Err(error) => {
            tracing::info!(%error, path = %request.uri().path(), "refused request");
            refusal(&error)
        }
    }
}

/// After [`require_bearer`] on an A2A agent: the token must also carry the
/// `a2a:invoke` scope, which the token service grants only to services the
/// access matrix lets call agents. Refused with `403 insufficient_scope`.
pub async fn require_a2a_invoke(request: Request, next: Next) -> Response {
    let allowed = request
        .extensions()
        .get::<Authenticated>()
        .is_some_and(|Authenticated(claims)| claims.has_scope(crate::access::scope::A2A_INVOKE));
    if allowed {
        return next.run(request).await;
    }
    tracing::info!(path = %request.uri().path(), "refused a token without a2a:invoke");
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "the bearer token lacks scope \"a2a:invoke\"",
    });
    let mut response = (StatusCode::FORBIDDEN, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"insufficient_scope\", scope=\"a2a:invoke\""),
    );
    response
}

fn refusal(error: &AuthError) -> Response {
    let (status, title) = if error.is_client_error() {
        (StatusCode::UNAUTHORIZED, "Unauthorized")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Token verification unavailable",
        )
    };
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": error.to_string(),
    });
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        let code = if matches!(error, AuthError::MissingToken) {
            "Bearer"
        } else {
            "Bearer error=\"invalid_token\""
        };
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(code));
    }
    response
}
