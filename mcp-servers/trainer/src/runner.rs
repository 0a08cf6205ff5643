//! The job runner: claims queued jobs from Postgres, runs them on a
//! [`TrainingBackend`], keeps their heartbeat, and records the outcome.
//!
//! Architecture invariant: the queue is the `trainer.jobs` table, so any
//! number of trainer replicas can run side by side; a job is claimed with
//! `FOR UPDATE SKIP LOCKED` and only its claimant may finish it.
//!
//! Crash safety: a running job carries its runner's heartbeat. A job whose
//! heartbeat is older than the lease is failed (not re-queued) by whichever
//! runner sweeps first, at start and on every poll; see
//! [`JobStore::fail_orphans`] for why it is failed rather than retried.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mlops_models::Algorithm;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::store::{JobRecord, JobStore};

/// What a backend is asked to train.
#[derive(Debug, Clone)]
pub struct TrainingJob {
    pub id: Uuid,
    pub dataset_name: String,
    /// 64 hex digits.
    pub dataset_version: String,
    pub target: String,
    pub features: Vec<String>,
    pub algorithm: Algorithm,
    pub seed: u64,
    pub validation_fraction: f64,
}

impl TrainingJob {
    fn from_record(record: &JobRecord) -> Result<TrainingJob, String> {
        let algorithm = Algorithm::from_json(&record.algorithm)
            .map_err(|e| format!("the stored algorithm cannot be used: {e}"))?;
        Ok(TrainingJob {
            id: record.id,
            dataset_name: record.dataset_name.clone(),
            dataset_version: record.dataset_version.clone(),
            target: record.target.clone(),
            features: record.features.clone(),
            algorithm,
            seed: u64::try_from(record.seed).map_err(|_| "negative seed".to_owned())?,
            validation_fraction: record.validation_fraction,
        })
    }
}

/// What a finished fit leaves behind.
#[derive(Debug, Clone)]
pub struct TrainingOutcome {
    /// `storage://models/{job_id}/model.json` for the in-process backend.
    pub artifact_uri: String,
    pub artifact_sha256: String,
    pub metrics: Value,
    /// The last log line, e.g. a metrics summary.
    pub summary: String,
}

/// Where training happens. The in-process backend fits on this machine;
/// a Ray Jobs backend would submit the same job to a cluster and relay its
/// progress through the same reporter.
#[async_trait]
pub trait TrainingBackend: Send + Sync + 'static {
    /// Recorded on each job, so a runner only claims jobs it can run.
    fn name(&self) -> &'static str;

    /// Trains `job`. The error is the job's error message: it should say
    /// what went wrong in terms the submitter can act on.
    async fn run(
        &self,
        job: &TrainingJob,
        progress: &ProgressReporter,
    ) -> Result<TrainingOutcome, String>;
}

/// Writes a running job's progress and log lines. A database hiccup is
/// logged and does not fail the job; the final state write is what counts.
#[derive(Clone)]
pub struct ProgressReporter {
    store: JobStore,
    job: Uuid,
    runner: Uuid,
}

impl ProgressReporter {
    pub async fn report(&self, fraction: f64, line: Option<&str>) {
        if let Some(line) = line {
            tracing::info!(job = %self.job, progress = fraction, "{line}");
        }
        if let Err(error) = self
            .store
            .progress(self.job, self.runner, fraction, line)
            .await
        {
            tracing::warn!(%error, job = %self.job, "could not record progress");
        }
    }
}

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Jobs trained at once by this process. Training is CPU-bound, so the
    /// default is one.
    pub max_concurrent: usize,
    /// How often to look for jobs queued through another replica.
    pub poll_interval: Duration,
    pub heartbeat_interval: Duration,
    /// A running job with no heartbeat for this long is orphaned.
    pub lease: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            max_concurrent: 1,
            poll_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(5),
            lease: Duration::from_secs(60),
        }
    }
}

