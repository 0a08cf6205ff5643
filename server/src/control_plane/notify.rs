//! Notifications to a configured webhook, as Slack-compatible JSON
//! (`{"text": …}`). Sent after the event commits, by the one process whose
//! insert stored it, so each goes out once.

use serde_json::{Value, json};

use super::AppState;

pub async fn send(state: &AppState, workflow: &str, delta: &Value) {
    let Some(url) = &state.config.notify_webhook else {
        return;
    };
    let text = match delta["type"].as_str() {
        Some("gate-opened") => format!(
            "Approval needed: {} — {}/approvals",
            delta["description"].as_str().unwrap_or("a gate opened"),
            state.public_url
        ),
        Some("workflow-finished") => format!(
            "Workflow {workflow} ended: {} — {}",
            delta["state"].as_str().unwrap_or("?"),
            delta["text"].as_str().unwrap_or_default()
        ),
        _ => delta["text"]
            .as_str()
            .unwrap_or("mlops notification")
            .to_owned(),
    };
    let body = json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": format!(
            "{text}\n<{}/workflows/{workflow}|Open the workflow>", state.public_url)}}],
    });
    match state
        .http
        .post(url)
        .json(&body)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "notification webhook refused"),
        Err(error) => tracing::warn!(%error, "notification webhook unreachable"),
    }
}
