//! An agent stops answering mid-workflow (SIGSTOP: its port stays open, it
//! just says nothing, the hardest case for a caller). Within the retry
//! budget the workflow goes on; past it the node fails, the workflow fails
//! with a notification, and nothing hangs.

mod supervised;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mlops_agent_kit::a2a::{Message, Part, Role, SendMessageRequest, StreamResponse, TaskState};
use mlops_agent_kit::client::{AgentClient, RetryPolicy};
use serde_json::{Value, json};
use supervised::{agent_client, services, start_with, wait_for_demo_traffic};

fn pid_of(data_dir: &Path, name: &str) -> i32 {
    services(data_dir)
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} runs"))["pid"]
        .as_i64()
        .unwrap() as i32
}

async fn orchestrator(data_dir: &Path, issuer: &str) -> AgentClient {
    let policy = RetryPolicy {
        attempts: 1,
        call_timeout: Duration::from_secs(300),
        ..RetryPolicy::default()
    };
    agent_client(data_dir, issuer, "orchestrator", "ci", policy).await
}

/// Runs a deploy goal while the validation agent is stopped for `pause`;
/// returns the final (or gate) state, the last status text and every delta.
async fn deploy_with_validation_stopped(
    data_dir: &Path,
    issuer: &str,
    goal: Value,
    pause: Duration,
) -> (TaskState, String, Vec<Value>, Duration) {
    let client = orchestrator(data_dir, issuer).await;
    let mut message = Message::new(Role::User, vec![Part::data(goal)]);
    message.metadata = Some(HashMap::from([(
        "skill".to_owned(),
        json!("orchestrate-ml-pipeline"),
    )]));
    let request = SendMessageRequest {
        message,
        configuration: None,
        metadata: None,
        tenant: None,
    };
    let mut stream = client.stream(&request).await.unwrap();
    let validation = pid_of(data_dir, "agent-validation");
    let mut stopped_at = None;
    let mut deltas = Vec::new();
    let mut last = (TaskState::Unspecified, String::new());
    let started = Instant::now();
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(240), stream.next()).await {
        if let Some(at) = stopped_at
            && Instant::now().duration_since(at) >= pause
        {
            unsafe { libc::kill(validation, libc::SIGCONT) };
            stopped_at = None;
        }
        let Ok(StreamResponse::StatusUpdate(update)) = item else {
            continue;
        };
        let delta = update
            .metadata
            .as_ref()
            .and_then(|m| m.get("graphDelta"))
            .cloned();
        if let Some(delta) = delta {
            // Planned with every card read: now stop the validation agent.
            if delta["type"] == "workflow-planned" {
                unsafe { libc::kill(validation, libc::SIGSTOP) };
                stopped_at = Some(Instant::now());
                let pause_left = pause;
                tokio::spawn(async move {
                    tokio::time::sleep(pause_left).await;
                    unsafe { libc::kill(validation, libc::SIGCONT) };
                });
            }
            deltas.push(delta);
        }
        let text = update
            .status
            .message
            .as_ref()
            .and_then(|m| m.text())
            .unwrap_or_default()
            .to_owned();
        last = (update.status.state, text);
    }
    unsafe { libc::kill(validation, libc::SIGCONT) };
    (last.0, last.1, deltas, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_agent_is_waited_for_within_the_budget_and_fails_the_workflow_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let up = start_with(&data_dir, true);
    let issuer = up.url.clone();
    let seeded: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("demo.json")).unwrap())
            .unwrap();
    wait_for_demo_traffic(&data_dir).await;
    let pick = |v: &Value| json!({"name": v["name"], "version": v["version"]});
    let goal = json!({
        "goal": "deploy", "model": "fraud-detector", "version": seeded["candidate"],
        "holdout": pick(&seeded["holdout"]), "training_data": pick(&seeded["train"]),
        "requested_by": "alice",
    });

    // Stopped for 20 s, within the demo policy's 30 s budget: the checks
    // run once it answers, and the workflow reaches its first gate.
    let (state, text, deltas, _) =
        deploy_with_validation_stopped(&data_dir, &issuer, goal.clone(), Duration::from_secs(20))
            .await;
    assert_eq!(state, TaskState::InputRequired, "{text}");
    assert!(
        deltas
            .iter()
            .any(|d| d["type"] == "gate-opened" && d["gate"] == "approve-canary"),
        "{deltas:#?}"
    );
    assert!(deltas.iter().any(|d| d["type"] == "node-state"
        && d["node"] == "validate-model-quality"
        && d["state"] == "completed"));

    // Stopped past the budget: the node fails, the workflow fails with a
    // notification, in bounded time.
    let (state, text, deltas, took) =
        deploy_with_validation_stopped(&data_dir, &issuer, goal, Duration::from_secs(75)).await;
    assert_eq!(state, TaskState::Failed, "{text}");
    assert!(text.contains("unreachable"), "{text}");
    assert!(
        deltas.iter().any(|d| d["type"] == "notification"
            && d["text"]
                .as_str()
                .unwrap_or_default()
                .contains("unreachable")),
        "{deltas:#?}"
    );
    assert!(took < Duration::from_secs(120), "failed in {took:?}");
    supervised::interrupt_and_wait(up);
}
