//! The MCP kit: what every MCP server in the system shares.
//!
//! - [`ToolKit::call`] wraps every tool: it parses the arguments into the
//!   tool's Rust type (the same type its input schema comes from), checks
//!   the caller's token has the tool's scope, runs the tool, writes an audit
//!   row (caller, tool, argument digest, status, duration), and returns a
//!   result with a text summary and `structuredContent`, or a tool error
//!   that says what was wrong.
//! - [`McpHttpServer`]: rmcp's streamable HTTP service at `/mcp` behind
//!   bearer auth (audience = the server), plus `/healthz`, `/readyz` and
//!   `/metrics`. [`serve_stdio`] runs the same handler over stdio.
//!
//! Architecture invariant: a tool with no scope in its server's
//! [`ToolPolicy`] cannot be called; access is denied by default.

mod audit;
mod server;
mod tool_call;

#[cfg(feature = "test-support")]
pub mod test_support;

pub use audit::AuditLog;
pub use server::{McpHttpServer, RunningMcpServer, serve_stdio};
pub use tool_call::{
    Caller, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema, require_scope, slug,
};
