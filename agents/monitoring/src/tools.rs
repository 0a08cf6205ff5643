//! How the skills' logic reaches MCP tools: through a running task's
//! [`SkillContext`] (every call announced in the task stream, progress
//! reported) or, for the scheduler, straight through the agent's
//! [`McpPool`] (no task to report to).

use std::time::Duration;

use async_trait::async_trait;
use mlops_agent_kit::{McpPool, SkillContext, SkillError};
use serde::de::DeserializeOwned;
use serde_json::Value;

#[async_trait]
pub trait Tools: Send + Sync {
    /// Calls `tool` on `server`; a tool's refusal comes back as
    /// [`SkillError::Failed`] whose reason contains `refused: <message>`.
    async fn call(&self, server: &str, tool: &str, args: Value) -> Result<Value, SkillError>;

    /// A progress line with structured detail, where someone listens.
    fn progress(&self, _text: &str, _detail: Value) {}

    /// Errors once the work is no longer wanted.
    fn check_canceled(&self) -> Result<(), SkillError> {
        Ok(())
    }

    /// Waits `duration`, or errors as soon as the work is canceled.
    async fn sleep(&self, duration: Duration) -> Result<(), SkillError> {
        tokio::time::sleep(duration).await;
        Ok(())
    }
}

#[async_trait]
impl Tools for SkillContext {
    async fn call(&self, server: &str, tool: &str, args: Value) -> Result<Value, SkillError> {
        self.mcp(server, tool, args).await
    }

    fn progress(&self, text: &str, detail: Value) {
        self.progress_with(text, detail);
    }

    fn check_canceled(&self) -> Result<(), SkillError> {
        SkillContext::check_canceled(self)
    }

    async fn sleep(&self, duration: Duration) -> Result<(), SkillError> {
        tokio::select! {
            _ = tokio::time::sleep(duration) => Ok(()),
            _ = self.canceled() => Err(SkillError::Canceled),
        }
    }
}

#[async_trait]
impl Tools for McpPool {
    async fn call(&self, server: &str, tool: &str, args: Value) -> Result<Value, SkillError> {
        Ok(McpPool::call(self, server, tool, args).await?)
    }
}

/// Calls a tool and reads its structured result as `T`.
pub async fn call_as<T: DeserializeOwned>(
    tools: &dyn Tools,
    server: &str,
    tool: &str,
    args: Value,
) -> Result<T, SkillError> {
    let value = tools.call(server, tool, args).await?;
    serde_json::from_value(value).map_err(|e| {
        SkillError::failed(format!(
            "{server}/{tool} answered in an unexpected shape: {e}"
        ))
    })
}

/// The tool's own explanation when `error` is a tool refusing the call
/// (as opposed to the call not getting through). The kit renders a refusal
/// as `{server}/{tool} refused: {message}`.
pub fn refusal(error: &SkillError) -> Option<&str> {
    match error {
        SkillError::Failed { reason, .. } => reason
            .split_once(" refused: ")
            // `{server}/{tool}` has no spaces; transport errors start "MCP …".
            .filter(|(call, _)| call.contains('/') && !call.contains(' '))
            .map(|(_, message)| message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_from_transport_failures() {
        let refused = SkillError::failed("drift/get_report refused: no report 123");
        assert_eq!(refusal(&refused), Some("no report 123"));
        let down = SkillError::failed("MCP drift/get_report: connection refused");
        assert_eq!(refusal(&down), None);
        let session = SkillError::failed("MCP drift/x: cannot open a session: refused: y");
        assert_eq!(refusal(&session), None);
        assert_eq!(refusal(&SkillError::Canceled), None);
    }
}
