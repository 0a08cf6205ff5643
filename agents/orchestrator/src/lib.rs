//! The orchestrator agent.
//!
//! Today it takes retraining requests (`handle-retraining`, sent by the
//! monitoring agent when drift crosses its threshold): it checks the
//! request, keeps it as its own A2A task, and holds it at a human gate
//! (`TASK_STATE_INPUT_REQUIRED`) with the drift evidence. Planning from
//! skill contracts, durable workflows and signed approvals build on this
//! (ARCHITECTURE §5).

use async_trait::async_trait;
use mlops_agent_kit::{
    AgentDefinition, AgentEnv, Phase, SkillContext, SkillContract, SkillError, SkillOutcome,
    Skills, parse_input,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const NAME: &str = "orchestrator";

/// A request to retrain a model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrainingRequest {
    /// The model to retrain, e.g. "fraud-detector".
    pub model: String,
    /// Why, in a sentence (e.g. which features drifted).
    pub reason: String,
    /// The drift report that triggered the request, if any.
    #[serde(default)]
    pub drift_report_id: Option<String>,
    /// The evidence: the drift report's numbers, as the requester saw them.
    #[serde(default)]
    pub evidence: Option<Value>,
    /// The requester's id for this request (its idempotency key).
    #[serde(default)]
    pub request_id: Option<String>,
    /// Who asks, e.g. "monitoring".
    #[serde(default)]
    pub requested_by: Option<String>,
}

/// What the orchestrator accepted.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RetrainingAccepted {
    pub model: String,
    pub reason: String,
    pub drift_report_id: Option<String>,
    pub request_id: Option<String>,
    pub requested_by: Option<String>,
    /// Whether the drift report came attached to the request.
    pub drift_report_attached: bool,
    /// The gate the request waits at.
    pub gate: String,
}

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: NAME.into(),
        description: "Plans model releases and retraining, delegates the work to the specialist agents, and holds it at human approval gates.".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<RetrainingRequest, RetrainingAccepted>(
                "handle-retraining",
                "Handle a retraining request",
                "Takes a retraining request (usually from the monitoring agent, with the drift report) and holds it at a human approval gate.",
                Phase::Gate,
            )
            .with_tags(&["retraining", "drift"]),
        ],
    }
}

pub struct OrchestratorAgent {}

impl OrchestratorAgent {
    pub fn new(_env: &AgentEnv) -> anyhow::Result<Self> {
        Ok(OrchestratorAgent {})
    }

    async fn handle_retraining(
        &self,
        input: Value,
        ctx: &SkillContext,
    ) -> Result<SkillOutcome, SkillError> {
        let request: RetrainingRequest = parse_input(input)?;
        let model = request.model.trim();
        if model.is_empty()
            || model.len() > 63
            || !model
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(SkillError::bad_field(
                "model",
                "must be a model name: 1-63 characters of a-z, 0-9 and -",
            ));
        }
        if request.reason.trim().is_empty() || request.reason.len() > 2_000 {
            return Err(SkillError::bad_field("reason", "must be 1-2000 characters"));
        }
        let gate = format!("approve-retraining-{model}");
        let report = ctx
            .attachments()
            .iter()
            .find(|a| a.name.as_deref() == Some("drift-report"));
        ctx.artifact(
            "retraining-request",
            RetrainingAccepted {
                model: model.to_owned(),
                reason: request.reason.clone(),
                drift_report_id: request.drift_report_id.clone(),
                request_id: request.request_id.clone(),
                requested_by: request.requested_by.clone(),
                drift_report_attached: report.is_some(),
                gate: gate.clone(),
            },
            &format!("retraining of {model} requested: {}", request.reason),
        );
        if let Some(report) = report {
            ctx.artifact(
                "drift-report",
                &report.data,
                "the drift report behind the request",
            );
        }
        if let Some(evidence) = &request.evidence {
            ctx.artifact("drift-evidence", evidence, "the requester's evidence");
        }
        Err(SkillError::InputRequired(format!(
            "Gate {gate}: retrain {model}? {} Answer on this task to decide.",
            request.reason
        )))
    }
}

#[async_trait]
impl Skills for OrchestratorAgent {
    fn definition(&self) -> AgentDefinition {
        definition()
    }

    async fn run(
        &self,
        skill: &str,
        input: Value,
        ctx: &SkillContext,
    ) -> Result<SkillOutcome, SkillError> {
        match skill {
            "handle-retraining" => self.handle_retraining(input, ctx).await,
            other => Err(SkillError::rejected(format!("unknown skill {other:?}"))),
        }
    }
}
