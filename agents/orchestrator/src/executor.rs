//! The orchestrator's A2A face: a workflow is its A2A task.
//!
//! A new task is a goal: it is checked, planned, stored, and its driver
//! started; the task then streams the workflow's outbox as status updates
//! whose metadata `graphDelta` is the event (node added, state changed,
//! progress, artifact, MCP call, gate). At a gate the task goes to
//! `TASK_STATE_INPUT_REQUIRED` and the stream ends; an answer on the task
//! must carry a signed approval token, and resumes the stream once the
//! decision is recorded. Anything else is refused with a clear error and
//! recorded as an `approval-refused` event.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use mlops_agent_kit::a2a::{
    A2AError, Message, Part, PartContent, Role, StreamResponse, TaskState, TaskStatus,
    TaskStatusUpdateEvent,
};
use mlops_agent_kit::a2a_server::{AgentExecutor, ExecutorContext};
use mlops_agent_kit::{SkillInput, TaskEvents, parse_input, whole_numbers_as_integers};
use mlops_service_auth::CALLER_HEADER;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::engine::{Engine, FollowerGuard};
use crate::goal::{Goal, GoalRequest, RetrainRequest};
use crate::plan::plan;
use crate::store::{NewWorkflow, state};
use crate::{HANDLE_RETRAINING, ORCHESTRATE, PLAN_DEPLOYMENT};

/// The service param that marks the orchestrator's own in-process resume.
pub const RESUME_PARAM: &str = "x-mlops-orchestrator-resume";

#[derive(Clone)]
pub struct WorkflowExecutor {
    engine: Arc<Engine>,
    definition: Arc<mlops_agent_kit::AgentDefinition>,
    /// Known only to this process: a resume carrying it is our own.
    resume_secret: String,
}

type Events = BoxStream<'static, Result<StreamResponse, A2AError>>;

fn once(items: Vec<StreamResponse>) -> Events {
    futures::stream::iter(items.into_iter().map(Ok)).boxed()
}

impl WorkflowExecutor {
    pub fn new(engine: Arc<Engine>) -> Self {
        WorkflowExecutor {
            engine,
            definition: Arc::new(crate::definition()),
            resume_secret: Uuid::new_v4().to_string(),
        }
    }

    pub fn resume_secret(&self) -> &str {
        &self.resume_secret
    }

