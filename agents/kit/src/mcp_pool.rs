//! The MCP client pool: how an agent reaches its tools.
//!
//! One rmcp session per MCP server, opened on first use over streamable HTTP
//! with a token for that server from the token service. A call the access
//! matrix does not allow this agent is refused here, before anything goes on
//! the wire; the server would refuse it too, since the token lacks the scope.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlops_service_auth::access::mcp_scopes;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::client::TokenSource;

/// Why an MCP call did not give a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum McpCallError {
    #[error("the access matrix gives agent {agent:?} no access to MCP server {server:?}")]
    Forbidden { agent: String, server: String },
    #[error("MCP server {0:?} is not configured (MLOPS_MCP_URLS)")]
    UnknownServer(String),
    #[error("no token for MCP server {server:?}: {reason}")]
    Token { server: String, reason: String },
    #[error("MCP {server}/{tool}: {reason}")]
    Transport {
        server: String,
        tool: String,
        reason: String,
    },
    #[error("MCP {server}/{tool} timed out after {after:?}")]
    Timeout {
        server: String,
        tool: String,
        after: Duration,
    },
    /// The tool ran and said no; `message` is its own explanation.
    #[error("{server}/{tool} refused: {message}")]
    Tool {
        server: String,
        tool: String,
        message: String,
    },
}

impl McpCallError {
    /// Worth another attempt: the server may not have seen the call.
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            McpCallError::Transport { .. } | McpCallError::Timeout { .. }
        )
    }
}

/// Where each MCP server listens: `name=url` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpEndpoints(HashMap<String, String>);

impl McpEndpoints {
    /// Parses `registry=http://…/mcp,storage=http://…/mcp`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut map = HashMap::new();
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, url) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not name=url"))?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "MCP server {name:?}: {url:?} is not an http(s) URL"
                ));
            }
            map.insert(name.trim().to_owned(), url.trim().to_owned());
        }
        Ok(McpEndpoints(map))
    }

    pub fn insert(&mut self, server: &str, url: &str) {
        self.0.insert(server.to_owned(), url.to_owned());
    }

    pub fn get(&self, server: &str) -> Option<&str> {
        self.0.get(server).map(String::as_str)
    }

    /// The `name=url,…` form, as `parse` reads it.
    pub fn render(&self) -> String {
        let mut pairs: Vec<_> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.sort();
        pairs.join(",")
    }
}

/// One finished MCP call, for the task's progress stream and audit.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct McpCallRecord {
    pub server: String,
    pub tool: String,
    pub ok: bool,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

struct Session {
    client: Arc<RunningService<RoleClient, ()>>,
    token: String,
}

/// The MCP sessions of one agent.
pub struct McpPool {
    agent: String,
    endpoints: McpEndpoints,
    tokens: Arc<dyn TokenSource>,
    sessions: Mutex<HashMap<String, Session>>,
    call_timeout: Duration,
    attempts: u32,
}

impl McpPool {
    pub fn new(agent: &str, endpoints: McpEndpoints, tokens: Arc<dyn TokenSource>) -> Self {
        McpPool {
            agent: agent.to_owned(),
            endpoints,
            tokens,
            sessions: Mutex::new(HashMap::new()),
            call_timeout: Duration::from_secs(120),
            attempts: 3,
        }
    }

    /// How long one tool call may take before it counts as timed out.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Whether the access matrix lets this agent call `server` at all.
    pub fn may_call(&self, server: &str) -> bool {
        !mcp_scopes(&self.agent, server).is_empty()
    }

