//! `trigger-retraining-alert`: asks the orchestrator, over A2A, to retrain
//! a model, with the drift report attached; at most one open request per
//! model.
//!
//! The orchestrator is whichever agent in the registry declares a
//! `handle-retraining` skill (the configured fallback name otherwise). Each
//! request is a row in `agents.monitoring_retraining_requests`; the row
//! stays open until the orchestrator's task ends. Before sending, the open
//! row's task is looked up with `GetTask`: still running means no new
//! request (the existing one is returned); ended means the row closes and a
//! new request goes out. All of it happens under a per-model advisory lock,
//! so a scheduler round and a skill call (or two replicas) cannot both send.
//!
//! The messageId is `monitoring:retrain:{model}:{seq}`: the same for every
//! attempt at one request, so a resend after a lost answer is refused by
//! the orchestrator as a duplicate (and its task id is recovered from the
//! refusal) instead of starting a second workflow.

use std::collections::HashMap;
use std::sync::Arc;

use mlops_agent_kit::a2a::{
    GetTaskRequest, Message, Part, Role, SendMessageConfiguration, SendMessageRequest,
    SendMessageResponse, Task, TaskState, error_code,
};
use mlops_agent_kit::client::{AgentClient, ClientError};
use mlops_agent_kit::{AgentEnv, SkillError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::Mutex;

use crate::model::ModelName;
use crate::tools::{Tools, refusal};

/// The orchestrator's skill this agent invokes.
pub const HANDLE_RETRAINING: &str = "handle-retraining";
/// Largest `evidence` accepted, serialized.
const MAX_EVIDENCE_BYTES: usize = 64 * 1024;
/// A drift report larger than this is attached without its histograms.
const MAX_ATTACHED_REPORT_BYTES: usize = 256 * 1024;

/// Input of `trigger-retraining-alert`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRetrainingInput {
    /// The model to retrain, e.g. "fraud-detector".
    pub model: String,
    /// Why, for the people who approve the retraining (1-2000 characters).
    pub reason: String,
    /// A drift report on the drift server (its UUID) to attach as evidence.
    #[serde(default)]
    pub drift_report_id: Option<String>,
    /// More evidence, any JSON up to 64 KiB, passed on as given.
    #[serde(default)]
    pub evidence: Option<Value>,
}

/// What the `handle-retraining` skill receives as its input (the message's
/// first data part). The drift report, when there is one, follows as a
/// second data part whose metadata `name` is `drift-report`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrainingRequest {
    pub model: String,
    pub reason: String,
    /// The request's id, also the A2A messageId.
    pub request_id: String,
    /// Always "monitoring".
    pub requested_by: String,
    /// The drift report (`reports://{id}` on the drift server) behind the request.
    #[serde(default)]
    pub drift_report_id: Option<String>,
    #[serde(default)]
    pub evidence: Option<Value>,
}

/// Output of `trigger-retraining-alert`: the model's open retraining request.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RetrainingRequestOutput {
    pub model: String,
    /// Also the A2A messageId it was sent with.
    pub request_id: String,
    /// The agent asked.
    pub orchestrator: String,
    /// The orchestrator's task for the request.
    pub orchestrator_task_id: Option<String>,
    /// The task's state at the last look, e.g. "TASK_STATE_WORKING".
    pub state: String,
    /// True when this call sent the request; false when an open one was
    /// found and returned instead.
    pub sent: bool,
    pub open: bool,
    pub reason: String,
    pub drift_report_id: Option<String>,
    pub drift_report_attached: bool,
    pub requested_by: String,
    pub created_at: String,
    /// The request this one replaced, closed because its task had ended.
    pub replaced: Option<ClosedRequest>,
    pub note: Option<String>,
}

/// A request closed because its orchestrator task ended.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ClosedRequest {
    pub request_id: String,
    pub orchestrator_task_id: Option<String>,
    pub state: String,
}

/// One request to make: validated, with its evidence loaded.
#[derive(Debug, Clone)]
pub struct RetrainingAsk {
    pub model: ModelName,
    pub reason: String,
    pub drift_report_id: Option<String>,
    /// The drift server's stored report (`get_report` / `run_drift_report` answer).
    pub drift_report: Option<Value>,
    pub evidence: Option<Value>,
    pub requested_by: String,
}

