//! The orchestrator as a real process: planning from the cards of real
//! agents, the retraining intake, and input checks.

mod system;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mlops_agent_kit::a2a::TaskState;
use mlops_agent_kit::{
    AgentDefinition, AgentServer, Phase, SkillContext, SkillContract, SkillError, SkillExecutor,
    SkillOutcome, Skills,
};
use mlops_service_auth::{JwksSource, TokenVerifier};
use schemars::JsonSchema;
use serde_json::{Value, json};
use system::{System, artifact_data, status_text};

/// The specialists the planner needs cards from (they are only asked for
/// their cards here, so they need no MCP servers).
const SPECIALISTS: &[&str] = &["data", "training", "validation", "deployment", "monitoring"];

/// A test-only agent with one `gate` skill: a change freeze.
struct FreezeAgent;

#[derive(JsonSchema)]
#[allow(dead_code)]
struct FreezeInput {
    model: String,
    version: u32,
}

#[derive(JsonSchema)]
struct FreezeOutput {}

#[async_trait]
impl Skills for FreezeAgent {
    fn definition(&self) -> AgentDefinition {
        AgentDefinition {
            name: "change-freeze".into(),
            description: "Refuses releases during a change freeze".into(),
            version: "0".into(),
            skills: vec![SkillContract::new::<FreezeInput, FreezeOutput>(
                "check-change-freeze",
                "Check the change freeze",
                "Passes unless a change freeze is on",
                Phase::Gate,
            )],
        }
    }

    async fn run(&self, _: &str, _: Value, _: &SkillContext) -> Result<SkillOutcome, SkillError> {
        Ok(SkillOutcome::single(
            "freeze",
            json!({"passed": true}),
            "no freeze",
        ))
    }
}

