//! Workflows started straight over A2A show in the console too.
//!
//! The control plane follows the workflows it starts itself: it sends their
//! goal with a push config pointing at its hook. Anyone else may also send a
//! goal here: the monitoring agent asking for retraining, or a CI job with a
//! service token. Those workflows are reported to the control plane before
//! their first graph delta leaves the outbox. The orchestrator registers the
//! workflow there with a service token (`workflows:report`) and gets back a
//! per-workflow push token. It then adds the control plane's hook to the
//! task's push configs. From then on the SDK pushes every event there, as
//! for a workflow the console started. A late `SubscribeToTask` would not do:
//! it does not replay the deltas sent before it.

use std::sync::Arc;
use std::time::Duration;

use mlops_agent_kit::PgPushConfigStore;
use mlops_agent_kit::a2a::TaskPushNotificationConfig;
use mlops_agent_kit::a2a_server::PushConfigStore;
use mlops_agent_kit::client::TokenSource;
use mlops_service_auth::access::CONTROL_PLANE;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long registering may hold up a new workflow's first event.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// The push config id the orchestrator gives the control plane's hook.
const PUSH_CONFIG_ID: &str = "console";

pub struct ConsoleLink {
    hook: String,
    tokens: Arc<dyn TokenSource>,
    push_configs: PgPushConfigStore,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Registered {
    push_token: String,
}

impl ConsoleLink {
    /// `control_plane` is the control plane's base URL (the token issuer).
    pub fn new(
        control_plane: &str,
        tokens: Arc<dyn TokenSource>,
        push_configs: PgPushConfigStore,
    ) -> Self {
        ConsoleLink {
            hook: format!(
                "{}/api/hooks/orchestrator",
                control_plane.trim_end_matches('/')
            ),
            tokens,
            push_configs,
            http: reqwest::Client::new(),
        }
    }

    /// Makes sure the control plane hears of the workflow on `task_id`.
    /// Returns whether it had to be registered (false: the control plane
    /// started it, or it was registered before a restart).
    pub async fn ensure_reported(
        &self,
        task_id: &str,
        goal: &Value,
        caller: &str,
    ) -> Result<bool, String> {
        let configs = self
            .push_configs
            .list(task_id)
            .await
            .map_err(|e| format!("reading the task's push configs: {}", e.message))?;
        // The control plane names its own configs `control-plane-…`; the
        // URL check covers a registration from before a restart.
        let known = configs.iter().any(|c| {
            c.url == self.hook
                || c.id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("control-plane-"))
        });
        if known {
            return Ok(false);
        }
        let token = self
            .tokens
            .token(CONTROL_PLANE)
            .await
            .map_err(|e| format!("no service token for the control plane: {e}"))?;
        let response = self
            .http
            .post(format!("{}/workflows", self.hook))
            .bearer_auth(token)
            .timeout(REGISTER_TIMEOUT)
            .json(&json!({ "task_id": task_id, "goal": goal, "requested_by": caller }))
            .send()
            .await
            .map_err(|e| format!("the control plane is unreachable: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("the control plane answered {status}: {body}"));
        }
        let registered: Registered = response
            .json()
            .await
            .map_err(|e| format!("the control plane's answer has no push token: {e}"))?;
        self.push_configs
            .save(TaskPushNotificationConfig {
                url: self.hook.clone(),
                id: Some(PUSH_CONFIG_ID.to_owned()),
                task_id: task_id.to_owned(),
                token: Some(registered.push_token),
                authentication: None,
                tenant: None,
            })
            .await
            .map_err(|e| format!("saving the push config: {}", e.message))?;
        Ok(true)
    }
}
