//! The registry's data in Postgres (`registry` schema). Every change is one
//! transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::{PgPool, Row};

use crate::ToolError;
use crate::domain::{Alias, ModelName};

fn db(context: &'static str) -> impl Fn(sqlx::Error) -> ToolError {
    move |e| ToolError::internal(context, e)
}

/// A model and what serves it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ModelSummary {
    pub name: String,
    pub description: String,
    pub latest_version: Option<i32>,
    pub versions: i64,
    /// alias → version
    pub aliases: Map<String, Value>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One version with its metrics and lineage.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ModelVersion {
    pub model: String,
    pub version: i32,
    pub status: String,
    pub params: Value,
    pub metrics: Value,
    pub dataset_digest: String,
    pub training_run_id: String,
    pub artifact_uri: String,
    pub code_digest: Option<String>,
    pub protected_attribute: Option<String>,
    pub aliases: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Everything a new version records.
pub struct NewVersion {
    pub params: Map<String, Value>,
    pub metrics: Map<String, Value>,
    pub dataset_digest: String,
    pub training_run_id: String,
    pub artifact_uri: String,
    pub code_digest: Option<String>,
    pub protected_attribute: Option<String>,
}

/// Filters for `search_versions`.
pub struct VersionQuery {
    pub model: Option<ModelName>,
    pub status: Option<String>,
    pub metric: Option<String>,
    pub min_value: Option<f64>,
    pub limit: i64,
}

#[derive(Clone)]
pub struct RegistryStore {
    pool: PgPool,
}

const VERSION_COLUMNS: &str = "v.model, v.version, v.status, v.params, v.metrics, v.dataset_digest,
    v.training_run_id, v.artifact_uri, v.code_digest, v.protected_attribute, v.created_by, v.created_at,
    COALESCE((SELECT array_agg(a.alias ORDER BY a.alias) FROM registry.aliases a
              WHERE a.model = v.model AND a.version = v.version), '{}') AS aliases";

fn version_from_row(row: &sqlx::postgres::PgRow) -> ModelVersion {
    ModelVersion {
        model: row.get("model"),
        version: row.get("version"),
        status: row.get("status"),
        params: row.get("params"),
        metrics: row.get("metrics"),
        dataset_digest: row.get("dataset_digest"),
        training_run_id: row.get("training_run_id"),
        artifact_uri: row.get("artifact_uri"),
        code_digest: row.get("code_digest"),
        protected_attribute: row.get("protected_attribute"),
        aliases: row.get("aliases"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
    }
}

impl RegistryStore {
    pub fn new(pool: PgPool) -> Self {
        RegistryStore { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Registers `name`; registering it again returns the existing model,
    /// so a retried call is harmless. The bool says whether it was created.
    pub async fn register_model(
        &self,
        name: &ModelName,
        description: &str,
        caller: &str,
    ) -> Result<(ModelSummary, bool), ToolError> {
        let created = sqlx::query(
            "INSERT INTO registry.models (name, description, created_by) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(description)
        .bind(caller)
        .execute(&self.pool)
        .await
        .map_err(db("register model"))?
        .rows_affected()
            == 1;
        let model = self.model(name).await?;
        Ok((model, created))
    }

    pub async fn model(&self, name: &ModelName) -> Result<ModelSummary, ToolError> {
        self.models(Some(name)).await?.pop().ok_or_else(|| {
            ToolError::NotFound(format!("model {:?} is not registered", name.as_str()))
        })
    }

    pub async fn models(&self, only: Option<&ModelName>) -> Result<Vec<ModelSummary>, ToolError> {
        let rows = sqlx::query(
            "SELECT m.name, m.description, m.created_by, m.created_at,
                    (SELECT max(version) FROM registry.versions v WHERE v.model = m.name) AS latest,
                    (SELECT count(*) FROM registry.versions v WHERE v.model = m.name) AS versions,
                    COALESCE((SELECT jsonb_object_agg(a.alias, a.version) FROM registry.aliases a
                              WHERE a.model = m.name), '{}'::jsonb) AS aliases
             FROM registry.models m
             WHERE $1::text IS NULL OR m.name = $1
             ORDER BY m.name",
        )
        .bind(only.map(|n| n.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list models"))?;
        Ok(rows
            .iter()
            .map(|row| ModelSummary {
                name: row.get("name"),
                description: row.get("description"),
                latest_version: row.get("latest"),
                versions: row.get("versions"),
                aliases: match row.get::<Value, _>("aliases") {
                    Value::Object(map) => map,
                    _ => Map::new(),
                },
                created_by: row.get("created_by"),
                created_at: row.get("created_at"),
            })
            .collect())
    }

    /// Adds the next version of `model`.
    pub async fn create_version(
        &self,
        model: &ModelName,
        new: NewVersion,
        caller: &str,
    ) -> Result<ModelVersion, ToolError> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Locking the model row serialises version numbering per model.
        let exists = sqlx::query("SELECT 1 FROM registry.models WHERE name = $1 FOR UPDATE")
            .bind(model.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("lock model"))?
            .is_some();
        if !exists {
            return Err(ToolError::NotFound(format!(
                "model {:?} is not registered; call register_model first",
                model.as_str()
            )));
        }
        let version: i32 = sqlx::query_scalar(
            "INSERT INTO registry.versions (model, version, params, metrics, dataset_digest, training_run_id,
                 artifact_uri, code_digest, protected_attribute, created_by)
             SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9
             FROM registry.versions WHERE model = $1
             RETURNING version",
        )
        .bind(model.as_str())
        .bind(Value::Object(new.params))
        .bind(Value::Object(new.metrics))
        .bind(&new.dataset_digest)
        .bind(&new.training_run_id)
        .bind(&new.artifact_uri)
        .bind(&new.code_digest)
        .bind(&new.protected_attribute)
        .bind(caller)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("insert version"))?;
        tx.commit().await.map_err(db("commit"))?;
        self.version(model, version).await
    }

    /// The error for something of `model` that is missing: the model itself
    /// when it is not registered, else `what` (e.g. "no version 7").
    async fn missing(&self, model: &ModelName, what: String) -> ToolError {
        match self.model(model).await {
            Ok(_) => ToolError::NotFound(format!("model {:?} has {what}", model.as_str())),
            Err(e) => e,
        }
    }

    pub async fn version(
        &self,
        model: &ModelName,
        version: i32,
    ) -> Result<ModelVersion, ToolError> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM registry.versions v WHERE v.model = $1 AND v.version = $2"
        ))
        .bind(model.as_str())
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("get version"))?;
        match row {
            Some(row) => Ok(version_from_row(&row)),
            None => Err(self.missing(model, format!("no version {version}")).await),
        }
    }

    pub async fn version_by_alias(
        &self,
        model: &ModelName,
        alias: &Alias,
    ) -> Result<ModelVersion, ToolError> {
        let version: Option<i32> = sqlx::query_scalar(
            "SELECT version FROM registry.aliases WHERE model = $1 AND alias = $2",
        )
        .bind(model.as_str())
        .bind(alias.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("resolve alias"))?;
        match version {
            Some(v) => self.version(model, v).await,
            None => Err(self
                .missing(model, format!("no alias {:?}", alias.as_str()))
                .await),
        }
    }

    /// Points `alias` at `version`; returns the version it pointed at before.
    pub async fn set_alias(
        &self,
        model: &ModelName,
        alias: &Alias,
        version: i32,
        caller: &str,
    ) -> Result<Option<i32>, ToolError> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM registry.versions WHERE model = $1 AND version = $2 FOR SHARE",
        )
        .bind(model.as_str())
        .bind(version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("check version"))?;
        match status.as_deref() {
            None => {
                drop(tx);
                return Err(self.missing(model, format!("no version {version}")).await);
            }
            Some("archived") => {
                return Err(ToolError::Conflict(format!(
                    "version {version} of {:?} is archived; an alias cannot point at it",
                    model.as_str()
                )));
            }
            Some(_) => {}
        }
        let previous: Option<i32> = sqlx::query_scalar(
            "SELECT version FROM registry.aliases WHERE model = $1 AND alias = $2 FOR UPDATE",
        )
        .bind(model.as_str())
        .bind(alias.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("read alias"))?;
        sqlx::query(
            "INSERT INTO registry.aliases (model, alias, version, updated_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (model, alias) DO UPDATE
             SET version = EXCLUDED.version, updated_by = EXCLUDED.updated_by, updated_at = now()",
        )
        .bind(model.as_str())
        .bind(alias.as_str())
        .bind(version)
        .bind(caller)
        .execute(&mut *tx)
        .await
        .map_err(db("set alias"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok(previous)
    }

    /// Removes `alias`; returns the version it pointed at.
    pub async fn delete_alias(&self, model: &ModelName, alias: &Alias) -> Result<i32, ToolError> {
        let removed: Option<i32> = sqlx::query_scalar(
            "DELETE FROM registry.aliases WHERE model = $1 AND alias = $2 RETURNING version",
        )
        .bind(model.as_str())
        .bind(alias.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("delete alias"))?;
        match removed {
            Some(v) => Ok(v),
            None => Err(self
                .missing(model, format!("no alias {:?}", alias.as_str()))
                .await),
        }
    }

    /// Archives a version no alias points at.
    pub async fn archive_version(
        &self,
        model: &ModelName,
        version: i32,
    ) -> Result<ModelVersion, ToolError> {
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        let found = sqlx::query(
            "SELECT 1 FROM registry.versions WHERE model = $1 AND version = $2 FOR UPDATE",
        )
        .bind(model.as_str())
        .bind(version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("lock version"))?
        .is_some();
        if !found {
            drop(tx);
            return self.version(model, version).await;
        }
        let aliases: Vec<String> = sqlx::query_scalar(
            "SELECT alias FROM registry.aliases WHERE model = $1 AND version = $2 ORDER BY alias FOR UPDATE",
        )
        .bind(model.as_str())
        .bind(version)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("read aliases"))?;
        if !aliases.is_empty() {
            return Err(ToolError::Conflict(format!(
                "version {version} of {:?} is {}; move or delete the alias first",
                model.as_str(),
                aliases.join(" and ")
            )));
        }
        sqlx::query(
            "UPDATE registry.versions SET status = 'archived', archived_at = COALESCE(archived_at, now())
             WHERE model = $1 AND version = $2",
        )
        .bind(model.as_str())
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(db("archive version"))?;
        tx.commit().await.map_err(db("commit"))?;
        self.version(model, version).await
    }

    pub async fn search(&self, query: &VersionQuery) -> Result<Vec<ModelVersion>, ToolError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM registry.versions v
             WHERE ($1::text IS NULL OR v.model = $1)
               AND ($2::text IS NULL OR v.status = $2)
               AND ($3::text IS NULL OR v.metrics ? $3)
               AND ($4::float8 IS NULL OR (jsonb_typeof(v.metrics -> $3) = 'number'
                                           AND (v.metrics ->> $3)::float8 >= $4))
             ORDER BY CASE WHEN $3::text IS NULL THEN NULL ELSE (v.metrics ->> $3)::float8 END DESC NULLS LAST,
                      v.created_at DESC, v.version DESC
             LIMIT $5"
        ))
        .bind(query.model.as_ref().map(|m| m.as_str()))
        .bind(&query.status)
        .bind(&query.metric)
        .bind(query.min_value)
        .bind(query.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("search versions"))?;
        Ok(rows.iter().map(version_from_row).collect())
    }
}
