//! The console: the Leptos pages (server-rendered, then hydrated), their
//! server functions at `/ui/…`, the styles and the browser bundle.
//!
//! Server functions reach the REST API through an in-process bridge: the
//! request (with the browser's cookie and CSRF token) runs through the same
//! router the API is served from, so sign-in, roles, four-eyes, CSRF and
//! the audit log are enforced once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use mlops_frontend::bridge::ApiBridge;
use tower::ServiceExt;

use super::AppState;
use super::auth;

/// The file name stem of the browser bundle (`pkg/mlops.js`,
/// `pkg/mlops_bg.wasm`).
pub const BUNDLE: &str = "mlops";

/// Where the bundle is: the flag, or `site/` next to the directory the
/// binary is in (`target/release/mlops` → `target/site`).
pub fn site_root(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_owned();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("site")))
        .unwrap_or_else(|| PathBuf::from("site"))
}

/// The pages and server functions, for requests that passed the session
/// and CSRF layers. `api` is the router the bridge sends API calls to.
pub fn router(state: Arc<AppState>, api: Router, site_root: &Path) -> Router {
    let options = LeptosOptions::builder()
        .output_name(BUNDLE)
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build();
    let bridge = ApiBridge::new(move |request: http::Request<Vec<u8>>| {
        let api = api.clone();
        Box::pin(async move {
            match api.oneshot(request.map(Body::from)).await {
                Ok(response) => {
                    let status = response.status();
                    let bytes = axum::body::to_bytes(response.into_body(), 8 * 1024 * 1024)
                        .await
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    (status, bytes)
                }
                Err(never) => match never {},
            }
        })
    });
    let routes = generate_route_list(mlops_frontend::app::App);
    let shell_options = options.clone();
    Router::<LeptosOptions>::new()
        .leptos_routes_with_context(
            &options,
            routes,
            move || leptos::prelude::provide_context(bridge.clone()),
            move || mlops_frontend::app::shell(shell_options.clone()),
        )
        .with_state(options)
        .layer(axum::middleware::from_fn_with_state(state, sign_in_first))
}

/// Pages are for signed-in people: anyone else goes to sign-in and comes
/// back. Server functions answer for themselves (the API returns 401).
async fn sign_in_first(
    State(state): State<Arc<AppState>>,
    session: tower_sessions::Session,
    request: Request,
    next: Next,
) -> Response {
    let page = request.method() == http::Method::GET
        && !request.uri().path().starts_with("/ui/")
        && !request.headers().contains_key(header::AUTHORIZATION);
    if page
        && state.oidc.is_some()
        && matches!(auth::session_user(&session, &state).await, Ok(None))
    {
        let next_path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let query = serde_urlencoded::to_string([("next", next_path)]).unwrap_or_default();
        return Redirect::to(&format!("/auth/login?{query}")).into_response();
    }
    next.run(request).await
}

/// The styles, compiled into the binary.
pub async fn stylesheet() -> impl IntoResponse {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        mlops_frontend::STYLE,
    )
}

/// The browser bundle, gzip-precompressed by the site build.
pub fn bundle(site_root: &Path) -> tower_http::services::ServeDir {
    tower_http::services::ServeDir::new(site_root.join("pkg")).precompressed_gzip()
}