    async fn session(
        &self,
        server: &str,
        tool: &str,
    ) -> Result<Arc<RunningService<RoleClient, ()>>, McpCallError> {
        let url = self
            .endpoints
            .get(server)
            .ok_or_else(|| McpCallError::UnknownServer(server.to_owned()))?;
        let token = self
            .tokens
            .token(server)
            .await
            .map_err(|e| McpCallError::Token {
                server: server.to_owned(),
                reason: e.to_string(),
            })?;
        let mut sessions = self.sessions.lock().await;
        if let Some(session) = sessions.get(server)
            && session.token == token
            && !session.client.is_closed()
        {
            return Ok(session.client.clone());
        }
        // A new token (the old one is near expiry) means a new session: the
        // transport's auth header is fixed when it is built.
        let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned())
            .auth_header(token.clone());
        let client = tokio::time::timeout(
            self.call_timeout,
            ().serve(StreamableHttpClientTransport::from_config(config)),
        )
        .await
        .map_err(|_| McpCallError::Timeout {
            server: server.to_owned(),
            tool: tool.to_owned(),
            after: self.call_timeout,
        })?
        .map_err(|e| McpCallError::Transport {
            server: server.to_owned(),
            tool: tool.to_owned(),
            reason: format!("cannot open a session: {e}"),
        })?;
        let client = Arc::new(client);
        sessions.insert(
            server.to_owned(),
            Session {
                client: client.clone(),
                token,
            },
        );
        Ok(client)
    }

    async fn forget(&self, server: &str) {
        self.sessions.lock().await.remove(server);
    }

    /// The tools `server` offers, as `(name, description)`, for the console's
    /// agents page. Needs the same access as a call.
    pub async fn list_tools(&self, server: &str) -> Result<Vec<(String, String)>, McpCallError> {
        if !self.may_call(server) {
            return Err(McpCallError::Forbidden {
                agent: self.agent.clone(),
                server: server.to_owned(),
            });
        }
        let client = self.session(server, "tools/list").await?;
        let tools = tokio::time::timeout(self.call_timeout, client.list_all_tools())
            .await
            .map_err(|_| McpCallError::Timeout {
                server: server.to_owned(),
                tool: "tools/list".into(),
                after: self.call_timeout,
            })?
            .map_err(|e| McpCallError::Transport {
                server: server.to_owned(),
                tool: "tools/list".into(),
                reason: e.to_string(),
            })?;
        Ok(tools
            .into_iter()
            .map(|t| {
                let description = t.description.map(|d| d.to_string()).unwrap_or_default();
                (t.name.to_string(), description)
            })
            .collect())
    }

    /// Calls `tool` on `server` with `args` (a JSON object) and returns its
    /// structured result. Transport failures and timeouts are retried with
    /// backoff; a tool's own refusal is returned at once.
    #[tracing::instrument(name = "mcp.call", skip(self, args), fields(agent = %self.agent))]
    pub async fn call(&self, server: &str, tool: &str, args: Value) -> Result<Value, McpCallError> {
        self.call_recorded(server, tool, args).await.0
    }

    /// Like [`McpPool::call`], also returning what happened, for progress
    /// events.
    pub async fn call_recorded(
        &self,
        server: &str,
        tool: &str,
        args: Value,
    ) -> (Result<Value, McpCallError>, McpCallRecord) {
        let started = Instant::now();
        let result = self.call_with_retries(server, tool, args).await;
        let record = McpCallRecord {
            server: server.to_owned(),
            tool: tool.to_owned(),
            ok: result.is_ok(),
            duration_ms: started.elapsed().as_millis() as u64,
            error: result.as_ref().err().map(ToString::to_string),
        };
        match &result {
            Ok(_) => tracing::info!(server, tool, ms = record.duration_ms, "mcp call ok"),
            Err(error) => tracing::warn!(server, tool, %error, "mcp call failed"),
        }
        (result, record)
    }

    async fn call_with_retries(
        &self,
        server: &str,
        tool: &str,
        args: Value,
    ) -> Result<Value, McpCallError> {
        if !self.may_call(server) {
            return Err(McpCallError::Forbidden {
                agent: self.agent.clone(),
                server: server.to_owned(),
            });
        }
        let Value::Object(arguments) = args else {
            return Err(McpCallError::Tool {
                server: server.to_owned(),
                tool: tool.to_owned(),
                message: "tool arguments must be a JSON object".into(),
            });
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.call_once(server, tool, arguments.clone()).await {
                Err(error) if error.is_retryable() && attempt < self.attempts => {
                    self.forget(server).await;
                    let delay = Duration::from_millis(200 * 2u64.pow(attempt))
                        + Duration::from_millis(fastrand::u64(0..200));
                    tracing::warn!(server, tool, attempt, ?delay, %error, "retrying MCP call");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn call_once(
        &self,
        server: &str,
        tool: &str,
        arguments: serde_json::Map<String, Value>,
    ) -> Result<Value, McpCallError> {
        let client = self.session(server, tool).await?;
        let request = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let result = tokio::time::timeout(self.call_timeout, client.call_tool(request))
            .await
            .map_err(|_| McpCallError::Timeout {
                server: server.to_owned(),
                tool: tool.to_owned(),
                after: self.call_timeout,
            })?
            .map_err(|e| McpCallError::Transport {
                server: server.to_owned(),
                tool: tool.to_owned(),
                reason: e.to_string(),
            })?;
        if result.is_error == Some(true) {
            let message = result
                .structured_content
                .as_ref()
                .and_then(|v| v.pointer("/error/message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    result
                        .content
                        .iter()
                        .find_map(|c| c.as_text().map(|t| t.text.clone()))
                })
                .unwrap_or_else(|| "the tool failed without saying why".into());
            return Err(McpCallError::Tool {
                server: server.to_owned(),
                tool: tool.to_owned(),
                message,
            });
        }
        Ok(result.structured_content.unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientError;

    /// A token source that fails the test if anyone asks it.
    struct NoTokens;

    #[async_trait::async_trait]
    impl TokenSource for NoTokens {
        async fn token(&self, audience: &str) -> Result<String, ClientError> {
            panic!("a token for {audience} was requested")
        }
    }

    #[tokio::test]
    async fn a_call_the_matrix_forbids_is_never_made() {
        let mut endpoints = McpEndpoints::default();
        // Nothing listens there: reaching it would fail differently.
        endpoints.insert("cluster", "http://127.0.0.1:9/mcp");
        let pool = McpPool::new("training", endpoints, Arc::new(NoTokens));
        assert!(!pool.may_call("cluster"));
        let (result, record) = pool
            .call_recorded("cluster", "set_traffic_split", serde_json::json!({}))
            .await;
        assert!(
            matches!(result, Err(McpCallError::Forbidden { .. })),
            "{result:?}"
        );
        assert!(!record.ok);
        assert!(record.error.unwrap().contains("access matrix"));
    }

    #[test]
    fn endpoints_parse_and_render() {
        let e =
            McpEndpoints::parse("storage=http://127.0.0.1:1/mcp, quality=http://127.0.0.1:2/mcp")
                .unwrap();
        assert_eq!(e.get("storage"), Some("http://127.0.0.1:1/mcp"));
        assert_eq!(McpEndpoints::parse(&e.render()).unwrap(), e);
        assert!(McpEndpoints::parse("storage").is_err());
        assert!(McpEndpoints::parse("storage=ftp://x").is_err());
    }
}
