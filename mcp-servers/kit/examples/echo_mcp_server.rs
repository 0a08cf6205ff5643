//! A one-tool MCP server for `cargo xtask bench`, built exactly like the real
//! servers (a `ToolKit` with a scoped `ToolPolicy`, rmcp's tool router, and
//! `McpHttpServer` with bearer auth), so the benchmark measures the kit and
//! rmcp rather than a tool's backend. It has no audit log: the real servers
//! audit to Postgres, which would measure Postgres commits instead.
//!
//! ```text
//! echo_mcp_server --listen 127.0.0.1:0 --issuer URL --jwks-file jwks.json
//! ```
//!
//! Prints `listening <mcp url>` on stdout once bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mlops_mcp_kit::{
    Caller, McpHttpServer, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema,
};
use mlops_service_auth::{Jwks, JwksSource, TokenVerifier};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, JsonObject, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// The server's name, and so the audience its tokens must carry.
const SERVER: &str = "echo";
/// The one scope this server checks.
const ECHO_SCOPE: &str = "bench:echo";
/// Longest text echoed back; anything the benchmark sends is far shorter.
const MAX_TEXT_BYTES: usize = 64 * 1024;

fn policy() -> ToolPolicy {
    ToolPolicy::new(&[("echo", ECHO_SCOPE)])
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Echo {
    /// The text to send back (at most 64 KiB).
    text: String,
}

#[derive(Clone)]
struct EchoServer {
    kit: Arc<ToolKit>,
    tool_router: ToolRouter<Self>,
}

impl EchoServer {
    fn new() -> Self {
        EchoServer {
            kit: Arc::new(ToolKit::new(SERVER, policy(), None)),
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl EchoServer {
    /// Returns the text it was given.
    #[tool(name = "echo", input_schema = input_schema::<Echo>())]
    async fn echo(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(&ctx, "echo", raw, async |args: Echo, _caller: &Caller| {
                if args.text.len() > MAX_TEXT_BYTES {
                    return Err(ToolError::Invalid(format!(
                        "text is {} bytes; at most {MAX_TEXT_BYTES} are echoed",
                        args.text.len()
                    )));
                }
                let data = serde_json::json!({ "text": &args.text });
                Ok(ToolOutput::new(args.text, data))
            })
            .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mlops-bench-echo",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions("One tool, echo, for benchmarks.")
    }
}

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Token issuer (the control plane's URL).
    #[arg(long)]
    issuer: String,
    /// Issuer JWKS as a file.
    #[arg(long)]
    jwks_file: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.jwks_file)
        .with_context(|| format!("reading {}", args.jwks_file.display()))?;
    let jwks: Jwks = serde_json::from_str(&text).context("parsing the JWKS file")?;
    let verifier = Arc::new(TokenVerifier::new(
        args.issuer,
        SERVER,
        JwksSource::Static(jwks),
    ));
    let server = EchoServer::new();
    let running = McpHttpServer::new(SERVER, verifier, server.kit.metrics())
        .bind(args.listen, move || server.clone())
        .await
        .context("binding")?;
    // The one line a parent process reads to learn where we listen.
    println!("listening {}", running.mcp_url());
    running
        .serve_until(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler cannot fail at start-up");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await;
    Ok(())
}
