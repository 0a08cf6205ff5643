use a2a::{A2AError, ListTasksRequest, ListTasksResponse, Task, TaskState};
use a2a_server::TaskStore;
use a2a_server::pagination::resolve_page_size;
use a2a_server::task_store::TaskVersion;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::contracts::storage_error;

/// The SDK's `TaskStore` on Postgres (`agents.tasks`), keyed by agent name.
///
/// Every write is one transaction. Incoming message ids are recorded in the
/// same transaction as the task they belong to, so a sender's retry with a
/// `messageId` it already used is refused, even after a restart.
#[derive(Clone)]
pub struct PgTaskStore {
    pool: PgPool,
    agent: String,
}

impl PgTaskStore {
    pub fn new(pool: PgPool, agent: impl Into<String>) -> Self {
        PgTaskStore {
            pool,
            agent: agent.into(),
        }
    }

    /// Records the ids of `messages`; fails if one was already received for
    /// another task (or for the same new task twice).
    async fn record_messages(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        task_id: &str,
        messages: &[a2a::Message],
        allow_same_task: bool,
    ) -> Result<(), A2AError> {
        for message in messages {
            let inserted = sqlx::query(
                "INSERT INTO agents.received_messages (agent, message_id, task_id) VALUES ($1, $2, $3)
                 ON CONFLICT (agent, message_id) DO NOTHING",
            )
            .bind(&self.agent)
            .bind(&message.message_id)
            .bind(task_id)
            .execute(&mut **tx)
            .await
            .map_err(|e| storage_error("record message id", e))?
            .rows_affected();
            if inserted == 1 {
                continue;
            }
            let owner: Option<String> = sqlx::query_scalar(
                "SELECT task_id FROM agents.received_messages WHERE agent = $1 AND message_id = $2",
            )
            .bind(&self.agent)
            .bind(&message.message_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| storage_error("look up message id", e))?;
            if allow_same_task && owner.as_deref() == Some(task_id) {
                continue;
            }
            return Err(duplicate_message(&message.message_id, owner.as_deref()));
        }
        Ok(())
    }
}

fn duplicate_message(message_id: &str, task: Option<&str>) -> A2AError {
    let mut msg = format!("messageId {message_id:?} was already received by this agent");
    if let Some(task) = task {
        msg.push_str(&format!(" (task {task})"));
    }
    msg.push_str("; send a new messageId for new work, or GetTask for the earlier result");
    A2AError::invalid_params(msg)
}

pub(crate) fn state_name(state: &TaskState) -> String {
    match serde_json::to_value(state) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{state:?}"),
    }
}

fn status_time(task: &Task) -> DateTime<Utc> {
    task.status.timestamp.unwrap_or_else(Utc::now)
}

fn to_json(task: &Task) -> Result<serde_json::Value, A2AError> {
    serde_json::to_value(task).map_err(|e| storage_error("serialize task", e))
}

fn from_json(value: serde_json::Value) -> Result<Task, A2AError> {
    serde_json::from_value(value).map_err(|e| storage_error("deserialize stored task", e))
}

fn encode_cursor(at: DateTime<Utc>, task_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{task_id}", at.timestamp_micros()))
}

fn decode_cursor(token: &str) -> Result<(DateTime<Utc>, String), A2AError> {
    let invalid =
        || A2AError::invalid_params(format!("pageToken {token:?} is not one this agent issued"));
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    Ok((at, id.to_owned()))
}

