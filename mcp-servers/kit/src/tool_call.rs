use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use mlops_metrics::Registry;
use mlops_service_auth::{Authenticated, ServiceClaims};
use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use rmcp::service::RequestContext;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::AuditLog;
use crate::audit::AuditEntry;

/// Which scope each tool of a server requires. Tools not listed are refused.
#[derive(Debug, Clone, Default)]
pub struct ToolPolicy {
    scopes: HashMap<&'static str, &'static str>,
}

impl ToolPolicy {
    pub fn new(pairs: &[(&'static str, &'static str)]) -> Self {
        ToolPolicy {
            scopes: pairs.iter().copied().collect(),
        }
    }

    pub fn scope_for(&self, tool: &str) -> Option<&'static str> {
        self.scopes.get(tool).copied()
    }

    pub fn tools(&self) -> impl Iterator<Item = &&'static str> {
        self.scopes.keys()
    }
}

/// Who is calling a tool.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A service with a verified bearer token.
    Service(ServiceClaims),
    /// The process that started this server over stdio; it already holds
    /// everything the server could give it (the data dir, the database).
    Local,
    /// An HTTP request that reached the handler without verified claims.
    /// The auth layer prevents this; it is refused all the same.
    Anonymous,
}

impl Caller {
    pub fn from_context(ctx: &RequestContext<RoleServer>) -> Caller {
        match ctx.extensions.get::<http::request::Parts>() {
            None => Caller::Local,
            Some(parts) => match parts.extensions.get::<Authenticated>() {
                Some(Authenticated(claims)) => Caller::Service(claims.clone()),
                None => Caller::Anonymous,
            },
        }
    }

    /// The caller as written to the audit trail.
    pub fn id(&self) -> String {
        match self {
            Caller::Service(claims) => claims.sub.clone(),
            Caller::Local => "local:stdio".into(),
            Caller::Anonymous => "anonymous".into(),
        }
    }

    pub fn allows(&self, scope: &str) -> bool {
        match self {
            Caller::Service(claims) => claims.has_scope(scope),
            Caller::Local => true,
            Caller::Anonymous => false,
        }
    }
}

/// For resource and prompt reads, which are not tool calls: the caller if
/// its token grants `scope`, else the protocol error saying what is missing.
pub fn require_scope(
    ctx: &RequestContext<RoleServer>,
    scope: &str,
    what: &str,
) -> Result<Caller, rmcp::ErrorData> {
    let caller = Caller::from_context(ctx);
    if caller.allows(scope) {
        Ok(caller)
    } else {
        Err(rmcp::ErrorData::invalid_request(
            format!("{} may not {what}: it needs scope {scope:?}", caller.id()),
            None,
        ))
    }
}

/// A name such as a model or dataset name: 1..=`max_len` characters of a-z,
/// 0-9 and '-', starting with a letter. `what` names it in the error.
pub fn slug(what: &str, raw: &str, max_len: usize) -> Result<String, ToolError> {
    let ok = raw.len() <= max_len
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ToolError::Invalid(format!(
            "{what} {raw:?} must be 1-{max_len} characters of a-z, 0-9 and '-', starting with a letter"
        )))
    }
}

/// A tool's result: a sentence for people and JSON for machines.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub summary: String,
    pub data: Value,
}

impl ToolOutput {
    pub fn new(summary: impl Into<String>, data: impl Serialize) -> Self {
        ToolOutput {
            summary: summary.into(),
            data: serde_json::to_value(data)
                .unwrap_or_else(|e| serde_json::json!({ "serialization_error": e.to_string() })),
        }
    }
}

/// Why a tool did not do what was asked; the message goes to the caller.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ToolError {
    fn kind(&self) -> &'static str {
        match self {
            ToolError::Invalid(_) => "invalid",
            ToolError::NotFound(_) => "not_found",
            ToolError::Conflict(_) => "conflict",
            ToolError::Internal(_) => "internal",
        }
    }

    /// Logs a backend failure and returns a message safe to show callers.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, context, "tool backend failed");
        ToolError::Internal(context.to_owned())
    }
}

