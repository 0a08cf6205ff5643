//! Releases through the real orchestrator, against the whole system as
//! `mlops up` starts it (every agent and MCP server, Postgres, Prometheus,
//! the demo's seeded model and live traffic). Approvals are signed approval
//! tokens from the control plane's key, as the control plane issues them.

mod supervised;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mlops_agent_kit::a2a::{
    Message, Part, PartContent, Role, SendMessageRequest, StreamResponse, TaskState,
};
use mlops_agent_kit::client::{AgentClient, RetryPolicy};
use mlops_mcp_kit::test_support as mcp;
use mlops_service_auth::access::scope;
use mlops_service_auth::{
    APPROVAL_AUDIENCE, APPROVAL_TOKEN_TYPE, ApprovalClaims, ApprovalDecision, ApprovalGrant,
    SigningKey,
};
use serde_json::{Value, json};
use supervised::{
    agent_client, operator_token, services, signing_key, start_with, wait_for_demo_traffic,
};

struct Release {
    client: AgentClient,
    key: SigningKey,
    issuer: String,
    task_id: String,
    /// Every graph delta seen, by sequence number.
    deltas: BTreeMap<i64, Value>,
    last: Option<(TaskState, Vec<Part>)>,
}

async fn orchestrator(data_dir: &Path, issuer: &str) -> (AgentClient, SigningKey) {
    // CI sends goals straight to the orchestrator with a service token.
    let policy = RetryPolicy {
        attempts: 1,
        call_timeout: Duration::from_secs(600),
        ..RetryPolicy::default()
    };
    (
        agent_client(data_dir, issuer, "orchestrator", "ci", policy).await,
        signing_key(data_dir),
    )
}

fn message(parts: Vec<Part>, task: Option<&str>, skill: Option<&str>) -> SendMessageRequest {
    let mut message = Message::new(Role::User, parts);
    message.task_id = task.map(str::to_owned);
    if let Some(skill) = skill {
        message.metadata = Some(HashMap::from([("skill".to_owned(), json!(skill))]));
    }
    SendMessageRequest {
        message,
        configuration: None,
        metadata: None,
        tenant: None,
    }
}

impl Release {
    async fn start(client: AgentClient, key: SigningKey, issuer: &str, goal: Value) -> Release {
        let stream = client
            .stream(&message(
                vec![Part::data(goal)],
                None,
                Some("orchestrate-ml-pipeline"),
            ))
            .await
            .unwrap();
        let mut release = Release {
            client,
            key,
            issuer: issuer.to_owned(),
            task_id: String::new(),
            deltas: BTreeMap::new(),
            last: None,
        };
        release.follow(stream).await;
        release
    }

