use std::collections::HashMap;

use a2a::{
    A2AError, AgentCapabilities, AgentCard, AgentExtension, AgentInterface, AgentSkill,
    HttpAuthSecurityScheme, Message, PartContent, SecurityScheme,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// URI of the skill-contracts extension declared in every card.
///
/// Its `params` hold `{"skills": {<skill id>: {"phase", "action", "consumes", "produces"}}}`
/// where `consumes` and `produces` are JSON Schemas. The orchestrator plans
/// from these, so a new agent with new skills joins plans without code changes.
pub const SKILL_CONTRACTS_EXTENSION: &str = "urn:mlops:a2a:ext:skill-contracts:v1";

/// Where a skill sits in a release, per ARCHITECTURE §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    DataCheck,
    ModelCheck,
    Train,
    Deploy,
    Observe,
    Rollback,
    Gate,
}

/// What a skill does in a release, in the vocabulary release strategies are
/// written in (Argo Rollouts' canary spec: set weight, analysis, promote).
///
/// The orchestrator's planner asks the contracts "who can start a canary?",
/// never for a skill id, so the skill behind an action can be renamed, moved
/// to another agent or replaced without touching the planner. Skills that
/// only check (phase `data-check`, `model-check`, `gate`) need no action:
/// the planner includes every one whose inputs it can supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Load fresh data into a new dataset version (with a holdout split).
    IngestData,
    /// Check a dataset version against its expectations.
    ValidateData,
    /// Train and register a new model version.
    TrainModel,
    /// Start a candidate beside the champion with a first traffic weight.
    StartCanary,
    /// Move a running candidate to another traffic weight.
    SetWeight,
    /// Judge a canary against the stable version over a window.
    AnalyzeCanary,
    /// Give the candidate all traffic and make it the champion.
    Promote,
    /// Return all traffic to the stable version.
    Rollback,
    /// Recommend resources for a job (e.g. after running out of memory).
    RecommendResources,
}

/// One skill: its card entry plus the schemas of what it consumes and produces.
#[derive(Debug, Clone)]
pub struct SkillContract {
    pub id: String,
    pub name: String,
    pub description: String,
    pub phase: Phase,
    /// The release action this skill performs, if it is one.
    pub action: Option<Action>,
    pub tags: Vec<String>,
    pub examples: Vec<String>,
    pub consumes: Value,
    pub produces: Value,
}

impl SkillContract {
    /// A skill that consumes `In` and produces `Out`; both schemas come from
    /// the Rust types, so the card cannot drift from the code.
    pub fn new<In: JsonSchema, Out: JsonSchema>(
        id: &str,
        name: &str,
        description: &str,
        phase: Phase,
    ) -> Self {
        SkillContract {
            id: id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            phase,
            action: None,
            tags: Vec::new(),
            examples: Vec::new(),
            consumes: serde_json::to_value(schemars::schema_for!(In))
                .expect("a generated schema always serializes"),
            produces: serde_json::to_value(schemars::schema_for!(Out))
                .expect("a generated schema always serializes"),
        }
    }

    /// Declares the release action this skill performs.
    pub fn with_action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }

    pub fn with_tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    pub fn with_examples(mut self, examples: &[&str]) -> Self {
        self.examples = examples.iter().map(|t| (*t).to_owned()).collect();
        self
    }
}

/// What an agent is: the source of its card.
#[derive(Debug, Clone)]
pub struct AgentDefinition {
    /// Short name, also the audience of tokens meant for this agent.
    pub name: String,
    pub description: String,
    pub version: String,
    pub skills: Vec<SkillContract>,
}

/// Paths of the two protocol bindings, relative to the agent's base URL.
pub(crate) const JSONRPC_PATH: &str = "/a2a/jsonrpc";
pub(crate) const REST_PATH: &str = "/a2a/rest";

impl AgentDefinition {
    pub fn skill(&self, id: &str) -> Option<&SkillContract> {
        self.skills.iter().find(|s| s.id == id)
    }

