//! Suites and validation results in Postgres (`quality` schema). Suites are
//! versioned and old versions are kept, so every result names the exact
//! expectations it ran. Every write is one transaction.

use chrono::{DateTime, Utc};
use mlops_mcp_kit::ToolError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::evaluate::{ExpectationResult, Statistics};
use crate::suite::{Expectation, SuiteDefinition, SuiteName};

fn db(context: &'static str) -> impl Fn(sqlx::Error) -> ToolError {
    move |e| ToolError::internal(context, e)
}

/// One version of a suite.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StoredSuite {
    pub name: String,
    pub version: i32,
    pub expectations: Vec<Expectation>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A suite's latest version, for listings.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SuiteSummary {
    pub name: String,
    pub latest_version: i32,
    pub expectations: i32,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// The dataset version a checkpoint ran on.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DatasetRef {
    pub name: String,
    /// `sha256:<content hash>`, as the storage manifest and the registry write it.
    pub digest: String,
    pub rows: i64,
}

/// The suite version a checkpoint ran.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SuiteRef {
    pub name: String,
    pub version: i32,
}

/// One checkpoint run: a suite version over a dataset version.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ValidationResult {
    #[schemars(with = "String")]
    pub id: Uuid,
    pub dataset: DatasetRef,
    pub suite: SuiteRef,
    /// Whether every expectation was met.
    pub success: bool,
    pub statistics: Statistics,
    /// One per expectation, in suite order.
    pub results: Vec<ExpectationResult>,
    pub run_by: String,
    pub created_at: DateTime<Utc>,
}

/// What a checkpoint records; the store adds the id and time.
pub struct NewValidationResult {
    pub dataset: DatasetRef,
    pub suite: SuiteRef,
    pub results: Vec<ExpectationResult>,
    pub run_by: String,
}

#[derive(Clone)]
pub struct QualityStore {
    pool: PgPool,
}

/// Expectations read back from the database. They were checked on the way
/// in; a row that no longer parses is a defect, reported as internal.
fn expectations_from(definition: Value) -> Result<Vec<Expectation>, ToolError> {
    serde_json::from_value(definition).map_err(|e| ToolError::internal("read a stored suite", e))
}

fn suite_from_row(row: &sqlx::postgres::PgRow) -> Result<StoredSuite, ToolError> {
    Ok(StoredSuite {
        name: row.get("name"),
        version: row.get("version"),
        expectations: expectations_from(row.get("definition"))?,
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
    })
}

impl QualityStore {
    pub fn new(pool: PgPool) -> Self {
        QualityStore { pool }
    }

