//! Skills as async functions: the kit turns them into A2A task streams.
//!
//! An agent implements [`Skills::run`]: it gets the skill id, the input
//! (the message's data part) and a [`SkillContext`] to report progress and
//! call MCP tools through; it returns a [`SkillOutcome`] (artifacts plus a
//! summary) or a [`SkillError`]. [`SkillExecutor`] does the protocol part:
//! the submitted task, working updates, artifacts as a JSON data part plus a
//! text summary, and the terminal state: completed, rejected (bad input,
//! nothing done), failed (with evidence) or canceled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use a2a::{A2AError, StreamResponse};
use a2a_server::{AgentExecutor, ExecutorContext};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::mcp_pool::{McpCallError, McpPool};
use crate::{AgentDefinition, SkillInput, TaskEvents};

/// One artifact of a finished skill: data for machines, a line for people.
#[derive(Debug, Clone)]
pub struct SkillArtifact {
    pub name: String,
    pub data: Value,
    pub summary: String,
}

/// What a skill produced.
#[derive(Debug, Clone)]
pub struct SkillOutcome {
    pub artifacts: Vec<SkillArtifact>,
    /// The completed status message.
    pub summary: String,
}

impl SkillOutcome {
    /// One artifact named `name`; its summary is also the task's.
    pub fn single(name: &str, data: impl Serialize, summary: impl Into<String>) -> Self {
        let summary = summary.into();
        SkillOutcome {
            artifacts: vec![SkillArtifact {
                name: name.to_owned(),
                data: serde_json::to_value(data).unwrap_or_else(
                    |e| serde_json::json!({ "error": format!("unserializable artifact: {e}") }),
                ),
                summary: summary.clone(),
            }],
            summary,
        }
    }
}

/// Why a skill did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SkillError {
    /// The input was refused before any work: `TASK_STATE_REJECTED`.
    #[error("{0}")]
    Rejected(String),
    /// The work was attempted and failed: `TASK_STATE_FAILED`, with the
    /// evidence as an artifact named `evidence`.
    #[error("{reason}")]
    Failed {
        reason: String,
        evidence: Option<Value>,
    },
    /// The skill needs a person's answer: `TASK_STATE_INPUT_REQUIRED` with
    /// this question. The answer arrives as a new message on the same task.
    #[error("{0}")]
    InputRequired(String),
    /// The task was canceled while the skill ran.
    #[error("canceled")]
    Canceled,
}

impl SkillError {
    pub fn rejected(reason: impl Into<String>) -> Self {
        SkillError::Rejected(reason.into())
    }

    /// A refused input field: the message names it, as clients need.
    pub fn bad_field(field: &str, why: impl std::fmt::Display) -> Self {
        SkillError::Rejected(format!("invalid input: `{field}` {why}"))
    }

    pub fn failed(reason: impl Into<String>) -> Self {
        SkillError::Failed {
            reason: reason.into(),
            evidence: None,
        }
    }

    pub fn failed_with(reason: impl Into<String>, evidence: impl Serialize) -> Self {
        SkillError::Failed {
            reason: reason.into(),
            evidence: serde_json::to_value(evidence).ok(),
        }
    }
}

impl From<McpCallError> for SkillError {
    fn from(error: McpCallError) -> Self {
        SkillError::failed(error.to_string())
    }
}

/// Parses a skill's input into its Rust type; the rejection names the
/// field at fault (`invalid input: `model`: …`).
pub fn parse_input<T: DeserializeOwned>(input: Value) -> Result<T, SkillError> {
    serde_path_to_error::deserialize(input).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            // Top-level problems (a missing or unknown field) name the
            // field in serde's own message.
            SkillError::Rejected(format!("invalid input: {inner}"))
        } else {
            SkillError::Rejected(format!("invalid input: `{path}`: {inner}"))
        }
    })
}

/// What a running skill reports through.
#[derive(Clone)]
pub struct SkillContext {
    events: TaskEvents,
    sender: mpsc::UnboundedSender<StreamResponse>,
    mcp: Option<Arc<McpPool>>,
    cancel: CancellationToken,
    message_id: String,
    attachments: Vec<Attachment>,
}

