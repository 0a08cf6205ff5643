//! Jobs, their logs and searches in Postgres (`trainer` schema). Every state
//! change is one statement or one transaction; a running job's updates are
//! guarded by the runner that claimed it, so a job failed as orphaned
//! cannot be "finished" later by a runner that lost it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use mlops_models::Algorithm;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A job's life: queued → running → succeeded | failed.
pub const STATES: &[&str] = &["queued", "running", "succeeded", "failed"];

/// One training job as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRecord {
    pub id: Uuid,
    pub dataset_name: String,
    pub dataset_version: String,
    pub target: String,
    pub features: Vec<String>,
    /// The algorithm and its hyperparameters.
    pub algorithm: Value,
    pub seed: i64,
    pub validation_fraction: f64,
    pub backend: String,
    /// queued, running, succeeded or failed.
    pub state: String,
    /// 0..=1.
    pub progress: f64,
    pub error: Option<String>,
    pub artifact_uri: Option<String>,
    pub artifact_sha256: Option<String>,
    pub metrics: Option<Value>,
    pub search_id: Option<Uuid>,
    pub trial_index: Option<i32>,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobRecord {
    pub fn is_finished(&self) -> bool {
        self.state == "succeeded" || self.state == "failed"
    }

    /// Seconds from start to finish (or to now while running).
    pub fn duration_seconds(&self) -> Option<f64> {
        let started = self.started_at?;
        let end = self.finished_at.unwrap_or_else(Utc::now);
        Some((end - started).num_milliseconds() as f64 / 1000.0)
    }

    pub fn dataset_digest(&self) -> String {
        format!("sha256:{}", self.dataset_version)
    }
}

const JOB_COLUMNS: &str = "id, dataset_name, dataset_version, target, features, algorithm, seed, \
     validation_fraction, backend, state, progress, error, artifact_uri, artifact_sha256, metrics, \
     search_id, trial_index, submitted_by, submitted_at, started_at, finished_at";

/// One log line of a job.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LogLine {
    pub seq: i32,
    pub at: DateTime<Utc>,
    pub line: String,
}

/// A job to insert.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: Uuid,
    pub dataset_name: String,
    pub dataset_version: String,
    pub target: String,
    pub features: Vec<String>,
    pub algorithm: Algorithm,
    pub seed: i64,
    pub validation_fraction: f64,
    pub backend: String,
    pub trial_index: Option<i32>,
    pub submitted_by: String,
}

/// A search to insert with its trial jobs.
#[derive(Debug, Clone)]
pub struct NewSearch {
    pub id: Uuid,
    pub dataset_name: String,
    pub dataset_version: String,
    pub target: String,
    pub algorithm: String,
    pub strategy: String,
    pub space: Value,
    pub metric: String,
    pub seed: i64,
    pub submitted_by: String,
}

