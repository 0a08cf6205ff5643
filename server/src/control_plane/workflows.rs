//! Workflows: goals people send, the orchestrator's progress, and the graph
//! the dashboard draws.
//!
//! A goal goes to the orchestrator as `SendStreamingMessage` with a push
//! config. Both the stream and the push webhook deliver the orchestrator's
//! graph deltas; [`ingest`] stores each one once (its `eventId` is unique),
//! updates the graph, gates and workflow state in the same transaction, and
//! `NOTIFY`s every control-plane process so SSE clients see it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt;
use futures::stream::BoxStream;
use mlops_agent_kit::a2a::{
    A2AError, CancelTaskRequest, Message, Part, Role as A2ARole, SendMessageConfiguration,
    SendMessageRequest, StreamResponse, SubscribeToTaskRequest, TaskPushNotificationConfig,
    TaskState,
};
use mlops_agent_kit::client::{
    AgentClient, AgentRegistryFile, MintingTokenSource, RetryPolicy, TokenSource,
};
use mlops_agent_orchestrator::goal::GoalRequest;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Mutex;

use super::AppState;
use super::audit::{self, Entry, Outcome};
use super::auth::{Caller, random_token, token_hash};
use super::problem::Problem;
use super::roles::{Action, Role};
pub use mlops_frontend::api::{GateRow, NodeRow, WorkflowDetail, WorkflowRow};

/// The NOTIFY channel that carries new event ids.
pub const EVENTS_CHANNEL: &str = "control_events";
/// The skill every goal goes to.
const ORCHESTRATE_SKILL: &str = "orchestrate-ml-pipeline";
/// Final workflow states (the orchestrator's names).
const FINAL_STATES: &[&str] = &["completed", "failed", "rejected", "canceled", "rolled_back"];

/// How the control plane reaches the orchestrator: found in the agent
/// registry file when first needed (the orchestrator starts after us).
pub struct OrchestratorLink {
    registry: PathBuf,
    tokens: Arc<dyn TokenSource>,
    client: Mutex<Option<Arc<AgentClient>>>,
}

impl OrchestratorLink {
    pub fn new(registry: PathBuf, tokens: Arc<MintingTokenSource>) -> Self {
        OrchestratorLink {
            registry,
            tokens,
            client: Mutex::new(None),
        }
    }

    pub async fn client(&self) -> Result<Arc<AgentClient>, Problem> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let registry = AgentRegistryFile::load(&self.registry)
            .map_err(|e| Problem::unavailable(format!("the orchestrator is not known yet: {e}")))?;
        let entry = registry
            .agents
            .iter()
            .find(|a| a.name == "orchestrator")
            .ok_or_else(|| {
                Problem::unavailable(format!("{} lists no orchestrator", self.registry.display()))
            })?;
        let card = tokio::time::timeout(
            Duration::from_secs(10),
            mlops_agent_kit::a2a_client::agent_card::AgentCardResolver::new(None)
                .resolve(&entry.url),
        )
        .await
        .map_err(|_| Problem::unavailable("the orchestrator's card did not come in 10 s"))?
        .map_err(|e| Problem::unavailable(format!("the orchestrator's card: {e}")))?;
        let policy = RetryPolicy {
            attempts: 2,
            call_timeout: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let client = Arc::new(
            AgentClient::from_card("orchestrator", card, self.tokens.clone(), policy)
                .await
                .map_err(|e| Problem::unavailable(e.to_string()))?,
        );
        *slot = Some(client.clone());
        Ok(client)
    }
}

/// A message to the orchestrator, on `task` or starting a new one.
fn message(parts: Vec<Part>, task: Option<&str>, skill: Option<&str>) -> Message {
    let mut message = Message::new(A2ARole::User, parts);
    message.task_id = task.map(str::to_owned);
    if let Some(skill) = skill {
        message.metadata = Some(HashMap::from([("skill".to_owned(), json!(skill))]));
    }
    message
}

/// The task id an event belongs to.
fn task_of(item: &StreamResponse) -> Option<&str> {
    match item {
        StreamResponse::Task(task) => Some(&task.id),
        StreamResponse::StatusUpdate(u) => Some(&u.task_id),
        StreamResponse::ArtifactUpdate(u) => Some(&u.task_id),
        StreamResponse::Message(m) => m.task_id.as_deref(),
    }
}

/// The graph deltas an orchestrator event carries: one (`graphDelta`), or
/// several at once (`graphDeltas`, on the final event of a cancel, after
/// which the task takes no more updates).
fn deltas_of(item: &StreamResponse) -> Vec<&Value> {
    let StreamResponse::StatusUpdate(u) = item else {
        return Vec::new();
    };
    let Some(metadata) = u.metadata.as_ref() else {
        return Vec::new();
    };
    let mut deltas: Vec<&Value> = metadata.get("graphDelta").into_iter().collect();
    if let Some(Value::Array(many)) = metadata.get("graphDeltas") {
        deltas.extend(many.iter());
    }
    deltas
}

