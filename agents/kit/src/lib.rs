//! The agent kit: what every A2A agent in the system shares.
//!
//! Writing an agent comes down to its skills ([`SkillContract`]) and an
//! [`a2a_server::AgentExecutor`]. The kit supplies the rest:
//!
//! - [`AgentDefinition`] → the agent card, with `supportedInterfaces`
//!   (JSON-RPC and HTTP+JSON), streaming and push capabilities, a bearer
//!   scheme, and the skill-contracts extension ([`SKILL_CONTRACTS_EXTENSION`]).
//! - [`PgTaskStore`] and [`PgPushConfigStore`]: tasks, history, artifacts and
//!   push configs in the `agents` schema, kept across restarts.
//! - [`AgentServer`]: bearer auth, body limit, `/healthz`, `/readyz`,
//!   `/metrics`, tracing spans per task, graceful shutdown.
//! - [`Skills`] + [`SkillExecutor`]: skills written as async functions,
//!   turned into A2A task streams (progress, artifacts, rejected/failed).
//! - [`McpPool`]: the agent's MCP sessions, with tokens from the token
//!   service ([`ClientCredentialsTokenSource`]) and the access matrix
//!   enforced before any call.
//! - [`client`]: discovery from `agents.yaml`, calls with timeouts, retries
//!   with backoff and jitter, and a circuit breaker per agent.
//!
//! Architecture invariant: the kit holds protocol plumbing only. What an
//! agent does lives in its own crate's executor.

pub mod client;
mod contracts;
mod events;
pub mod mcp_pool;
mod metrics;
mod push_store;
mod runtime;
mod server;
mod skill;
mod task_store;
mod tokens;

pub use contracts::{
    Action, AgentDefinition, Phase, SKILL_CONTRACTS_EXTENSION, SkillContract, SkillInput,
};
pub use events::TaskEvents;
pub use mcp_pool::{McpCallError, McpCallRecord, McpEndpoints, McpPool};
pub use metrics::TaskMetrics;
pub use push_store::PgPushConfigStore;
pub use runtime::{AgentEnv, serve_skills};
pub use server::{AgentServer, RunningAgent, StoreChoice};
pub use skill::{
    Attachment, SkillArtifact, SkillContext, SkillError, SkillExecutor, SkillOutcome, Skills,
    parse_input, whole_numbers_as_integers,
};
pub use task_store::PgTaskStore;
pub use tokens::ClientCredentialsTokenSource;

/// Re-exported so agent crates use the same SDK versions as the kit.
pub use a2a;
pub use a2a_client;
pub use a2a_server;