/// Validates the skill input and loads the drift report it names; every
/// rejection names its field, and nothing is sent before this passes.
pub async fn parse(
    tools: &dyn Tools,
    input: TriggerRetrainingInput,
    requested_by: String,
) -> Result<RetrainingAsk, SkillError> {
    let model = ModelName::parse("model", &input.model)?;
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(SkillError::bad_field(
            "reason",
            "must be 1-2000 characters saying why the model needs retraining",
        ));
    }
    if let Some(evidence) = &input.evidence {
        let size = serde_json::to_vec(evidence)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_EVIDENCE_BYTES {
            return Err(SkillError::bad_field(
                "evidence",
                format!("is {size} bytes; at most {MAX_EVIDENCE_BYTES} are accepted"),
            ));
        }
    }
    let drift_report = match &input.drift_report_id {
        None => None,
        Some(id) => {
            if uuid::Uuid::parse_str(id).is_err() {
                return Err(SkillError::bad_field(
                    "drift_report_id",
                    format!("{id:?} is not a report id (a UUID)"),
                ));
            }
            let report = match tools.call("drift", "get_report", json!({ "id": id })).await {
                Ok(report) => report,
                Err(error) => {
                    return Err(match refusal(&error) {
                        Some(why) => SkillError::bad_field(
                            "drift_report_id",
                            format!("{id} is not a report the drift server has: {why}"),
                        ),
                        None => error,
                    });
                }
            };
            if report.get("kind").and_then(Value::as_str) != Some("drift") {
                return Err(SkillError::bad_field(
                    "drift_report_id",
                    format!("{id} is not a drift report"),
                ));
            }
            if let Some(about) = report.get("model").and_then(Value::as_str)
                && about != model.as_str()
            {
                return Err(SkillError::bad_field(
                    "drift_report_id",
                    format!("{id} is a report about {about:?}, not {model:?}"),
                ));
            }
            Some(report)
        }
    };
    Ok(RetrainingAsk {
        model,
        reason: reason.to_owned(),
        drift_report_id: input.drift_report_id,
        drift_report,
        evidence: input.evidence,
        requested_by,
    })
}

/// A drift report small enough for one A2A message: histograms go first
/// when it is too big.
fn attachable(mut report: Value) -> Value {
    let size = serde_json::to_vec(&report).map(|v| v.len()).unwrap_or(0);
    if size <= MAX_ATTACHED_REPORT_BYTES {
        return report;
    }
    if let Some(columns) = report
        .pointer_mut("/report/result/columns")
        .and_then(Value::as_array_mut)
    {
        for column in columns {
            if let Some(column) = column.as_object_mut() {
                column.remove("histogram");
            }
        }
    }
    report
}

/// The task id in the kit's duplicate-message refusal:
/// `messageId "…" was already received by this agent (task <id>); …`.
fn duplicate_task_id(message: &str) -> Option<&str> {
    if !message.contains("was already received") {
        return None;
    }
    let rest = &message[message.find("(task ")? + "(task ".len()..];
    Some(&rest[..rest.find(')')?])
}

fn state_name(state: &TaskState) -> String {
    match serde_json::to_value(state) {
        Ok(Value::String(s)) => s,
        _ => format!("{state:?}"),
    }
}

fn db_error(context: &'static str) -> impl Fn(sqlx::Error) -> SkillError {
    move |e| {
        tracing::error!(error = %e, context, "retraining request storage failed");
        SkillError::failed(format!(
            "the monitoring agent's database failed ({context})"
        ))
    }
}

/// The open row of a model.
struct OpenRequest {
    message_id: String,
    orchestrator: String,
    task_id: Option<String>,
    state: String,
    reason: String,
    drift_report_id: Option<String>,
    requested_by: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

/// Sends retraining requests and keeps their ledger.
pub struct Retrainer {
    env: AgentEnv,
    fallback: String,
    /// The orchestrator's client, found once and kept while it works.
    orchestrator: Mutex<Option<Arc<AgentClient>>>,
}

impl Retrainer {
    pub fn new(env: AgentEnv, fallback: String) -> Self {
        Retrainer {
            env,
            fallback,
            orchestrator: Mutex::new(None),
        }
    }