/// Stores every delta of an orchestrator stream until it ends (a gate, the
/// workflow's end, or a dropped connection; the push webhook and a later
/// subscribe cover what a dropped stream misses).
pub fn follow(
    state: Arc<AppState>,
    workflow: String,
    mut stream: BoxStream<'static, Result<StreamResponse, A2AError>>,
) {
    tokio::spawn(async move {
        let span = tracing::info_span!("workflow.follow", %workflow);
        let _enter = span.enter();
        drop(_enter);
        while let Some(item) = stream.next().await {
            match item {
                Ok(item) => {
                    for delta in deltas_of(&item) {
                        if let Err(e) = ingest(&state, &workflow, delta).await {
                            tracing::warn!(%workflow, error = %e.detail, "storing an event failed");
                        }
                    }
                }
                Err(error) => {
                    tracing::info!(%workflow, %error, "orchestrator stream ended with an error");
                    break;
                }
            }
        }
    });
}

/// Re-attaches to every live workflow (after a restart of this process).
pub async fn resume_following(state: Arc<AppState>) {
    let live: Vec<(String,)> =
        match sqlx::query_as("SELECT id FROM control.workflows WHERE NOT (state = ANY($1))")
            .bind(FINAL_STATES)
            .fetch_all(&state.pool)
            .await
        {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "cannot list live workflows");
                return;
            }
        };
    if live.is_empty() {
        return;
    }
    let client = match state.orchestrator.client().await {
        Ok(client) => client,
        Err(problem) => {
            tracing::warn!(error = %problem.detail, "cannot re-attach to live workflows yet");
            return;
        }
    };
    for (id,) in live {
        match client
            .subscribe(&SubscribeToTaskRequest {
                id: id.clone(),
                tenant: None,
            })
            .await
        {
            Ok(stream) => follow(state.clone(), id, stream),
            Err(error) => tracing::info!(workflow = %id, %error, "not re-attached"),
        }
    }
}

/// What a caller sends to start a workflow: an orchestrator goal. The
/// requester is always the caller, whatever the body says.
pub type StartRequest = GoalRequest;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Started {
    pub id: String,
    pub url: String,
    pub state: String,
}

/// `POST /api/workflows`
#[utoipa::path(post, path = "/api/workflows", tag = "workflows", description = "Start a workflow from an orchestrator goal: `{\"goal\": \"deploy\" | \"retrain\" | \"rollback\", \"model\", …}`. Needs `ml-engineer` (deploy, retrain) or `oncall` (rollback).", responses((status = 201, body = Started), (status = 400, description = "not a valid goal"), (status = 403, description = "role or scope missing"), (status = 404, description = "no such model version")))]
pub async fn start(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Started>), Problem> {
    let Json(raw) = body.map_err(|e| Problem::bad_request(e.body_text()))?;
    let mut goal: GoalRequest = serde_json::from_value(raw)
        .map_err(|e| Problem::bad_request(format!("not a goal: {e}")))?;
    let (kind, model, version, action) = match &mut goal {
        GoalRequest::Deploy(d) => {
            d.requested_by = Some(caller.subject.clone());
            check_deploy(&state, d)?;
            ("deploy", d.model.clone(), Some(d.version), Action::Deploy)
        }
        GoalRequest::Retrain(r) => {
            r.requested_by = Some(caller.subject.clone());
            ("retrain", r.model.clone(), None, Action::Deploy)
        }
        GoalRequest::Rollback(r) => {
            r.requested_by = Some(caller.subject.clone());
            (
                "rollback",
                r.model.clone(),
                Some(r.version),
                Action::Rollback,
            )
        }
    };
    let target = format!(
        "{model}{}",
        version.map(|v| format!(" v{v}")).unwrap_or_default()
    );
    caller.require(&state, action, Some(&target)).await?;
    if let Some(version) = version {
        state.read_models.version_exists(&model, version).await?;
    }
    let started = send_goal(&state, &caller, kind, &model, version, &goal).await?;
    Ok((StatusCode::CREATED, Json(started)))
}

fn check_deploy(
    state: &AppState,
    d: &mut mlops_agent_orchestrator::goal::DeployRequest,
) -> Result<(), Problem> {
    let bounds = &state.config.deploy;
    if let Some(strategy) = &d.strategy
        && strategy != "canary"
    {
        return Err(Problem::bad_request(format!(
            "strategy {strategy:?} is not offered; use \"canary\""
        )));
    }
    let steps = d.steps.get_or_insert_with(|| bounds.default_steps.clone());
    if steps.is_empty() || steps.len() > bounds.max_steps {
        return Err(Problem::bad_request(format!(
            "`steps` must list 1 to {} traffic weights",
            bounds.max_steps
        )));
    }
    if steps.iter().any(|w| *w == 0 || *w > 100) || steps.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Problem::bad_request(
            "`steps` must be rising weights between 1 and 100, e.g. [10, 50, 100]",
        ));
    }
    if let Some(seconds) = d.analysis_seconds {
        let (lo, hi) = (bounds.min_analysis_seconds, bounds.max_analysis_seconds);
        if !(lo..=hi).contains(&u64::from(seconds)) {
            return Err(Problem::bad_request(format!(
                "`analysis_seconds` must be between {lo} and {hi}"
            )));
        }
    }
    Ok(())
}

