//! `mlops serve`: the control plane.
//!
//! - The token service: it owns the signing key (created at first start,
//!   kept in the data dir), publishes `/.well-known/jwks.json` and issues
//!   service tokens at `/oauth/token` (client credentials).
//! - Sign-in ([`oidc`]), sessions and CSRF ([`auth`]), roles ([`roles`]).
//! - Workflows and their live graph ([`workflows`], [`events`]), approval
//!   gates ([`approvals`]), the dashboards' read models ([`read_models`]),
//!   the audit log ([`audit`]), API tokens ([`api`]), OpenAPI ([`openapi`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use mlops_agent_kit::McpEndpoints;
use mlops_agent_kit::client::MintingTokenSource;
use mlops_service_auth::{ClientSecrets, JwksSource, SigningKey, TokenVerifier};
use tower_sessions::SessionManagerLayer;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;

use config::ControlConfig;
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

pub mod api;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod config;
pub mod console;
pub mod demo_panel;
pub mod events;
pub mod notify;
pub mod oidc;
pub mod openapi;
pub mod problem;
pub mod read_models;
pub mod roles;
pub mod workflows;

/// Everything a request handler may need; one per process.
pub struct AppState {
    key: SigningKey,
    client_secrets: ClientSecrets,
    /// This control plane's public URL: the token issuer, the OIDC
    /// redirect base and the allowed Origin.
    public_url: String,
    pool: PgPool,
    data_dir: PathBuf,
    config: ControlConfig,
    oidc: Option<Arc<oidc::Oidc>>,
    orchestrator: workflows::OrchestratorLink,
    read_models: read_models::ReadModels,
    fanout: Arc<events::Fanout>,
    http: reqwest::Client,
    /// Checks the service tokens presented to this control plane (the
    /// orchestrator reporting workflows); they are its own, so its own keys.
    service_tokens: TokenVerifier,
}

impl AppState {
    fn origin_allowed(&self, origin: &str) -> bool {
        origin == self.public_url || self.config.allowed_origins.iter().any(|o| o == origin)
    }
}

