//! Durable execution of planned workflows.
//!
//! One driver per live workflow runs on the replica holding its lease
//! (`FOR UPDATE SKIP LOCKED`); any replica takes over a workflow whose lease
//! lapsed. The driver derives what to do next from the stored state only,
//! so a restart at any point picks up where the last transaction left off:
//! ready nodes start, working nodes re-attach to their delegated tasks, open
//! gates wait, failures follow the failure policy.
//!
//! Delegation is idempotent: a node's message id and context id are
//! `<workflow>.<node>.<attempt>`, agents refuse a repeated message id, and a
//! task whose id was lost in a crash is found again by its context id.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use mlops_agent_kit::a2a::{
    A2AError, GetTaskRequest, ListTasksRequest, Message, Part, Role, SendMessageRequest,
    StreamResponse, SubscribeToTaskRequest, Task, TaskState,
};
use mlops_agent_kit::client::{AgentClient, AgentDirectory, ClientError, RetryPolicy};
use mlops_agent_kit::{Action, AgentEnv, PgPushConfigStore, Phase};
use mlops_service_auth::{ApprovalClaims, ApprovalDecision, TokenVerifier};
use serde_json::{Value, json};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::console::ConsoleLink;
use crate::goal::Goal;
use crate::plan::{Catalog, NodeKind, PlanNode, rollback_node};
use crate::policy::Policy;
use crate::store::{self, NodeRow, Store, StoreError, WorkflowRow, node_state, state};

const LEASE_SECONDS: i64 = 15;
const TICK: Duration = Duration::from_millis(400);
const DIRECTORY_MAX_AGE: Duration = Duration::from_secs(15);
/// A delegated task lost by its agent (it restarted mid-task) is retried
/// this many times in all.
const MAX_ATTEMPTS: i32 = 3;
/// How long one A2A call may take before it counts as a failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a delegated task's stream may stay silent before the node
/// checks on the task (and on its agent) with `GetTask`.
const STREAM_IDLE: Duration = Duration::from_secs(15);

/// Re-attaches the workflow's A2A task stream (set by the process once its
/// A2A server is up): the task id to resume.
pub type Reattach = Arc<dyn Fn(String) + Send + Sync>;

pub struct Engine {
    pub store: Store,
    /// This replica's lease owner id.
    pub owner: String,
    pub policy: Policy,
    env: AgentEnv,
    directory: tokio::sync::Mutex<Option<(Instant, Arc<AgentDirectory>)>>,
    approvals: TokenVerifier,
    wakers: Mutex<HashMap<Uuid, Arc<Notify>>>,
    drivers: Mutex<HashSet<Uuid>>,
    /// Workflows whose A2A task stream this process is producing now.
    followers: Mutex<HashSet<Uuid>>,
    last_reattach: Mutex<HashMap<Uuid, Instant>>,
    reattach: OnceLock<Reattach>,
    /// Reports workflows started outside the console to the control plane.
    pub console: ConsoleLink,
}

/// What one look at a workflow did.
enum Step {
    /// Committed a transition.
    Acted,
    /// Nothing to do until a node ends, a gate is decided or time passes.
    Idle,
    /// The workflow has ended (or is not this replica's to drive).
    Ended,
}

/// Why an answer at a gate was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// How a delegated task ended, as far as the node is concerned.
enum Delegation {
    Finished(Box<Task>),
    Unreachable(String),
    /// The agent lost the task (it restarted while running it).
    Lost,
    TimedOut,
    Canceled,
}

fn message_id(workflow: Uuid, node: &str, attempt: i32) -> String {
    format!("{workflow}.{node}.{attempt}")
}

fn task_text(task: &Task) -> String {
    task.status
        .message
        .as_ref()
        .and_then(|m| m.text())
        .unwrap_or_default()
        .to_owned()
}

/// A delegated task's artifacts: name → data, plus the result (the last
/// data artifact that is not evidence).
fn task_output(task: &Task) -> Value {
    let mut artifacts = serde_json::Map::new();
    let mut result = Value::Null;
    for artifact in task.artifacts.iter().flatten() {
        let name = artifact
            .name
            .clone()
            .unwrap_or_else(|| artifact.artifact_id.clone());
        let data = artifact.parts.iter().find_map(|p| match &p.content {
            mlops_agent_kit::a2a::PartContent::Data(v) => Some(v.clone()),
            _ => None,
        });
        if let Some(data) = data {
            if name != "evidence" {
                result = data.clone();
            }
            artifacts.insert(name, data);
        }
    }
    json!({"task": task.id, "summary": task_text(task), "artifacts": artifacts, "result": result})
}