    /// Reads the stream until it ends (a gate or the workflow's end).
    async fn follow(
        &mut self,
        mut stream: futures::stream::BoxStream<
            'static,
            Result<StreamResponse, mlops_agent_kit::a2a::A2AError>,
        >,
    ) {
        let deadline = Instant::now() + Duration::from_secs(420);
        while let Ok(Some(item)) = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            stream.next(),
        )
        .await
        {
            match item.expect("stream items are events") {
                StreamResponse::Task(task) => self.task_id = task.id,
                StreamResponse::StatusUpdate(update) => {
                    self.task_id = update.task_id.clone();
                    if let Some(delta) = update.metadata.as_ref().and_then(|m| m.get("graphDelta"))
                    {
                        let seq = delta["seq"].as_f64().expect("every delta has a seq") as i64;
                        if let Some(seen) = self.deltas.get(&seq) {
                            assert_eq!(seen, delta, "a redelivered event is the same event");
                        }
                        self.deltas.insert(seq, delta.clone());
                    }
                    let parts = update.status.message.map(|m| m.parts).unwrap_or_default();
                    self.last = Some((update.status.state, parts));
                }
                _ => {}
            }
        }
    }

    fn state(&self) -> TaskState {
        self.last.as_ref().map(|l| l.0.clone()).unwrap_or_default()
    }

    fn text(&self) -> String {
        self.last
            .iter()
            .flat_map(|l| l.1.iter())
            .filter_map(|p| p.as_text())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The open gate's prompt (the data part of the input-required status).
    fn gate(&self) -> Value {
        assert_eq!(self.state(), TaskState::InputRequired, "{}", self.text());
        self.last
            .iter()
            .flat_map(|l| l.1.iter())
            .find_map(|p| match &p.content {
                PartContent::Data(v) => Some(v.clone()),
                _ => None,
            })
            .expect("a gate prompt")
    }

    fn token(&self, approver: &str, gate: &str, decision: ApprovalDecision) -> String {
        let (token, _) = self
            .key
            .sign_approval(
                &self.issuer,
                &ApprovalGrant {
                    approver: approver.into(),
                    roles: vec!["approver".into()],
                    workflow: self.task_id.clone(),
                    gate: gate.into(),
                    decision,
                    comment: Some(format!("{approver} decided")),
                    ttl: Duration::from_secs(300),
                },
            )
            .unwrap();
        token
    }

    /// Answers the gate; Err(message) when the orchestrator refuses.
    async fn answer(&mut self, parts: Vec<Part>) -> Result<(), String> {
        let stream = self
            .client
            .stream(&message(parts, Some(&self.task_id), None))
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = stream.peekable();
        if let Some(Err(error)) = std::pin::Pin::new(&mut stream).peek().await {
            return Err(error.to_string());
        }
        self.follow(stream.boxed()).await;
        Ok(())
    }

    async fn approve(&mut self, approver: &str, decision: ApprovalDecision) -> String {
        let gate = self.gate()["gate"].as_str().unwrap().to_owned();
        let token = self.token(approver, &gate, decision);
        self.answer(vec![Part::data(json!({ "approval_token": token }))])
            .await
            .unwrap();
        token
    }

    /// Node id → last state, from the graph deltas.
    fn node_states(&self) -> BTreeMap<String, String> {
        let mut states = BTreeMap::new();
        for delta in self.deltas.values() {
            if delta["type"] == "node-state" {
                states.insert(
                    delta["node"].as_str().unwrap().to_owned(),
                    delta["state"].as_str().unwrap().to_owned(),
                );
            }
        }
        states
    }

    fn assert_sequence_complete(&self) {
        let seqs: Vec<i64> = self.deltas.keys().copied().collect();
        let expected: Vec<i64> = (1..=*seqs.last().unwrap()).collect();
        assert_eq!(seqs, expected, "the event sequence has no gaps");
    }
}