    /// The public agent card for an agent reachable at `base_url`.
    pub fn card(&self, base_url: &str) -> AgentCard {
        let base = base_url.trim_end_matches('/');
        let contracts: serde_json::Map<String, Value> = self
            .skills
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    serde_json::json!({
                        "phase": s.phase,
                        "action": s.action,
                        "consumes": s.consumes,
                        "produces": s.produces,
                    }),
                )
            })
            .collect();
        let extension = AgentExtension {
            uri: SKILL_CONTRACTS_EXTENSION.to_owned(),
            description: Some(
                "JSON Schemas of what each skill consumes and produces, and its release phase"
                    .into(),
            ),
            required: Some(false),
            params: Some(HashMap::from([(
                "skills".to_owned(),
                Value::Object(contracts),
            )])),
        };
        let bearer = SecurityScheme::HttpAuth(HttpAuthSecurityScheme {
            scheme: "Bearer".into(),
            description: Some(format!(
                "A service JWT from the control plane's token service, audience `{}`",
                self.name
            )),
            bearer_format: Some("JWT".into()),
        });
        AgentCard {
            name: self.name.clone(),
            description: self.description.clone(),
            version: self.version.clone(),
            supported_interfaces: vec![
                AgentInterface::new(
                    format!("{base}{JSONRPC_PATH}"),
                    a2a::TRANSPORT_PROTOCOL_JSONRPC,
                ),
                AgentInterface::new(
                    format!("{base}{REST_PATH}"),
                    a2a::TRANSPORT_PROTOCOL_HTTP_JSON,
                ),
            ],
            capabilities: AgentCapabilities {
                streaming: Some(true),
                push_notifications: Some(true),
                extensions: Some(vec![extension]),
                extended_agent_card: None,
            },
            default_input_modes: vec!["application/json".into(), "text/plain".into()],
            default_output_modes: vec!["application/json".into(), "text/plain".into()],
            skills: self
                .skills
                .iter()
                .map(|s| AgentSkill {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    description: s.description.clone(),
                    tags: s.tags.clone(),
                    examples: (!s.examples.is_empty()).then(|| s.examples.clone()),
                    input_modes: Some(vec!["application/json".into()]),
                    output_modes: Some(vec!["application/json".into(), "text/plain".into()]),
                    security_requirements: None,
                })
                .collect(),
            provider: None,
            documentation_url: None,
            icon_url: None,
            security_schemes: Some(HashMap::from([("bearer".to_owned(), bearer)])),
            security_requirements: Some(vec![HashMap::from([("bearer".to_owned(), Vec::new())])]),
            signatures: None,
        }
    }
}

/// A skill invocation parsed from an incoming message.
///
/// The convention: `metadata.skill` names the skill (optional when the agent
/// has exactly one), and the first data part is its input. A plain text part
/// is accepted as `{"text": …}` so simple clients can talk to simple skills.
#[derive(Debug, Clone)]
pub struct SkillInput<T> {
    pub skill: String,
    pub input: T,
}

impl<T: DeserializeOwned> SkillInput<T> {
    /// Parses and validates the input; the error says what was wrong, for
    /// the task's `TASK_STATE_REJECTED` status message.
    pub fn parse(definition: &AgentDefinition, message: &Message) -> Result<Self, String> {
        let skill = match message
            .metadata
            .as_ref()
            .and_then(|m| m.get("skill"))
            .and_then(Value::as_str)
        {
            Some(skill) => skill.to_owned(),
            None if definition.skills.len() == 1 => definition.skills[0].id.clone(),
            None => {
                return Err(format!(
                    "say which skill to run in message metadata `skill`; this agent has: {}",
                    skill_list(definition)
                ));
            }
        };
        if definition.skill(&skill).is_none() {
            return Err(format!(
                "unknown skill {skill:?}; this agent has: {}",
                skill_list(definition)
            ));
        }
        let raw = message
            .parts
            .iter()
            .find_map(|p| match &p.content {
                PartContent::Data(v) => Some(v.clone()),
                _ => None,
            })
            .or_else(|| message.text().map(|t| serde_json::json!({ "text": t })))
            .ok_or_else(|| format!("skill {skill:?} needs a data part with its input"))?;
        let input = serde_json::from_value(raw)
            .map_err(|e| format!("invalid input for skill {skill:?}: {e}"))?;
        Ok(SkillInput { skill, input })
    }
}

fn skill_list(definition: &AgentDefinition) -> String {
    definition
        .skills
        .iter()
        .map(|s| s.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Maps a store failure to the protocol's internal error, logging the cause.
pub(crate) fn storage_error(context: &str, error: impl std::fmt::Display) -> A2AError {
    tracing::error!(%error, context, "task storage failed");
    A2AError::internal(format!("task storage failed: {context}"))
}
