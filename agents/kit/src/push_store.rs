use a2a::{A2AError, TaskPushNotificationConfig, error_code};
use a2a_server::PushConfigStore;
use async_trait::async_trait;
use sqlx::PgPool;

use crate::contracts::storage_error;

/// Caps outbound webhooks per task, as the SDK's in-memory store does.
const MAX_CONFIGS_PER_TASK: i64 = 50;

/// The SDK's `PushConfigStore` on Postgres (`agents.push_configs`).
#[derive(Clone)]
pub struct PgPushConfigStore {
    pool: PgPool,
    agent: String,
}

impl PgPushConfigStore {
    pub fn new(pool: PgPool, agent: impl Into<String>) -> Self {
        PgPushConfigStore {
            pool,
            agent: agent.into(),
        }
    }
}

fn decode(value: serde_json::Value) -> Result<TaskPushNotificationConfig, A2AError> {
    serde_json::from_value(value).map_err(|e| storage_error("deserialize push config", e))
}

#[async_trait]
impl PushConfigStore for PgPushConfigStore {
    async fn save(
        &self,
        mut config: TaskPushNotificationConfig,
    ) -> Result<TaskPushNotificationConfig, A2AError> {
        if config.url.trim().is_empty() {
            return Err(A2AError::invalid_params(
                "push config url must not be empty",
            ));
        }
        if config.task_id.is_empty() {
            return Err(A2AError::invalid_params(
                "push config taskId must not be empty",
            ));
        }
        let id = config
            .id
            .get_or_insert_with(|| uuid::Uuid::now_v7().to_string())
            .clone();
        let json =
            serde_json::to_value(&config).map_err(|e| storage_error("serialize push config", e))?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| storage_error("begin", e))?;
        // Lock the task's configs so two concurrent saves cannot both pass the cap.
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM agents.push_configs
               WHERE agent = $1 AND task_id = $2 AND config_id <> $3 FOR UPDATE) c",
        )
        .bind(&self.agent)
        .bind(&config.task_id)
        .bind(&id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| storage_error("count push configs", e))?;
        if count >= MAX_CONFIGS_PER_TASK {
            return Err(A2AError::invalid_params(format!(
                "too many push notification configs for task (max {MAX_CONFIGS_PER_TASK})"
            )));
        }
        sqlx::query(
            "INSERT INTO agents.push_configs (agent, task_id, config_id, config) VALUES ($1, $2, $3, $4)
             ON CONFLICT (agent, task_id, config_id) DO UPDATE SET config = EXCLUDED.config",
        )
        .bind(&self.agent)
        .bind(&config.task_id)
        .bind(&id)
        .bind(json)
        .execute(&mut *tx)
        .await
        .map_err(|e| storage_error("save push config", e))?;
        tx.commit().await.map_err(|e| storage_error("commit", e))?;
        Ok(config)
    }

    async fn get(
        &self,
        task_id: &str,
        config_id: &str,
    ) -> Result<TaskPushNotificationConfig, A2AError> {
        let value: Option<serde_json::Value> = sqlx::query_scalar(
            "SELECT config FROM agents.push_configs WHERE agent = $1 AND task_id = $2 AND config_id = $3",
        )
        .bind(&self.agent)
        .bind(task_id)
        .bind(config_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| storage_error("get push config", e))?;
        match value {
            Some(v) => decode(v),
            None => Err(A2AError::new(
                error_code::TASK_NOT_FOUND,
                format!("push notification config not found: {config_id}"),
            )),
        }
    }

    async fn list(&self, task_id: &str) -> Result<Vec<TaskPushNotificationConfig>, A2AError> {
        let values: Vec<serde_json::Value> = sqlx::query_scalar(
            "SELECT config FROM agents.push_configs WHERE agent = $1 AND task_id = $2 ORDER BY config_id",
        )
        .bind(&self.agent)
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| storage_error("list push configs", e))?;
        values.into_iter().map(decode).collect()
    }

    async fn delete(&self, task_id: &str, config_id: &str) -> Result<(), A2AError> {
        sqlx::query(
            "DELETE FROM agents.push_configs WHERE agent = $1 AND task_id = $2 AND config_id = $3",
        )
        .bind(&self.agent)
        .bind(task_id)
        .bind(config_id)
        .execute(&self.pool)
        .await
        .map_err(|e| storage_error("delete push config", e))?;
        Ok(())
    }

    async fn delete_all(&self, task_id: &str) -> Result<(), A2AError> {
        sqlx::query("DELETE FROM agents.push_configs WHERE agent = $1 AND task_id = $2")
            .bind(&self.agent)
            .bind(task_id)
            .execute(&self.pool)
            .await
            .map_err(|e| storage_error("delete push configs", e))?;
        Ok(())
    }
}
