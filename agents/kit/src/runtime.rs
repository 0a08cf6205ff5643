//! Running an agent as a process: its environment and its server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use mlops_service_auth::{JwksSource, TokenVerifier};
use serde::de::DeserializeOwned;
use sqlx::PgPool;

use crate::client::{AgentDirectory, AgentRegistryFile, ClientError, RetryPolicy, TokenSource};
use crate::{
    AgentServer, ClientCredentialsTokenSource, McpEndpoints, McpPool, RunningAgent, SkillExecutor,
    Skills, StoreChoice,
};

/// Everything an agent process gets from outside.
///
/// From the environment (`mlops up` sets all of it):
/// - `DATABASE_URL`: the agent's task store (`agents` schema);
/// - `MLOPS_ISSUER`: the control plane, which issues and verifies tokens;
/// - `MLOPS_CLIENT_SECRET`: this agent's client secret at the token service
///   (its client id is its name);
/// - `MLOPS_MCP_URLS`: `name=url,…` of the MCP servers;
/// - `MLOPS_AGENT_REGISTRY`: the agent registry file (agents.yaml), for
///   agents that call other agents;
/// - `MLOPS_AGENT_CONFIG`: an optional YAML file with the agent's settings.
#[derive(Clone)]
pub struct AgentEnv {
    pub name: String,
    pub issuer: String,
    pub database: PgPool,
    pub tokens: Arc<dyn TokenSource>,
    pub mcp: Arc<McpPool>,
    pub agent_registry: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl AgentEnv {
    pub async fn from_env(name: &str) -> anyhow::Result<Self> {
        let database_url = var("DATABASE_URL")
            .context("set DATABASE_URL: the agent keeps its tasks in Postgres")?;
        let issuer = var("MLOPS_ISSUER")
            .context("set MLOPS_ISSUER to the control plane's URL (the token service)")?;
        let secret = var("MLOPS_CLIENT_SECRET").with_context(|| {
            format!("set MLOPS_CLIENT_SECRET to the token service's secret for client {name:?}")
        })?;
        let endpoints = McpEndpoints::parse(&var("MLOPS_MCP_URLS").unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("MLOPS_MCP_URLS: {e}"))?;
        let database = mlops_postgres::connect(&database_url, 8)
            .await
            .context("connecting to Postgres")?;
        let tokens: Arc<dyn TokenSource> =
            Arc::new(ClientCredentialsTokenSource::new(&issuer, name, &secret));
        Ok(AgentEnv {
            name: name.to_owned(),
            mcp: Arc::new(McpPool::new(name, endpoints, tokens.clone())),
            issuer: issuer.trim_end_matches('/').to_owned(),
            database,
            tokens,
            agent_registry: var("MLOPS_AGENT_REGISTRY").map(PathBuf::from),
            config_file: var("MLOPS_AGENT_CONFIG").map(PathBuf::from),
        })
    }

    /// The agent's settings: the YAML config file when one is set, else
    /// the type's defaults.
    pub fn config<T: DeserializeOwned + Default>(&self) -> anyhow::Result<T> {
        let Some(path) = &self.config_file else {
            return Ok(T::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The other agents, from the registry file, with clients that present
    /// this agent's tokens.
    pub async fn agents(&self) -> Result<AgentDirectory, ClientError> {
        self.agents_with(RetryPolicy::default()).await
    }

    /// Like [`AgentEnv::agents`], with the caller's retry policy (the
    /// orchestrator retries in its own loop, against its own budget).
    pub async fn agents_with(&self, policy: RetryPolicy) -> Result<AgentDirectory, ClientError> {
        let path = self
            .agent_registry
            .as_ref()
            .ok_or_else(|| ClientError::Registry {
                path: "MLOPS_AGENT_REGISTRY".into(),
                reason: "not set".into(),
            })?;
        let registry = AgentRegistryFile::load(path)?;
        let (directory, errors) =
            AgentDirectory::discover(&registry, self.tokens.clone(), policy).await;
        for error in errors {
            tracing::warn!(%error, "agent not reachable");
        }
        Ok(directory)
    }

    /// Verifies tokens meant for this agent against the issuer's JWKS.
    pub fn verifier(&self) -> Arc<TokenVerifier> {
        Arc::new(TokenVerifier::new(
            self.issuer.clone(),
            self.name.clone(),
            JwksSource::Url(format!("{}/.well-known/jwks.json", self.issuer)),
        ))
    }
}

/// Serves `skills` as an A2A agent with a Postgres task store.
pub async fn serve_skills<S: Skills>(
    skills: Arc<S>,
    env: &AgentEnv,
    listen: SocketAddr,
    public_url: Option<String>,
) -> anyhow::Result<RunningAgent> {
    let executor = SkillExecutor::new(skills, Some(env.mcp.clone()));
    let mut server = AgentServer::new(executor.definition(), executor, env.verifier())
        .store(StoreChoice::Postgres(env.database.clone()))
        // The control plane's webhook and the orchestrator run on loopback
        // or private addresses in a cluster.
        .allow_private_push_targets(true);
    if let Some(url) = public_url {
        server = server.public_url(url);
    }
    server
        .bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))
}