/// The input schema of a tool, from the Rust type its arguments parse into.
pub fn input_schema<T: schemars::JsonSchema + std::any::Any>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_input::<T>()
        .expect("tool argument types are structs, so their schema is an object")
}

/// Shared by every tool of one server: policy, audit, metrics.
pub struct ToolKit {
    server: String,
    policy: ToolPolicy,
    audit: Option<AuditLog>,
    metrics: Registry,
}

enum Outcome {
    Done(ToolOutput),
    Failed(ToolError),
    Refused(String),
}

impl ToolKit {
    pub fn new(server: &str, policy: ToolPolicy, audit: Option<AuditLog>) -> Self {
        ToolKit {
            server: server.to_owned(),
            policy,
            audit,
            metrics: Registry::with_constant_labels(&[("server", server)]),
        }
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn policy(&self) -> &ToolPolicy {
        &self.policy
    }

    pub fn metrics(&self) -> Registry {
        self.metrics.clone()
    }

    /// Runs one tool call: authorize, parse, run, audit, shape the result.
    pub async fn call<T, F>(
        &self,
        ctx: &RequestContext<RoleServer>,
        tool: &'static str,
        raw: JsonObject,
        run: F,
    ) -> CallToolResult
    where
        T: DeserializeOwned,
        F: AsyncFnOnce(T, &Caller) -> Result<ToolOutput, ToolError>,
    {
        let started = Instant::now();
        let caller = Caller::from_context(ctx);
        let raw = Value::Object(raw);
        let digest = digest(&raw);
        let span =
            tracing::info_span!("mcp.tool", server = %self.server, tool, caller = %caller.id());
        let _entered = span.enter();

        let outcome = match self.policy.scope_for(tool) {
            None => Outcome::Refused(format!(
                "tool {tool:?} has no access policy on {}; refused",
                self.server
            )),
            Some(scope) if !caller.allows(scope) => Outcome::Refused(format!(
                "{} may not call {tool}: it needs scope {scope:?}, which its token does not grant",
                caller.id()
            )),
            Some(_) => match serde_json::from_value::<T>(raw) {
                Err(e) => Outcome::Failed(ToolError::Invalid(format!(
                    "invalid arguments for {tool}: {e}"
                ))),
                Ok(args) => match run(args, &caller).await {
                    Ok(output) => Outcome::Done(output),
                    Err(error) => Outcome::Failed(error),
                },
            },
        };
        drop(_entered);

        let duration = started.elapsed();
        let (status, detail) = match &outcome {
            Outcome::Done(_) => ("ok", None),
            Outcome::Failed(e) => ("error", Some(e.to_string())),
            Outcome::Refused(why) => ("refused", Some(why.clone())),
        };
        self.metrics.count(
            "mcp_tool_calls_total",
            "Tool calls by tool and outcome.",
            &[("tool", tool), ("status", status)],
            1,
        );
        self.metrics.observe(
            "mcp_tool_call_duration_seconds",
            "Tool call duration, including authorization and audit.",
            &[("tool", tool)],
            duration.as_secs_f64(),
        );
        if let Some(audit) = &self.audit {
            audit
                .record(AuditEntry {
                    caller: &caller.id(),
                    tool,
                    args_digest: &digest,
                    status,
                    detail: detail.as_deref(),
                    duration_ms: duration.as_secs_f64() * 1e3,
                })
                .await;
        }
        match outcome {
            Outcome::Done(output) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(output.summary)]);
                result.structured_content = Some(output.data);
                result
            }
            Outcome::Failed(error) => error_result(error.kind(), &error.to_string()),
            Outcome::Refused(why) => {
                tracing::warn!(tool, caller = %caller.id(), "{why}");
                error_result("forbidden", &why)
            }
        }
    }
}

fn error_result(kind: &str, message: &str) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(message.to_owned())]);
    result.structured_content =
        Some(serde_json::json!({ "error": { "kind": kind, "message": message } }));
    result
}

/// sha256 of the arguments as sent (serde_json orders object keys), so the
/// audit trail identifies a call without storing its data.
fn digest(args: &Value) -> String {
    let bytes = serde_json::to_vec(args).unwrap_or_default();
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
