use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{AuthError, ServiceClaims, TokenVerifier};

/// The verified caller, placed in the request extensions by [`require_bearer`].
#[derive(Debug, Clone)]
pub struct Authenticated(pub ServiceClaims);

/// The verified caller's subject, as a request header set by
/// [`require_bearer`] (any such header the client sent is dropped first).
/// Handlers that only see headers, such as an A2A executor's service
/// parameters, learn who called from it.
pub const CALLER_HEADER: &str = "mlops-caller";

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
    request.headers_mut().remove(CALLER_HEADER);
    match result {
        Ok(claims) => {
            tracing::Span::current().record("caller", claims.sub.as_str());
            if let Ok(subject) = HeaderValue::from_str(&claims.sub) {
                request.headers_mut().insert(CALLER_HEADER, subject);
            }
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

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::HeaderMap;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::{JwksSource, Scope, SigningKey, TokenRequest};

    const ISSUER: &str = "http://127.0.0.1:1";

    fn app(key: &SigningKey) -> Router {
        let verifier = Arc::new(TokenVerifier::new(
            ISSUER,
            "orchestrator",
            JwksSource::Static(key.jwks()),
        ));
        Router::new()
            .route(
                "/",
                get(|headers: HeaderMap| async move {
                    headers
                        .get(CALLER_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_owned()
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                verifier,
                require_bearer,
            ))
    }

    async fn call(app: Router, bearer: Option<&str>) -> (StatusCode, String) {
        let mut request = Request::builder().uri("/").header(CALLER_HEADER, "admin");
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_caller_header_is_the_verified_subject_never_the_clients() {
        let key = SigningKey::generate().unwrap();
        let request = TokenRequest::new(
            "monitoring",
            "orchestrator",
            vec![Scope::parse("a2a:invoke").unwrap()],
            std::time::Duration::from_secs(60),
        )
        .unwrap();
        let (token, _) = key.mint(ISSUER, &request).unwrap();
        assert_eq!(
            call(app(&key), Some(&token)).await,
            (StatusCode::OK, "monitoring".to_owned())
        );
        let (status, _) = call(app(&key), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}