/// A data part sent with the input, after it (e.g. a drift report).
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The part's `metadata.name`, when it has one.
    pub name: Option<String>,
    pub data: Value,
}

impl SkillContext {
    /// The message's data parts after the input.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    pub fn task_id(&self) -> &str {
        &self.events.task_id
    }

    pub fn context_id(&self) -> &str {
        &self.events.context_id
    }

    /// The id of the message that started the task: deterministic per
    /// (workflow, node, attempt) when the orchestrator sends it, so it is
    /// a good idempotency key for side effects.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// A progress line (`TASK_STATE_WORKING`).
    pub fn progress(&self, text: impl AsRef<str>) {
        let _ = self.sender.send(self.events.working(text.as_ref()));
    }

    /// A progress line with structured detail in the update's metadata
    /// under `progress` (e.g. training metrics so far).
    pub fn progress_with(&self, text: impl AsRef<str>, detail: impl Serialize) {
        let detail = serde_json::to_value(detail).unwrap_or(Value::Null);
        let _ = self.sender.send(self.events.working_with(
            text.as_ref(),
            HashMap::from([("progress".to_owned(), detail)]),
        ));
    }

    /// An intermediate artifact, before the skill ends.
    pub fn artifact(&self, name: &str, data: impl Serialize, summary: &str) {
        let data = serde_json::to_value(data).unwrap_or(Value::Null);
        let _ = self.sender.send(self.events.artifact(name, data, summary));
    }

    pub fn is_canceled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when the task is canceled.
    pub async fn canceled(&self) {
        self.cancel.cancelled().await
    }

    /// Errors with [`SkillError::Canceled`] once the task is canceled.
    pub fn check_canceled(&self) -> Result<(), SkillError> {
        if self.is_canceled() {
            Err(SkillError::Canceled)
        } else {
            Ok(())
        }
    }

    /// Calls an MCP tool through the agent's pool. The call is announced in
    /// a working update whose metadata `mcpCall` says server, tool, outcome
    /// and duration, so the task graph shows every call made.
    pub async fn mcp(&self, server: &str, tool: &str, args: Value) -> Result<Value, SkillError> {
        self.check_canceled()?;
        let pool = self.mcp.as_ref().ok_or_else(|| {
            SkillError::failed(format!(
                "this agent has no MCP client pool, so it cannot call {server}/{tool}"
            ))
        })?;
        let (result, record) = tokio::select! {
            outcome = pool.call_recorded(server, tool, args) => outcome,
            _ = self.cancel.cancelled() => return Err(SkillError::Canceled),
        };
        let detail = serde_json::to_value(&record).unwrap_or(Value::Null);
        let line = if record.ok {
            format!("called {server}/{tool} ({} ms)", record.duration_ms)
        } else {
            format!("{server}/{tool} failed")
        };
        let _ = self.sender.send(
            self.events
                .working_with(&line, HashMap::from([("mcpCall".to_owned(), detail)])),
        );
        Ok(result?)
    }

    /// Like [`SkillContext::mcp`], deserializing the result into `T`.
    pub async fn mcp_as<T: DeserializeOwned>(
        &self,
        server: &str,
        tool: &str,
        args: Value,
    ) -> Result<T, SkillError> {
        let value = self.mcp(server, tool, args).await?;
        serde_json::from_value(value).map_err(|e| {
            SkillError::failed(format!(
                "{server}/{tool} answered in an unexpected shape: {e}"
            ))
        })
    }
}

/// An agent's skills.
#[async_trait]
pub trait Skills: Send + Sync + 'static {
    /// The card's source: name, description and skill contracts.
    fn definition(&self) -> AgentDefinition;

    /// Runs `skill` on `input` (its data part, unparsed).
    async fn run(
        &self,
        skill: &str,
        input: Value,
        ctx: &SkillContext,
    ) -> Result<SkillOutcome, SkillError>;
}

