//! How the app reads and changes things: every server function goes
//! through the control plane's own REST API, in process.
//!
//! The server provides an [`ApiBridge`] in the Leptos context. A server
//! function hands it a request carrying the browser's cookie (and the CSRF
//! token when it changes something); the bridge runs it through the same
//! router, so sign-in, roles, four-eyes, CSRF and the audit log have one
//! implementation whether a person uses the pages, the CLI or the API.

#[cfg(feature = "ssr")]
use leptos::prelude::ServerFnError;
#[cfg(feature = "ssr")]
use serde::{Serialize, de::DeserializeOwned};

/// A server function's failure, as the pages show it.
pub fn problem_message(status: u16, body: &[u8]) -> String {
    // RFC 9457 problem details carry the reason in `detail`.
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("detail")
                .and_then(|d| d.as_str())
                .or_else(|| v.get("title").and_then(|t| t.as_str()))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("the control plane answered {status}"))
}

#[cfg(feature = "ssr")]
mod server {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    use http::{HeaderValue, Method, Request, StatusCode};

    /// The response of one in-process API call: status and body.
    pub type Reply = Pin<Box<dyn Future<Output = (StatusCode, Vec<u8>)> + Send>>;

    /// Runs a request through the control plane's API router.
    #[derive(Clone)]
    pub struct ApiBridge(Arc<dyn Fn(Request<Vec<u8>>) -> Reply + Send + Sync>);

    impl ApiBridge {
        pub fn new(call: impl Fn(Request<Vec<u8>>) -> Reply + Send + Sync + 'static) -> Self {
            ApiBridge(Arc::new(call))
        }

        pub(crate) async fn call(
            &self,
            method: Method,
            path: &str,
            body: Option<Vec<u8>>,
            csrf: Option<&str>,
        ) -> (StatusCode, Vec<u8>) {
            let mut builder = Request::builder().method(method).uri(path);
            // The browser's credentials travel with the call; nothing else
            // from the outer request does.
            if let Some(parts) = leptos::prelude::use_context::<http::request::Parts>() {
                for name in [http::header::COOKIE, http::header::AUTHORIZATION] {
                    if let Some(value) = parts.headers.get(&name) {
                        builder = builder.header(name, value.clone());
                    }
                }
            }
            if let Some(token) = csrf.and_then(|t| HeaderValue::from_str(t).ok()) {
                builder = builder.header("x-csrf-token", token);
            }
            if body.is_some() {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            }
            match builder.body(body.unwrap_or_default()) {
                Ok(request) => (self.0)(request).await,
                Err(_) => (
                    StatusCode::BAD_REQUEST,
                    b"{\"detail\":\"bad request\"}".to_vec(),
                ),
            }
        }
    }
}

#[cfg(feature = "ssr")]
pub use server::{ApiBridge, Reply};

#[cfg(feature = "ssr")]
async fn call<T: DeserializeOwned>(
    method: http::Method,
    path: &str,
    body: Option<Vec<u8>>,
    csrf: Option<&str>,
) -> Result<T, ServerFnError> {
    let bridge = leptos::prelude::use_context::<ApiBridge>()
        .ok_or_else(|| ServerFnError::new("no API bridge in this context"))?;
    let (status, bytes) = bridge.call(method, path, body, csrf).await;
    if status == http::StatusCode::UNAUTHORIZED {
        // Signed out (or the session expired): back to sign-in.
        leptos_axum::redirect("/auth/login");
    }
    if !status.is_success() {
        if let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            options.set_status(status);
        }
        return Err(ServerFnError::new(problem_message(status.as_u16(), &bytes)));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ServerFnError::new(format!("unreadable answer from {path}: {e}")))
}

/// `GET path` as the signed-in caller.
#[cfg(feature = "ssr")]
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ServerFnError> {
    call(http::Method::GET, path, None, None).await
}

/// `GET path`, with a 404 as `None`: for parts of a page that are there
/// only sometimes (the demo panel), so their absence is not the page's.
#[cfg(feature = "ssr")]
pub async fn get_optional<T: DeserializeOwned>(path: &str) -> Result<Option<T>, ServerFnError> {
    let bridge = leptos::prelude::use_context::<ApiBridge>()
        .ok_or_else(|| ServerFnError::new("no API bridge in this context"))?;
    let (status, bytes) = bridge.call(http::Method::GET, path, None, None).await;
    if status == http::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(ServerFnError::new(problem_message(status.as_u16(), &bytes)));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ServerFnError::new(format!("unreadable answer from {path}: {e}")))
}

/// `POST path` with a JSON body, as the signed-in caller, with the CSRF
/// token the form carried.
#[cfg(feature = "ssr")]
pub async fn post<T: DeserializeOwned>(
    path: &str,
    body: &impl Serialize,
    csrf: &str,
) -> Result<T, ServerFnError> {
    let body = serde_json::to_vec(body).map_err(|e| ServerFnError::new(e.to_string()))?;
    call(http::Method::POST, path, Some(body), Some(csrf)).await
}

/// Encodes one path segment (ids come from users and URLs).
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