    async fn start(self, ctx: ExecutorContext) -> Events {
        let events = TaskEvents::new(ctx.task_id.clone(), ctx.context_id.clone());
        let submitted = events.submitted(ctx.stored_task.as_ref(), ctx.message.as_ref());
        let Some(message) = ctx.message.as_ref() else {
            return once(vec![
                submitted,
                events.rejected("no message: send the goal as a data part"),
            ]);
        };
        let parsed = match SkillInput::<Value>::parse(&self.definition, message) {
            Ok(parsed) => parsed,
            Err(reason) => return once(vec![submitted, events.rejected(&reason)]),
        };
        let input = whole_numbers_as_integers(parsed.input);
        let policy = self.engine.policy.clone();
        let mut extra = Vec::new();
        let request: Result<GoalRequest, String> = match parsed.skill.as_str() {
            HANDLE_RETRAINING => parse_input::<RetrainRequest>(input)
                .map(GoalRequest::Retrain)
                .map_err(|e| e.to_string()),
            ORCHESTRATE | PLAN_DEPLOYMENT => {
                parse_input::<GoalRequest>(input).map_err(|e| e.to_string())
            }
            other => Err(format!("unknown skill {other:?}")),
        };
        let goal = match request.and_then(|r| r.check(&policy)) {
            Ok(goal) => goal,
            Err(reason) => return once(vec![submitted, events.rejected(&reason)]),
        };
        if let Goal::Retrain {
            model,
            reason,
            drift_report_id,
            request_id,
            requested_by,
        } = &goal
        {
            let report = message
                .parts
                .iter()
                .filter(|p| {
                    p.metadata
                        .as_ref()
                        .and_then(|m| m.get("name"))
                        .and_then(Value::as_str)
                        == Some("drift-report")
                })
                .find_map(|p| match &p.content {
                    PartContent::Data(data) => Some(data.clone()),
                    _ => None,
                });
            extra.push(events.artifact(
                "retraining-request",
                json!({
                    "model": model, "reason": reason, "drift_report_id": drift_report_id,
                    "request_id": request_id, "requested_by": requested_by,
                    "drift_report_attached": report.is_some(),
                    "gate": format!("approve-retraining-{model}"),
                }),
                &format!("retraining of {model} requested: {reason}"),
            ));
            if let Some(report) = report {
                extra.push(events.artifact(
                    "drift-report",
                    report,
                    "the drift report behind the request",
                ));
            }
        }
        let catalog = match self.engine.catalog().await {
            Ok(catalog) => catalog,
            Err(error) => {
                return once(vec![
                    submitted,
                    events.failed(&format!("cannot read the agent registry: {error}")),
                ]);
            }
        };
        let planned = match plan(&goal, &policy, &catalog) {
            Ok(planned) => planned,
            Err(error) => {
                return once(vec![submitted, events.failed(&format!("no plan: {error}"))]);
            }
        };
        if parsed.skill == PLAN_DEPLOYMENT {
            let mut items = vec![submitted];
            items.push(events.artifact(
                "plan",
                planned.published(),
                &format!("plan: {}", goal.summary()),
            ));
            items.push(events.completed(&format!(
                "planned {} nodes for: {}",
                planned.nodes.len(),
                goal.summary()
            )));
            return once(items);
        }
        let mut facts = serde_json::Map::new();
        if let Goal::Deploy {
            holdout,
            training_data,
            ..
        } = &goal
        {
            if let Some(h) = holdout {
                facts.insert("holdout".into(), json!(h));
            }
            if let Some(t) = training_data {
                facts.insert("training_data".into(), json!(t));
            }
        }
        let workflow = Uuid::now_v7();
        let created = self
            .engine
            .store
            .create(
                NewWorkflow {
                    id: workflow,
                    task_id: &ctx.task_id,
                    context_id: &ctx.context_id,
                    goal: json!(goal),
                    policy: json!(policy),
                    facts: Value::Object(facts),
                    plan: &planned,
                },
                &self.engine.owner,
            )
            .await;
        match created {
            Ok(true) => {}
            Ok(false) => {}
            Err(error) => {
                return once(vec![
                    submitted,
                    events.failed(&format!("cannot store the workflow: {error}")),
                ]);
            }
        }
        let Ok(Some(stored)) = self.engine.store.workflow_by_task(&ctx.task_id).await else {
            return once(vec![
                submitted,
                events.failed("the workflow vanished after it was stored"),
            ]);
        };
        tracing::info!(workflow = %stored.id, task = %ctx.task_id, goal = %goal.summary(), nodes = planned.nodes.len(), "workflow planned");
        // Before its first delta leaves the outbox, so the console sees all
        // of it. A console that is down does not stop the release.
        let caller = ctx
            .service_params
            .get(CALLER_HEADER)
            .and_then(|v| v.first())
            .map_or("unknown", String::as_str);
        match self
            .engine
            .console
            .ensure_reported(&ctx.task_id, &json!(goal), caller)
            .await
        {
            Ok(true) => {
                tracing::info!(task = %ctx.task_id, %caller, "reported the workflow to the control plane")
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(task = %ctx.task_id, %error, "the console will not show this workflow")
            }
        }
        let guard = self.engine.follow(stored.id);
        self.engine.spawn_driver(stored.id);
        let mut head = vec![submitted];
        head.extend(extra);
        let follow = follower(self.engine.clone(), stored.id, events, guard).await;
        futures::stream::iter(head.into_iter().map(Ok))
            .chain(follow)
            .boxed()
    }