    /// The agent offering `handle-retraining`, from the registry.
    async fn orchestrator(&self) -> Result<Arc<AgentClient>, SkillError> {
        let mut cached = self.orchestrator.lock().await;
        if let Some(client) = cached.as_ref() {
            return Ok(client.clone());
        }
        let directory = self
            .env
            .agents()
            .await
            .map_err(|e| SkillError::failed(format!("cannot read the agent registry: {e}")))?;
        let mut offering: Vec<Arc<AgentClient>> = directory
            .agents()
            .filter(|a| a.card().skills.iter().any(|s| s.id == HANDLE_RETRAINING))
            .cloned()
            .collect();
        offering.sort_by(|a, b| a.name().cmp(b.name()));
        let client = match offering.into_iter().next() {
            Some(client) => client,
            None => directory.get(&self.fallback).map_err(|_| {
                SkillError::failed(format!(
                    "no agent in the registry offers {HANDLE_RETRAINING:?}, and {:?} is not reachable",
                    self.fallback
                ))
            })?,
        };
        *cached = Some(client.clone());
        Ok(client)
    }

    /// The client for the agent named `name` (where an earlier request went).
    async fn client_named(&self, name: &str) -> Result<Arc<AgentClient>, SkillError> {
        if let Some(client) = self.orchestrator.lock().await.as_ref()
            && client.name() == name
        {
            return Ok(client.clone());
        }
        let directory = self
            .env
            .agents()
            .await
            .map_err(|e| SkillError::failed(format!("cannot read the agent registry: {e}")))?;
        directory
            .get(name)
            .map_err(|e| SkillError::failed(e.to_string()))
    }

    /// Forgets the cached client after a failure, so the next attempt
    /// reads the registry again.
    async fn forget(&self) {
        *self.orchestrator.lock().await = None;
    }

    /// Makes sure one retraining request for the model is open: returns the
    /// open one when its task still runs, else sends a new one.
    pub async fn request(&self, ask: RetrainingAsk) -> Result<RetrainingRequestOutput, SkillError> {
        let model = ask.model.as_str();
        let mut tx = self.env.database.begin().await.map_err(db_error("begin"))?;
        // Held to commit: one sender per model across tasks and replicas.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("mlops.monitoring.retraining:{model}"))
            .execute(&mut *tx)
            .await
            .map_err(db_error("lock the model's requests"))?;
        let open = sqlx::query(
            "SELECT message_id, orchestrator, orchestrator_task_id, state, reason,
                    drift_report_id, requested_by, created_at
               FROM agents.monitoring_retraining_requests
              WHERE model = $1 AND open",
        )
        .bind(model)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error("read the open request"))?
        .map(|r| OpenRequest {
            message_id: r.get("message_id"),
            orchestrator: r.get("orchestrator"),
            task_id: r.get("orchestrator_task_id"),
            state: r.get("state"),
            reason: r.get("reason"),
            drift_report_id: r.get("drift_report_id"),
            requested_by: r.get("requested_by"),
            created_at: r.get("created_at"),
        });

