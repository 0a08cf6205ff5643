//! The orchestrator killed with SIGKILL at five points of a deploy workflow,
//! restarted each time by `mlops up`'s supervisor: the workflow completes,
//! every step runs exactly once, and the pushed event sequence has no gaps.

mod supervised;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use mlops_agent_kit::a2a::{
    GetTaskRequest, ListTasksRequest, Message, Part, Role, SendMessageConfiguration,
    SendMessageRequest, SendMessageResponse, TaskPushNotificationConfig, TaskState,
};
use mlops_agent_kit::client::{AgentClient, RetryPolicy};
use mlops_service_auth::{ApprovalDecision, ApprovalGrant};
use serde_json::{Value, json};
use supervised::{agent_client, services, signing_key, start_with, wait_for_demo_traffic};

type Deltas = Arc<Mutex<Vec<Value>>>;

/// Every `graphDelta` inside a pushed event.
fn collect_deltas(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if let Some(delta) = map.get("graphDelta") {
                out.push(delta.clone());
            }
            map.values().for_each(|v| collect_deltas(v, out));
        }
        Value::Array(list) => list.iter().for_each(|v| collect_deltas(v, out)),
        _ => {}
    }
}

async fn webhook() -> (String, Deltas) {
    let deltas: Deltas = Arc::default();
    let sink = deltas.clone();
    let app = Router::new().route(
        "/push",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    let mut found = Vec::new();
                    collect_deltas(&value, &mut found);
                    sink.lock().unwrap().extend(found);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, deltas)
}

fn service(data_dir: &Path, name: &str) -> Value {
    services(data_dir)
        .into_iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} runs"))
}

async fn client_for(data_dir: &Path, issuer: &str, agent: &str) -> AgentClient {
    let subject = if agent == "orchestrator" {
        "ci"
    } else {
        "orchestrator"
    };
    agent_client(data_dir, issuer, agent, subject, RetryPolicy::default()).await
}