    async fn answer(self, ctx: ExecutorContext) -> Events {
        let events = TaskEvents::new(ctx.task_id.clone(), ctx.context_id.clone());
        let wf = match self.engine.store.workflow_by_task(&ctx.task_id).await {
            Ok(Some(wf)) => wf,
            Ok(None) => {
                return futures::stream::iter([Err(A2AError::task_not_found(&ctx.task_id))])
                    .boxed();
            }
            Err(error) => {
                return futures::stream::iter([Err(A2AError::internal(error.to_string()))]).boxed();
            }
        };
        let ours = ctx
            .service_params
            .get(RESUME_PARAM)
            .is_some_and(|v| v.iter().any(|s| s == &self.resume_secret));
        if !ours {
            // Only an approval token decides; whatever else arrives is
            // refused (and recorded) by `decide`.
            let token = ctx.message.as_ref().and_then(|m| {
                m.parts.iter().find_map(|p| match &p.content {
                    PartContent::Data(data) => data
                        .get("approval_token")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    _ => None,
                })
            });
            if let Err(refusal) = self.engine.decide(&ctx.task_id, token.as_deref()).await {
                return futures::stream::iter([Err(A2AError::invalid_params(refusal.0))]).boxed();
            }
        }
        let guard = self.engine.follow(wf.id);
        self.engine.spawn_driver(wf.id);
        follower(self.engine.clone(), wf.id, events, guard).await
    }
}

impl AgentExecutor for WorkflowExecutor {
    fn execute(&self, ctx: ExecutorContext) -> Events {
        let this = self.clone();
        let span = tracing::info_span!("workflow-task", task = %ctx.task_id);
        let work = async move {
            // A task with a workflow is answered; any other is a new goal.
            match this.engine.store.workflow_by_task(&ctx.task_id).await {
                Ok(Some(_)) => this.answer(ctx).await,
                Ok(None) => this.start(ctx).await,
                Err(error) => {
                    futures::stream::iter([Err(A2AError::internal(error.to_string()))]).boxed()
                }
            }
        };
        futures::stream::once(tracing::Instrument::instrument(work, span))
            .flatten()
            .boxed()
    }

    fn cancel(&self, ctx: ExecutorContext) -> Events {
        let engine = self.engine.clone();
        let events = TaskEvents::new(ctx.task_id.clone(), ctx.context_id.clone());
        futures::stream::once(async move {
            let canceled = engine
                .cancel(&ctx.task_id)
                .await
                .map_err(|error| A2AError::internal(format!("cancel failed: {error}")))?;
            let mut item = events
                .canceled("canceled on request; every running delegated task was asked to stop");
            // The task is canceled before this runs and takes no update but
            // this last one, so the cancel's own graph deltas (nodes
            // canceled, the workflow finished) travel on it, together; a
            // follower sending them one by one would be refused.
            let stored = |error: crate::store::StoreError| {
                A2AError::internal(format!("reading the canceled workflow: {error}"))
            };
            if canceled
                && let Some(wf) = engine
                    .store
                    .workflow_by_task(&ctx.task_id)
                    .await
                    .map_err(stored)?
            {
                let batch = engine
                    .store
                    .events_after(wf.id, wf.delivered_seq)
                    .await
                    .map_err(stored)?;
                if let Some(last) = batch.last() {
                    engine
                        .store
                        .delivered(wf.id, last.seq)
                        .await
                        .map_err(stored)?;
                }
                let deltas: Vec<Value> = batch.into_iter().map(|e| e.body).collect();
                if let StreamResponse::StatusUpdate(update) = &mut item {
                    update.metadata =
                        Some(HashMap::from([("graphDeltas".to_owned(), json!(deltas))]));
                }
            }
            Ok(item)
        })
        .boxed()
    }
}

/// What the follower remembers between items.
struct Follow {
    engine: Arc<Engine>,
    workflow: Uuid,
    events: TaskEvents,
    cursor: i64,
    mark: Option<i64>,
    queue: VecDeque<(i64, StreamResponse)>,
    open_gate: Option<Value>,
    done: bool,
    _guard: FollowerGuard,
}