        let mut replaced = None;
        if let Some(open) = open {
            let looked = match &open.task_id {
                Some(task_id) => self.look_up(&open.orchestrator, task_id).await,
                None => Ok(None),
            };
            match looked {
                // Still running: this is the one open request.
                Ok(Some(task)) if !task.status.state.is_terminal() => {
                    let state = state_name(&task.status.state);
                    sqlx::query(
                        "UPDATE agents.monitoring_retraining_requests
                            SET state = $2, updated_at = now() WHERE message_id = $1",
                    )
                    .bind(&open.message_id)
                    .bind(&state)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error("update the open request"))?;
                    tx.commit().await.map_err(db_error("commit"))?;
                    return Ok(existing(model, open, state, None));
                }
                // Ended (or unknown to the orchestrator, or never a task):
                // close it and send anew below.
                Ok(task) => {
                    let state = task
                        .map(|t| state_name(&t.status.state))
                        .unwrap_or_else(|| "TASK_NOT_FOUND".to_owned());
                    sqlx::query(
                        "UPDATE agents.monitoring_retraining_requests
                            SET state = $2, open = false, closed_at = now(), updated_at = now()
                          WHERE message_id = $1",
                    )
                    .bind(&open.message_id)
                    .bind(&state)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error("close the request"))?;
                    tracing::info!(%model, request = %open.message_id, %state, "previous retraining request ended");
                    replaced = Some(ClosedRequest {
                        request_id: open.message_id,
                        orchestrator_task_id: open.task_id,
                        state,
                    });
                }
                // The orchestrator cannot say: keep the open request rather
                // than risk a second workflow.
                Err(error) => {
                    tx.commit().await.map_err(db_error("commit"))?;
                    let state = open.state.clone();
                    return Ok(existing(
                        model,
                        open,
                        state,
                        Some(format!(
                            "could not check the open request's task ({error}); not sending another"
                        )),
                    ));
                }
            }
        }

        let seq: i32 = sqlx::query_scalar(
            "SELECT COALESCE(max(seq), 0) + 1 FROM agents.monitoring_retraining_requests WHERE model = $1",
        )
        .bind(model)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error("number the request"))?;
        let message_id = format!("monitoring:retrain:{model}:{seq}");
        let orchestrator = self.orchestrator().await?;
        let (task_id, state) = match self.send(&orchestrator, &message_id, &ask).await {
            Ok(sent) => sent,
            Err(error) => {
                self.forget().await;
                return Err(error);
            }
        };
        let open = !matches!(&state, Some(s) if s.is_terminal()) && task_id.is_some();
        let state = state
            .as_ref()
            .map(state_name)
            .unwrap_or_else(|| "TASK_STATE_UNSPECIFIED".to_owned());
        let created_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
            "INSERT INTO agents.monitoring_retraining_requests
                 (message_id, model, seq, orchestrator, orchestrator_task_id, state, open,
                  reason, drift_report_id, requested_by, closed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $7 THEN NULL ELSE now() END)
             RETURNING created_at",
        )
        .bind(&message_id)
        .bind(model)
        .bind(seq)
        .bind(orchestrator.name())
        .bind(&task_id)
        .bind(&state)
        .bind(open)
        .bind(&ask.reason)
        .bind(&ask.drift_report_id)
        .bind(&ask.requested_by)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error("record the request"))?;
        tx.commit().await.map_err(db_error("commit"))?;
        tracing::info!(%model, request = %message_id, orchestrator = orchestrator.name(), task = ?task_id, %state, "retraining requested");
        Ok(RetrainingRequestOutput {
            model: model.to_owned(),
            request_id: message_id,
            orchestrator: orchestrator.name().to_owned(),
            orchestrator_task_id: task_id,
            state,
            sent: true,
            open,
            reason: ask.reason,
            drift_report_id: ask.drift_report_id,
            drift_report_attached: ask.drift_report.is_some(),
            requested_by: ask.requested_by,
            created_at: created_at.to_rfc3339(),
            replaced,
            note: None,
        })
    }

    /// `GetTask` on `agent`: `Ok(None)` when the agent does not know the task.
    async fn look_up(&self, agent: &str, task_id: &str) -> Result<Option<Task>, SkillError> {
        let client = self.client_named(agent).await?;
        let request = GetTaskRequest {
            id: task_id.to_owned(),
            history_length: Some(0),
            tenant: None,
        };
        match client.get(&request).await {
            Ok(task) => Ok(Some(task)),
            Err(ClientError::Protocol { error, .. })
                if error.code == error_code::TASK_NOT_FOUND =>
            {
                Ok(None)
            }
            Err(error) => {
                self.forget().await;
                Err(SkillError::failed(error.to_string()))
            }
        }
    }

    /// Sends the request; returns the orchestrator's task id and state.
    async fn send(
        &self,
        orchestrator: &AgentClient,
        message_id: &str,
        ask: &RetrainingAsk,
    ) -> Result<(Option<String>, Option<TaskState>), SkillError> {
        let input = RetrainingRequest {
            model: ask.model.to_string(),
            reason: ask.reason.clone(),
            request_id: message_id.to_owned(),
            requested_by: crate::NAME.to_owned(),
            drift_report_id: ask.drift_report_id.clone(),
            evidence: ask.evidence.clone(),
        };
        let input = serde_json::to_value(&input)
            .map_err(|e| SkillError::failed(format!("cannot encode the request: {e}")))?;
        let mut parts = vec![Part::data(input).with_media_type("application/json")];
        if let Some(report) = &ask.drift_report {
            let mut part =
                Part::data(attachable(report.clone())).with_media_type("application/json");
            part.metadata = Some(HashMap::from([
                ("name".to_owned(), json!("drift-report")),
                (
                    "reportUri".to_owned(),
                    report.get("uri").cloned().unwrap_or(Value::Null),
                ),
            ]));
            parts.push(part);
        }
        let mut message = Message::new(Role::User, parts);
        message.message_id = message_id.to_owned();
        message.metadata = Some(HashMap::from([(
            "skill".to_owned(),
            json!(HANDLE_RETRAINING),
        )]));
        let request = SendMessageRequest {
            message,
            configuration: Some(SendMessageConfiguration {
                accepted_output_modes: None,
                task_push_notification_config: None,
                history_length: Some(0),
                return_immediately: Some(true),
            }),
            metadata: None,
            tenant: None,
        };
        match orchestrator.send(&request).await {
            Ok(SendMessageResponse::Task(task)) => Ok((Some(task.id), Some(task.status.state))),
            // A plain answer: nothing to track.
            Ok(SendMessageResponse::Message(reply)) => Ok((reply.task_id, None)),
            Err(ClientError::Protocol { error, .. })
                if duplicate_task_id(&error.message).is_some() =>
            {
                // An earlier attempt got through; its task is the request's.
                let task_id = duplicate_task_id(&error.message)
                    .unwrap_or_default()
                    .to_owned();
                let state = self
                    .look_up(orchestrator.name(), &task_id)
                    .await
                    .ok()
                    .flatten()
                    .map(|t| t.status.state)
                    .unwrap_or(TaskState::Submitted);
                Ok((Some(task_id), Some(state)))
            }
            Err(error) => Err(SkillError::failed(format!(
                "could not ask {} to retrain {}: {error}",
                orchestrator.name(),
                ask.model
            ))),
        }
    }
}