/// An [`AgentExecutor`] that runs [`Skills`].
pub struct SkillExecutor<S> {
    skills: Arc<S>,
    definition: Arc<AgentDefinition>,
    mcp: Option<Arc<McpPool>>,
    running: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

impl<S> Clone for SkillExecutor<S> {
    fn clone(&self) -> Self {
        SkillExecutor {
            skills: self.skills.clone(),
            definition: self.definition.clone(),
            mcp: self.mcp.clone(),
            running: self.running.clone(),
        }
    }
}

impl<S: Skills> SkillExecutor<S> {
    pub fn new(skills: Arc<S>, mcp: Option<Arc<McpPool>>) -> Self {
        let definition = Arc::new(skills.definition());
        SkillExecutor {
            skills,
            definition,
            mcp,
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn definition(&self) -> AgentDefinition {
        (*self.definition).clone()
    }
}

impl<S: Skills> AgentExecutor for SkillExecutor<S> {
    fn execute(
        &self,
        ctx: ExecutorContext,
    ) -> BoxStream<'static, Result<StreamResponse, A2AError>> {
        let events = TaskEvents::new(ctx.task_id.clone(), ctx.context_id.clone());
        let (sender, receiver) = mpsc::unbounded_channel();
        // An answer to a task waiting for input resumes it; only a new task
        // is announced as submitted.
        let resuming = ctx
            .stored_task
            .as_ref()
            .is_some_and(|t| t.status.state == a2a::TaskState::InputRequired);
        if !resuming {
            let _ = sender.send(events.submitted(ctx.stored_task.as_ref(), ctx.message.as_ref()));
        }

        let terminal = ctx
            .stored_task
            .as_ref()
            .is_some_and(|t| t.status.state.is_terminal());
        let parsed = match ctx.message.as_ref() {
            _ if terminal => Err("the task has ended; start a new task".to_owned()),
            None => Err("no message: send the skill's input as a data part".to_owned()),
            Some(message) => SkillInput::<Value>::parse(&self.definition, message),
        };
        let (skill, input) = match parsed {
            Ok(parsed) => (parsed.skill, whole_numbers_as_integers(parsed.input)),
            Err(reason) => {
                let _ = sender.send(events.rejected(&reason));
                drop(sender);
                return tokio_stream_of(receiver);
            }
        };

        let cancel = CancellationToken::new();
        if let Ok(mut running) = self.running.lock() {
            running.insert(ctx.task_id.clone(), cancel.clone());
        }
        let context = SkillContext {
            events: events.clone(),
            sender: sender.clone(),
            mcp: self.mcp.clone(),
            cancel,
            message_id: ctx
                .message
                .as_ref()
                .map(|m| m.message_id.clone())
                .unwrap_or_default(),
            attachments: ctx
                .message
                .as_ref()
                .map(|m| {
                    m.parts
                        .iter()
                        .filter_map(|p| match &p.content {
                            a2a::PartContent::Data(data) => Some(Attachment {
                                name: p
                                    .metadata
                                    .as_ref()
                                    .and_then(|md| md.get("name"))
                                    .and_then(Value::as_str)
                                    .map(str::to_owned),
                                data: data.clone(),
                            }),
                            _ => None,
                        })
                        .skip(1)
                        .collect()
                })
                .unwrap_or_default(),
        };
        let skills = self.skills.clone();
        let running = self.running.clone();
        let task_id = ctx.task_id.clone();
        let span =
            tracing::info_span!("skill", agent = %self.definition.name, %skill, task = %task_id);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let _ = sender.send(events.working(&format!("running {skill}")));
                // The skill runs in its own task so a panic in it becomes a
                // failed task rather than a stream that never ends.
                let run = tokio::spawn({
                    let skills = skills.clone();
                    let context = context.clone();
                    let skill = skill.clone();
                    async move { skills.run(&skill, input, &context).await }
                });
                let outcome = match run.await {
                    Ok(outcome) => outcome,
                    Err(join) => {
                        tracing::error!(error = %join, "skill panicked");
                        Err(SkillError::failed(format!(
                            "{skill} crashed; see the agent's log"
                        )))
                    }
                };
                match outcome {
                    Ok(outcome) => {
                        for artifact in outcome.artifacts {
                            let _ = sender.send(events.artifact(
                                &artifact.name,
                                artifact.data,
                                &artifact.summary,
                            ));
                        }
                        let _ = sender.send(events.completed(&outcome.summary));
                        tracing::info!("skill completed");
                    }
                    Err(SkillError::Rejected(reason)) => {
                        tracing::info!(%reason, "skill rejected its input");
                        let _ = sender.send(events.rejected(&reason));
                    }
                    Err(SkillError::Failed { reason, evidence }) => {
                        tracing::warn!(%reason, "skill failed");
                        if let Some(evidence) = evidence {
                            let _ = sender.send(events.artifact("evidence", evidence, &reason));
                        }
                        let _ = sender.send(events.failed(&reason));
                    }
                    Err(SkillError::InputRequired(question)) => {
                        tracing::info!(%question, "skill waits for input");
                        let _ = sender.send(events.input_required(&question));
                    }
                    // The handler recorded the canceled state already.
                    Err(SkillError::Canceled) => tracing::info!("skill canceled"),
                }
                if let Ok(mut running) = running.lock() {
                    running.remove(&task_id);
                }
            },
            span,
        ));
        tokio_stream_of(receiver)
    }

    fn cancel(&self, ctx: ExecutorContext) -> BoxStream<'static, Result<StreamResponse, A2AError>> {
        let token = self
            .running
            .lock()
            .ok()
            .and_then(|mut running| running.remove(&ctx.task_id));
        if let Some(token) = token {
            token.cancel();
        }
        let events = TaskEvents::new(ctx.task_id, ctx.context_id);
        futures::stream::iter([Ok(events.canceled("canceled on request"))]).boxed()
    }
}

