//! The `mlops` command and the control plane.
//!
//! - [`cli`]: the subcommands (`up`, `serve`, `agent`, `mcp`, `migrate`,
//!   `token`, `status`).
//! - [`supervisor`]: `mlops up`, which runs every service as a supervised
//!   child process and writes `services.json`.
//! - [`control_plane`]: `mlops serve`; today the token service (signing key,
//!   JWKS, [`token_service`]'s client-credentials endpoint) and health
//!   endpoints.
//! - [`agents`]: `mlops agent NAME`, one specialist agent per process.
//! - [`mcp`]: `mlops mcp NAME`, one MCP server per process.
//! - [`serving`]: `mlops model-server` and `mlops router`, the processes
//!   the cluster server's local backend runs.
//! - [`services`]: the `services.json` file shared by `up` and `status`.

pub mod agents;
pub mod api_client;
pub mod cli;
pub mod control_plane;
pub mod demo;
pub mod mcp;
pub mod services;
pub mod serving;
pub mod supervisor;
pub mod telemetry;
pub mod token_service;
