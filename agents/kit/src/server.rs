use std::net::SocketAddr;
use std::sync::Arc;

use a2a_server::jsonrpc::jsonrpc_router;
use a2a_server::push::HttpPushSenderConfig;
use a2a_server::rest::rest_router;
use a2a_server::{
    AgentExecutor, DefaultRequestHandler, HttpPushSender, InMemoryPushConfigStore,
    InMemoryTaskStore, StaticAgentCard,
};
use axum::Router;
use axum::http::header;
use axum::routing::get;
use mlops_service_auth::{TokenVerifier, require_a2a_invoke, require_bearer};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::contracts::{JSONRPC_PATH, REST_PATH};
use crate::metrics::ObservedExecutor;
use crate::{AgentDefinition, PgPushConfigStore, PgTaskStore, TaskMetrics};

/// Where an agent keeps its tasks.
#[derive(Clone)]
pub enum StoreChoice {
    /// Lost on restart: for tests and benchmarks only.
    Memory,
    /// `agents.tasks` in this database: the production choice.
    Postgres(PgPool),
}

/// Default largest request body: 1 MiB. Skill inputs reference data by URI;
/// they never carry datasets inline.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Builds and runs one agent's HTTP server.
pub struct AgentServer<E> {
    definition: AgentDefinition,
    executor: E,
    store: StoreChoice,
    verifier: Arc<TokenVerifier>,
    body_limit: usize,
    public_url: Option<String>,
    allow_private_push_targets: bool,
}

impl<E: AgentExecutor> AgentServer<E> {
    /// An agent that accepts only bearer tokens `verifier` approves: there is
    /// no unauthenticated mode.
    pub fn new(definition: AgentDefinition, executor: E, verifier: Arc<TokenVerifier>) -> Self {
        AgentServer {
            definition,
            executor,
            store: StoreChoice::Memory,
            verifier,
            body_limit: DEFAULT_BODY_LIMIT,
            public_url: None,
            allow_private_push_targets: false,
        }
    }

    pub fn store(mut self, store: StoreChoice) -> Self {
        self.store = store;
        self
    }

    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The base URL advertised in the card (defaults to the bound address).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Lets push notifications go to loopback and private addresses, as the
    /// local runtime needs for the control plane's webhook. Off by default:
    /// the SDK's SSRF guard stays on.
    pub fn allow_private_push_targets(mut self, allow: bool) -> Self {
        self.allow_private_push_targets = allow;
        self
    }

    /// Binds `addr` and starts serving in the background.
    pub async fn bind(self, addr: SocketAddr) -> std::io::Result<RunningAgent> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let base_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        let agent_name = self.definition.name.clone();
        let (router, handler) = self.router(&base_url);
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let name = agent_name.clone();
        let handle = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, agent = %name, "agent server failed");
            }
        });
        tracing::info!(agent = %agent_name, url = %base_url, "agent listening");
        Ok(RunningAgent {
            addr: local,
            base_url,
            handler,
            stop: stop_tx,
            handle,
        })
    }

    fn router(self, base_url: &str) -> (Router, Arc<DefaultRequestHandler>) {
        let definition = Arc::new(self.definition);
        let card = definition.card(base_url);
        let metrics = TaskMetrics::new(&definition.name);
        let executor = ObservedExecutor {
            inner: self.executor,
            definition: definition.clone(),
            metrics: metrics.clone(),
        };
        let push_sender = HttpPushSender::new(Some(HttpPushSenderConfig {
            validate_urls: !self.allow_private_push_targets,
            ..HttpPushSenderConfig::default()
        }));
        let pool = match &self.store {
            StoreChoice::Postgres(pool) => Some(pool.clone()),
            StoreChoice::Memory => None,
        };
        let handler = match self.store {
            StoreChoice::Memory => DefaultRequestHandler::new(executor, InMemoryTaskStore::new())
                .with_push_notifications(InMemoryPushConfigStore::new(), push_sender),
            StoreChoice::Postgres(pool) => DefaultRequestHandler::new(
                executor,
                PgTaskStore::new(pool.clone(), definition.name.clone()),
            )
            .with_push_notifications(
                PgPushConfigStore::new(pool, definition.name.clone()),
                push_sender,
            ),
        }
        .with_capabilities(card.capabilities.clone());
        let handler = Arc::new(handler);

        let protocol = Router::new()
            .nest(JSONRPC_PATH, jsonrpc_router(handler.clone()))
            .nest(REST_PATH, rest_router(handler.clone()))
            .layer(axum::middleware::from_fn(require_a2a_invoke))
            .layer(axum::middleware::from_fn_with_state(
                self.verifier,
                require_bearer,
            ))
            .layer(RequestBodyLimitLayer::new(self.body_limit));

        let ops = Router::new()
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
            );

        let agent = definition.name.clone();
        let router = Router::new()
            .merge(a2a_server::agent_card::agent_card_router(Arc::new(
                StaticAgentCard::new(card),
            )))
            .merge(protocol)
            .merge(ops)
            .layer(TraceLayer::new_for_http().make_span_with(
                move |req: &axum::http::Request<_>| {
                    tracing::info_span!(
                        "http.request",
                        agent = %agent,
                        method = %req.method(),
                        path = %req.uri().path(),
                        caller = tracing::field::Empty,
                    )
                },
            ));
        (router, handler)
    }
}

/// A running agent server.
pub struct RunningAgent {
    addr: SocketAddr,
    base_url: String,
    handler: Arc<DefaultRequestHandler>,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl RunningAgent {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The agent's request handler, for work the agent starts on its own
    /// tasks in process (the orchestrator re-attaching a stream to a
    /// workflow it resumed after a restart). Calls made here skip the HTTP
    /// auth layers: the caller is the agent itself.
    pub fn handler(&self) -> Arc<DefaultRequestHandler> {
        self.handler.clone()
    }

    /// Stops accepting connections, lets in-flight requests finish, returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }

    /// Serves until `signal` resolves, then shuts down gracefully.
    pub async fn serve_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!(url = %self.base_url, "shutting down");
        self.shutdown().await;
    }
}