/// Streams the workflow's events after the last delivered one. An event is
/// marked delivered when the next is asked for: by then the SDK has stored
/// and pushed it.
async fn follower(
    engine: Arc<Engine>,
    workflow: Uuid,
    events: TaskEvents,
    guard: FollowerGuard,
) -> Events {
    let delivered = match engine.store.workflow(workflow).await {
        Ok(Some(w)) => w.delivered_seq,
        _ => 0,
    };
    // The gate open at the cursor, from the events so far.
    let mut open_gate = None;
    let mut seq = 0;
    loop {
        let Ok(batch) = engine.store.events_after(workflow, seq).await else {
            break;
        };
        if batch.is_empty() {
            break;
        }
        for event in batch {
            seq = event.seq;
            if event.seq > delivered {
                break;
            }
            match event.body.get("type").and_then(Value::as_str) {
                Some("gate-opened") => open_gate = Some(event.body.clone()),
                Some("gate-decided") | Some("workflow-finished") => open_gate = None,
                _ => {}
            }
        }
        if seq >= delivered {
            break;
        }
    }
    let state = Follow {
        engine,
        workflow,
        events,
        cursor: delivered,
        mark: None,
        queue: VecDeque::new(),
        open_gate,
        done: false,
        _guard: guard,
    };
    futures::stream::unfold(state, |mut s| async move {
        if let Some(mark) = s.mark.take() {
            let _ = s.engine.store.delivered(s.workflow, mark).await;
        }
        loop {
            if let Some((mark, item)) = s.queue.pop_front() {
                s.mark = Some(mark);
                return Some((Ok(item), s));
            }
            if s.done {
                return None;
            }
            let waker = s.engine.waker(s.workflow);
            let notified = waker.notified();
            let batch = match s.engine.store.events_after(s.workflow, s.cursor).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "reading workflow events failed");
                    Vec::new()
                }
            };
            for event in batch {
                s.cursor = event.seq;
                let items = to_stream(&mut s, &event.body);
                let n = items.len();
                for (i, item) in items.into_iter().enumerate() {
                    let mark = if i + 1 == n { event.seq } else { event.seq - 1 };
                    s.queue.push_back((mark, item));
                }
            }
            if s.queue.is_empty() {
                if s.open_gate.is_some() {
                    // Waiting at a gate: the stream ends; an answer resumes it.
                    return None;
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                }
            }
        }
    })
    .boxed()
}

/// One outbox event as A2A stream items.
fn to_stream(s: &mut Follow, body: &Value) -> Vec<StreamResponse> {
    let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or(kind)
        .to_owned();
    let mut items = Vec::new();
    match kind {
        "workflow-planned" => {
            if let Some(plan) = body.get("plan") {
                items.push(s.events.artifact("plan", plan.clone(), &text));
            }
        }
        "gate-opened" => s.open_gate = Some(body.clone()),
        "gate-decided" => s.open_gate = None,
        _ => {}
    }
    let task_state = if kind == "workflow-finished" {
        s.done = true;
        s.open_gate = None;
        let end = body
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or(state::FAILED);
        if let Some(summary) = summary_artifact(body) {
            items.push(s.events.artifact("workflow-outcome", summary, &text));
        }
        crate::engine::a2a_state_of(end)
    } else if s.open_gate.is_some() {
        TaskState::InputRequired
    } else {
        TaskState::Working
    };
    let mut parts = vec![Part::text(text)];
    if task_state == TaskState::InputRequired
        && let Some(gate) = &s.open_gate
    {
        parts.push(Part::data(json!({
            "gate": gate["gate"], "node": gate["node"], "description": gate["description"],
            "role": gate["role"], "expires_at": gate["expires_at"], "evidence": gate["evidence"],
            "answer_with": "a message on this task with a data part {\"approval_token\": <the control plane's signed approval>}",
        })));
    }
    let mut message = Message::new(Role::Agent, parts);
    message.task_id = Some(s.events.task_id.clone());
    message.context_id = Some(s.events.context_id.clone());
    items.push(StreamResponse::StatusUpdate(TaskStatusUpdateEvent {
        task_id: s.events.task_id.clone(),
        context_id: s.events.context_id.clone(),
        status: TaskStatus {
            state: task_state,
            message: Some(message),
            timestamp: Some(chrono::Utc::now()),
        },
        metadata: Some(HashMap::from([("graphDelta".to_owned(), body.clone())])),
    }));
    items
}

fn summary_artifact(body: &Value) -> Option<Value> {
    Some(json!({"state": body.get("state")?, "reason": body.get("text")}))
}
