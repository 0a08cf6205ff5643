//! The kit's A2A client side against a real agent: discovery from the
//! registry file, send, stream, get, cancel, retries and the circuit breaker.

mod common;

use std::sync::Arc;
use std::time::Duration;

use a2a::{
    CancelTaskRequest, GetTaskRequest, Message, Part, Role, SendMessageRequest,
    SendMessageResponse, StreamResponse, TaskState,
};
use common::{ISSUER, TestIssuer, start_in_process};
use futures::StreamExt;
use mlops_agent_kit::StoreChoice;
use mlops_agent_kit::client::{
    AgentDirectory, AgentRegistryFile, ClientError, MintingTokenSource, RetryPolicy,
};
use mlops_service_auth::Scope;

fn request(text: &str) -> SendMessageRequest {
    let message = Message::new(
        Role::User,
        vec![Part::data(serde_json::json!({ "text": text }))],
    );
    serde_json::from_value(serde_json::json!({ "message": message })).unwrap()
}

fn registry_file(entries: &[(&str, &str)]) -> (tempfile::TempDir, AgentRegistryFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.yaml");
    let mut yaml = String::from("agents:\n");
    for (name, url) in entries {
        yaml.push_str(&format!("  - name: {name}\n    url: {url}\n"));
    }
    std::fs::write(&path, yaml).unwrap();
    let file = AgentRegistryFile::load(&path).unwrap();
    (dir, file)
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        call_timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn discovers_agents_from_the_registry_and_calls_them() {
    let issuer = TestIssuer::new();
    let agent = start_in_process(&issuer, StoreChoice::Memory).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (_dir, registry) = registry_file(&[
        ("echo", agent.base_url()),
        ("ghost", &format!("http://{dead}")),
    ]);
    let tokens = Arc::new(MintingTokenSource::new(
        issuer.key.clone(),
        ISSUER,
        "orchestrator",
        vec![Scope::parse("a2a:invoke").unwrap()],
    ));

    let (directory, errors) = AgentDirectory::discover(&registry, tokens, fast_policy()).await;
    assert_eq!(
        errors.len(),
        1,
        "the unreachable agent is reported: {errors:?}"
    );
    assert!(errors[0].to_string().contains("ghost"), "{}", errors[0]);
    assert!(matches!(
        directory.get("ghost"),
        Err(ClientError::UnknownAgent(_))
    ));
    let echo = directory.get("echo").unwrap();
    assert_eq!(echo.card().name, "echo");

    // Send: a completed task.
    let SendMessageResponse::Task(task) = echo.send(&request("hi")).await.unwrap() else {
        panic!("a task")
    };
    assert_eq!(task.status.state, TaskState::Completed);

    // Stream: submitted → working → artifact → completed.
    let mut stream = echo.stream(&request("stream")).await.unwrap();
    let mut kinds = Vec::new();
    while let Some(event) = stream.next().await {
        kinds.push(match event.unwrap() {
            StreamResponse::Task(t) => format!("task:{:?}", t.status.state),
            StreamResponse::StatusUpdate(u) => format!("status:{:?}", u.status.state),
            StreamResponse::ArtifactUpdate(_) => "artifact".into(),
            StreamResponse::Message(_) => "message".into(),
        });
    }
    assert_eq!(
        kinds,
        [
            "task:Submitted",
            "status:Working",
            "artifact",
            "status:Completed"
        ]
    );

    // Get and cancel.
    let got = echo
        .get(
            &serde_json::from_value::<GetTaskRequest>(serde_json::json!({ "id": task.id }))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(got.id, task.id);
    let mut waiting = request("wait");
    waiting.configuration =
        serde_json::from_value(serde_json::json!({ "returnImmediately": true })).unwrap();
    let SendMessageResponse::Task(running) = echo.send(&waiting).await.unwrap() else {
        panic!("a task")
    };
    let canceled = echo
        .cancel(
            &serde_json::from_value::<CancelTaskRequest>(serde_json::json!({ "id": running.id }))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(canceled.status.state, TaskState::Canceled);

    // A refusal is not retried and does not trip the breaker.
    let missing = echo
        .get(
            &serde_json::from_value::<GetTaskRequest>(serde_json::json!({ "id": "no-such-task" }))
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("GetTask"), "{missing}");
    assert!(!echo.breaker().is_open());
}

#[tokio::test]
async fn an_agent_that_goes_down_is_retried_then_the_breaker_opens() {
    let issuer = TestIssuer::new();
    let agent = start_in_process(&issuer, StoreChoice::Memory).await;
    let (_dir, registry) = registry_file(&[("echo", agent.base_url())]);
    let tokens = Arc::new(MintingTokenSource::new(
        issuer.key.clone(),
        ISSUER,
        "orchestrator",
        vec![Scope::parse("a2a:invoke").unwrap()],
    ));
    let (directory, errors) = AgentDirectory::discover(&registry, tokens, fast_policy()).await;
    assert!(errors.is_empty());
    let echo = directory.get("echo").unwrap();
    echo.send(&request("up")).await.unwrap();

    agent.shutdown().await;
    // Three attempts per call; after five failures in a row the breaker opens.
    let first = echo.send(&request("down")).await.unwrap_err();
    assert!(!matches!(first, ClientError::CircuitOpen { .. }), "{first}");
    let _ = echo.send(&request("down")).await.unwrap_err();
    assert!(echo.breaker().is_open());
    let refused = echo.send(&request("down")).await.unwrap_err();
    assert!(
        matches!(refused, ClientError::CircuitOpen { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("circuit open"), "{refused}");
}
