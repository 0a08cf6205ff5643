//! `mlops serve`: the control plane.
//!
//! Today it is the token service: it owns the signing key (created at first
//! start, kept in the data dir), publishes `/.well-known/jwks.json`, issues
//! service tokens at `/oauth/token` (client credentials), and answers `/healthz` and `/readyz`. Sign-in, workflows, approvals and the
//! dashboard build on this process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use mlops_service_auth::{ClientSecrets, SigningKey};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tower_http::trace::TraceLayer;

use crate::cli::ServeArgs;

/// Where the token service keeps its private key.
pub fn signing_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("service-signing-key.pem")
}

/// Where the token service keeps the master secret service clients'
/// secrets derive from.
pub fn client_secrets_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("service-clients.key")
}

/// The control plane's own record of where it runs, for `mlops token`.
#[derive(Debug, Serialize, Deserialize)]
struct IssuerRecord {
    issuer: String,
}

fn issuer_record_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control-plane.json")
}

/// The issuer URL the control plane last ran with.
pub fn recorded_issuer(data_dir: &Path) -> anyhow::Result<String> {
    let path = issuer_record_path(data_dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} not found: start the control plane once (`mlops up`) or pass --issuer",
            path.display()
        )
    })?;
    let record: IssuerRecord =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(record.issuer)
}

#[derive(Clone)]
struct AppState {
    key: SigningKey,
    client_secrets: ClientSecrets,
    issuer: String,
    pool: PgPool,
    data_dir: PathBuf,
}

/// Builds the control plane's router.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth/token", axum::routing::post(token))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(Arc::new(state))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::info_span!("http.request", method = %req.method(), path = %req.uri().path())
        }))
}

async fn home(State(state): State<Arc<AppState>>) -> Html<String> {
    // services.json is written by `mlops up`; a standalone `serve` has none.
    let services = crate::services::read(&state.data_dir).unwrap_or_default();
    Html(mlops_frontend::pages::render_system_page(
        state.issuer.clone(),
        services,
    ))
}

async fn jwks(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.key.jwks()),
    )
}

async fn token(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    form: crate::token_service::TokenFormResult,
) -> axum::response::Response {
    let result = form
        .map_err(crate::token_service::form_rejection)
        .and_then(|axum::Form(form)| {
            crate::token_service::issue(
                &state.key,
                &state.client_secrets,
                &state.issuer,
                &headers,
                &form,
            )
        });
    match result {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    mlops_postgres::readiness(Some(state.pool.clone())).await
}

/// Runs the control plane until SIGINT or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = &args.data.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let database_url = args.data.database_url.clone().context(
        "the control plane needs Postgres: set DATABASE_URL, or use `mlops up`, which runs an embedded cluster",
    )?;
    let key = SigningKey::load_or_create(&signing_key_path(data_dir))?;
    let client_secrets = ClientSecrets::load_or_create(&client_secrets_path(data_dir))?;
    let pool = mlops_postgres::connect(&database_url, 16)
        .await
        .context("connecting to Postgres")?;
    mlops_postgres::migrate(&pool)
        .await
        .context("applying migrations")?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    let issuer = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();
    std::fs::write(
        issuer_record_path(data_dir),
        serde_json::to_vec_pretty(&IssuerRecord {
            issuer: issuer.clone(),
        })?,
    )?;
    tracing::info!(url = %issuer, kid = %key.kid(), "control plane listening");
    let app = router(AppState {
        key,
        client_secrets,
        issuer,
        pool,
        data_dir: data_dir.clone(),
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("control plane stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