/// SIGKILLs the orchestrator and waits until the supervisor has it back.
async fn kill_orchestrator(data_dir: &Path, why: &str) {
    let before = service(data_dir, "agent-orchestrator")["pid"]
        .as_i64()
        .unwrap();
    eprintln!("crash test: kill -9 the orchestrator ({why})");
    unsafe {
        libc::kill(before as i32, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = service(data_dir, "agent-orchestrator");
        if now["pid"].as_i64() != Some(before)
            && let Some(url) = now["url"].as_str()
            && reqwest::get(format!("{url}/readyz"))
                .await
                .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the orchestrator did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for a pushed delta matching `wanted`.
async fn wait_for(deltas: &Deltas, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(found) = deltas.lock().unwrap().iter().find(|d| wanted(d)) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {what} in {:#?}",
            deltas.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_node(delta: &Value, node: &str, state: &str) -> bool {
    delta["type"] == "node-state" && delta["node"] == node && delta["state"] == state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_survives_kill_9_at_five_points_and_acts_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let up = start_with(&data_dir, true);
    let issuer = up.url.clone();
    let seeded: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("demo.json")).unwrap())
            .unwrap();
    wait_for_demo_traffic(&data_dir).await;

    let (push_url, deltas) = webhook().await;
    let pick = |v: &Value| json!({"name": v["name"], "version": v["version"]});
    let goal = json!({
        "goal": "deploy", "model": "fraud-detector", "version": seeded["candidate"],
        "steps": [10, 50, 100], "analysis_seconds": 20,
        "holdout": pick(&seeded["holdout"]), "training_data": pick(&seeded["train"]),
        "requested_by": "alice",
    });
    let mut message = Message::new(Role::User, vec![Part::data(goal)]);
    message.metadata = Some(HashMap::from([(
        "skill".to_owned(),
        json!("orchestrate-ml-pipeline"),
    )]));
    let request = SendMessageRequest {
        message,
        configuration: Some(SendMessageConfiguration {
            accepted_output_modes: None,
            task_push_notification_config: Some(TaskPushNotificationConfig {
                url: push_url,
                id: Some("crash-test".into()),
                task_id: String::new(),
                token: Some("push-secret".into()),
                authentication: None,
                tenant: None,
            }),
            history_length: None,
            return_immediately: Some(true),
        }),
        metadata: None,
        tenant: None,
    };
    let orchestrator = client_for(&data_dir, &issuer, "orchestrator").await;
    let SendMessageResponse::Task(task) = orchestrator.send(&request).await.unwrap() else {
        panic!("a task")
    };
    let task_id = task.id;

    // 1. Right after planning.
    wait_for(&deltas, "the plan", |d| d["type"] == "workflow-planned").await;
    kill_orchestrator(&data_dir, "after planning").await;
    // 2. During validation.
    wait_for(&deltas, "validation at work", |d| {
        is_node(d, "validate-model-quality", "working")
    })
    .await;
    kill_orchestrator(&data_dir, "during validation").await;
    // 3. At a gate; the restarted orchestrator takes the approval.
    let approve = |gate: &str| {
        let (token, _) = signing_key(&data_dir)
            .sign_approval(
                &issuer,
                &ApprovalGrant {
                    approver: "bob".into(),
                    roles: vec!["approver".into()],
                    workflow: task_id.clone(),
                    gate: gate.into(),
                    decision: ApprovalDecision::Approve,
                    comment: None,
                    ttl: Duration::from_secs(600),
                },
            )
            .unwrap();
        let mut message = Message::new(
            Role::User,
            vec![Part::data(json!({ "approval_token": token }))],
        );
        message.task_id = Some(task_id.clone());
        SendMessageRequest {
            message,
            configuration: Some(SendMessageConfiguration {
                accepted_output_modes: None,
                task_push_notification_config: None,
                history_length: None,
                return_immediately: Some(true),
            }),
            metadata: None,
            tenant: None,
        }
    };
    wait_for(&deltas, "the first gate", |d| {
        d["type"] == "gate-opened" && d["gate"] == "approve-canary"
    })
    .await;
    kill_orchestrator(&data_dir, "at a gate").await;
    let orchestrator = client_for(&data_dir, &issuer, "orchestrator").await;
    orchestrator.send(&approve("approve-canary")).await.unwrap();
    // 4. Mid-canary.
    wait_for(&deltas, "the first analysis", |d| {
        is_node(d, "analysis-10", "working")
    })
    .await;
    kill_orchestrator(&data_dir, "mid-canary").await;
    wait_for(&deltas, "the promotion gate", |d| {
        d["type"] == "gate-opened" && d["gate"] == "approve-promotion"
    })
    .await;
    let orchestrator = client_for(&data_dir, &issuer, "orchestrator").await;
    orchestrator
        .send(&approve("approve-promotion"))
        .await
        .unwrap();
    // 5. During promotion.
    wait_for(&deltas, "the promotion", |d| {
        is_node(d, "promote", "working")
    })
    .await;
    kill_orchestrator(&data_dir, "during promotion").await;

    let finished = wait_for(&deltas, "the end", |d| d["type"] == "workflow-finished").await;
    assert_eq!(finished["state"], "completed", "{finished}");
    let orchestrator = client_for(&data_dir, &issuer, "orchestrator").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let task = orchestrator
            .get(&GetTaskRequest {
                id: task_id.clone(),
                history_length: Some(0),
                tenant: None,
            })
            .await
            .unwrap();
        if task.status.state == TaskState::Completed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "task state {:?}",
            task.status.state
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The pushed sequence: every event, none missing; a redelivery (at a
    // crash) is the very same event, which the control plane drops by id.
    let deltas = deltas.lock().unwrap().clone();
    let mut by_seq: BTreeMap<i64, Value> = BTreeMap::new();
    for delta in &deltas {
        let seq = delta["seq"].as_f64().unwrap() as i64;
        if let Some(seen) = by_seq.get(&seq) {
            assert_eq!(seen, delta, "seq {seq} redelivered differently");
        }
        by_seq.insert(seq, delta.clone());
    }
    let seqs: Vec<i64> = by_seq.keys().copied().collect();
    assert_eq!(
        seqs,
        (1..=*seqs.last().unwrap()).collect::<Vec<_>>(),
        "no gaps"
    );
    let workflow = finished["eventId"]
        .as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_owned();

    // Each deployment step ran exactly once: one task per node, first attempt.
    let deployment = client_for(&data_dir, &issuer, "deployment").await;
    for node in ["canary-10", "canary-50", "promote"] {
        for attempt in [1, 2] {
            let found = deployment
                .list(&ListTasksRequest {
                    context_id: Some(format!("{workflow}.{node}.{attempt}")),
                    status: None,
                    page_size: Some(10),
                    page_token: None,
                    history_length: Some(0),
                    status_timestamp_after: None,
                    include_artifacts: Some(false),
                    tenant: None,
                })
                .await
                .unwrap();
            let expected = if attempt == 1 { 1 } else { 0 };
            assert_eq!(found.tasks.len(), expected, "{node} attempt {attempt}");
        }
    }
    supervised::interrupt_and_wait(up);
}
