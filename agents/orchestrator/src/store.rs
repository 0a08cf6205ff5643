//! The `orchestrator` schema: workflows, their nodes, gates and the event
//! outbox. Every transition is one transaction that appends its event, so
//! the graph the control plane draws is exactly the one stored here.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::plan::{Plan, PlanNode};

pub type Tx<'a> = Transaction<'a, Postgres>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("this replica no longer holds the lease on workflow {0}")]
    LeaseLost(Uuid),
    #[error("stored data is malformed: {0}")]
    Malformed(String),
}

/// Workflow states. `running` and `waiting` are live.
pub mod state {
    pub const RUNNING: &str = "running";
    pub const WAITING: &str = "waiting";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const ROLLED_BACK: &str = "rolled_back";
    pub const REJECTED: &str = "rejected";
    pub const CANCELED: &str = "canceled";

    pub fn is_live(state: &str) -> bool {
        state == RUNNING || state == WAITING
    }
}

/// Node states, named as A2A task states are (plus pending and skipped).
pub mod node_state {
    pub const PENDING: &str = "pending";
    pub const WORKING: &str = "working";
    pub const INPUT_REQUIRED: &str = "input-required";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const REJECTED: &str = "rejected";
    pub const CANCELED: &str = "canceled";
    pub const SKIPPED: &str = "skipped";

    pub fn is_done(state: &str) -> bool {
        matches!(state, COMPLETED | FAILED | REJECTED | CANCELED | SKIPPED)
    }
}

#[derive(Debug, Clone)]
pub struct WorkflowRow {
    pub id: Uuid,
    pub task_id: String,
    pub context_id: String,
    pub goal: Value,
    pub policy: Value,
    pub plan: Value,
    pub state: String,
    pub reason: Option<String>,
    pub facts: Value,
    pub traffic_moved: bool,
    pub next_seq: i64,
    pub delivered_seq: i64,
}

#[derive(Debug, Clone)]
pub struct NodeRow {
    pub node_id: String,
    pub spec: PlanNode,
    pub state: String,
    pub attempt: i32,
    pub message_id: Option<String>,
    pub delegated_task: Option<String>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct GateRow {
    pub gate_id: String,
    pub node_id: String,
    pub state: String,
    pub description: String,
    pub evidence: Value,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub body: Value,
}

/// A new workflow, as the executor accepts it.
pub struct NewWorkflow<'a> {
    pub id: Uuid,
    pub task_id: &'a str,
    pub context_id: &'a str,
    pub goal: Value,
    pub policy: Value,
    pub facts: Value,
    pub plan: &'a Plan,
}

#[derive(Clone)]
pub struct Store {
    pub pool: PgPool,
}

fn workflow_row(row: &sqlx::postgres::PgRow) -> Result<WorkflowRow, sqlx::Error> {
    Ok(WorkflowRow {
        id: row.try_get("id")?,
        task_id: row.try_get("task_id")?,
        context_id: row.try_get("context_id")?,
        goal: row.try_get("goal")?,
        policy: row.try_get("policy")?,
        plan: row.try_get("plan")?,
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        facts: row.try_get("facts")?,
        traffic_moved: row.try_get("traffic_moved")?,
        next_seq: row.try_get("next_seq")?,
        delivered_seq: row.try_get("delivered_seq")?,
    })
}