/// A stored search.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SearchRecord {
    pub id: Uuid,
    pub dataset_name: String,
    pub dataset_version: String,
    pub target: String,
    pub algorithm: String,
    pub strategy: String,
    pub space: Value,
    pub metric: String,
    pub seed: i64,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(
        "the training queue is full ({queued} jobs queued, {adding} more asked, limit {limit}); try again when jobs finish"
    )]
    QueueFull {
        queued: i64,
        adding: usize,
        limit: usize,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Filters for `list_jobs`.
#[derive(Debug, Default)]
pub struct JobFilter {
    pub state: Option<String>,
    pub dataset_name: Option<String>,
    pub search_id: Option<Uuid>,
    pub limit: i64,
}

#[derive(Clone)]
pub struct JobStore {
    pool: PgPool,
}

impl JobStore {
    pub fn new(pool: PgPool) -> Self {
        JobStore { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Queues `jobs` (and their search, if any) in one transaction, unless
    /// that would put more than `max_queued` jobs in the queue.
    pub async fn submit(
        &self,
        search: Option<&NewSearch>,
        jobs: &[NewJob],
        max_queued: usize,
    ) -> Result<(), SubmitError> {
        let mut tx = self.pool.begin().await?;
        // Serializes submissions so the queue bound holds across replicas.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('trainer.queue'))")
            .execute(&mut *tx)
            .await?;
        let queued: i64 =
            sqlx::query_scalar("SELECT count(*) FROM trainer.jobs WHERE state = 'queued'")
                .fetch_one(&mut *tx)
                .await?;
        if queued as usize + jobs.len() > max_queued {
            return Err(SubmitError::QueueFull {
                queued,
                adding: jobs.len(),
                limit: max_queued,
            });
        }
        if let Some(search) = search {
            sqlx::query(
                "INSERT INTO trainer.searches (id, dataset_name, dataset_version, target, algorithm, strategy, space, metric, seed, submitted_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(search.id)
            .bind(&search.dataset_name)
            .bind(&search.dataset_version)
            .bind(&search.target)
            .bind(&search.algorithm)
            .bind(&search.strategy)
            .bind(&search.space)
            .bind(&search.metric)
            .bind(search.seed)
            .bind(&search.submitted_by)
            .execute(&mut *tx)
            .await?;
        }
        for job in jobs {
            let algorithm = serde_json::to_value(&job.algorithm)
                .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(
                "INSERT INTO trainer.jobs (id, dataset_name, dataset_version, target, features, algorithm, seed,
                                           validation_fraction, backend, search_id, trial_index, submitted_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(job.id)
            .bind(&job.dataset_name)
            .bind(&job.dataset_version)
            .bind(&job.target)
            .bind(&job.features)
            .bind(&algorithm)
            .bind(job.seed)
            .bind(job.validation_fraction)
            .bind(&job.backend)
            .bind(search.map(|s| s.id))
            .bind(job.trial_index)
            .bind(&job.submitted_by)
            .execute(&mut *tx)
            .await?;
            append_log(
                &mut tx,
                job.id,
                &format!(
                    "queued by {}: {} on {}@{} (target {}, {} features, seed {})",
                    job.submitted_by,
                    algorithm,
                    job.dataset_name,
                    job.dataset_version,
                    job.target,
                    job.features.len(),
                    job.seed
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes the oldest queued job of `backend` for `runner`, or `None`. `SKIP LOCKED`
    /// lets several replicas claim from one queue without waiting on each
    /// other or taking the same job.
    pub async fn claim_next(
        &self,
        runner: Uuid,
        backend: &str,
    ) -> Result<Option<JobRecord>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let claimed: Option<JobRecord> = sqlx::query_as(&format!(
            "UPDATE trainer.jobs SET state = 'running', runner_id = $1, started_at = now(), heartbeat_at = now()
             WHERE id = (SELECT id FROM trainer.jobs WHERE state = 'queued' AND backend = $2
                         ORDER BY submitted_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(runner)
        .bind(backend)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(job) = &claimed {
            append_log(&mut tx, job.id, &format!("started on runner {runner}")).await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Proof of life for a running job.
    pub async fn heartbeat(&self, job: Uuid, runner: Uuid) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query(
            "UPDATE trainer.jobs SET heartbeat_at = now() WHERE id = $1 AND runner_id = $2 AND state = 'running'",
        )
        .bind(job)
        .bind(runner)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Moves a running job's progress (never backwards) and logs `line`.
    pub async fn progress(
        &self,
        job: Uuid,
        runner: Uuid,
        progress: f64,
        line: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE trainer.jobs SET progress = GREATEST(progress, $3), heartbeat_at = now()
             WHERE id = $1 AND runner_id = $2 AND state = 'running'",
        )
        .bind(job)
        .bind(runner)
        .bind(progress.clamp(0.0, 1.0))
        .execute(&mut *tx)
        .await?;
        let mine = updated.rows_affected() == 1;
        if mine && let Some(line) = line {
            append_log(&mut tx, job, line).await?;
        }
        tx.commit().await?;
        Ok(mine)
    }

    /// Records success; false if the job is no longer this runner's.
    pub async fn succeed(
        &self,
        job: Uuid,
        runner: Uuid,
        artifact_uri: &str,
        artifact_sha256: &str,
        metrics: &Value,
        line: &str,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE trainer.jobs SET state = 'succeeded', progress = 1, artifact_uri = $3, artifact_sha256 = $4,
                                     metrics = $5, finished_at = now(), heartbeat_at = now()
             WHERE id = $1 AND runner_id = $2 AND state = 'running'",
        )
        .bind(job)
        .bind(runner)
        .bind(artifact_uri)
        .bind(artifact_sha256)
        .bind(metrics)
        .execute(&mut *tx)
        .await?;
        let mine = updated.rows_affected() == 1;
        if mine {
            append_log(&mut tx, job, line).await?;
        }
        tx.commit().await?;
        Ok(mine)
    }

    /// Records failure; false if the job is no longer this runner's.
    pub async fn fail(&self, job: Uuid, runner: Uuid, error: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE trainer.jobs SET state = 'failed', error = $3, finished_at = now(), heartbeat_at = now()
             WHERE id = $1 AND runner_id = $2 AND state = 'running'",
        )
        .bind(job)
        .bind(runner)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        let mine = updated.rows_affected() == 1;
        if mine {
            append_log(&mut tx, job, &format!("failed: {error}")).await?;
        }
        tx.commit().await?;
        Ok(mine)
    }

    /// Fails running jobs whose runner has shown no sign of life for
    /// `lease`: their process died (crash, OOM kill, restart). They are
    /// failed, not re-queued, so a job that kills its process cannot kill
    /// every replica in turn; whoever submitted it decides about a retry.
    pub async fn fail_orphans(&self, lease: Duration) -> Result<Vec<Uuid>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let orphans: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
            "UPDATE trainer.jobs
             SET state = 'failed', finished_at = now(),
                 error = 'the trainer process running this job stopped (no heartbeat for '
                         || $1::text || ' s); nothing was written; submit the job again'
             WHERE state = 'running' AND heartbeat_at < now() - make_interval(secs => $1::double precision)
             RETURNING id, runner_id",
        )
        .bind(lease.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        for (job, runner) in &orphans {
            let runner = runner
                .map(|r| r.to_string())
                .unwrap_or_else(|| "unknown".into());
            append_log(
                &mut tx,
                *job,
                &format!("failed: runner {runner} stopped sending heartbeats; job marked failed"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(orphans.into_iter().map(|(job, _)| job).collect())
    }

    pub async fn get(&self, job: Uuid) -> Result<Option<JobRecord>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM trainer.jobs WHERE id = $1"
        ))
        .bind(job)
        .fetch_optional(&self.pool)
        .await
    }

    /// Newest first; trials of a search in trial order.
    pub async fn list(&self, filter: &JobFilter) -> Result<Vec<JobRecord>, sqlx::Error> {
        let order = if filter.search_id.is_some() {
            "trial_index"
        } else {
            "submitted_at DESC, id"
        };
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM trainer.jobs
             WHERE ($1::text IS NULL OR state = $1)
               AND ($2::text IS NULL OR dataset_name = $2)
               AND ($3::uuid IS NULL OR search_id = $3)
             ORDER BY {order} LIMIT $4"
        ))
        .bind(&filter.state)
        .bind(&filter.dataset_name)
        .bind(filter.search_id)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Log lines with `seq > after`, oldest first.
    pub async fn logs(
        &self,
        job: Uuid,
        after: i32,
        limit: i64,
    ) -> Result<Vec<LogLine>, sqlx::Error> {
        sqlx::query_as(
            "SELECT seq, at, line FROM trainer.job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(job)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn search(&self, id: Uuid) -> Result<Option<SearchRecord>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, dataset_name, dataset_version, target, algorithm, strategy, space, metric, seed,
                    submitted_by, submitted_at
             FROM trainer.searches WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }
}

/// Appends a line after the job's last one. A job's lines are written by
/// one party at a time (submitter, then its runner), so max+1 is its next
/// seq; the primary key would refuse a duplicate rather than reorder.
async fn append_log(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    line: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO trainer.job_logs (job_id, seq, line)
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2 FROM trainer.job_logs WHERE job_id = $1",
    )
    .bind(job)
    .bind(line)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