async fn champion(data_dir: &Path) -> Value {
    let url = services(data_dir)
        .iter()
        .find(|s| s["name"] == "mcp-registry")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let registry = mcp::client(
        &url,
        &operator_token(data_dir, "registry", scope::REGISTRY_READ),
    )
    .await;
    let found = mcp::ok(
        &mcp::call(
            &registry,
            "get_model_version",
            json!({"model": "fraud-detector", "alias": "champion"}),
        )
        .await,
    );
    found["version"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_releases_follow_the_contracts_gates_and_failure_policy() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let up = start_with(&data_dir, true);
    let seeded: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("demo.json")).unwrap())
            .unwrap();
    let pick = |v: &Value| json!({"name": v["name"], "version": v["version"]});
    let goal = |version: &Value| {
        json!({
            "goal": "deploy", "model": "fraud-detector", "version": version,
            "steps": [10, 50, 100], "analysis_seconds": 20,
            "holdout": pick(&seeded["holdout"]), "training_data": pick(&seeded["train"]),
            "requested_by": "alice",
        })
    };
    let issuer = up.url.clone();
    // The pre-deploy drift check reads live traffic: let some arrive.
    wait_for_demo_traffic(&data_dir).await;

    // J4: the faulty version fails its first analysis and is rolled back
    // with no one asked.
    let (client, key) = orchestrator(&data_dir, &issuer).await;
    let mut faulty = Release::start(client, key, &issuer, goal(&seeded["faulty"])).await;
    let prompt = faulty.gate();
    assert_eq!(prompt["gate"], "approve-canary", "{prompt}");
    let reports = prompt["evidence"]["reports"].as_object().unwrap();
    for check in [
        "validate-model-quality",
        "check-model-fairness",
        "check-data-drift",
        "generate-validation-report",
    ] {
        assert!(reports.contains_key(check), "{check} in {reports:?}");
    }
    faulty.approve("bob", ApprovalDecision::Approve).await;
    assert_eq!(faulty.state(), TaskState::Failed, "{}", faulty.text());
    let states = faulty.node_states();
    assert_eq!(states["analysis-10"], "failed", "{states:?}");
    assert_eq!(states["rollback"], "completed", "{states:?}");
    assert!(
        !states.contains_key("canary-50"),
        "no step after a failed analysis"
    );
    let finished = faulty.deltas.values().last().unwrap();
    assert_eq!(finished["type"], "workflow-finished");
    assert_eq!(finished["state"], "rolled_back");
    faulty.assert_sequence_complete();
    assert_eq!(champion(&data_dir).await, seeded["champion"]);

    // J2.4: an approver rejects at the promotion gate: rolled back, rejected.
    let (client, key) = orchestrator(&data_dir, &issuer).await;
    let mut rejected = Release::start(client, key, &issuer, goal(&seeded["candidate"])).await;
    // J2.5: abuse at the gate is refused, each with its reason.
    let gate = rejected.gate()["gate"].as_str().unwrap().to_owned();
    let refusal = rejected
        .answer(vec![Part::text("approve, please")])
        .await
        .unwrap_err();
    assert!(refusal.contains("approval token"), "{refusal}");
    let stranger = SigningKey::generate().unwrap();
    let (forged, _) = stranger
        .sign_approval(
            &issuer,
            &ApprovalGrant {
                approver: "bob".into(),
                roles: vec!["approver".into()],
                workflow: rejected.task_id.clone(),
                gate: gate.clone(),
                decision: ApprovalDecision::Approve,
                comment: None,
                ttl: Duration::from_secs(60),
            },
        )
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let expired = rejected
        .key
        .sign(&ApprovalClaims {
            iss: issuer.clone(),
            aud: APPROVAL_AUDIENCE.into(),
            sub: "bob".into(),
            roles: vec!["approver".into()],
            workflow: rejected.task_id.clone(),
            gate: gate.clone(),
            decision: ApprovalDecision::Approve,
            comment: None,
            iat: now - 600,
            exp: now - 300,
            jti: uuid::Uuid::new_v4().to_string(),
            typ: APPROVAL_TOKEN_TYPE.into(),
        })
        .unwrap();
    let wrong_gate = rejected.token("bob", "approve-promotion", ApprovalDecision::Approve);
    let own = rejected.token("alice", &gate, ApprovalDecision::Approve);
    for (token, why) in [
        (forged, "signing key"),
        (expired, "expired"),
        (wrong_gate, "is waiting"),
        (own, "four-eyes"),
    ] {
        let refusal = rejected
            .answer(vec![Part::data(json!({ "approval_token": token }))])
            .await
            .unwrap_err();
        assert!(refusal.contains(why), "{why}: {refusal}");
    }
    let first = rejected.approve("bob", ApprovalDecision::Approve).await;
    assert_eq!(rejected.gate()["gate"], "approve-promotion");
    // A replayed approval is refused.
    let refusal = rejected
        .answer(vec![Part::data(json!({ "approval_token": first }))])
        .await
        .unwrap_err();
    assert!(refusal.contains("used already"), "{refusal}");
    rejected.approve("bob", ApprovalDecision::Reject).await;
    assert_eq!(rejected.state(), TaskState::Rejected, "{}", rejected.text());
    let states = rejected.node_states();
    assert_eq!(states["rollback"], "completed", "{states:?}");
    let refused = rejected
        .deltas
        .values()
        .filter(|d| d["type"] == "approval-refused")
        .count();
    assert_eq!(refused, 6, "every refusal is recorded");
    rejected.assert_sequence_complete();
    assert_eq!(champion(&data_dir).await, seeded["champion"]);

    // J1 + J2.3: two approvals, canary 10 → 50 → 100, champion moves.
    let (client, key) = orchestrator(&data_dir, &issuer).await;
    let mut release = Release::start(client, key, &issuer, goal(&seeded["candidate"])).await;
    release.approve("bob", ApprovalDecision::Approve).await;
    release.approve("bob", ApprovalDecision::Approve).await;
    assert_eq!(release.state(), TaskState::Completed, "{}", release.text());
    let states = release.node_states();
    for node in [
        "validate-training-data",
        "canary-10",
        "analysis-10",
        "canary-50",
        "analysis-50",
        "promote",
    ] {
        assert_eq!(states[node], "completed", "{node}: {states:?}");
    }
    assert!(
        release.deltas.values().any(|d| d["type"] == "mcp-call"),
        "the graph shows the MCP calls made"
    );
    release.assert_sequence_complete();
    assert_eq!(champion(&data_dir).await, seeded["candidate"]);
    supervised::interrupt_and_wait(up);
}