/// A running job runner; dropping it leaves it running, `shutdown` stops
/// it from claiming more jobs (jobs in flight finish on their own).
pub struct RunnerHandle {
    pub runner_id: Uuid,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunnerHandle {
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Starts a runner over `store` with `backend`. `wake` is poked by the
/// server on every submission so a job starts without waiting for a poll.
pub fn spawn_runner(
    store: JobStore,
    backend: Arc<dyn TrainingBackend>,
    config: RunnerConfig,
    wake: Arc<Notify>,
) -> RunnerHandle {
    let runner_id = Uuid::new_v4();
    let stop = CancellationToken::new();
    let task = tokio::spawn(claim_loop(
        store,
        backend,
        config,
        wake,
        runner_id,
        stop.child_token(),
    ));
    tracing::info!(%runner_id, "trainer job runner started");
    RunnerHandle {
        runner_id,
        stop,
        task,
    }
}

async fn claim_loop(
    store: JobStore,
    backend: Arc<dyn TrainingBackend>,
    config: RunnerConfig,
    wake: Arc<Notify>,
    runner_id: Uuid,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
    loop {
        match store.fail_orphans(config.lease).await {
            Ok(orphans) if !orphans.is_empty() => {
                tracing::warn!(?orphans, "failed running jobs whose runner stopped");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not sweep orphaned jobs"),
        }
        let slot = tokio::select! {
            _ = stop.cancelled() => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        match store.claim_next(runner_id, backend.name()).await {
            Ok(Some(job)) => {
                let (store, backend, config) = (store.clone(), backend.clone(), config.clone());
                let span =
                    tracing::info_span!("trainer.job", job = %job.id, backend = backend.name());
                tokio::spawn(
                    async move {
                        run_job(store, backend, &config, job, runner_id).await;
                        drop(slot);
                    }
                    .instrument(span),
                );
                // Look for the next job at once: there may be a free slot.
                continue;
            }
            Ok(None) => drop(slot),
            Err(error) => {
                drop(slot);
                tracing::warn!(%error, "could not claim a job");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(config.poll_interval) => {}
        }
    }
}

async fn run_job(
    store: JobStore,
    backend: Arc<dyn TrainingBackend>,
    config: &RunnerConfig,
    record: JobRecord,
    runner: Uuid,
) {
    let job_id = record.id;

    let heartbeat = {
        let (store, interval) = (store.clone(), config.heartbeat_interval);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                match store.heartbeat(job_id, runner).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => tracing::warn!(%error, job = %job_id, "heartbeat failed"),
                }
            }
        })
    };

    let result = match TrainingJob::from_record(&record) {
        Err(message) => Err(message),
        Ok(job) => {
            let reporter = ProgressReporter {
                store: store.clone(),
                job: job_id,
                runner,
            };
            // Its own task, so a panic in a backend fails this job instead
            // of leaving it running until the lease runs out.
            let backend = backend.clone();
            match tokio::spawn(async move { backend.run(&job, &reporter).await }).await {
                Ok(result) => result,
                Err(join_error) => Err(format!("the training task crashed: {join_error}")),
            }
        }
    };
    heartbeat.abort();

    let recorded = match &result {
        Ok(outcome) => {
            store
                .succeed(
                    job_id,
                    runner,
                    &outcome.artifact_uri,
                    &outcome.artifact_sha256,
                    &outcome.metrics,
                    &outcome.summary,
                )
                .await
        }
        Err(message) => store.fail(job_id, runner, message).await,
    };
    match (recorded, &result) {
        (Ok(true), Ok(_)) => tracing::info!(job = %job_id, "training job succeeded"),
        (Ok(true), Err(message)) => tracing::warn!(job = %job_id, %message, "training job failed"),
        (Ok(false), _) => tracing::warn!(
            job = %job_id,
            "the job was no longer ours when it finished (failed as orphaned?); outcome dropped"
        ),
        (Err(error), _) => {
            tracing::error!(%error, job = %job_id, "could not record the job's outcome")
        }
    }
}