async fn send_goal(
    state: &Arc<AppState>,
    caller: &Caller,
    kind: &str,
    model: &str,
    version: Option<u32>,
    goal: &GoalRequest,
) -> Result<Started, Problem> {
    let client = state.orchestrator.client().await?;
    let request_id = uuid::Uuid::now_v7();
    let push_token = random_token();
    let goal_json = serde_json::to_value(goal).map_err(Problem::internal)?;
    sqlx::query(
        "INSERT INTO control.workflow_requests (id, push_token_hash, goal, requested_by)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(request_id)
    .bind(token_hash(&push_token))
    .bind(&goal_json)
    .bind(&caller.subject)
    .execute(&state.pool)
    .await?;
    let request = SendMessageRequest {
        message: message(
            vec![Part::data(goal_json.clone())],
            None,
            Some(ORCHESTRATE_SKILL),
        ),
        configuration: Some(SendMessageConfiguration {
            accepted_output_modes: None,
            task_push_notification_config: Some(TaskPushNotificationConfig {
                url: format!("{}/api/hooks/orchestrator", state.public_url),
                id: Some(format!("control-plane-{request_id}")),
                task_id: String::new(),
                token: Some(push_token),
                authentication: None,
                tenant: None,
            }),
            history_length: None,
            return_immediately: None,
        }),
        metadata: None,
        tenant: None,
    };
    let refused = |reason: String| {
        let state = state.clone();
        let subject = caller.subject.clone();
        let target = model.to_owned();
        async move {
            audit::record_or_log(
                &state.pool,
                &Entry {
                    actor: &subject,
                    action: "start-workflow",
                    target: Some(&target),
                    outcome: Outcome::Refused,
                    detail: json!({"reason": reason}),
                },
            )
            .await;
        }
    };
    let mut stream = match client.stream(&request).await {
        Ok(stream) => stream,
        Err(error) => {
            let reason = error.to_string();
            refused(reason.clone()).await;
            return Err(Problem::bad_gateway(format!(
                "the orchestrator did not take the goal: {reason}"
            )));
        }
    };
    // The first event names the task: that is the workflow's id.
    let first = tokio::time::timeout(Duration::from_secs(60), stream.next()).await;
    let first = match first {
        Ok(Some(Ok(item))) => item,
        Ok(Some(Err(error))) => {
            let reason = error.to_string();
            refused(reason.clone()).await;
            return Err(Problem::bad_request(format!(
                "the orchestrator refused the goal: {reason}"
            )));
        }
        Ok(None) | Err(_) => {
            return Err(Problem::bad_gateway(
                "the orchestrator sent nothing for the goal",
            ));
        }
    };
    let task_id = task_of(&first)
        .ok_or_else(|| Problem::bad_gateway("the orchestrator's first event names no task"))?
        .to_owned();
    let mut tx = state.pool.begin().await?;
    sqlx::query("UPDATE control.workflow_requests SET task_id = $2 WHERE id = $1")
        .bind(request_id)
        .bind(&task_id)
        .execute(&mut *tx)
        .await?;
    ensure_workflow(&mut tx, &task_id, request_id).await?;
    audit::append(
        &mut tx,
        &Entry {
            actor: &caller.subject,
            action: "start-workflow",
            target: Some(&task_id),
            outcome: Outcome::Ok,
            detail: json!({"kind": kind, "model": model, "version": version}),
        },
    )
    .await?;
    tx.commit().await?;
    for delta in deltas_of(&first) {
        ingest(state, &task_id, delta).await?;
    }
    follow(state.clone(), task_id.clone(), stream);
    tracing::info!(workflow = %task_id, %kind, %model, by = %caller.subject, "workflow started");
    Ok(Started {
        url: format!("{}/workflows/{task_id}", state.public_url),
        id: task_id,
        state: "submitted".into(),
    })
}

/// Creates the workflow row from its request, once.
async fn ensure_workflow(
    conn: &mut PgConnection,
    task_id: &str,
    request_id: uuid::Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO control.workflows (id, request_id, kind, model, version, goal, requested_by)
         SELECT $1, r.id, r.goal->>'goal', r.goal->>'model', (r.goal->>'version')::int,
                r.goal, r.requested_by
         FROM control.workflow_requests r WHERE r.id = $2
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(task_id)
    .bind(request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores one orchestrator delta (once, by its eventId) and what it changes.
/// Returns the new event's id, or None for a redelivery.
pub async fn ingest(
    state: &AppState,
    workflow: &str,
    delta: &Value,
) -> Result<Option<i64>, Problem> {
    let kind = delta["type"].as_str().unwrap_or("unknown").to_owned();
    let source_id = delta["eventId"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| delta["seq"].as_i64().map(|s| format!("{workflow}:{s}")));
    // Every delta comes twice (stream and push): a redelivery is dropped
    // here without queueing behind the writer lock below.
    let known: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM control.events WHERE source_event_id = $1")
            .bind(&source_id)
            .fetch_optional(&state.pool)
            .await?;
    if known.is_some() {
        return Ok(None);
    }
    let mut tx = state.pool.begin().await?;
    // Events commit in id order (one writer at a time), so a reader that
    // has seen id N has seen everything below it: Last-Event-ID is exact.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('control.events'))")
        .execute(&mut *tx)
        .await?;
    // Checked under the lock rather than ON CONFLICT, which would spend a
    // sequence number on every redelivery and leave gaps in the ids.
    let seen: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM control.events WHERE source_event_id = $1")
            .bind(&source_id)
            .fetch_optional(&mut *tx)
            .await?;
    if seen.is_some() {
        return Ok(None);
    }
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO control.events (workflow, source_event_id, kind, body)
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM control.workflows WHERE id = $1)
         RETURNING id",
    )
    .bind(workflow)
    .bind(&source_id)
    .bind(&kind)
    .bind(delta)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((event_id,)) = inserted else {
        return Ok(None);
    };
    apply(&mut tx, workflow, &kind, delta).await?;
    if kind == "mcp-call" {
        // The tool calls the agents made for this workflow join the audit
        // log beside people's actions (the MCP servers keep their own
        // per-call rows too; this is the workflow's view of them).
        let call = &delta["call"];
        let agent = sqlx::query_scalar::<_, Option<String>>(
            "SELECT agent FROM control.graph_nodes WHERE workflow = $1 AND node = $2",
        )
        .bind(workflow)
        .bind(delta["node"].as_str().unwrap_or_default())
        .fetch_optional(&mut *tx)
        .await?
        .flatten()
        .unwrap_or_else(|| "agent".to_owned());
        let ok = call["ok"].as_bool().unwrap_or(false);
        audit::append(
            &mut tx,
            &Entry {
                actor: &format!("agent:{agent}"),
                action: "tool-call",
                target: Some(&format!(
                    "{}/{}",
                    call["server"].as_str().unwrap_or("?"),
                    call["tool"].as_str().unwrap_or("?")
                )),
                outcome: if ok { Outcome::Ok } else { Outcome::Failed },
                detail: json!({"workflow": workflow, "node": delta["node"], "duration_ms": call["durationMs"], "error": call["error"]}),
            },
        )
        .await?;
    }
    if kind == "approval-refused" {
        // The orchestrator refused an answer sent to it (perhaps straight
        // over A2A): it belongs in the audit log like our own refusals.
        audit::append(
            &mut tx,
            &Entry {
                actor: "orchestrator",
                action: "approval-refused",
                target: Some(workflow),
                outcome: Outcome::Refused,
                detail: json!({"reason": delta["reason"], "text": delta["text"]}),
            },
        )
        .await?;
    }
    if let Some(seq) = delta["seq"].as_i64() {
        sqlx::query(
            "UPDATE control.workflows SET last_seq = greatest(last_seq, $2), updated_at = now() WHERE id = $1",
        )
        .bind(workflow)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(EVENTS_CHANNEL)
        .bind(event_id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if matches!(
        kind.as_str(),
        "gate-opened" | "notification" | "workflow-finished"
    ) {
        super::notify::send(state, workflow, delta).await;
    }
    Ok(Some(event_id))
}

/// What one delta changes in the graph, gates and workflow state.
async fn apply(
    tx: &mut PgConnection,
    workflow: &str,
    kind: &str,
    delta: &Value,
) -> sqlx::Result<()> {
    let node = delta["node"].as_str();
    match kind {
        "workflow-planned" => {
            let plan = &delta["plan"];
            sqlx::query(
                "UPDATE control.workflows SET plan = $2, summary = $3, state = 'working' WHERE id = $1",
            )
            .bind(workflow)
            .bind(plan)
            .bind(delta["text"].as_str())
            .execute(&mut *tx)
            .await?;
            for n in plan["nodes"].as_array().into_iter().flatten() {
                upsert_node(tx, workflow, n).await?;
            }
        }
        "node-added" => upsert_node(tx, workflow, &delta["node"]).await?,
        "node-state" => {
            // A late delta cannot reopen a node of a workflow that ended.
            sqlx::query(
                "UPDATE control.graph_nodes SET state = $3, error = $4, updated_at = now()
                 WHERE workflow = $1 AND node = $2
                   AND NOT ($3 IN ('pending', 'submitted', 'working', 'input-required')
                            AND EXISTS (SELECT 1 FROM control.workflows w
                                        WHERE w.id = $1 AND w.state = ANY($5)))",
            )
            .bind(workflow)
            .bind(node)
            .bind(delta["state"].as_str().unwrap_or("unknown"))
            .bind(delta["error"].as_str())
            .bind(FINAL_STATES)
            .execute(&mut *tx)
            .await?;
        }
        "node-progress" => {
            sqlx::query(
                "UPDATE control.graph_nodes SET progress = $3, updated_at = now() WHERE workflow = $1 AND node = $2",
            )
            .bind(workflow)
            .bind(node)
            .bind(delta["progress"].as_str().or(delta["text"].as_str()))
            .execute(&mut *tx)
            .await?;
        }
        "node-task" => {
            sqlx::query(
                "UPDATE control.graph_nodes SET task_id = $3, agent = coalesce($4, agent), updated_at = now()
                 WHERE workflow = $1 AND node = $2",
            )
            .bind(workflow)
            .bind(node)
            .bind(delta["task"].as_str())
            .bind(delta["agent"].as_str())
            .execute(&mut *tx)
            .await?;
        }
        "gate-opened" => {
            let expires = delta["expires_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc));
            sqlx::query(
                "INSERT INTO control.gates (workflow, gate, node, description, role, requested_by, evidence, expires_at)
                 SELECT $1, $2, $3, $4, $5, w.requested_by, $6, $7 FROM control.workflows w WHERE w.id = $1
                 ON CONFLICT (workflow, gate) DO UPDATE SET state = 'open', node = $3, description = $4,
                     role = $5, evidence = $6, expires_at = $7, decided_by = NULL, comment = NULL,
                     decided_at = NULL, opened_at = now()",
            )
            .bind(workflow)
            .bind(delta["gate"].as_str().unwrap_or_default())
            .bind(node.unwrap_or_default())
            .bind(delta["description"].as_str().unwrap_or_default())
            .bind(delta["role"].as_str().unwrap_or("approver"))
            .bind(&delta["evidence"])
            .bind(expires)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE control.workflows SET state = 'input-required' WHERE id = $1")
                .bind(workflow)
                .execute(&mut *tx)
                .await?;
            // The orchestrator reports a gate through its own delta, not as a
            // node state, so the gate's node takes the A2A state a waiting
            // task has: the graph then shows where the workflow waits.
            set_gate_node_state(tx, workflow, node, "input-required").await?;
        }
        "gate-decided" => {
            let decision = match delta["decision"].as_str() {
                Some("approve") => "approved",
                Some("reject") => "rejected",
                Some("expired") => "expired",
                _ => "decided",
            };
            sqlx::query(
                "UPDATE control.gates SET state = $3, decided_by = coalesce($4, decided_by),
                     comment = coalesce($5, comment), decided_at = now()
                 WHERE workflow = $1 AND gate = $2",
            )
            .bind(workflow)
            .bind(delta["gate"].as_str().unwrap_or_default())
            .bind(decision)
            .bind(delta["approver"].as_str())
            .bind(delta["comment"].as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE control.workflows SET state = 'working' WHERE id = $1 AND state = 'input-required'")
                .bind(workflow)
                .execute(&mut *tx)
                .await?;
            let node_state = if decision == "approved" {
                "completed"
            } else {
                "rejected"
            };
            set_gate_node_state(tx, workflow, node, node_state).await?;
        }
        "workflow-finished" => {
            sqlx::query("UPDATE control.workflows SET state = $2 WHERE id = $1")
                .bind(workflow)
                .bind(delta["state"].as_str().unwrap_or("failed"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE control.gates SET state = 'closed' WHERE workflow = $1 AND state = 'open'",
            )
            .bind(workflow)
            .execute(&mut *tx)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Moves a gate's node while it is still where the gate left it; a later
/// node state from the orchestrator wins.
async fn set_gate_node_state(
    tx: &mut PgConnection,
    workflow: &str,
    node: Option<&str>,
    state: &str,
) -> sqlx::Result<()> {
    let Some(node) = node else { return Ok(()) };
    sqlx::query(
        "UPDATE control.graph_nodes SET state = $3, updated_at = now()
         WHERE workflow = $1 AND node = $2 AND kind = 'gate' AND state IN ('pending', 'input-required')",
    )
    .bind(workflow)
    .bind(node)
    .bind(state)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn upsert_node(tx: &mut PgConnection, workflow: &str, n: &Value) -> sqlx::Result<()> {
    let Some(id) = n["id"].as_str() else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO control.graph_nodes (workflow, node, title, kind, agent, skill, why)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (workflow, node) DO UPDATE SET title = $3, kind = $4, agent = $5, skill = $6, why = $7",
    )
    .bind(workflow)
    .bind(id)
    .bind(n["title"].as_str().unwrap_or(id))
    .bind(n["kind"].as_str().unwrap_or("task"))
    .bind(n["agent"].as_str())
    .bind(n["skill"].as_str())
    .bind(n["why"].as_str())
    .execute(&mut *tx)
    .await?;
    for dep in n["depends_on"].as_array().into_iter().flatten() {
        if let Some(dep) = dep.as_str() {
            sqlx::query(
                "INSERT INTO control.graph_edges (workflow, source, target) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(workflow)
            .bind(dep)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// `POST /api/hooks/orchestrator`: the orchestrator's push notifications,
/// authenticated by the per-workflow token the control plane gave it.
#[utoipa::path(post, path = "/api/hooks/orchestrator", tag = "hooks", description = "The orchestrator's A2A push notifications; `A2A-Notification-Token` authenticates them.", responses((status = 204, description = "stored"), (status = 401, description = "unknown token")))]
pub async fn push_hook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, Problem> {
    let token = headers
        .get("A2A-Notification-Token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Problem::unauthorized("missing A2A-Notification-Token"))?;
    let request: Option<(uuid::Uuid, Option<String>)> = sqlx::query_as(
        "SELECT id, task_id FROM control.workflow_requests WHERE push_token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&state.pool)
    .await?;
    let Some((request_id, bound_task)) = request else {
        return Err(Problem::unauthorized("unknown notification token"));
    };
    let item: StreamResponse = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("not an A2A stream event: {e}")))?;
    let task = task_of(&item)
        .ok_or_else(|| Problem::bad_request("the event names no task"))?
        .to_owned();
    match bound_task {
        Some(bound) if bound != task => {
            return Err(Problem::forbidden(
                "this notification token belongs to another task",
            ));
        }
        Some(_) => {}
        None => {
            // The push came before the stream's first event was handled.
            let mut tx = state.pool.begin().await?;
            sqlx::query(
                "UPDATE control.workflow_requests SET task_id = $2 WHERE id = $1 AND task_id IS NULL",
            )
            .bind(request_id)
            .bind(&task)
            .execute(&mut *tx)
            .await?;
            ensure_workflow(&mut tx, &task, request_id).await?;
            tx.commit().await?;
        }
    }
    for delta in deltas_of(&item) {
        ingest(&state, &task, delta).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// What the orchestrator reports of a workflow someone started straight
/// over A2A (the monitoring agent, a CI job).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportedWorkflow {
    /// The orchestrator's task id: the workflow's id.
    pub task_id: String,
    /// The checked goal, as the orchestrator keeps it.
    #[schema(value_type = Object)]
    pub goal: Value,
    /// The service subject that sent the goal.
    pub requested_by: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportAccepted {
    /// The token the orchestrator's pushes for this workflow carry.
    pub push_token: String,
    pub url: String,
}

/// The requester recorded for a workflow the orchestrator reported: a
/// service, never a person, so a person can approve its gates.
const SERVICE_REQUESTER: &str = "service:";

fn check_report(report: &ReportedWorkflow) -> Result<(), Problem> {
    let plain = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c))
    };
    if !plain(&report.task_id, 128) {
        return Err(Problem::bad_request(
            "task_id must be 1-128 characters of letters, digits and -_.:@",
        ));
    }
    if !plain(&report.requested_by, 128) {
        return Err(Problem::bad_request(
            "requested_by must be 1-128 characters of letters, digits and -_.:@",
        ));
    }
    let kind = report.goal["goal"].as_str();
    if !matches!(kind, Some("deploy" | "retrain" | "rollback")) {
        return Err(Problem::bad_request(
            "goal.goal must be deploy, retrain or rollback",
        ));
    }
    if !report.goal["model"].as_str().is_some_and(|m| plain(m, 128)) {
        return Err(Problem::bad_request("goal.model must name a model"));
    }
    Ok(())
}

/// `POST /api/hooks/orchestrator/workflows`: the orchestrator reports a
/// workflow it did not get from the console, before its first event, and
/// gets the push token its events will carry. A repeat (the orchestrator
/// restarted before it saved the push config) gets a fresh token.
#[utoipa::path(post, path = "/api/hooks/orchestrator/workflows", tag = "hooks", description = "The orchestrator reports a workflow started outside the console (service token, scope `workflows:report`).", request_body = ReportedWorkflow, responses((status = 201, body = ReportAccepted), (status = 400, description = "not a valid report"), (status = 401, description = "no valid service token"), (status = 403, description = "not the orchestrator"), (status = 409, description = "the console started this workflow")))]
pub async fn report_hook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<ReportAccepted>), Problem> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Problem::unauthorized("a service token is required"))?;
    let claims = state
        .service_tokens
        .verify(bearer.trim())
        .await
        .map_err(|e| Problem::unauthorized(format!("the service token does not verify: {e}")))?;
    if claims.sub != "orchestrator"
        || !claims.has_scope(mlops_service_auth::access::scope::WORKFLOWS_REPORT)
    {
        return Err(Problem::forbidden(
            "only the orchestrator, with scope workflows:report, reports workflows",
        ));
    }
    let report: ReportedWorkflow = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("not a workflow report: {e}")))?;
    check_report(&report)?;
    let requester = format!("{SERVICE_REQUESTER}{}", report.requested_by);
    let push_token = random_token();
    let mut tx = state.pool.begin().await?;
    let known: Option<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT id, requested_by FROM control.workflow_requests WHERE task_id = $1 FOR UPDATE",
    )
    .bind(&report.task_id)
    .fetch_optional(&mut *tx)
    .await?;
    match known {
        Some((id, by)) if by.starts_with(SERVICE_REQUESTER) => {
            sqlx::query("UPDATE control.workflow_requests SET push_token_hash = $2 WHERE id = $1")
                .bind(id)
                .bind(token_hash(&push_token))
                .execute(&mut *tx)
                .await?;
        }
        Some(_) => {
            return Err(Problem::conflict(
                "the console started this workflow and already follows it",
            ));
        }
        None => {
            let request_id = uuid::Uuid::now_v7();
            sqlx::query(
                "INSERT INTO control.workflow_requests (id, push_token_hash, goal, requested_by, task_id)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(request_id)
            .bind(token_hash(&push_token))
            .bind(&report.goal)
            .bind(&requester)
            .bind(&report.task_id)
            .execute(&mut *tx)
            .await?;
            ensure_workflow(&mut tx, &report.task_id, request_id).await?;
            audit::append(
                &mut tx,
                &Entry {
                    actor: &requester,
                    action: "start-workflow",
                    target: Some(&report.task_id),
                    outcome: Outcome::Ok,
                    detail: json!({
                        "kind": report.goal["goal"], "model": report.goal["model"],
                        "version": report.goal["version"], "via": "a2a",
                        "reason": report.goal["reason"],
                    }),
                },
            )
            .await?;
        }
    }
    tx.commit().await?;
    tracing::info!(workflow = %report.task_id, by = %requester, "workflow reported by the orchestrator");
    Ok((
        StatusCode::CREATED,
        Json(ReportAccepted {
            push_token,
            url: format!("{}/workflows/{}", state.public_url, report.task_id),
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/workflows`
#[utoipa::path(get, path = "/api/workflows", tag = "workflows", params(ListQuery), responses((status = 200, body = Vec<WorkflowRow>)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<WorkflowRow>>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let rows = sqlx::query_as(
        "SELECT id, kind, model, version, requested_by, state, summary, created_at, updated_at
         FROM control.workflows WHERE ($1::text IS NULL OR state = $1)
         ORDER BY created_at DESC LIMIT $2",
    )
    .bind(&q.state)
    .bind(q.limit.unwrap_or(50).clamp(1, 500))
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

/// `GET /api/models/{model}/versions/{version}/releases`: every workflow
/// that released this version, newest first, with its checks' outcomes
/// and its gates' decisions: the deployment end of the version's lineage.
#[utoipa::path(get, path = "/api/models/{model}/versions/{version}/releases", tag = "models", params(("model" = String, Path), ("version" = u32, Path)), responses((status = 200, description = "the version's releases with their checks and decisions")))]
pub async fn releases_of_version(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((model, version)): Path<(String, i32)>,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let workflows: Vec<WorkflowRow> = sqlx::query_as(
        "SELECT id, kind, model, version, requested_by, state, summary, created_at, updated_at
         FROM control.workflows WHERE model = $1 AND version = $2
         ORDER BY created_at DESC LIMIT 100",
    )
    .bind(&model)
    .bind(version)
    .fetch_all(&state.pool)
    .await?;
    let ids: Vec<String> = workflows.iter().map(|w| w.id.clone()).collect();
    #[derive(sqlx::FromRow)]
    struct Step {
        workflow: String,
        node: String,
        title: String,
        agent: Option<String>,
        skill: Option<String>,
        state: String,
        progress: Option<String>,
        error: Option<String>,
    }
    #[derive(sqlx::FromRow)]
    struct Decision {
        workflow: String,
        gate: String,
        state: String,
        decided_by: Option<String>,
        comment: Option<String>,
    }
    let steps: Vec<Step> = sqlx::query_as(
        "SELECT workflow, node, title, agent, skill, state, progress, error
         FROM control.graph_nodes WHERE workflow = ANY($1) AND kind = 'task' ORDER BY node",
    )
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let decisions: Vec<Decision> = sqlx::query_as(
        "SELECT workflow, gate, state, decided_by, comment FROM control.gates WHERE workflow = ANY($1) ORDER BY gate",
    )
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let releases: Vec<Value> = workflows
        .into_iter()
        .map(|w| {
            let steps: Vec<Value> = steps
                .iter()
                .filter(|n| n.workflow == w.id)
                .map(|n| {
                    json!({"node": n.node, "title": n.title, "agent": n.agent, "skill": n.skill, "state": n.state, "detail": n.error.clone().or(n.progress.clone())})
                })
                .collect();
            let gates: Vec<Value> = decisions
                .iter()
                .filter(|g| g.workflow == w.id)
                .map(|g| json!({"gate": g.gate, "state": g.state, "decided_by": g.decided_by, "comment": g.comment}))
                .collect();
            json!({"workflow": w, "steps": steps, "gates": gates})
        })
        .collect();
    Ok(Json(
        json!({"model": model, "version": version, "releases": releases}),
    ))
}

pub async fn load_detail(pool: &PgPool, id: &str) -> Result<WorkflowDetail, Problem> {
    let row: Option<(WorkflowRow, Value)> = sqlx::query_as::<_, WorkflowRow>(
        "SELECT id, kind, model, version, requested_by, state, summary, created_at, updated_at
         FROM control.workflows WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .map(|w| (w, Value::Null));
    let Some((workflow, _)) = row else {
        return Err(Problem::not_found(format!("no workflow {id}")));
    };
    let goal: (Value,) = sqlx::query_as("SELECT goal FROM control.workflows WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    let nodes = sqlx::query_as(
        "SELECT node, title, kind, agent, skill, state, task_id, why, progress, error
         FROM control.graph_nodes WHERE workflow = $1 ORDER BY node",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let edges = sqlx::query_as(
        "SELECT source, target FROM control.graph_edges WHERE workflow = $1 ORDER BY source, target",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let gates = sqlx::query_as(
        "SELECT workflow, gate, node, description, role, requested_by, evidence, expires_at, state, decided_by, comment
         FROM control.gates WHERE workflow = $1 ORDER BY opened_at",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(WorkflowDetail {
        workflow,
        goal: goal.0,
        nodes,
        edges,
        gates,
    })
}

/// `GET /api/workflows/{id}/nodes/{node}/activity`: what one node did, in
/// order: its A2A task, progress, the MCP calls it made (server, tool,
/// outcome, time), artifacts, and its final output.
#[utoipa::path(get, path = "/api/workflows/{id}/nodes/{node}/activity", tag = "workflows", params(("id" = String, Path), ("node" = String, Path)), responses((status = 200, description = "the node's events, oldest first"), (status = 404, description = "no such workflow")))]
pub async fn node_activity(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, node)): Path<(String, String)>,
) -> Result<Json<Vec<Value>>, Problem> {
    caller.require(&state, Action::Read, Some(&id)).await?;
    let rows: Vec<(i64, String, Value, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT e.id, e.kind, e.body, e.created_at FROM control.events e
         WHERE e.workflow = $1 AND e.body->>'node' = $2 ORDER BY e.id LIMIT 500",
    )
    .bind(&id)
    .bind(&node)
    .fetch_all(&state.pool)
    .await?;
    if rows.is_empty() {
        let known: Option<(String,)> =
            sqlx::query_as("SELECT id FROM control.workflows WHERE id = $1")
                .bind(&id)
                .fetch_optional(&state.pool)
                .await?;
        if known.is_none() {
            return Err(Problem::not_found(format!("no workflow {id}")));
        }
    }
    Ok(Json(
        rows.into_iter()
            .map(|(seq, kind, mut body, at)| {
                // The envelope is in the row; keep the body to what happened.
                // `emitted_at` is when the orchestrator recorded the event,
                // `at` when the control plane stored it.
                let emitted_at = body.get("at").cloned().unwrap_or(Value::Null);
                if let Some(map) = body.as_object_mut() {
                    for key in ["type", "node", "seq", "eventId", "at"] {
                        map.remove(key);
                    }
                }
                json!({"id": seq, "kind": kind, "at": at, "emitted_at": emitted_at, "body": body})
            })
            .collect(),
    ))
}

/// `GET /api/workflows/{id}`
#[utoipa::path(get, path = "/api/workflows/{id}", tag = "workflows", params(("id" = String, Path)), responses((status = 200, body = WorkflowDetail), (status = 404, description = "no such workflow")))]
pub async fn detail(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WorkflowDetail>, Problem> {
    caller.require(&state, Action::Read, Some(&id)).await?;
    Ok(Json(load_detail(&state.pool, &id).await?))
}

/// `POST /api/workflows/{id}/cancel`: own workflows, or any for oncall and
/// admin. The orchestrator cancels every running delegated task.
#[utoipa::path(post, path = "/api/workflows/{id}/cancel", tag = "workflows", params(("id" = String, Path)), responses((status = 200, description = "canceled"), (status = 403, description = "not yours"), (status = 409, description = "already ended")))]
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    caller.require(&state, Action::Cancel, Some(&id)).await?;
    let detail = load_detail(&state.pool, &id).await?;
    let anyone = caller
        .roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Oncall));
    if detail.workflow.requested_by != caller.subject && !anyone {
        let reason = format!(
            "{} may cancel only their own workflows; {id} was requested by {}",
            caller.subject, detail.workflow.requested_by
        );
        audit::record_or_log(
            &state.pool,
            &Entry {
                actor: &caller.subject,
                action: "cancel",
                target: Some(&id),
                outcome: Outcome::Refused,
                detail: json!({"reason": reason}),
            },
        )
        .await;
        return Err(Problem::forbidden(reason));
    }
    if FINAL_STATES.contains(&detail.workflow.state.as_str()) {
        return Err(Problem::conflict(format!(
            "workflow {id} has ended ({})",
            detail.workflow.state
        )));
    }
    let client = state.orchestrator.client().await?;
    let task = client
        .cancel(&CancelTaskRequest {
            id: id.clone(),
            metadata: None,
            tenant: None,
        })
        .await
        .map_err(|e| Problem::bad_gateway(format!("the orchestrator did not cancel: {e}")))?;
    audit::record(
        &state.pool,
        &Entry {
            actor: &caller.subject,
            action: "cancel",
            target: Some(&id),
            outcome: Outcome::Ok,
            detail: json!({}),
        },
    )
    .await?;
    // The orchestrator confirmed the cancel: record what it means for the
    // graph now. Its own deltas for it may never come (once its A2A task is
    // canceled it takes no further updates), and if they do they change
    // nothing more.
    if task.status.state == TaskState::Canceled {
        // Read again: nodes may have started since the check above.
        let detail = load_detail(&state.pool, &id).await?;
        for node in detail
            .nodes
            .iter()
            .filter(|n| matches!(n.state.as_str(), "submitted" | "working" | "input-required"))
        {
            let delta = json!({
                "type": "node-state", "node": node.node, "state": "canceled",
                "eventId": format!("{id}:cancel:{}", node.node),
                "text": format!("{}: canceled with its workflow", node.title),
            });
            ingest(&state, &id, &delta).await?;
        }
        let finished = json!({
            "type": "workflow-finished", "state": "canceled",
            "eventId": format!("{id}:cancel"),
            "text": format!("canceled by {}", caller.subject),
        });
        ingest(&state, &id, &finished).await?;
    }
    // Anything else the orchestrator still sends arrives by push and
    // stream; a subscribe picks up what we would otherwise miss.
    if let Ok(stream) = client
        .subscribe(&SubscribeToTaskRequest {
            id: id.clone(),
            tenant: None,
        })
        .await
    {
        follow(state.clone(), id.clone(), stream);
    }
    Ok(Json(
        json!({"id": id, "state": format!("{:?}", task.status.state)}),
    ))
}

/// Sends a gate answer to the orchestrator and follows the resumed stream.
/// Err carries the orchestrator's refusal.
pub async fn answer_gate(
    state: &Arc<AppState>,
    workflow: &str,
    approval_token: &str,
) -> Result<(), String> {
    let client = state.orchestrator.client().await.map_err(|p| p.detail)?;
    let request = SendMessageRequest {
        message: message(
            vec![Part::data(json!({ "approval_token": approval_token }))],
            Some(workflow),
            None,
        ),
        configuration: None,
        metadata: None,
        tenant: None,
    };
    let stream = client.stream(&request).await.map_err(|e| e.to_string())?;
    let mut stream = stream.peekable();
    if let Some(Err(error)) = std::pin::Pin::new(&mut stream).peek().await {
        return Err(error.to_string());
    }
    follow(state.clone(), workflow.to_owned(), stream.boxed());
    Ok(())
}