/// Data parts travel as protobuf `Struct`s in A2A, where every number is a
/// double: a client's `{"weight": 10}` can arrive as `10.0`. Whole numbers
/// are turned back into integers so integer fields parse; a float field
/// still accepts them.
pub fn whole_numbers_as_integers(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            // 2^53: the largest range where every integer is exact.
            Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
                if f >= 0.0 {
                    Value::from(f as u64)
                } else {
                    Value::from(f as i64)
                }
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => {
            Value::Array(items.into_iter().map(whole_numbers_as_integers).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, whole_numbers_as_integers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The receiver as a stream that ends when every sender is gone.
fn tokio_stream_of(
    mut receiver: mpsc::UnboundedReceiver<StreamResponse>,
) -> BoxStream<'static, Result<StreamResponse, A2AError>> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx).map(|item| item.map(Ok))).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        model: String,
        steps: Vec<Step>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Step {
        weight: u8,
    }

    #[test]
    fn whole_floats_become_integers() {
        let fixed = whole_numbers_as_integers(
            serde_json::json!({"weight": 10.0, "share": 0.5, "steps": [10.0, 50.0], "n": -3.0}),
        );
        assert_eq!(
            fixed,
            serde_json::json!({"weight": 10, "share": 0.5, "steps": [10, 50], "n": -3})
        );
    }

    #[test]
    fn parse_errors_name_the_field() {
        let missing = parse_input::<Input>(serde_json::json!({ "steps": [] })).unwrap_err();
        assert!(missing.to_string().contains("`model`"), "{missing}");
        let nested =
            parse_input::<Input>(serde_json::json!({ "model": "m", "steps": [{"weight": 900}] }))
                .unwrap_err();
        assert!(nested.to_string().contains("steps[0].weight"), "{nested}");
        let unknown =
            parse_input::<Input>(serde_json::json!({ "model": "m", "steps": [], "x": 1 }))
                .unwrap_err();
        assert!(unknown.to_string().contains("`x`"), "{unknown}");
    }
}
