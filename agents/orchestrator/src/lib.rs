//! The orchestrator agent: plans each release from the specialist agents'
//! skill contracts and runs it as a durable workflow (ARCHITECTURE §4–§5).
//!
//! - [`plan`]: the deterministic contract planner (goal + contracts +
//!   policy → task graph, with why each node is there).
//! - [`engine`]: durable execution over the `orchestrator` schema: leases,
//!   idempotent delegation, gates, the canary loop and the failure policy.
//! - [`executor`]: the A2A face: a workflow is an A2A task whose status
//!   updates carry graph deltas, paused at gates until a signed approval.
//!
//! Architecture invariant: the orchestrator calls no MCP server and no
//! database but its own schema; everything else goes through A2A.

pub mod console;
pub mod engine;
pub mod executor;
pub mod goal;
pub mod plan;
pub mod policy;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use mlops_agent_kit::a2a::{Message, Part, Role, SendMessageRequest};
use mlops_agent_kit::a2a_server::RequestHandler;
use mlops_agent_kit::{
    AgentDefinition, AgentEnv, AgentServer, Phase, RunningAgent, SkillContract, StoreChoice,
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

pub const NAME: &str = "orchestrator";
pub const ORCHESTRATE: &str = "orchestrate-ml-pipeline";
pub const PLAN_DEPLOYMENT: &str = "plan-deployment";
pub const HANDLE_RETRAINING: &str = "handle-retraining";

/// How a workflow ended (the `workflow-outcome` artifact).
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkflowOutcome {
    /// completed | failed | rolled_back | rejected | canceled
    pub state: String,
    pub reason: String,
}

/// The published plan (the `plan` artifact).
#[derive(Debug, Serialize, JsonSchema)]
pub struct PublishedPlan {
    pub goal: Value,
    pub nodes: Vec<Value>,
    pub edges: Vec<[String; 2]>,
    pub skipped: Vec<Value>,
}

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: NAME.into(),
        description: "Plans model releases and retraining from the specialist agents' skill contracts, runs them as durable workflows, and holds them at human approval gates that need a signed approval.".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<goal::GoalRequest, WorkflowOutcome>(
                ORCHESTRATE,
                "Orchestrate an ML pipeline",
                "Takes a goal (deploy, retrain or rollback), plans it from the agents' contracts and the policy, and runs it: checks in parallel, gates, canary steps each followed by analysis, promotion. Status updates carry graph deltas in metadata `graphDelta`; gates wait in TASK_STATE_INPUT_REQUIRED for a signed approval token.",
                Phase::Deploy,
            )
            .with_tags(&["workflow", "canary", "approval"])
            .with_examples(&[r#"{"goal":"deploy","model":"fraud-detector","version":2,"steps":[10,50,100]}"#]),
            SkillContract::new::<goal::GoalRequest, PublishedPlan>(
                PLAN_DEPLOYMENT,
                "Plan a deployment",
                "Returns the plan a goal would run (nodes, edges, why each is there, and the skills left out with why) without running it.",
                Phase::Deploy,
            )
            .with_tags(&["plan"]),
            SkillContract::new::<goal::RetrainRequest, WorkflowOutcome>(
                HANDLE_RETRAINING,
                "Handle a retraining request",
                "Takes a retraining request (usually from the monitoring agent, with the drift report) and runs it as a workflow: a person confirms, then fresh data, training, validation and a gated canary.",
                Phase::Train,
            )
            .with_tags(&["retraining", "drift"]),
        ],
    }
}

/// Runs the orchestrator: its A2A server over the Postgres task store, and
/// the engine that drives (and, after a restart, resumes) its workflows.
pub async fn serve(
    env: &AgentEnv,
    listen: SocketAddr,
    public_url: Option<String>,
) -> anyhow::Result<RunningAgent> {
    let policy: policy::Policy = env.config().context("reading the orchestrator's policy")?;
    policy
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid policy: {e}"))?;
    let engine = engine::Engine::new(env.clone(), policy);
    let executor = executor::WorkflowExecutor::new(engine.clone());
    let secret = executor.resume_secret().to_owned();
    let mut server = AgentServer::new(definition(), executor, env.verifier())
        .store(StoreChoice::Postgres(env.database.clone()))
        .allow_private_push_targets(true);
    if let Some(url) = public_url {
        server = server.public_url(url);
    }
    let running = server
        .bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let handler = running.handler();
    let store = engine.store.clone();
    engine.set_reattach(Arc::new(move |task_id: String| {
        let handler = handler.clone();
        let secret = secret.clone();
        let store = store.clone();
        tokio::spawn(async move {
            let mut message = Message::new(
                Role::Agent,
                vec![Part::text(
                    "the orchestrator re-attached this workflow's stream",
                )],
            );
            message.task_id = Some(task_id.clone());
            let params = HashMap::from([(executor::RESUME_PARAM.to_owned(), vec![secret])]);
            let request = SendMessageRequest {
                message,
                configuration: None,
                metadata: None,
                tenant: None,
            };
            match handler.send_streaming_message(&params, request).await {
                Ok(_stream) => tracing::info!(task = %task_id, "re-attached the workflow's stream"),
                Err(error) if error.message.contains("terminal") => {
                    // The task ended (e.g. canceled): nothing more to hand on.
                    if let Ok(Some(wf)) = store.workflow_by_task(&task_id).await {
                        let _ = store.delivered(wf.id, wf.next_seq - 1).await;
                    }
                }
                Err(error) => {
                    tracing::info!(task = %task_id, %error, "could not re-attach the stream yet")
                }
            }
        });
    }));
    engine.start();
    Ok(running)
}