fn plan_nodes(task: &mlops_agent_kit::a2a::Task) -> Vec<String> {
    artifact_data(task, "plan").expect("a plan artifact")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_come_from_the_cards_and_a_new_gate_agent_joins_them() {
    // The test agent listens before the system starts so the registry file
    // can list it; it trusts the system's key once it is known.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let sys = System::builder()
        .agents(&[SPECIALISTS, &["orchestrator"]].concat())
        .registry_entry("change-freeze", &format!("http://127.0.0.1:{port}"))
        .start()
        .await;
    let goal = json!({
        "goal": "deploy", "model": "fraud-detector", "version": 2,
        "holdout": {"name": "transactions-holdout", "version": "a".repeat(64)},
    });

    let task = sys
        .run_skill(
            "orchestrator",
            "plan-deployment",
            goal.clone(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{}",
        status_text(&task)
    );
    let nodes = plan_nodes(&task);
    assert_eq!(
        nodes,
        [
            "check-data-drift",
            "check-model-fairness",
            "generate-validation-report",
            "validate-model-quality",
            "approve-canary",
            "canary-10",
            "analysis-10",
            "canary-50",
            "analysis-50",
            "approve-promotion",
            "promote",
        ]
    );
    let plan = artifact_data(&task, "plan").unwrap();
    let canary = &plan["nodes"][5];
    assert_eq!(canary["agent"], "deployment");
    assert_eq!(canary["skill"], "deploy-canary");
    assert!(
        canary["why"].as_str().unwrap().contains("canary"),
        "{canary}"
    );
    assert!(plan["edges"].as_array().unwrap().len() >= 10);

    // A new agent with a gate skill: in the next plan, with no change here.
    let verifier = Arc::new(TokenVerifier::new(
        sys.issuer.clone(),
        "change-freeze",
        JwksSource::Static(sys.key.jwks()),
    ));
    let skills = Arc::new(FreezeAgent);
    let running = AgentServer::new(
        skills.definition(),
        SkillExecutor::new(skills, None),
        verifier,
    )
    .bind(([127, 0, 0, 1], port).into())
    .await
    .unwrap();
    // The orchestrator rediscovers its registry when it plans.
    let task = sys
        .run_skill(
            "orchestrator",
            "plan-deployment",
            goal,
            Duration::from_secs(60),
        )
        .await;
    let nodes = plan_nodes(&task);
    let freeze = nodes
        .iter()
        .position(|n| n == "check-change-freeze")
        .expect("the gate skill is planned");
    let approve = nodes.iter().position(|n| n == "approve-canary").unwrap();
    assert!(freeze < approve, "{nodes:?}");
    running.shutdown().await;

    // Bad goals are rejected, naming the field.
    for (input, field) in [
        (
            json!({"goal": "deploy", "model": "Fraud Detector", "version": 2}),
            "model",
        ),
        (
            json!({"goal": "deploy", "model": "m", "version": 2, "steps": [60, 20]}),
            "steps",
        ),
        (
            json!({"goal": "deploy", "model": "m", "version": 2, "analysis_seconds": 999999}),
            "analysis_seconds",
        ),
        (json!({"goal": "teleport", "model": "m"}), "teleport"),
        (
            json!({"goal": "deploy", "model": "m", "version": 2, "colour": 1}),
            "colour",
        ),
    ] {
        let task = sys
            .run_skill(
                "orchestrator",
                "orchestrate-ml-pipeline",
                input,
                Duration::from_secs(30),
            )
            .await;
        assert_eq!(
            task.status.state,
            TaskState::Rejected,
            "{}",
            status_text(&task)
        );
        assert!(
            status_text(&task).contains(field),
            "{field}: {}",
            status_text(&task)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retraining_requests_wait_for_a_person_and_bad_ones_are_rejected() {
    let sys = System::builder()
        .agents(&[SPECIALISTS, &["orchestrator"]].concat())
        .start()
        .await;

    let task = sys
        .run_skill(
            "orchestrator",
            "handle-retraining",
            json!({"model": "fraud-detector", "reason": "amount drifted", "requested_by": "monitoring"}),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        task.status.state,
        TaskState::InputRequired,
        "{}",
        status_text(&task)
    );
    assert!(status_text(&task).contains("approve-retraining-fraud-detector"));
    let request = artifact_data(&task, "retraining-request").unwrap();
    assert_eq!(request["model"], "fraud-detector");
    assert_eq!(request["drift_report_attached"], false);
    // The plan runs fresh data → train → validate → canary after the gate.
    let nodes = plan_nodes(&task);
    let at = |id: &str| {
        nodes
            .iter()
            .position(|n| n == id)
            .unwrap_or_else(|| panic!("{id} in {nodes:?}"))
    };
    assert!(at("approve-retraining-fraud-detector") < at("fresh-data"));
    assert!(at("fresh-data") < at("train"));
    assert!(at("train") < at("validate-model-quality"));
    assert!(at("validate-model-quality") < at("canary-10"));

    for (input, field) in [
        (json!({"reason": "x"}), "model"),
        (json!({"model": "Fraud Detector", "reason": "x"}), "model"),
        (json!({"model": "fraud-detector", "reason": ""}), "reason"),
        (
            json!({"model": "fraud-detector", "reason": "x", "colour": 1}),
            "colour",
        ),
    ] {
        let task = sys
            .run_skill(
                "orchestrator",
                "handle-retraining",
                input,
                Duration::from_secs(30),
            )
            .await;
        assert_eq!(task.status.state, TaskState::Rejected);
        assert!(status_text(&task).contains(field), "{}", status_text(&task));
    }

    // Through the official Python a2a-sdk client too.
    let result = sys
        .python_skill(
            "orchestrator",
            "handle-retraining",
            json!({"model": "fraud-detector", "reason": "merchant mix drifted"}),
        )
        .await;
    assert_eq!(result["state"], "TASK_STATE_INPUT_REQUIRED", "{result}");
    assert_eq!(
        result["artifacts"]["retraining-request"]["reason"],
        "merchant mix drifted"
    );
}

/// J3.3 and the out-of-memory rule: a person confirms the retraining, fresh
/// data is ingested and validated, training runs out of its memory limit,
/// the cost agent recommends a larger instance, and training succeeds there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retraining_runs_after_its_gate_and_retries_training_on_a_larger_instance() {
    let sys = System::builder()
        .mcp(&["storage", "quality", "trainer", "registry", "drift", "metrics"])
        .prometheus()
        .agents(&[SPECIALISTS, &["cost", "orchestrator"]].concat())
        .agent_config(
            "orchestrator",
            "retraining:\n  ingest:\n    source: {kind: demo, seed: 7, rows: 3000}\n    dataset: transactions-fresh\n    holdout_fraction: 0.25\n    split_seed: 1\n  train:\n    target: is_fraud\n    features: [amount, hour, distance_from_home_km, account_age_days, txn_count_24h, card_present, merchant_risk]\n    algorithm: logistic_regression\n    seed: 42\n    resources: {instance_type: cpu-small, memory_mb: 1}\n",
        )
        .start()
        .await;
    let client = sys.a2a("orchestrator").await;
    let task = system::send_skill(
        &client,
        "handle-retraining",
        json!({"model": "fraud-detector", "reason": "amount drifted", "requested_by": "monitoring"}),
    )
    .await;
    let task = system::wait_terminal(&client, &task.id, Duration::from_secs(60)).await;
    assert_eq!(
        task.status.state,
        TaskState::InputRequired,
        "{}",
        status_text(&task)
    );

    let (token, _) = sys
        .key
        .sign_approval(
            &sys.issuer,
            &mlops_service_auth::ApprovalGrant {
                approver: "carol".into(),
                roles: vec!["approver".into()],
                workflow: task.id.clone(),
                gate: "approve-retraining-fraud-detector".into(),
                decision: mlops_service_auth::ApprovalDecision::Approve,
                comment: Some("retrain".into()),
                ttl: Duration::from_secs(300),
            },
        )
        .unwrap();
    let mut answer = mlops_agent_kit::a2a::Message::new(
        mlops_agent_kit::a2a::Role::User,
        vec![mlops_agent_kit::a2a::Part::data(
            json!({ "approval_token": token }),
        )],
    );
    answer.task_id = Some(task.id.clone());
    client
        .send(&mlops_agent_kit::a2a::SendMessageRequest {
            message: answer,
            configuration: Some(mlops_agent_kit::a2a::SendMessageConfiguration {
                accepted_output_modes: None,
                task_push_notification_config: None,
                history_length: None,
                return_immediately: Some(true),
            }),
            metadata: None,
            tenant: None,
        })
        .await
        .unwrap();

    // Read the workflow's own record until training is done or it ended.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let nodes = loop {
        let rows: Vec<(String, String, i32)> = sqlx::query_as(
            "SELECT n.node_id, n.state, n.attempt FROM orchestrator.nodes n
             JOIN orchestrator.workflows w ON w.id = n.workflow_id WHERE w.task_id = $1",
        )
        .bind(&task.id)
        .fetch_all(&sys.db.pool)
        .await
        .unwrap();
        let state: String =
            sqlx::query_scalar("SELECT state FROM orchestrator.workflows WHERE task_id = $1")
                .bind(&task.id)
                .fetch_one(&sys.db.pool)
                .await
                .unwrap();
        let trained = rows
            .iter()
            .any(|(id, s, _)| id == "train" && s == "completed");
        if trained || !["running", "waiting"].contains(&state.as_str()) {
            break rows;
        }
        assert!(std::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let find = |id: &str| {
        nodes
            .iter()
            .find(|(n, _, _)| n == id)
            .unwrap_or_else(|| panic!("{id} in {nodes:?}"))
    };
    assert_eq!(find("fresh-data").1, "completed", "{nodes:?}");
    assert_eq!(find("validate-fresh-data").1, "completed", "{nodes:?}");
    assert_eq!(find("resize-train-1").1, "completed", "{nodes:?}");
    let train = find("train");
    assert_eq!((train.1.as_str(), train.2), ("completed", 2), "{nodes:?}");
}