/// Follows `path` ("a.b.c") into `value`.
fn lookup<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// Fills a node's input template from the facts and finished nodes.
pub fn resolve(
    template: &Value,
    facts: &Value,
    outputs: &HashMap<String, Value>,
) -> Result<Value, String> {
    match template {
        Value::Object(map) if map.contains_key("$from") => {
            let path = map["$from"].as_str().ok_or("`$from` must be a string")?;
            let parts: Vec<&str> = path.split('.').collect();
            let found = match parts.as_slice() {
                ["facts", rest @ ..] => lookup(facts, rest),
                [node, rest @ ..] => outputs
                    .get(*node)
                    .and_then(|o| o.get("result"))
                    .and_then(|r| lookup(r, rest)),
                [] => None,
            }
            .ok_or_else(|| format!("nothing at {path}"))?;
            match map.get("pick").and_then(Value::as_array) {
                Some(keys) => {
                    let mut picked = serde_json::Map::new();
                    for key in keys.iter().filter_map(Value::as_str) {
                        let value = found
                            .get(key)
                            .ok_or_else(|| format!("{path} has no {key}"))?;
                        picked.insert(key.to_owned(), value.clone());
                    }
                    Ok(Value::Object(picked))
                }
                None => Ok(found.clone()),
            }
        }
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), resolve(v, facts, outputs)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(list) => list
            .iter()
            .map(|v| resolve(v, facts, outputs))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn terminal_of(workflow_state: &str) -> Option<TaskState> {
    Some(match workflow_state {
        state::COMPLETED => TaskState::Completed,
        state::FAILED | state::ROLLED_BACK => TaskState::Failed,
        state::REJECTED => TaskState::Rejected,
        state::CANCELED => TaskState::Canceled,
        _ => return None,
    })
}

pub fn a2a_state_of(workflow_state: &str) -> TaskState {
    terminal_of(workflow_state).unwrap_or(if workflow_state == state::WAITING {
        TaskState::InputRequired
    } else {
        TaskState::Working
    })
}

impl Engine {
    pub fn new(env: AgentEnv, policy: Policy) -> Arc<Self> {
        let approvals = TokenVerifier::new(
            env.issuer.clone(),
            mlops_service_auth::APPROVAL_AUDIENCE,
            mlops_service_auth::JwksSource::Url(format!("{}/.well-known/jwks.json", env.issuer)),
        );
        let console = ConsoleLink::new(
            &env.issuer,
            env.tokens.clone(),
            PgPushConfigStore::new(env.database.clone(), crate::NAME),
        );
        Arc::new(Engine {
            console,
            store: Store::new(env.database.clone()),
            owner: format!("orchestrator-{}", Uuid::new_v4()),
            policy,
            env,
            directory: tokio::sync::Mutex::new(None),
            approvals,
            wakers: Mutex::new(HashMap::new()),
            drivers: Mutex::new(HashSet::new()),
            followers: Mutex::new(HashSet::new()),
            last_reattach: Mutex::new(HashMap::new()),
            reattach: OnceLock::new(),
        })
    }

    pub fn set_reattach(&self, reattach: Reattach) {
        let _ = self.reattach.set(reattach);
    }

    pub fn waker(&self, workflow: Uuid) -> Arc<Notify> {
        self.wakers
            .lock()
            .expect("waker map lock is never poisoned")
            .entry(workflow)
            .or_default()
            .clone()
    }

    pub fn wake(&self, workflow: Uuid) {
        self.waker(workflow).notify_waiters();
    }

    /// Marks this process as producing the workflow's A2A stream until the
    /// guard drops.
    pub fn follow(self: &Arc<Self>, workflow: Uuid) -> FollowerGuard {
        self.followers
            .lock()
            .expect("follower set lock is never poisoned")
            .insert(workflow);
        FollowerGuard {
            engine: self.clone(),
            workflow,
        }
    }

    fn has_follower(&self, workflow: Uuid) -> bool {
        self.followers
            .lock()
            .expect("follower set lock is never poisoned")
            .contains(&workflow)
    }

    /// The agents, rediscovered from the registry file when stale.
    pub async fn directory(&self, refresh: bool) -> Result<Arc<AgentDirectory>, ClientError> {
        let mut cached = self.directory.lock().await;
        if let Some((at, directory)) = cached.as_ref()
            && !refresh
            && at.elapsed() < DIRECTORY_MAX_AGE
        {
            return Ok(directory.clone());
        }
        // One try per call with a short timeout: the node's own loop retries
        // with backoff against the policy's budget, so a stopped agent
        // cannot hold a node longer than the budget says.
        let policy = RetryPolicy {
            attempts: 1,
            call_timeout: CALL_TIMEOUT,
            ..RetryPolicy::default()
        };
        let directory = Arc::new(self.env.agents_with(policy).await?);
        *cached = Some((Instant::now(), directory.clone()));
        Ok(directory)
    }

    pub async fn catalog(&self) -> Result<Catalog, ClientError> {
        let directory = self.directory(true).await?;
        let cards: Vec<_> = directory
            .agents()
            .map(|c| (c.name().to_owned(), c.card().clone()))
            .collect();
        Ok(Catalog::from_cards(&cards, crate::NAME))
    }

    async fn client(&self, agent: &str) -> Result<Arc<AgentClient>, ClientError> {
        match self.directory(false).await?.get(agent) {
            Ok(client) => Ok(client),
            // Perhaps it was down at the last discovery.
            Err(_) => self.directory(true).await?.get(agent),
        }
    }

    /// Claims live workflows every few seconds and drives each; also hands
    /// on events a crash left undelivered.
    pub fn start(self: &Arc<Self>) {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                match engine.store.claim(&engine.owner, LEASE_SECONDS).await {
                    Ok(ids) => {
                        for id in ids {
                            engine.spawn_driver(id);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "claiming workflows failed"),
                }
                if let Err(error) = engine.deliver_leftovers().await {
                    tracing::warn!(%error, "checking undelivered workflow events failed");
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }

    pub fn spawn_driver(self: &Arc<Self>, workflow: Uuid) {
        let fresh = self
            .drivers
            .lock()
            .expect("driver set lock is never poisoned")
            .insert(workflow);
        if !fresh {
            return;
        }
        let engine = self.clone();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                engine.clone().drive(workflow).await;
                engine
                    .drivers
                    .lock()
                    .expect("driver set lock is never poisoned")
                    .remove(&workflow);
            },
            tracing::info_span!("workflow", %workflow),
        ));
    }

    /// Ended workflows whose last events never reached the A2A task.
    async fn deliver_leftovers(&self) -> Result<(), StoreError> {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, task_id FROM orchestrator.workflows
             WHERE state NOT IN ('running', 'waiting') AND delivered_seq < next_seq - 1
               AND updated_at > now() - interval '1 day'
             LIMIT 50",
        )
        .fetch_all(&self.store.pool)
        .await?;
        for (id, task) in rows {
            self.maybe_reattach(id, &task);
        }
        Ok(())
    }

    fn maybe_reattach(&self, workflow: Uuid, task_id: &str) {
        if self.has_follower(workflow) {
            return;
        }
        let Some(reattach) = self.reattach.get() else {
            return;
        };
        {
            let mut last = self.last_reattach.lock().expect("lock is never poisoned");
            if last
                .get(&workflow)
                .is_some_and(|at| at.elapsed() < Duration::from_secs(3))
            {
                return;
            }
            last.insert(workflow, Instant::now());
        }
        reattach(task_id.to_owned());
    }

    async fn drive(self: Arc<Self>, workflow: Uuid) {
        let waker = self.waker(workflow);
        let mut runners: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        tracing::info!(owner = %self.owner, "driving workflow");
        loop {
            let notified = waker.notified();
            match self.store.renew(workflow, &self.owner, LEASE_SECONDS).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!("lease taken over by another replica");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "renewing the lease failed");
                    tokio::time::sleep(TICK).await;
                    continue;
                }
            }
            runners.retain(|_, handle| !handle.is_finished());
            match self.step(workflow, &mut runners).await {
                // A transition committed: look again at once (the node
                // just started needs its runner, the next may be ready).
                Ok(Step::Acted) => continue,
                Ok(Step::Idle) => {}
                Ok(Step::Ended) => break,
                Err(error) => tracing::warn!(%error, "workflow step failed; retrying"),
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
        for (_, handle) in runners {
            handle.abort();
        }
        if let Ok(Some(w)) = self.store.workflow(workflow).await
            && w.delivered_seq < w.next_seq - 1
        {
            self.maybe_reattach(workflow, &w.task_id);
        }
    }

    /// One look at the workflow: what it did.
    async fn step(
        self: &Arc<Self>,
        id: Uuid,
        runners: &mut HashMap<String, tokio::task::JoinHandle<()>>,
    ) -> Result<Step, StoreError> {
        let Some(wf) = self.store.workflow(id).await? else {
            return Ok(Step::Ended);
        };
        if !state::is_live(&wf.state) {
            return Ok(Step::Ended);
        }
        if wf.delivered_seq < wf.next_seq - 1 && wf.state == state::RUNNING {
            self.maybe_reattach(id, &wf.task_id);
        }
        let policy: Policy = serde_json::from_value(wf.policy.clone())
            .map_err(|e| StoreError::Malformed(format!("policy: {e}")))?;
        let nodes = self.store.nodes(id).await?;
        let outcome = wf
            .facts
            .get("outcome")
            .and_then(Value::as_str)
            .map(str::to_owned);

        // Gates past their expiry take the reject path.
        for gate in self.store.gates(id).await? {
            if gate.state == "open" && gate.expires_at < chrono::Utc::now() {
                let mut tx = self.store.lock(id).await?;
                sqlx::query("UPDATE orchestrator.gates SET state = 'expired', decided_at = now() WHERE workflow_id = $1 AND gate_id = $2 AND state = 'open'")
                    .bind(id).bind(&gate.gate_id).execute(&mut *tx).await?;
                let reason = format!("gate {} expired without a decision", gate.gate_id);
                store::set_node(
                    &mut tx,
                    id,
                    &gate.node_id,
                    node_state::REJECTED,
                    None,
                    Some(&reason),
                )
                .await?;
                store::set_workflow_state(&mut tx, id, state::RUNNING, None).await?;
                Store::append(&mut tx, id, Some(&self.owner), json!({"type": "gate-decided", "gate": gate.gate_id, "node": gate.node_id, "decision": "expired", "text": reason})).await?;
                tx.commit().await?;
                return Ok(Step::Acted);
            }
        }

        // A rollback under way decides the end.
        if let Some(rollback) = nodes
            .iter()
            .find(|n| n.node_id == "rollback" && outcome.is_some())
        {
            let end = outcome.clone().unwrap_or_else(|| state::ROLLED_BACK.into());
            match rollback.state.as_str() {
                node_state::COMPLETED => {
                    let reason = wf.reason.clone().unwrap_or_else(|| "rolled back".into());
                    self.finish(&wf, &nodes, &end, &reason).await?;
                    return Ok(Step::Ended);
                }
                s if node_state::is_done(s) => {
                    let reason = format!(
                        "the rollback failed: {}; traffic may still reach the candidate",
                        rollback.error.clone().unwrap_or_default()
                    );
                    self.finish(&wf, &nodes, state::FAILED, &reason).await?;
                    return Ok(Step::Ended);
                }
                _ => {}
            }
        } else if let Some(failed) = nodes
            .iter()
            .find(|n| matches!(n.state.as_str(), node_state::FAILED | node_state::REJECTED))
        {
            // The failure policy.
            let rejected = failed.spec.is_gate();
            let reason = failed
                .error
                .clone()
                .unwrap_or_else(|| format!("{} failed", failed.spec.title));
            let end = if rejected {
                state::REJECTED
            } else if wf.traffic_moved {
                state::ROLLED_BACK
            } else {
                state::FAILED
            };
            if wf.traffic_moved && failed.node_id != "rollback" {
                let added = self.start_rollback(&wf, &nodes, end, &reason).await?;
                return Ok(if added { Step::Acted } else { Step::Idle });
            }
            self.finish(&wf, &nodes, end, &reason).await?;
            return Ok(Step::Ended);
        }

        if nodes.iter().all(|n| node_state::is_done(&n.state)) {
            let reason = match serde_json::from_value::<Goal>(wf.goal.clone()) {
                Ok(goal) => format!("done: {}", goal.summary()),
                Err(_) => "done".into(),
            };
            self.finish(&wf, &nodes, state::COMPLETED, &reason).await?;
            return Ok(Step::Ended);
        }

        let done: HashSet<&str> = nodes
            .iter()
            .filter(|n| n.state == node_state::COMPLETED)
            .map(|n| n.node_id.as_str())
            .collect();
        for node in &nodes {
            let ready = node.state == node_state::PENDING
                && node
                    .spec
                    .depends_on
                    .iter()
                    .all(|d| done.contains(d.as_str()));
            if ready {
                match &node.spec.kind {
                    NodeKind::Gate { .. } => self.open_gate(&wf, &nodes, node, &policy).await?,
                    NodeKind::Task { .. } => {
                        let attempt = node.attempt + 1;
                        let mut tx = self.store.lock(id).await?;
                        sqlx::query("UPDATE orchestrator.nodes SET state = 'working', attempt = $3, message_id = $4, delegated_task = NULL, started_at = COALESCE(started_at, now()) WHERE workflow_id = $1 AND node_id = $2 AND state = 'pending'")
                            .bind(id).bind(&node.node_id).bind(attempt).bind(message_id(id, &node.node_id, attempt))
                            .execute(&mut *tx).await?;
                        if matches!(
                            node.spec.action(),
                            Some(Action::StartCanary | Action::SetWeight | Action::Promote)
                        ) {
                            sqlx::query("UPDATE orchestrator.workflows SET traffic_moved = true WHERE id = $1")
                                .bind(id).execute(&mut *tx).await?;
                        }
                        let (agent, skill) = match &node.spec.kind {
                            NodeKind::Task { agent, skill, .. } => (agent.clone(), skill.clone()),
                            NodeKind::Gate { .. } => unreachable!("matched a task above"),
                        };
                        Store::append(&mut tx, id, Some(&self.owner), json!({
                            "type": "node-state", "node": node.node_id, "state": node_state::WORKING,
                            "agent": agent, "skill": skill, "attempt": attempt,
                            "text": format!("{}: delegated to {agent} ({skill})", node.spec.title),
                        })).await?;
                        tx.commit().await?;
                        return Ok(Step::Acted);
                    }
                }
            }
            if node.state == node_state::WORKING
                && !runners.contains_key(&node.node_id)
                && !node.spec.is_gate()
            {
                let engine = self.clone();
                let node = node.clone();
                let facts = wf.facts.clone();
                let outputs: HashMap<String, Value> = nodes
                    .iter()
                    .filter_map(|n| n.output.clone().map(|o| (n.node_id.clone(), o)))
                    .collect();
                let policy = policy.clone();
                let node_id = node.node_id.clone();
                let span = tracing::info_span!("node", node = %node_id, attempt = node.attempt);
                runners.insert(
                    node_id,
                    tokio::spawn(tracing::Instrument::instrument(
                        async move { engine.run_node(id, node, facts, outputs, policy).await },
                        span,
                    )),
                );
            }
        }
        Ok(Step::Idle)
    }

    async fn start_rollback(
        &self,
        wf: &WorkflowRow,
        nodes: &[NodeRow],
        end: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let catalog = match self.catalog().await {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "no catalog for the rollback; retrying");
                return Ok(false);
            }
        };
        let skill = match catalog.for_action(Action::Rollback) {
            Ok(s) => s.clone(),
            Err(error) => {
                tracing::warn!(%error, "no agent can roll back now; retrying");
                return Ok(false);
            }
        };
        let goal: Goal = serde_json::from_value(wf.goal.clone())
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let version = match &goal {
            Goal::Deploy { version, .. } | Goal::Rollback { version, .. } => json!(version),
            Goal::Retrain { .. } => nodes
                .iter()
                .find(|n| n.node_id == "train")
                .and_then(|n| n.output.as_ref())
                .and_then(|o| o.pointer("/result/version"))
                .cloned()
                .unwrap_or(Value::Null),
        };
        let node = rollback_node(&skill, goal.model(), &version, reason, Vec::new())
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let mut tx = self.store.lock(wf.id).await?;
        skip_pending(&mut tx, wf.id).await?;
        cancel_working_rows(&mut tx, wf.id).await?;
        store::insert_node(&mut tx, wf.id, &node, nodes.len() as i32).await?;
        sqlx::query("UPDATE orchestrator.workflows SET facts = facts || jsonb_build_object('outcome', $2::text), reason = $3, state = 'running' WHERE id = $1")
            .bind(wf.id).bind(end).bind(reason).execute(&mut *tx).await?;
        Store::append(
            &mut tx,
            wf.id,
            Some(&self.owner),
            json!({"type": "node-added", "node": node, "text": format!("rolling back: {reason}")}),
        )
        .await?;
        Store::append(&mut tx, wf.id, Some(&self.owner), json!({"type": "notification", "severity": "warning", "text": format!("{}: rolling back — {reason}", goal.summary())})).await?;
        tx.commit().await?;
        self.cancel_delegated(nodes).await;
        Ok(true)
    }

    /// Ends the workflow: pending nodes skipped, running ones canceled.
    async fn finish(
        &self,
        wf: &WorkflowRow,
        nodes: &[NodeRow],
        end: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.lock(wf.id).await?;
        skip_pending(&mut tx, wf.id).await?;
        cancel_working_rows(&mut tx, wf.id).await?;
        store::set_workflow_state(&mut tx, wf.id, end, Some(reason)).await?;
        if end != state::COMPLETED {
            Store::append(&mut tx, wf.id, Some(&self.owner), json!({"type": "notification", "severity": if end == state::FAILED { "error" } else { "warning" }, "text": format!("workflow {end}: {reason}")})).await?;
        }
        Store::append(
            &mut tx,
            wf.id,
            Some(&self.owner),
            json!({"type": "workflow-finished", "state": end, "text": reason}),
        )
        .await?;
        sqlx::query("UPDATE orchestrator.workflows SET lease_owner = NULL WHERE id = $1")
            .bind(wf.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(state = end, reason, "workflow finished");
        self.cancel_delegated(nodes).await;
        Ok(())
    }

    /// Best-effort `CancelTask` on every delegated task still running.
    async fn cancel_delegated(&self, nodes: &[NodeRow]) {
        for node in nodes.iter().filter(|n| n.state == node_state::WORKING) {
            let (Some(task), NodeKind::Task { agent, .. }) =
                (&node.delegated_task, &node.spec.kind)
            else {
                continue;
            };
            if let Ok(client) = self.client(agent).await {
                let request = mlops_agent_kit::a2a::CancelTaskRequest {
                    id: task.clone(),
                    metadata: None,
                    tenant: None,
                };
                if let Err(error) = client.cancel(&request).await {
                    tracing::info!(%error, agent, task, "cancel of a delegated task refused");
                }
            }
        }
    }

    async fn open_gate(
        &self,
        wf: &WorkflowRow,
        nodes: &[NodeRow],
        node: &NodeRow,
        policy: &Policy,
    ) -> Result<(), StoreError> {
        let NodeKind::Gate {
            gate,
            description,
            role,
        } = &node.spec.kind
        else {
            return Ok(());
        };
        // A release may ask for a shorter decision window than the policy's
        // (checked when the goal was taken).
        let expiry_seconds = wf.goal["gate_expiry_seconds"]
            .as_u64()
            .map_or(policy.gate_expiry_seconds, |s| {
                s.min(policy.gate_expiry_seconds)
            });
        let expires = chrono::Utc::now() + chrono::Duration::seconds(expiry_seconds as i64);
        let mut reports = serde_json::Map::new();
        for done in nodes.iter().filter(|n| n.state == node_state::COMPLETED) {
            if let (
                NodeKind::Task {
                    agent,
                    skill,
                    phase,
                    ..
                },
                Some(output),
            ) = (&done.spec.kind, &done.output)
                && matches!(
                    phase,
                    Phase::DataCheck | Phase::ModelCheck | Phase::Gate | Phase::Observe
                )
            {
                reports.insert(done.node_id.clone(), json!({"agent": agent, "skill": skill, "summary": output["summary"], "result": output["result"]}));
            }
        }
        let goal: Value = wf.goal.clone();
        let evidence = json!({
            "requested_by": goal.get("requested_by"),
            "goal": goal,
            "reports": reports,
            "policy": {"approver_role": role, "four_eyes": policy.four_eyes, "gate_expiry_seconds": expiry_seconds, "canary": policy.canary},
        });
        let mut tx = self.store.lock(wf.id).await?;
        sqlx::query("INSERT INTO orchestrator.gates (workflow_id, gate_id, node_id, state, description, evidence, expires_at) VALUES ($1, $2, $3, 'open', $4, $5, $6) ON CONFLICT DO NOTHING")
            .bind(wf.id).bind(gate).bind(&node.node_id).bind(description).bind(&evidence).bind(expires)
            .execute(&mut *tx).await?;
        store::set_node(
            &mut tx,
            wf.id,
            &node.node_id,
            node_state::INPUT_REQUIRED,
            None,
            None,
        )
        .await?;
        store::set_workflow_state(&mut tx, wf.id, state::WAITING, None).await?;
        Store::append(&mut tx, wf.id, Some(&self.owner), json!({
            "type": "gate-opened", "gate": gate, "node": node.node_id, "description": description,
            "role": role, "expires_at": expires.to_rfc3339(), "evidence": evidence,
            "text": format!("Gate {gate}: {description}"),
        })).await?;
        tx.commit().await?;
        tracing::info!(gate, "gate opened");
        Ok(())
    }

    /// Applies a verified approval token to the workflow of `task_id`.
    /// Every refusal is recorded as an `approval-refused` event.
    pub async fn decide(
        &self,
        task_id: &str,
        token: Option<&str>,
    ) -> Result<ApprovalClaims, Refusal> {
        let wf = self
            .store
            .workflow_by_task(task_id)
            .await
            .map_err(|e| Refusal(format!("cannot read the workflow: {e}")))?
            .ok_or_else(|| Refusal(format!("task {task_id} is no workflow")))?;
        let result = self.check_and_apply(&wf, token).await;
        match &result {
            Ok(claims) => {
                tracing::info!(gate = %claims.gate, decision = claims.decision.as_str(), approver = %claims.sub, "gate decided");
                self.wake(wf.id);
            }
            Err(refusal) => {
                tracing::warn!(reason = %refusal, "approval refused");
                let record = async {
                    let mut tx = self.store.lock(wf.id).await?;
                    Store::append(&mut tx, wf.id, None, json!({"type": "approval-refused", "text": format!("approval refused: {refusal}"), "reason": refusal.0})).await?;
                    tx.commit().await?;
                    Ok::<_, StoreError>(())
                };
                if let Err(error) = record.await {
                    tracing::error!(%error, "could not record the refused approval");
                }
            }
        }
        result
    }

    async fn check_and_apply(
        &self,
        wf: &WorkflowRow,
        token: Option<&str>,
    ) -> Result<ApprovalClaims, Refusal> {
        let gates = self
            .store
            .gates(wf.id)
            .await
            .map_err(|e| Refusal(e.to_string()))?;
        let open = gates.iter().find(|g| g.state == "open");
        let Some(open) = open else {
            return Err(Refusal(
                "no gate of this workflow is waiting for a decision".into(),
            ));
        };
        let token = token.ok_or_else(|| {
            Refusal(format!(
                "gate {} needs a signed approval token from the control plane (a data part {{\"approval_token\": …}}); a plain message does not decide a gate",
                open.gate_id
            ))
        })?;
        let claims = self
            .approvals
            .verify_approval(token)
            .await
            .map_err(|e| Refusal(format!("approval token refused: {e}")))?;
        let used: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM orchestrator.used_approvals WHERE jti = $1")
                .bind(&claims.jti)
                .fetch_optional(&self.store.pool)
                .await
                .map_err(|e| Refusal(e.to_string()))?;
        if used.is_some() {
            return Err(Refusal("this approval token has been used already".into()));
        }
        if claims.workflow != wf.task_id {
            return Err(Refusal(format!(
                "the approval is for workflow {}, not this one",
                claims.workflow
            )));
        }
        if claims.gate != open.gate_id {
            return Err(Refusal(format!(
                "the approval is for gate {:?}, but gate {:?} is waiting",
                claims.gate, open.gate_id
            )));
        }
        if open.expires_at < chrono::Utc::now() {
            return Err(Refusal(format!("gate {} has expired", open.gate_id)));
        }
        let policy: Policy =
            serde_json::from_value(wf.policy.clone()).map_err(|e| Refusal(e.to_string()))?;
        if !claims
            .roles
            .iter()
            .any(|r| r == &policy.approver_role || r == "admin")
        {
            return Err(Refusal(format!(
                "the approver lacks the {} role",
                policy.approver_role
            )));
        }
        let requester = wf.goal.get("requested_by").and_then(Value::as_str);
        if policy.four_eyes && requester == Some(claims.sub.as_str()) {
            return Err(Refusal(
                "four-eyes: the requester may not decide their own gate".into(),
            ));
        }
        let apply = async {
            let mut tx = self.store.lock(wf.id).await?;
            let used = sqlx::query("INSERT INTO orchestrator.used_approvals (jti, workflow_id, gate_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(&claims.jti).bind(wf.id).bind(&claims.gate).execute(&mut *tx).await?.rows_affected();
            if used == 0 {
                return Ok(Err(Refusal(
                    "this approval token has been used already".into(),
                )));
            }
            let (gate_state, node_state_after, error) = match claims.decision {
                ApprovalDecision::Approve => ("approved", node_state::COMPLETED, None),
                ApprovalDecision::Reject => (
                    "rejected",
                    node_state::REJECTED,
                    Some(format!(
                        "rejected by {}{}",
                        claims.sub,
                        claims
                            .comment
                            .as_deref()
                            .map(|c| format!(": {c}"))
                            .unwrap_or_default()
                    )),
                ),
            };
            let n = sqlx::query("UPDATE orchestrator.gates SET state = $3, decided_by = $4, comment = $5, decided_at = now() WHERE workflow_id = $1 AND gate_id = $2 AND state = 'open'")
                .bind(wf.id).bind(&claims.gate).bind(gate_state).bind(&claims.sub).bind(&claims.comment)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Ok(Err(Refusal("the gate was decided meanwhile".into())));
            }
            store::set_node(&mut tx, wf.id, &open.node_id, node_state_after, Some(&json!({"result": {"decision": claims.decision, "approver": claims.sub, "comment": claims.comment}})), error.as_deref()).await?;
            store::set_workflow_state(&mut tx, wf.id, state::RUNNING, None).await?;
            Store::append(
                &mut tx,
                wf.id,
                None,
                json!({
                    "type": "gate-decided", "gate": claims.gate, "node": open.node_id,
                    "decision": claims.decision, "approver": claims.sub, "comment": claims.comment,
                    "text": format!("gate {} {} by {}", claims.gate, gate_state, claims.sub),
                }),
            )
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(Ok(()))
        };
        match apply.await {
            Ok(Ok(())) => Ok(claims),
            Ok(Err(refusal)) => Err(refusal),
            Err(error) => Err(Refusal(format!("could not record the decision: {error}"))),
        }
    }

    /// Cancels a workflow and every delegated task still running.
    pub async fn cancel(&self, task_id: &str) -> Result<bool, StoreError> {
        let Some(wf) = self.store.workflow_by_task(task_id).await? else {
            return Ok(false);
        };
        if !state::is_live(&wf.state) {
            return Ok(false);
        }
        let nodes = self.store.nodes(wf.id).await?;
        let mut tx = self.store.lock(wf.id).await?;
        skip_pending(&mut tx, wf.id).await?;
        cancel_working_rows(&mut tx, wf.id).await?;
        sqlx::query("UPDATE orchestrator.gates SET state = 'expired' WHERE workflow_id = $1 AND state = 'open'").bind(wf.id).execute(&mut *tx).await?;
        store::set_workflow_state(&mut tx, wf.id, state::CANCELED, Some("canceled on request"))
            .await?;
        Store::append(&mut tx, wf.id, None, json!({"type": "workflow-finished", "state": state::CANCELED, "text": "canceled on request"})).await?;
        tx.commit().await?;
        self.cancel_delegated(&nodes).await;
        self.wake(wf.id);
        Ok(true)
    }

    /// Runs one task node to its end and records how it ended.
    async fn run_node(
        self: Arc<Self>,
        workflow: Uuid,
        node: NodeRow,
        facts: Value,
        outputs: HashMap<String, Value>,
        policy: Policy,
    ) {
        let NodeKind::Task { agent, skill, .. } = &node.spec.kind else {
            return;
        };
        let input = match &node.spec.kind {
            NodeKind::Task { input, .. } => resolve(input, &facts, &outputs),
            NodeKind::Gate { .. } => return,
        };
        let outcome = match input {
            Err(reason) => Delegation::Finished(Box::new(failed_task(&format!(
                "cannot build the input of {}: {reason}",
                node.spec.title
            )))),
            Ok(input) => {
                let timeout = Duration::from_secs(policy.node_timeout_seconds.max(1));
                match tokio::time::timeout(
                    timeout,
                    self.delegate(workflow, &node, agent, skill, input, &policy),
                )
                .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Delegation::TimedOut,
                }
            }
        };
        if let Err(error) = self.record_outcome(workflow, &node, outcome, &policy).await {
            tracing::warn!(%error, "recording a node's outcome failed; the driver will retry the node");
        }
        self.wake(workflow);
    }

    async fn delegate(
        &self,
        workflow: Uuid,
        node: &NodeRow,
        agent: &str,
        skill: &str,
        input: Value,
        policy: &Policy,
    ) -> Delegation {
        let id = node
            .message_id
            .clone()
            .unwrap_or_else(|| message_id(workflow, &node.node_id, node.attempt));
        let mut task_id = node.delegated_task.clone();
        let budget = Duration::from_secs(policy.agent_retry_seconds);
        let mut unreachable_since: Option<Instant> = None;
        let mut backoff = Duration::from_millis(250);
        loop {
            let attempt = async {
                let client = self.client(agent).await.map_err(|e| e.to_string())?;
                if task_id.is_none() {
                    task_id = find_by_context(&client, &id)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let stream = match &task_id {
                    Some(task) => {
                        let current = get_task(&client, task).await?;
                        if current.status.state.is_terminal() {
                            return Ok(Some(current));
                        }
                        match client
                            .subscribe(&SubscribeToTaskRequest {
                                id: task.clone(),
                                tenant: None,
                            })
                            .await
                        {
                            Ok(stream) => stream,
                            Err(_) => {
                                let again = get_task(&client, task).await?;
                                if again.status.state.is_terminal() {
                                    return Ok(Some(again));
                                }
                                return Err("lost".to_owned());
                            }
                        }
                    }
                    None => {
                        let mut message = Message::new(Role::User, vec![Part::data(input.clone())]);
                        message.message_id = id.clone();
                        message.context_id = Some(id.clone());
                        message.metadata =
                            Some(HashMap::from([("skill".to_owned(), json!(skill))]));
                        let request = SendMessageRequest {
                            message,
                            configuration: None,
                            metadata: None,
                            tenant: None,
                        };
                        client.stream(&request).await.map_err(|e| e.to_string())?
                    }
                };
                self.consume(workflow, node, &client, stream, &mut task_id)
                    .await
            };
            match attempt.await {
                Ok(Some(task)) => return Delegation::Finished(Box::new(task)),
                Ok(None) => {
                    // The agent answered: it is up; the task goes on.
                    unreachable_since = None;
                    backoff = Duration::from_millis(250);
                }
                Err(reason) if reason == "lost" => return Delegation::Lost,
                Err(reason) if reason == "canceled" => return Delegation::Canceled,
                Err(reason) => {
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= budget {
                        return Delegation::Unreachable(format!(
                            "{agent} unreachable for {} s: {reason}",
                            budget.as_secs()
                        ));
                    }
                    tracing::warn!(agent, %reason, "agent call failed; retrying");
                }
            }
            let delay = backoff.mul_f64(0.5 + fastrand::f64());
            tokio::time::sleep(delay).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Reads a delegated task's stream into graph events; the terminal task
    /// when it ends, None when the stream broke first.
    async fn consume(
        &self,
        workflow: Uuid,
        node: &NodeRow,
        client: &AgentClient,
        mut stream: BoxStream<'static, Result<StreamResponse, A2AError>>,
        task_id: &mut Option<String>,
    ) -> Result<Option<Task>, String> {
        while let Ok(Some(item)) = tokio::time::timeout(STREAM_IDLE, stream.next()).await {
            let Ok(event) = item else { break };
            let (id, progress) = match &event {
                StreamResponse::Task(task) => (Some(task.id.clone()), None),
                StreamResponse::StatusUpdate(update) => (
                    Some(update.task_id.clone()),
                    Some((
                        update.status.state.clone(),
                        update
                            .status
                            .message
                            .as_ref()
                            .and_then(|m| m.text())
                            .unwrap_or_default()
                            .to_owned(),
                        update.metadata.clone(),
                    )),
                ),
                StreamResponse::ArtifactUpdate(update) => {
                    let name = update.artifact.name.clone().unwrap_or_default();
                    self.event(workflow, json!({"type": "node-artifact", "node": node.node_id, "artifact": name, "task": update.task_id, "text": format!("{}: artifact {name}", node.spec.title)})).await.map_err(|e| e.to_string())?;
                    (Some(update.task_id.clone()), None)
                }
                StreamResponse::Message(_) => (None, None),
            };
            if let Some(id) = id
                && task_id.as_deref() != Some(id.as_str())
            {
                let mut tx = self.store.lock(workflow).await.map_err(|e| e.to_string())?;
                sqlx::query("UPDATE orchestrator.nodes SET delegated_task = $3 WHERE workflow_id = $1 AND node_id = $2")
                    .bind(workflow).bind(&node.node_id).bind(&id).execute(&mut *tx).await.map_err(|e| e.to_string())?;
                let agent = match &node.spec.kind {
                    NodeKind::Task { agent, .. } => agent.clone(),
                    NodeKind::Gate { .. } => String::new(),
                };
                Store::append(&mut tx, workflow, Some(&self.owner), json!({"type": "node-task", "node": node.node_id, "agent": agent, "task": id, "text": format!("{}: task {id} at {agent}", node.spec.title)})).await.map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())?;
                *task_id = Some(id);
            }
            if let Some((task_state, text, metadata)) = progress {
                if task_state.is_terminal() || task_state == TaskState::InputRequired {
                    break;
                }
                if let Some(call) = metadata.as_ref().and_then(|m| m.get("mcpCall")) {
                    self.event(workflow, json!({"type": "mcp-call", "node": node.node_id, "call": call, "text": format!("{}: {text}", node.spec.title)})).await.map_err(|e| e.to_string())?;
                } else if !text.is_empty() {
                    self.event(workflow, json!({"type": "node-progress", "node": node.node_id, "text": format!("{}: {text}", node.spec.title), "progress": text})).await.map_err(|e| e.to_string())?;
                }
            }
            if self.is_over(workflow).await {
                return Err("canceled".into());
            }
        }
        let Some(id) = task_id.clone() else {
            return Ok(None);
        };
        let task = get_task(client, &id).await?;
        Ok(task.status.state.is_terminal().then_some(task))
    }

    async fn is_over(&self, workflow: Uuid) -> bool {
        matches!(self.store.workflow(workflow).await, Ok(Some(w)) if !state::is_live(&w.state))
    }

    async fn event(&self, workflow: Uuid, body: Value) -> Result<(), StoreError> {
        let mut tx = self.store.lock(workflow).await?;
        Store::append(&mut tx, workflow, Some(&self.owner), body).await?;
        tx.commit().await?;
        self.wake(workflow);
        Ok(())
    }

    /// For a training node that ran out of memory (and has attempts left):
    /// the resize node to add and the training node to run after it.
    async fn resize_after_oom(&self, node: &NodeRow, task: &Task) -> Option<(PlanNode, PlanNode)> {
        if node.spec.action() != Some(Action::TrainModel) || node.attempt >= MAX_ATTEMPTS {
            return None;
        }
        let output = task_output(task);
        let evidence = output.pointer("/artifacts/evidence")?;
        if task.status.state != TaskState::Failed || evidence["reason"] != "out_of_memory" {
            return None;
        }
        let catalog = self.catalog().await.ok()?;
        let skill = catalog.for_action(Action::RecommendResources).ok()?.clone();
        let id = format!("resize-{}-{}", node.node_id, node.attempt);
        let mut facts = std::collections::BTreeMap::from([(
            "memory_mb_required".to_owned(),
            evidence["required_mb"].clone(),
        )]);
        if let Some(current) = evidence.get("instance_type").filter(|v| v.is_string()) {
            facts.insert("current_instance_type".into(), current.clone());
        }
        let resize = crate::plan::action_node(
            &skill,
            &id,
            "recommend a larger instance",
            facts,
            Vec::new(),
            "failure policy: training ran out of memory".into(),
        )
        .ok()?;
        let mut retried = node.spec.clone();
        if let NodeKind::Task { input, .. } = &mut retried.kind
            && let Value::Object(map) = input
        {
            map.insert(
                "resources".into(),
                json!({
                    "instance_type": {"$from": format!("{id}.instance_type.name")},
                    "memory_mb": {"$from": format!("{id}.instance_type.memory_mb")},
                }),
            );
        }
        Some((resize, retried))
    }

    /// The node's end, in one transaction with its event: checks that did
    /// not pass and failed canary analyses fail the node; an inconclusive
    /// analysis adds a review gate before the next step.
    async fn record_outcome(
        &self,
        workflow: Uuid,
        node: &NodeRow,
        outcome: Delegation,
        _policy: &Policy,
    ) -> Result<(), StoreError> {
        let resize = match &outcome {
            Delegation::Finished(task) => self.resize_after_oom(node, task).await,
            _ => None,
        };
        let mut tx = self.store.lock(workflow).await?;
        let live: Option<String> =
            sqlx::query_scalar("SELECT state FROM orchestrator.workflows WHERE id = $1 FOR UPDATE")
                .bind(workflow)
                .fetch_optional(&mut *tx)
                .await?;
        let still_working: Option<String> = sqlx::query_scalar(
            "SELECT state FROM orchestrator.nodes WHERE workflow_id = $1 AND node_id = $2",
        )
        .bind(workflow)
        .bind(&node.node_id)
        .fetch_optional(&mut *tx)
        .await?;
        if !live.as_deref().is_some_and(state::is_live)
            || still_working.as_deref() != Some(node_state::WORKING)
        {
            return Ok(());
        }
        let title = &node.spec.title;
        if let Some((resize, mut retried)) = resize {
            // Failure policy: out of memory → the cost agent's larger
            // instance, then the same training again (a new attempt).
            let count: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM orchestrator.nodes WHERE workflow_id = $1",
            )
            .bind(workflow)
            .fetch_one(&mut *tx)
            .await?;
            store::insert_node(&mut tx, workflow, &resize, count as i32).await?;
            retried.depends_on.push(resize.id.clone());
            let spec =
                serde_json::to_value(&retried).map_err(|e| StoreError::Malformed(e.to_string()))?;
            sqlx::query("UPDATE orchestrator.nodes SET state = 'pending', delegated_task = NULL, spec = $3 WHERE workflow_id = $1 AND node_id = $2")
                .bind(workflow).bind(&node.node_id).bind(spec).execute(&mut *tx).await?;
            Store::append(&mut tx, workflow, Some(&self.owner), json!({"type": "node-added", "node": resize, "text": format!("{title} ran out of memory: asking for a larger instance")})).await?;
            Store::append(&mut tx, workflow, Some(&self.owner), json!({"type": "node-state", "node": node.node_id, "state": node_state::PENDING, "text": format!("{title}: retrying on the recommended instance")})).await?;
            tx.commit().await?;
            return Ok(());
        }
        let mut extra_gate: Option<PlanNode> = None;
        let (state_after, output, error) = match outcome {
            Delegation::Lost if node.attempt < MAX_ATTEMPTS => {
                sqlx::query("UPDATE orchestrator.nodes SET state = 'pending', delegated_task = NULL WHERE workflow_id = $1 AND node_id = $2")
                    .bind(workflow).bind(&node.node_id).execute(&mut *tx).await?;
                Store::append(&mut tx, workflow, Some(&self.owner), json!({"type": "node-state", "node": node.node_id, "state": node_state::PENDING, "text": format!("{title}: the agent lost the task (it restarted); trying again")})).await?;
                tx.commit().await?;
                return Ok(());
            }
            Delegation::Lost => (
                node_state::FAILED,
                None,
                Some(format!(
                    "{title}: the agent lost the task {MAX_ATTEMPTS} times"
                )),
            ),
            Delegation::Unreachable(reason) => (node_state::FAILED, None, Some(reason)),
            Delegation::TimedOut => (
                node_state::FAILED,
                None,
                Some(format!("{title}: timed out")),
            ),
            Delegation::Canceled => (node_state::CANCELED, None, None),
            Delegation::Finished(task) => {
                let output = task_output(&task);
                let summary = task_text(&task);
                match task.status.state {
                    TaskState::Completed => {
                        let result = &output["result"];
                        if result.get("passed") == Some(&Value::Bool(false)) {
                            (
                                node_state::FAILED,
                                Some(output.clone()),
                                Some(format!("{title} did not pass: {summary}")),
                            )
                        } else if node.spec.action() == Some(Action::AnalyzeCanary) {
                            match result.get("verdict").and_then(Value::as_str) {
                                Some("failed") => (
                                    node_state::FAILED,
                                    Some(output.clone()),
                                    Some(format!("canary analysis failed: {summary}")),
                                ),
                                Some("inconclusive") => {
                                    extra_gate = Some(PlanNode {
                                        id: format!("review-{}", node.node_id),
                                        title: format!("review: {title}"),
                                        kind: NodeKind::Gate {
                                            gate: format!("review-{}", node.node_id),
                                            description: format!("The canary analysis was inconclusive ({summary}). Continue the rollout?"),
                                            role: _policy.approver_role.clone(),
                                        },
                                        depends_on: vec![node.node_id.clone()],
                                        why: "failure policy: an inconclusive analysis goes to a person".into(),
                                    });
                                    (node_state::COMPLETED, Some(output.clone()), None)
                                }
                                _ => (node_state::COMPLETED, Some(output.clone()), None),
                            }
                        } else {
                            (node_state::COMPLETED, Some(output.clone()), None)
                        }
                    }
                    TaskState::Rejected => (
                        node_state::FAILED,
                        Some(output),
                        Some(format!("{title}: the agent refused the input: {summary}")),
                    ),
                    TaskState::Canceled => (
                        node_state::CANCELED,
                        Some(output),
                        Some(format!("{title}: canceled by the agent")),
                    ),
                    _ => (
                        node_state::FAILED,
                        Some(output),
                        Some(format!("{title} failed: {summary}")),
                    ),
                }
            }
        };
        store::set_node(
            &mut tx,
            workflow,
            &node.node_id,
            state_after,
            output.as_ref(),
            error.as_deref(),
        )
        .await?;
        let text = match &error {
            Some(e) => e.clone(),
            None => format!("{title}: {state_after}"),
        };
        Store::append(
            &mut tx,
            workflow,
            Some(&self.owner),
            json!({
                "type": "node-state", "node": node.node_id, "state": state_after, "error": error,
                "output": output, "text": text,
            }),
        )
        .await?;
        if let Some(gate) = extra_gate {
            let count: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM orchestrator.nodes WHERE workflow_id = $1",
            )
            .bind(workflow)
            .fetch_one(&mut *tx)
            .await?;
            store::insert_node(&mut tx, workflow, &gate, count as i32).await?;
            // Whatever waited for the analysis now also waits for the review.
            let dependents: Vec<(String, Value)> = sqlx::query_as("SELECT node_id, spec FROM orchestrator.nodes WHERE workflow_id = $1 AND spec->'depends_on' ? $2 AND node_id <> $3")
                .bind(workflow).bind(&node.node_id).bind(&gate.id).fetch_all(&mut *tx).await?;
            for (id, mut spec) in dependents {
                if let Some(deps) = spec.get_mut("depends_on").and_then(Value::as_array_mut) {
                    deps.push(json!(gate.id));
                }
                sqlx::query("UPDATE orchestrator.nodes SET spec = $3 WHERE workflow_id = $1 AND node_id = $2")
                    .bind(workflow).bind(id).bind(spec).execute(&mut *tx).await?;
            }
            Store::append(&mut tx, workflow, Some(&self.owner), json!({"type": "node-added", "node": gate, "text": format!("{title} was inconclusive: a person decides")})).await?;
        }
        if state_after == node_state::FAILED
            && error.as_deref().is_some_and(|e| e.contains("unreachable"))
        {
            Store::append(
                &mut tx,
                workflow,
                Some(&self.owner),
                json!({"type": "notification", "severity": "error", "text": error}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// `GetTask` without history, its error as text.
async fn get_task(client: &AgentClient, id: &str) -> Result<Task, String> {
    client
        .get(&GetTaskRequest {
            id: id.to_owned(),
            history_length: Some(0),
            tenant: None,
        })
        .await
        .map_err(|e| e.to_string())
}

async fn find_by_context(
    client: &AgentClient,
    context: &str,
) -> Result<Option<String>, ClientError> {
    let found = client
        .list(&ListTasksRequest {
            context_id: Some(context.to_owned()),
            status: None,
            page_size: Some(1),
            page_token: None,
            history_length: Some(0),
            status_timestamp_after: None,
            include_artifacts: Some(false),
            tenant: None,
        })
        .await?;
    Ok(found.tasks.first().map(|t| t.id.clone()))
}

fn failed_task(reason: &str) -> Task {
    Task {
        id: String::new(),
        context_id: String::new(),
        status: mlops_agent_kit::a2a::TaskStatus {
            state: TaskState::Failed,
            message: Some(Message::new(Role::Agent, vec![Part::text(reason)])),
            timestamp: None,
        },
        artifacts: None,
        history: None,
        metadata: None,
    }
}

async fn skip_pending(tx: &mut store::Tx<'_>, workflow: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE orchestrator.nodes SET state = 'skipped', finished_at = now() WHERE workflow_id = $1 AND state IN ('pending', 'input-required')")
        .bind(workflow)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn cancel_working_rows(tx: &mut store::Tx<'_>, workflow: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE orchestrator.nodes SET state = 'canceled', finished_at = now() WHERE workflow_id = $1 AND state = 'working'")
        .bind(workflow)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes the workflow from the followed set when its stream ends.
pub struct FollowerGuard {
    engine: Arc<Engine>,
    workflow: Uuid,
}

impl Drop for FollowerGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.engine.followers.lock() {
            set.remove(&self.workflow);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_resolve_from_facts_and_outputs() {
        let facts = json!({"holdout": {"name": "h", "version": "abc", "extra": 1}});
        let outputs = HashMap::from([("train".to_owned(), json!({"result": {"version": 3}}))]);
        let template = json!({
            "version": {"$from": "train.version"},
            "holdout": {"$from": "facts.holdout", "pick": ["name", "version"]},
            "weight": 10,
        });
        assert_eq!(
            resolve(&template, &facts, &outputs).unwrap(),
            json!({"version": 3, "holdout": {"name": "h", "version": "abc"}, "weight": 10})
        );
        assert!(
            resolve(&json!({"$from": "nowhere.x"}), &facts, &outputs)
                .unwrap_err()
                .contains("nowhere")
        );
    }
}