const WORKFLOW_COLUMNS: &str = "id, task_id, context_id, goal, policy, plan, state, reason, facts, traffic_moved, next_seq, delivered_seq";

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Store { pool }
    }

    /// Appends an event to the workflow's outbox inside `tx`. With `owner`,
    /// the append (and so the whole transaction) requires this replica to
    /// hold the lease: a replica that lost its lease can change nothing.
    pub async fn append(
        tx: &mut Tx<'_>,
        workflow: Uuid,
        owner: Option<&str>,
        body: Value,
    ) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE orchestrator.workflows SET next_seq = next_seq + 1, updated_at = now()
             WHERE id = $1 AND ($2::text IS NULL OR (lease_owner = $2 AND lease_until > now()))
             RETURNING next_seq - 1",
        )
        .bind(workflow)
        .bind(owner)
        .fetch_optional(&mut **tx)
        .await?;
        let seq = seq.ok_or(StoreError::LeaseLost(workflow))?;
        let mut body = body;
        if let Value::Object(map) = &mut body {
            map.insert("seq".into(), json!(seq));
            map.insert("eventId".into(), json!(format!("{workflow}:{seq}")));
            map.insert("at".into(), json!(Utc::now().to_rfc3339()));
        }
        sqlx::query("INSERT INTO orchestrator.events (workflow_id, seq, body) VALUES ($1, $2, $3)")
            .bind(workflow)
            .bind(seq)
            .bind(&body)
            .execute(&mut **tx)
            .await?;
        Ok(seq)
    }

    /// Stores a planned workflow with its nodes and first events. Returns
    /// false when the task already has one (a retried delivery).
    pub async fn create(&self, wf: NewWorkflow<'_>, owner: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO orchestrator.workflows
               (id, task_id, context_id, goal, policy, plan, state, facts, lease_owner, lease_until)
             VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, now() + interval '30 seconds')
             ON CONFLICT (task_id) DO NOTHING",
        )
        .bind(wf.id)
        .bind(wf.task_id)
        .bind(wf.context_id)
        .bind(&wf.goal)
        .bind(&wf.policy)
        .bind(wf.plan.published())
        .bind(&wf.facts)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        for (position, node) in wf.plan.nodes.iter().enumerate() {
            insert_node(&mut tx, wf.id, node, position as i32).await?;
        }
        Self::append(
            &mut tx,
            wf.id,
            None,
            json!({"type": "workflow-planned", "text": format!("planned: {}", wf.plan.goal.summary()), "plan": wf.plan.published()}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn workflow(&self, id: Uuid) -> Result<Option<WorkflowRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM orchestrator.workflows WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(workflow_row).transpose()?)
    }

    pub async fn workflow_by_task(&self, task_id: &str) -> Result<Option<WorkflowRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM orchestrator.workflows WHERE task_id = $1"
        ))
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(workflow_row).transpose()?)
    }

    pub async fn nodes(&self, workflow: Uuid) -> Result<Vec<NodeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT node_id, spec, state, attempt, message_id, delegated_task, output, error, started_at
             FROM orchestrator.nodes WHERE workflow_id = $1 ORDER BY position",
        )
        .bind(workflow)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let spec: Value = row.try_get("spec")?;
                Ok(NodeRow {
                    node_id: row.try_get("node_id")?,
                    spec: serde_json::from_value(spec)
                        .map_err(|e| StoreError::Malformed(format!("node spec: {e}")))?,
                    state: row.try_get("state")?,
                    attempt: row.try_get("attempt")?,
                    message_id: row.try_get("message_id")?,
                    delegated_task: row.try_get("delegated_task")?,
                    output: row.try_get("output")?,
                    error: row.try_get("error")?,
                    started_at: row.try_get("started_at")?,
                })
            })
            .collect()
    }

    pub async fn gates(&self, workflow: Uuid) -> Result<Vec<GateRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT gate_id, node_id, state, description, evidence, expires_at
             FROM orchestrator.gates WHERE workflow_id = $1 ORDER BY opened_at",
        )
        .bind(workflow)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GateRow {
                    gate_id: row.try_get("gate_id")?,
                    node_id: row.try_get("node_id")?,
                    state: row.try_get("state")?,
                    description: row.try_get("description")?,
                    evidence: row.try_get("evidence")?,
                    expires_at: row.try_get("expires_at")?,
                })
            })
            .collect()
    }

    pub async fn events_after(
        &self,
        workflow: Uuid,
        seq: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, body FROM orchestrator.events WHERE workflow_id = $1 AND seq > $2
             ORDER BY seq LIMIT 500",
        )
        .bind(workflow)
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EventRow {
                    seq: row.try_get("seq")?,
                    body: row.try_get("body")?,
                })
            })
            .collect()
    }

    /// Records that the A2A task has handed on every event up to `seq`.
    pub async fn delivered(&self, workflow: Uuid, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE orchestrator.workflows SET delivered_seq = GREATEST(delivered_seq, $2) WHERE id = $1",
        )
        .bind(workflow)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the lease on live workflows nobody holds (or this replica
    /// already holds) and returns their ids.
    pub async fn claim(&self, owner: &str, ttl_seconds: i64) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE orchestrator.workflows SET lease_owner = $1,
                    lease_until = now() + make_interval(secs => $2)
             WHERE id IN (
                SELECT id FROM orchestrator.workflows
                WHERE state IN ('running', 'waiting')
                  AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < now())
                ORDER BY created_at
                FOR UPDATE SKIP LOCKED
                LIMIT 100)
             RETURNING id",
        )
        .bind(owner)
        .bind(ttl_seconds as f64)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    /// Extends this replica's lease; false when another took it over.
    pub async fn renew(
        &self,
        workflow: Uuid,
        owner: &str,
        ttl_seconds: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE orchestrator.workflows SET lease_until = now() + make_interval(secs => $3)
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(workflow)
        .bind(owner)
        .bind(ttl_seconds as f64)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Begins a transaction holding the workflow's row lock. Every
    /// transaction that changes a workflow takes this lock first, so they
    /// queue in one order and cannot deadlock on its nodes and events.
    pub async fn lock(&self, workflow: Uuid) -> Result<Tx<'static>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM orchestrator.workflows WHERE id = $1 FOR UPDATE")
            .bind(workflow)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

pub async fn insert_node(
    tx: &mut Tx<'_>,
    workflow: Uuid,
    node: &PlanNode,
    position: i32,
) -> Result<bool, StoreError> {
    let spec = serde_json::to_value(node).map_err(|e| StoreError::Malformed(e.to_string()))?;
    let n = sqlx::query(
        "INSERT INTO orchestrator.nodes (workflow_id, node_id, spec, state, position)
         VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
    )
    .bind(workflow)
    .bind(&node.id)
    .bind(spec)
    .bind(position)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Sets a node's state (and optionally its output and error) inside `tx`.
pub async fn set_node(
    tx: &mut Tx<'_>,
    workflow: Uuid,
    node: &str,
    state: &str,
    output: Option<&Value>,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let finished = node_state::is_done(state);
    sqlx::query(
        "UPDATE orchestrator.nodes SET state = $3,
                output = COALESCE($4, output),
                error = COALESCE($5, error),
                started_at = CASE WHEN $3 = 'working' AND started_at IS NULL THEN now() ELSE started_at END,
                finished_at = CASE WHEN $6 THEN now() ELSE finished_at END
         WHERE workflow_id = $1 AND node_id = $2",
    )
    .bind(workflow)
    .bind(node)
    .bind(state)
    .bind(output)
    .bind(error)
    .bind(finished)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_workflow_state(
    tx: &mut Tx<'_>,
    workflow: Uuid,
    state: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE orchestrator.workflows SET state = $2, reason = COALESCE($3, reason), updated_at = now()
         WHERE id = $1",
    )
    .bind(workflow)
    .bind(state)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