#[async_trait]
impl TaskStore for PgTaskStore {
    #[tracing::instrument(skip_all, fields(agent = %self.agent, task_id = %task.id))]
    async fn create(&self, task: Task) -> Result<TaskVersion, A2AError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| storage_error("begin", e))?;
        let history = task.history.clone().unwrap_or_default();
        let inserted = sqlx::query(
            "INSERT INTO agents.tasks (agent, task_id, context_id, state, status_at, version, history_len, task)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7)
             ON CONFLICT (agent, task_id) DO NOTHING",
        )
        .bind(&self.agent)
        .bind(&task.id)
        .bind(&task.context_id)
        .bind(state_name(&task.status.state))
        .bind(status_time(&task))
        .bind(history.len() as i32)
        .bind(to_json(&task)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| storage_error("insert task", e))?
        .rows_affected();
        if inserted == 0 {
            return Err(A2AError::invalid_request(format!(
                "task {} already exists",
                task.id
            )));
        }
        self.record_messages(&mut tx, &task.id, &history, false)
            .await?;
        tx.commit().await.map_err(|e| storage_error("commit", e))?;
        Ok(1)
    }

    #[tracing::instrument(skip_all, fields(agent = %self.agent, task_id = %task.id))]
    async fn update(&self, task: Task) -> Result<TaskVersion, A2AError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| storage_error("begin", e))?;
        let row = sqlx::query(
            "SELECT state, version, history_len FROM agents.tasks
             WHERE agent = $1 AND task_id = $2 FOR UPDATE",
        )
        .bind(&self.agent)
        .bind(&task.id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| storage_error("lock task", e))?
        .ok_or_else(|| A2AError::task_not_found(&task.id))?;
        let stored_state: String = row.get("state");
        let version: i64 = row.get("version");
        let stored_history: i32 = row.get("history_len");
        let new_state = state_name(&task.status.state);
        if is_terminal_name(&stored_state) && stored_state != new_state {
            return Err(A2AError::invalid_request(format!(
                "task {} is in terminal state {stored_state} and cannot move to {new_state}",
                task.id
            )));
        }
        let history = task.history.clone().unwrap_or_default();
        let fresh = history
            .get(stored_history.max(0) as usize..)
            .unwrap_or_default();
        self.record_messages(&mut tx, &task.id, fresh, true).await?;
        let version = version + 1;
        sqlx::query(
            "UPDATE agents.tasks
             SET state = $3, status_at = $4, version = $5, history_len = $6, task = $7,
                 context_id = $8, updated_at = now()
             WHERE agent = $1 AND task_id = $2",
        )
        .bind(&self.agent)
        .bind(&task.id)
        .bind(&new_state)
        .bind(status_time(&task))
        .bind(version)
        .bind(history.len() as i32)
        .bind(to_json(&task)?)
        .bind(&task.context_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| storage_error("update task", e))?;
        tx.commit().await.map_err(|e| storage_error("commit", e))?;
        Ok(version as TaskVersion)
    }

    async fn get(&self, task_id: &str) -> Result<Option<Task>, A2AError> {
        let task: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT task FROM agents.tasks WHERE agent = $1 AND task_id = $2")
                .bind(&self.agent)
                .bind(task_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| storage_error("get task", e))?;
        task.map(from_json).transpose()
    }

    #[tracing::instrument(skip_all, fields(agent = %self.agent))]
    async fn list(&self, req: &ListTasksRequest) -> Result<ListTasksResponse, A2AError> {
        let page_size = resolve_page_size(req.page_size);
        let cursor = req
            .page_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(decode_cursor)
            .transpose()?;
        let state = req.status.as_ref().map(state_name);
        // One filter shared by the page query and the count.
        const FILTER: &str = "agent = $1
             AND ($2::text IS NULL OR context_id = $2)
             AND ($3::text IS NULL OR state = $3)
             AND ($4::timestamptz IS NULL OR status_at > $4)";
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM agents.tasks WHERE {FILTER}"))
                .bind(&self.agent)
                .bind(&req.context_id)
                .bind(&state)
                .bind(req.status_timestamp_after)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| storage_error("count tasks", e))?;
        let rows = sqlx::query(&format!(
            "SELECT task, status_at, task_id FROM agents.tasks WHERE {FILTER}
               AND ($5::timestamptz IS NULL OR (status_at, task_id) < ($5, $6))
             ORDER BY status_at DESC, task_id DESC
             LIMIT $7"
        ))
        .bind(&self.agent)
        .bind(&req.context_id)
        .bind(&state)
        .bind(req.status_timestamp_after)
        .bind(cursor.as_ref().map(|c| c.0))
        .bind(cursor.as_ref().map(|c| c.1.clone()))
        .bind(page_size as i64 + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| storage_error("list tasks", e))?;

        let more = rows.len() > page_size;
        let mut tasks = Vec::with_capacity(page_size.min(rows.len()));
        let mut last = None;
        for row in rows.into_iter().take(page_size) {
            let mut task = from_json(row.get("task"))?;
            if req.include_artifacts != Some(true) {
                task.artifacts = None;
            }
            last = Some((
                row.get::<DateTime<Utc>, _>("status_at"),
                row.get::<String, _>("task_id"),
            ));
            tasks.push(task);
        }
        let next_page_token = match (more, last) {
            (true, Some((at, id))) => encode_cursor(at, &id),
            _ => String::new(),
        };
        Ok(ListTasksResponse {
            tasks,
            next_page_token,
            page_size: page_size as i32,
            total_size: total as i32,
        })
    }

    #[tracing::instrument(skip_all, fields(agent = %self.agent, task_id))]
    async fn begin_cancel(&self, task_id: &str) -> Result<Task, A2AError> {
        // The row lock serialises concurrent cancels: the second one waits,
        // then sees the terminal state and is refused.
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| storage_error("begin", e))?;
        let row = sqlx::query(
            "SELECT task, version FROM agents.tasks WHERE agent = $1 AND task_id = $2 FOR UPDATE",
        )
        .bind(&self.agent)
        .bind(task_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| storage_error("lock task", e))?
        .ok_or_else(|| A2AError::task_not_found(task_id))?;
        let mut task = from_json(row.get("task"))?;
        let version: i64 = row.get("version");
        if task.status.state.is_terminal() {
            return Err(A2AError::task_not_cancelable(task_id));
        }
        task.status.state = TaskState::Canceled;
        task.status.timestamp = Some(Utc::now());
        sqlx::query(
            "UPDATE agents.tasks SET state = $3, status_at = $4, version = $5, task = $6, updated_at = now()
             WHERE agent = $1 AND task_id = $2",
        )
        .bind(&self.agent)
        .bind(task_id)
        .bind(state_name(&task.status.state))
        .bind(status_time(&task))
        .bind(version + 1)
        .bind(to_json(&task)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| storage_error("cancel task", e))?;
        tx.commit().await.map_err(|e| storage_error("commit", e))?;
        Ok(task)
    }
}

fn is_terminal_name(state: &str) -> bool {
    [
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Canceled,
        TaskState::Rejected,
    ]
    .iter()
    .any(|s| state_name(s) == state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let token = encode_cursor(at, "task-1");
        assert_eq!(decode_cursor(&token).unwrap(), (at, "task-1".to_owned()));
        assert!(decode_cursor("%%%").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("x|y")).is_err());
    }

    #[test]
    fn state_names_are_the_wire_names() {
        assert_eq!(state_name(&TaskState::Working), "TASK_STATE_WORKING");
        assert!(is_terminal_name("TASK_STATE_CANCELED"));
        assert!(!is_terminal_name("TASK_STATE_INPUT_REQUIRED"));
    }
}