/// Builds the control plane's router: the API and the console, each
/// behind the session and CSRF layers.
fn router(
    state: Arc<AppState>,
    sessions: SessionManagerLayer<PostgresStore>,
    site_root: &Path,
) -> Router {
    use axum::routing::{delete, post};
    let guarded = |routes: Router| {
        routes
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::csrf_guard,
            ))
            .layer(sessions.clone())
            .layer(tower_http::limit::RequestBodyLimitLayer::new(1024 * 1024))
    };
    let api = Router::new()
        .route("/api/me", get(api::me))
        .route(
            "/api/workflows",
            get(workflows::list).post(workflows::start),
        )
        .route("/api/workflows/{id}", get(workflows::detail))
        .route("/api/workflows/{id}/cancel", post(workflows::cancel))
        .route("/api/workflows/{id}/events", get(events::for_workflow))
        .route(
            "/api/workflows/{id}/nodes/{node}/activity",
            get(workflows::node_activity),
        )
        .route("/api/events", get(events::all))
        .route("/api/approvals", get(approvals::inbox))
        .route("/api/approvals/{workflow}/{gate}", post(approvals::decide))
        .route("/api/tokens", get(api::list_tokens).post(api::create_token))
        .route("/api/tokens/{id}", delete(api::revoke_token))
        .route("/api/audit", get(api::audit_log))
        .route("/api/audit/verify", get(api::audit_verify))
        .route("/api/models", get(read_models::models))
        .route("/api/models/{model}/versions", get(read_models::versions))
        .route(
            "/api/models/{model}/versions/{version}/lineage",
            get(read_models::lineage),
        )
        .route(
            "/api/models/{model}/versions/{version}/releases",
            get(workflows::releases_of_version),
        )
        .route("/api/models/{model}/canary", get(read_models::canary))
        .route("/api/deployments", get(read_models::deployments))
        .route("/api/drift", get(read_models::drift))
        .route("/api/drift/features", get(read_models::drift_features))
        .route("/api/predictions", get(read_models::predictions))
        .route("/api/agents", get(read_models::agents))
        .route("/api/demo", get(demo_panel::get))
        .route("/api/demo/drift", post(demo_panel::set_drift))
        .route("/api/hooks/orchestrator", post(workflows::push_hook))
        .route(
            "/api/hooks/orchestrator/workflows",
            post(workflows::report_hook),
        )
        .route("/api/openapi.json", get(openapi::document))
        .route("/auth/login", get(oidc::login))
        .route("/auth/callback", get(oidc::callback))
        .route("/auth/logout", post(oidc::logout))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth/token", post(token))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state.clone());
    let api = guarded(api);
    let pages = guarded(console::router(state.clone(), api.clone(), site_root));
    api.merge(pages)
        .route("/assets/mlops.css", get(console::stylesheet))
        .nest_service("/pkg", console::bundle(site_root))
        .fallback(|| async { problem::Problem::not_found("no such endpoint") })
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::info_span!("http.request", method = %req.method(), path = %req.uri().path())
        }))
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
                &state.public_url,
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
    let config = ControlConfig::load(args.config.as_deref())?;
    let key = SigningKey::load_or_create(&signing_key_path(data_dir))?;
    let client_secrets = ClientSecrets::load_or_create(&client_secrets_path(data_dir))?;
    let pool = mlops_postgres::connect(&database_url, 32)
        .await
        .context("connecting to Postgres")?;
    mlops_postgres::migrate(&pool)
        .await
        .context("applying migrations")?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();
    std::fs::write(
        issuer_record_path(data_dir),
        serde_json::to_vec_pretty(&IssuerRecord {
            issuer: public_url.clone(),
        })?,
    )?;

    let store = PostgresStore::new(pool.clone())
        .with_schema_name("control")
        .map_err(anyhow::Error::msg)?
        .with_table_name("sessions")
        .map_err(anyhow::Error::msg)?;
    tokio::spawn({
        let store = store.clone();
        async move {
            if let Err(error) = store
                .continuously_delete_expired(tokio::time::Duration::from_secs(300))
                .await
            {
                tracing::warn!(%error, "expired-session sweeper stopped");
            }
        }
    });
    let sessions = SessionManagerLayer::new(store)
        .with_name("mlops_session")
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_secure(public_url.starts_with("https://"))
        .with_expiry(tower_sessions::Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::minutes(config.session.idle_minutes),
        ));

    // The control plane's own calls carry what the access matrix grants it.
    let tokens = Arc::new(MintingTokenSource::following_matrix(
        key.clone(),
        &public_url,
        "control-plane",
    ));
    let mcp_tokens = tokens.clone();
    let mcp_endpoints = match &args.mcp_urls {
        Some(raw) => Some(McpEndpoints::parse(raw).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let oidc = match &config.oidc {
        Some(c) => Some(Arc::new(oidc::Oidc::new(c.clone(), &public_url)?)),
        None => None,
    };
    let registry = args
        .agent_registry
        .clone()
        .unwrap_or_else(|| crate::supervisor::agent_registry_path(data_dir));
    tracing::info!(url = %public_url, kid = %key.kid(), sign_in = oidc.is_some(), "control plane listening");
    let service_tokens = TokenVerifier::new(
        public_url.clone(),
        mlops_service_auth::access::CONTROL_PLANE,
        JwksSource::Static(key.jwks()),
    );
    let state = Arc::new(AppState {
        service_tokens,
        key,
        client_secrets,
        public_url,
        pool: pool.clone(),
        data_dir: data_dir.clone(),
        config,
        oidc,
        orchestrator: workflows::OrchestratorLink::new(registry, tokens),
        read_models: read_models::ReadModels::new(mcp_endpoints, mcp_tokens),
        fanout: events::Fanout::start(pool),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    });
    tokio::spawn(workflows::resume_following(state.clone()));
    let site_root = console::site_root(args.site_root.as_deref());
    tracing::info!(site = %site_root.display(), bundle = site_root.join("pkg").join(format!("{}.js", console::BUNDLE)).exists(), "console");
    let app = router(state, sessions, &site_root);
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
