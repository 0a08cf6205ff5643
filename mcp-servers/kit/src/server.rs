use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use mlops_metrics::Registry;
use mlops_service_auth::{TokenVerifier, require_bearer};
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

/// Serves one MCP server over streamable HTTP at `/mcp`.
pub struct McpHttpServer {
    name: String,
    verifier: Arc<TokenVerifier>,
    pool: Option<PgPool>,
    metrics: Registry,
    allowed_hosts: Vec<String>,
}

impl McpHttpServer {
    /// `verifier` checks tokens for this server's audience; `metrics` is the
    /// tool kit's registry, exported at `/metrics`.
    pub fn new(name: &str, verifier: Arc<TokenVerifier>, metrics: Registry) -> Self {
        McpHttpServer {
            name: name.to_owned(),
            verifier,
            pool: None,
            metrics,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        }
    }

    /// `/readyz` answers only while this database does.
    pub fn readiness_database(mut self, pool: PgPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Accepts requests whose `Host` is `host` too (a Kubernetes Service
    /// name, say). Only local hosts are accepted by default, which stops DNS
    /// rebinding from reaching a server on a developer's machine.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// Binds `addr` and serves handlers made by `factory` until shutdown.
    pub async fn bind<S, F>(self, addr: SocketAddr, factory: F) -> std::io::Result<RunningMcpServer>
    where
        S: ServerHandler,
        F: Fn() -> S + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let stop = CancellationToken::new();
        // Stateless and JSON responses: any replica can answer any request,
        // with no session to pin a client to one process.
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_allowed_hosts(self.allowed_hosts.clone())
            .with_cancellation_token(stop.child_token());
        let mcp = StreamableHttpService::new(
            move || Ok(factory()),
            Arc::new(NeverSessionManager::default()),
            config,
        );

        let metrics = self.metrics.clone();
        let pool = self.pool.clone();
        let name = self.name.clone();
        let app = Router::new()
            .nest_service("/mcp", mcp)
            .layer(axum::middleware::from_fn_with_state(
                self.verifier.clone(),
                require_bearer,
            ))
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/readyz",
                get(move || mlops_postgres::readiness(pool.clone())),
            )
            .route(
                "/metrics",
                get(move || {
                    let body = metrics.render();
                    async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
                }),
            )
            .layer(TraceLayer::new_for_http().make_span_with(
                move |req: &axum::http::Request<_>| {
                    tracing::info_span!(
                        "http.request",
                        server = %name,
                        method = %req.method(),
                        path = %req.uri().path(),
                        caller = tracing::field::Empty,
                    )
                },
            ));
        let shutdown = stop.clone();
        let handle = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
            {
                tracing::error!(%error, "MCP server failed");
            }
        });
        tracing::info!(server = %self.name, url = %format!("http://{local}/mcp"), "MCP server listening");
        Ok(RunningMcpServer {
            addr: local,
            stop,
            handle,
        })
    }
}

/// A running MCP server.
pub struct RunningMcpServer {
    addr: SocketAddr,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl RunningMcpServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The streamable HTTP endpoint.
    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.handle.await;
    }

    /// Serves until `signal` resolves, then shuts down gracefully.
    pub async fn serve_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }
}

/// Serves `handler` over stdin/stdout until the client disconnects.
pub async fn serve_stdio<S: ServerHandler>(handler: S) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let running = handler.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
