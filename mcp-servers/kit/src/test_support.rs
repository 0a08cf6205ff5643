//! Helpers for the MCP servers' integration tests (feature `test-support`):
//! a real signing key and tokens per the access matrix, an rmcp client over
//! real HTTP, and result assertions.

use std::sync::Arc;
use std::time::Duration;

use mlops_service_auth::access::mcp_scopes;
use mlops_service_auth::{JwksSource, Scope, SigningKey, TokenRequest, TokenVerifier};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

pub const ISSUER: &str = "http://control-plane.test";

/// Stands in for the control plane's token service: a real key and tokens.
pub struct TestTokens {
    pub key: SigningKey,
    pub server: String,
}

impl TestTokens {
    pub fn new(server: &str) -> Self {
        TestTokens {
            key: SigningKey::generate().expect("key generation"),
            server: server.to_owned(),
        }
    }

    pub fn verifier(&self) -> Arc<TokenVerifier> {
        Arc::new(TokenVerifier::new(
            ISSUER,
            self.server.clone(),
            JwksSource::Static(self.key.jwks()),
        ))
    }

    /// A token for `agent` with exactly the scopes the access matrix grants it here.
    pub fn for_agent(&self, agent: &str) -> String {
        let scopes = mcp_scopes(agent, &self.server)
            .iter()
            .map(|s| Scope::parse(s).expect("matrix scopes are valid"))
            .collect();
        self.token(agent, &self.server.clone(), scopes)
    }

    pub fn token(&self, subject: &str, audience: &str, scopes: Vec<Scope>) -> String {
        let request = TokenRequest::new(subject, audience, scopes, Duration::from_secs(600))
            .expect("valid request");
        self.key.mint(ISSUER, &request).expect("minting").0
    }
}

/// An rmcp client for `mcp_url` presenting `token`.
pub async fn client(mcp_url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned())
        .auth_header(token.to_owned());
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connecting the MCP client")
}

/// Calls `tool` with `args` (a JSON object).
pub async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    let Value::Object(map) = args else {
        panic!("tool arguments must be a JSON object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
        .await
        .expect("the call reaches the server")
}

/// The structured content of a successful call (with its text summary checked).
pub fn ok(result: &CallToolResult) -> Value {
    assert_ne!(
        result.is_error,
        Some(true),
        "tool failed: {:?}",
        result.content
    );
    assert!(!result.content.is_empty(), "a text summary is always there");
    result
        .structured_content
        .clone()
        .expect("structured content")
}

/// The message of a tool error.
pub fn error_message(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a tool error, got {:?}",
        result.structured_content
    );
    result
        .structured_content
        .as_ref()
        .expect("structured error")["error"]["message"]
        .as_str()
        .expect("error message")
        .to_owned()
}

/// The venv Python with the official SDKs (`cargo xtask test` installs it).
pub fn python() -> String {
    if let Ok(p) = std::env::var("MLOPS_PYTHON") {
        return p;
    }
    let default = format!(
        "{}/.cache/mlops/venv/bin/python",
        std::env::var("HOME").unwrap_or_default()
    );
    assert!(
        std::path::Path::new(&default).exists(),
        "the interop tests need the official Python SDKs: run `cargo xtask test`, or set MLOPS_PYTHON"
    );
    default
}

/// Runs the official Python MCP client against `mcp_url`: lists tools (each
/// of `expected_tools` must be there) and calls `tool` with `args`. Returns
/// its stdout.
pub async fn python_client(
    mcp_url: &str,
    token: &str,
    tool: &str,
    args: Value,
    expected_tools: &[&str],
) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/mcp_sdk_client.py");
    let (url, token, tool) = (mcp_url.to_owned(), token.to_owned(), tool.to_owned());
    let expected = expected_tools.join(",");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python())
            .args([script, &url, &token, &tool, &args.to_string(), &expected])
            .output()
            .expect("running the Python MCP client")
    })
    .await
    .expect("the Python client task");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "python mcp client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