    /// Stores `definition` as the next version of `name`, unless it equals
    /// the latest version, which is returned as is (`false`: nothing written),
    /// so a retried call is harmless.
    pub async fn put_suite(
        &self,
        name: &SuiteName,
        definition: &SuiteDefinition,
        caller: &str,
    ) -> Result<(StoredSuite, bool), ToolError> {
        let json = serde_json::to_value(definition)
            .map_err(|e| ToolError::internal("serialize a suite", e))?;
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        // Serialises puts of one name, including the first, when there is
        // no row yet to lock.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('quality.suites/' || $1, 0))")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db("lock suite"))?;
        let latest = sqlx::query(
            "SELECT name, version, definition, created_by, created_at FROM quality.suites
             WHERE name = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(name.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("read suite"))?;
        let next_version = match latest {
            Some(row) => {
                let latest = suite_from_row(&row)?;
                if latest.expectations == definition.expectations() {
                    return Ok((latest, false));
                }
                latest.version + 1
            }
            None => 1,
        };
        let created_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO quality.suites (name, version, definition, created_by)
             VALUES ($1, $2, $3, $4) RETURNING created_at",
        )
        .bind(name.as_str())
        .bind(next_version)
        .bind(&json)
        .bind(caller)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("insert suite"))?;
        tx.commit().await.map_err(db("commit"))?;
        Ok((
            StoredSuite {
                name: name.as_str().to_owned(),
                version: next_version,
                expectations: definition.expectations().to_vec(),
                created_by: caller.to_owned(),
                created_at,
            },
            true,
        ))
    }

    /// A suite at `version`, or its latest version.
    pub async fn suite(
        &self,
        name: &SuiteName,
        version: Option<i32>,
    ) -> Result<StoredSuite, ToolError> {
        let row = sqlx::query(
            "SELECT name, version, definition, created_by, created_at FROM quality.suites
             WHERE name = $1 AND ($2::int IS NULL OR version = $2)
             ORDER BY version DESC LIMIT 1",
        )
        .bind(name.as_str())
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("read suite"))?;
        if let Some(row) = row {
            return suite_from_row(&row);
        }
        let latest: Option<i32> =
            sqlx::query_scalar("SELECT max(version) FROM quality.suites WHERE name = $1")
                .bind(name.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(db("read suite"))?;
        Err(match (latest, version) {
            (Some(latest), Some(v)) => ToolError::NotFound(format!(
                "suite {:?} has no version {v}; its latest is {latest}",
                name.as_str()
            )),
            _ => ToolError::NotFound(format!(
                "no suite {:?}; create it with put_suite",
                name.as_str()
            )),
        })
    }

    pub async fn suites(&self) -> Result<Vec<SuiteSummary>, ToolError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (name) name, version, jsonb_array_length(definition) AS expectations,
                    created_by, created_at
             FROM quality.suites ORDER BY name, version DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list suites"))?;
        Ok(rows
            .iter()
            .map(|row| SuiteSummary {
                name: row.get("name"),
                latest_version: row.get("version"),
                expectations: row.get("expectations"),
                updated_by: row.get("created_by"),
                updated_at: row.get("created_at"),
            })
            .collect())
    }

    /// Records a checkpoint's result; one statement, so one transaction.
    pub async fn insert_result(
        &self,
        new: NewValidationResult,
    ) -> Result<ValidationResult, ToolError> {
        let id = Uuid::now_v7();
        let statistics = Statistics::of(&new.results);
        let success = statistics.unsuccessful_expectations == 0;
        let results = serde_json::to_value(&new.results)
            .map_err(|e| ToolError::internal("serialize results", e))?;
        let created_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO quality.validation_results
                 (id, dataset, dataset_digest, dataset_rows, suite, suite_version, success,
                  evaluated_expectations, successful_expectations, results, run_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             RETURNING created_at",
        )
        .bind(id)
        .bind(&new.dataset.name)
        .bind(&new.dataset.digest)
        .bind(new.dataset.rows)
        .bind(&new.suite.name)
        .bind(new.suite.version)
        .bind(success)
        .bind(statistics.evaluated_expectations as i32)
        .bind(statistics.successful_expectations as i32)
        .bind(&results)
        .bind(&new.run_by)
        .fetch_one(&self.pool)
        .await
        .map_err(db("insert validation result"))?;
        Ok(ValidationResult {
            id,
            dataset: new.dataset,
            suite: new.suite,
            success,
            statistics,
            results: new.results,
            run_by: new.run_by,
            created_at,
        })
    }

    pub async fn result(&self, id: Uuid) -> Result<ValidationResult, ToolError> {
        let row = sqlx::query(
            "SELECT id, dataset, dataset_digest, dataset_rows, suite, suite_version, success,
                    evaluated_expectations, successful_expectations, results, run_by, created_at
             FROM quality.validation_results WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("read validation result"))?
        .ok_or_else(|| ToolError::NotFound(format!("no validation result {id}")))?;
        let evaluated: i32 = row.get("evaluated_expectations");
        let successful: i32 = row.get("successful_expectations");
        Ok(ValidationResult {
            id: row.get("id"),
            dataset: DatasetRef {
                name: row.get("dataset"),
                digest: row.get("dataset_digest"),
                rows: row.get("dataset_rows"),
            },
            suite: SuiteRef {
                name: row.get("suite"),
                version: row.get("suite_version"),
            },
            success: row.get("success"),
            // The table's CHECKs keep both counts non-negative.
            statistics: Statistics::new(evaluated.max(0) as u32, successful.max(0) as u32),
            results: serde_json::from_value(row.get("results"))
                .map_err(|e| ToolError::internal("read validation results", e))?,
            run_by: row.get("run_by"),
            created_at: row.get("created_at"),
        })
    }
}