fn existing(
    model: &str,
    open: OpenRequest,
    state: String,
    note: Option<String>,
) -> RetrainingRequestOutput {
    RetrainingRequestOutput {
        model: model.to_owned(),
        request_id: open.message_id,
        orchestrator: open.orchestrator,
        orchestrator_task_id: open.task_id,
        state,
        sent: false,
        open: true,
        reason: open.reason,
        drift_report_id: open.drift_report_id,
        drift_report_attached: false,
        requested_by: open.requested_by,
        created_at: open.created_at.to_rfc3339(),
        replaced: None,
        note: note.or_else(|| {
            Some("a retraining request for this model is already open; not sending another".into())
        }),
    }
}

/// One line for people.
pub fn summary(output: &RetrainingRequestOutput) -> String {
    let task = output.orchestrator_task_id.as_deref().unwrap_or("-");
    if output.sent {
        format!(
            "asked {} to retrain {} (request {}, task {task}, {}){}",
            output.orchestrator,
            output.model,
            output.request_id,
            output.state,
            if output.drift_report_attached {
                ", drift report attached"
            } else {
                ""
            }
        )
    } else {
        format!(
            "{} already has an open retraining request {} (task {task}, {}); none sent",
            output.model, output.request_id, output.state
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_refusals_give_back_the_task() {
        let message = "messageId \"monitoring:retrain:m:1\" was already received by this agent (task 0190-abc); send a new messageId for new work, or GetTask for the earlier result";
        assert_eq!(duplicate_task_id(message), Some("0190-abc"));
        assert_eq!(duplicate_task_id("invalid params: skill"), None);
    }

    #[test]
    fn big_reports_lose_their_histograms_only() {
        let columns: Vec<Value> = (0..400)
            .map(|i| json!({"column": format!("c{i}"), "score": 0.5, "histogram": {"bins": vec![1.0; 200]}}))
            .collect();
        let report = json!({"id": "x", "report": {"result": {"columns": columns}}});
        let fitted = attachable(report);
        let first = &fitted["report"]["result"]["columns"][0];
        assert_eq!(first["score"], 0.5);
        assert!(first.get("histogram").is_none());
        let small = json!({"id": "x", "report": {"result": {"columns": [{"histogram": {}}]}}});
        assert_eq!(attachable(small.clone()), small);
    }

    #[test]
    fn the_request_schema_is_what_the_orchestrator_reads() {
        let request = RetrainingRequest {
            model: "fraud-detector".into(),
            reason: "drift".into(),
            request_id: "monitoring:retrain:fraud-detector:1".into(),
            requested_by: "monitoring".into(),
            drift_report_id: None,
            evidence: None,
        };
        let value = serde_json::to_value(&request).unwrap();
        let back: RetrainingRequest = serde_json::from_value(value).unwrap();
        assert_eq!(back.request_id, request.request_id);
    }
}
