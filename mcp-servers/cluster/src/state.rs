//! The desired state of deployments in Postgres (`cluster` schema). Every
//! change is one transaction that also bumps the model's generation, so
//! backends and routers can tell newer from older.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mlops_mcp_kit::ToolError;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Row, Transaction};

fn db(context: &'static str) -> impl Fn(sqlx::Error) -> ToolError {
    move |e| ToolError::internal(context, e)
}

/// One deployed version as desired.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Deployment {
    pub version: i32,
    pub artifact_key: String,
    pub replicas: i32,
    pub weight: i32,
    pub error_share: f64,
    pub added_latency_ms: i32,
    pub restart_epoch: i32,
    /// The dataset the version was trained on, when the deployer said.
    pub reference: Option<DatasetReference>,
    pub updated_at: DateTime<Utc>,
}

/// A dataset version: the training data a deployed version is compared
/// against for drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetReference {
    /// Dataset name, e.g. "transactions".
    pub dataset: String,
    /// Dataset version (its sha256 content hash).
    pub version: String,
}

/// A model's desired state: every deployed version.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ModelState {
    pub model: String,
    pub generation: i64,
    pub deployments: Vec<Deployment>,
}

impl ModelState {
    pub fn deployment(&self, version: i32) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.version == version)
    }
}

pub async fn model_state(pool: &PgPool, model: &str) -> Result<Option<ModelState>, ToolError> {
    let mut tx = pool.begin().await.map_err(db("read a deployment"))?;
    let state = read_model(&mut tx, model, false).await?;
    tx.commit().await.map_err(db("read a deployment"))?;
    Ok(state)
}

pub async fn all_models(pool: &PgPool) -> Result<Vec<ModelState>, ToolError> {
    let names: Vec<String> = sqlx::query_scalar("SELECT model FROM cluster.models ORDER BY model")
        .fetch_all(pool)
        .await
        .map_err(db("list deployments"))?;
    let mut out = Vec::new();
    for name in names {
        if let Some(state) = model_state(pool, &name).await? {
            out.push(state);
        }
    }
    Ok(out)
}

async fn read_model(
    tx: &mut Transaction<'_, Postgres>,
    model: &str,
    lock: bool,
) -> Result<Option<ModelState>, ToolError> {
    let sql = if lock {
        "SELECT generation FROM cluster.models WHERE model = $1 FOR UPDATE"
    } else {
        "SELECT generation FROM cluster.models WHERE model = $1"
    };
    let Some(generation) = sqlx::query_scalar::<_, i64>(sql)
        .bind(model)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("read a deployment"))?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT version, artifact_key, replicas, weight, error_share, added_latency_ms,
                restart_epoch, reference_dataset, reference_version, updated_at
           FROM cluster.deployments WHERE model = $1 ORDER BY version",
    )
    .bind(model)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("read a deployment"))?;
    let deployments = rows
        .iter()
        .map(|r| Deployment {
            version: r.get("version"),
            artifact_key: r.get("artifact_key"),
            replicas: r.get("replicas"),
            weight: r.get("weight"),
            error_share: r.get("error_share"),
            added_latency_ms: r.get("added_latency_ms"),
            restart_epoch: r.get("restart_epoch"),
            reference: match (
                r.get::<Option<String>, _>("reference_dataset"),
                r.get::<Option<String>, _>("reference_version"),
            ) {
                (Some(dataset), Some(version)) => Some(DatasetReference { dataset, version }),
                _ => None,
            },
            updated_at: r.get("updated_at"),
        })
        .collect();
    Ok(Some(ModelState {
        model: model.to_owned(),
        generation,
        deployments,
    }))
}

/// Locks the model and hands its state to `change`, which writes within
/// the same transaction; then bumps the generation and commits. Returns the
/// state after the change, or `None` when the change removed the model.
async fn change<F>(pool: &PgPool, model: &str, change: F) -> Result<Option<ModelState>, ToolError>
where
    F: AsyncFnOnce(&mut Transaction<'_, Postgres>, &ModelState) -> Result<(), ToolError>,
{
    let mut tx = pool.begin().await.map_err(db("change a deployment"))?;
    let state = read_model(&mut tx, model, true)
        .await?
        .ok_or_else(|| ToolError::NotFound(format!("model {model:?} has no deployment")))?;
    change(&mut tx, &state).await?;
    sqlx::query(
        "UPDATE cluster.models SET generation = generation + 1, updated_at = now() WHERE model = $1",
    )
    .bind(model)
    .execute(&mut *tx)
    .await
    .map_err(db("change a deployment"))?;
    let after = read_model(&mut tx, model, false).await?;
    tx.commit().await.map_err(db("change a deployment"))?;
    Ok(after)
}

fn missing(model: &str, version: i32) -> ToolError {
    ToolError::NotFound(format!("model {model:?} has no deployed version {version}"))
}

/// Creates or updates a version's deployment. A model's first version takes
/// all traffic; later versions start at weight 0 until a split says more.
pub async fn apply(
    pool: &PgPool,
    model: &str,
    version: i32,
    artifact_key: &str,
    replicas: i32,
    reference: Option<&DatasetReference>,
    by: &str,
) -> Result<(ModelState, bool), ToolError> {
    let mut tx = pool.begin().await.map_err(db("apply a deployment"))?;
    sqlx::query(
        "INSERT INTO cluster.models (model, created_by) VALUES ($1, $2)
         ON CONFLICT (model) DO NOTHING",
    )
    .bind(model)
    .bind(by)
    .execute(&mut *tx)
    .await
    .map_err(db("apply a deployment"))?;
    let state = read_model(&mut tx, model, true)
        .await?
        .ok_or_else(|| ToolError::internal("apply a deployment", "model row vanished"))?;
    let created = match state.deployment(version) {
        Some(existing) if existing.artifact_key != artifact_key => {
            return Err(ToolError::Conflict(format!(
                "version {version} of {model:?} is deployed from {}; a version's artifact never changes",
                existing.artifact_key
            )));
        }
        Some(_) => {
            sqlx::query(
                "UPDATE cluster.deployments
                    SET replicas = $3,
                        reference_dataset = COALESCE($4, reference_dataset),
                        reference_version = COALESCE($5, reference_version),
                        updated_at = now()
                  WHERE model = $1 AND version = $2",
            )
            .bind(model)
            .bind(version)
            .bind(replicas)
            .bind(reference.map(|r| r.dataset.as_str()))
            .bind(reference.map(|r| r.version.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(db("apply a deployment"))?;
            false
        }
        None => {
            let weight = if state.deployments.is_empty() { 100 } else { 0 };
            sqlx::query(
                "INSERT INTO cluster.deployments
                        (model, version, artifact_key, replicas, weight, created_by,
                         reference_dataset, reference_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(model)
            .bind(version)
            .bind(artifact_key)
            .bind(replicas)
            .bind(weight)
            .bind(by)
            .bind(reference.map(|r| r.dataset.as_str()))
            .bind(reference.map(|r| r.version.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(db("apply a deployment"))?;
            true
        }
    };
    sqlx::query(
        "UPDATE cluster.models SET generation = generation + 1, updated_at = now() WHERE model = $1",
    )
    .bind(model)
    .execute(&mut *tx)
    .await
    .map_err(db("apply a deployment"))?;
    let after = read_model(&mut tx, model, false)
        .await?
        .ok_or_else(|| ToolError::internal("apply a deployment", "model row vanished"))?;
    tx.commit().await.map_err(db("apply a deployment"))?;
    Ok((after, created))
}

/// Sets every version's weight: listed versions get theirs, others 0.
/// The caller has checked the weights are 0..=100 and sum to 100.
pub async fn set_split(
    pool: &PgPool,
    model: &str,
    weights: &BTreeMap<i32, i32>,
) -> Result<ModelState, ToolError> {
    change(pool, model, async |tx, state| {
        if let Some(v) = weights.keys().find(|v| state.deployment(**v).is_none()) {
            return Err(missing(model, *v));
        }
        for d in &state.deployments {
            let weight = weights.get(&d.version).copied().unwrap_or(0);
            if weight > 0 && d.replicas == 0 {
                return Err(ToolError::Invalid(format!(
                    "version {} has no replicas; scale it up before sending it traffic",
                    d.version
                )));
            }
            sqlx::query(
                "UPDATE cluster.deployments SET weight = $3, updated_at = now()
                  WHERE model = $1 AND version = $2",
            )
            .bind(model)
            .bind(d.version)
            .bind(weight)
            .execute(&mut **tx)
            .await
            .map_err(db("set a traffic split"))?;
        }
        Ok(())
    })
    .await?
    .ok_or_else(|| ToolError::internal("set a traffic split", "model vanished"))
}

pub async fn scale(
    pool: &PgPool,
    model: &str,
    version: i32,
    replicas: i32,
) -> Result<ModelState, ToolError> {
    change(pool, model, async |tx, state| {
        let d = state
            .deployment(version)
            .ok_or_else(|| missing(model, version))?;
        if replicas == 0 && d.weight > 0 {
            return Err(ToolError::Conflict(format!(
                "version {version} takes {}% of traffic; shift it away before scaling to zero",
                d.weight
            )));
        }
        sqlx::query(
            "UPDATE cluster.deployments SET replicas = $3, updated_at = now()
              WHERE model = $1 AND version = $2",
        )
        .bind(model)
        .bind(version)
        .bind(replicas)
        .execute(&mut **tx)
        .await
        .map_err(db("scale a deployment"))?;
        Ok(())
    })
    .await?
    .ok_or_else(|| ToolError::internal("scale a deployment", "model vanished"))
}

/// Removes a version; removing the last one removes the model (and its
/// router). A version with traffic is refused while others remain.
pub async fn delete(
    pool: &PgPool,
    model: &str,
    version: i32,
) -> Result<Option<ModelState>, ToolError> {
    change(pool, model, async |tx, state| {
        let d = state
            .deployment(version)
            .ok_or_else(|| missing(model, version))?;
        if d.weight > 0 && state.deployments.len() > 1 {
            return Err(ToolError::Conflict(format!(
                "version {version} takes {}% of traffic; shift it away before deleting it",
                d.weight
            )));
        }
        sqlx::query("DELETE FROM cluster.deployments WHERE model = $1 AND version = $2")
            .bind(model)
            .bind(version)
            .execute(&mut **tx)
            .await
            .map_err(db("delete a deployment"))?;
        if state.deployments.len() == 1 {
            sqlx::query("DELETE FROM cluster.models WHERE model = $1")
                .bind(model)
                .execute(&mut **tx)
                .await
                .map_err(db("delete a deployment"))?;
        }
        Ok(())
    })
    .await
}

pub async fn restart(pool: &PgPool, model: &str, version: i32) -> Result<ModelState, ToolError> {
    change(pool, model, async |tx, state| {
        state
            .deployment(version)
            .ok_or_else(|| missing(model, version))?;
        sqlx::query(
            "UPDATE cluster.deployments SET restart_epoch = restart_epoch + 1, updated_at = now()
              WHERE model = $1 AND version = $2",
        )
        .bind(model)
        .bind(version)
        .execute(&mut **tx)
        .await
        .map_err(db("restart a deployment"))?;
        Ok(())
    })
    .await?
    .ok_or_else(|| ToolError::internal("restart a deployment", "model vanished"))
}

pub async fn set_fault(
    pool: &PgPool,
    model: &str,
    version: i32,
    error_share: f64,
    added_latency_ms: i32,
) -> Result<ModelState, ToolError> {
    change(pool, model, async |tx, state| {
        state.deployment(version).ok_or_else(|| missing(model, version))?;
        sqlx::query(
            "UPDATE cluster.deployments SET error_share = $3, added_latency_ms = $4, updated_at = now()
              WHERE model = $1 AND version = $2",
        )
        .bind(model)
        .bind(version)
        .bind(error_share)
        .bind(added_latency_ms)
        .execute(&mut **tx)
        .await
        .map_err(db("inject a fault"))?;
        Ok(())
    })
    .await?
    .ok_or_else(|| ToolError::internal("inject a fault", "model vanished"))
}
