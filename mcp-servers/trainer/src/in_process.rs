//! The default backend: trains in this process, on a blocking thread, from
//! a dataset version on the shared object store, and writes the artifact
//! back to it.

use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_models::{
    BinaryClassificationMetrics, Model, TrainingSet, binary_classification_metrics,
    stratified_split, train_with_progress,
};
use serde::Serialize;
use uuid::Uuid;

use crate::features::{ColumnSelection, training_set};
use crate::runner::{ProgressReporter, TrainingBackend, TrainingJob, TrainingOutcome};

pub const BACKEND: &str = "in-process";

/// Share of the progress bar the fit itself takes (after loading, before
/// scoring and writing).
const FIT_START: f64 = 0.1;
const FIT_SPAN: f64 = 0.8;
/// Log a fit progress line at most every this much progress.
const LOG_STEP: f64 = 0.1;

/// Where a job's artifact lives on the object store.
pub fn artifact_key(job: Uuid) -> String {
    format!("models/{job}/model.json")
}

/// The artifact's URI as recorded on the job and in the registry.
pub fn artifact_uri(job: Uuid) -> String {
    format!("storage://{}", artifact_key(job))
}

pub struct InProcessBackend {
    datasets: DatasetStore,
}

impl InProcessBackend {
    pub fn new(datasets: DatasetStore) -> Self {
        InProcessBackend { datasets }
    }
}

/// The metrics stored on a job.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct JobMetrics {
    /// On the held-out validation rows: the numbers to compare models by.
    pub validation: BinaryClassificationMetrics,
    /// On the training rows: far above validation means overfitting.
    pub train: BinaryClassificationMetrics,
    pub train_rows: usize,
    pub validation_rows: usize,
    pub fit_seconds: f64,
}

#[async_trait]
impl TrainingBackend for InProcessBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn run(
        &self,
        job: &TrainingJob,
        progress: &ProgressReporter,
    ) -> Result<TrainingOutcome, String> {
        progress
            .report(
                0.01,
                Some(&format!(
                    "reading dataset {}@{}",
                    job.dataset_name, job.dataset_version
                )),
            )
            .await;
        let dataset = self
            .datasets
            .read(&job.dataset_name, &job.dataset_version)
            .await
            .map_err(|e| format!("cannot read the dataset: {e}"))?;
        let selection = ColumnSelection {
            target: job.target.clone(),
            features: job.features.clone(),
        };
        let all = training_set(&dataset.batch, &selection)?;
        let (train_rows, validation_rows) =
            stratified_split(&all.y, job.validation_fraction, job.seed);
        if validation_rows.is_empty() {
            return Err(format!(
                "{} rows are too few to hold out a validation set",
                all.y.len()
            ));
        }
        let train_set = subset(&all, &train_rows);
        let validation_set = subset(&all, &validation_rows);
        progress
            .report(
                FIT_START,
                Some(&format!(
                    "split {} rows by seed {}: {} train ({} positive), {} validation ({} positive); features: {}",
                    all.y.len(),
                    job.seed,
                    train_set.y.len(),
                    positives(&train_set.y),
                    validation_set.y.len(),
                    positives(&validation_set.y),
                    job.features.join(", ")
                )),
            )
            .await;

        // The fit is CPU-bound: it runs on a blocking thread and sends its
        // progress back over a channel to be written as it goes.
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let (algorithm, seed) = (job.algorithm.clone(), job.seed);
        let started = Instant::now();
        let fit = tokio::task::spawn_blocking(move || {
            let mut last_logged = f64::NEG_INFINITY;
            train_with_progress(&algorithm, &train_set, seed, &mut |step| {
                let log = step.fraction >= 1.0 || step.fraction - last_logged >= LOG_STEP;
                if log {
                    last_logged = step.fraction;
                }
                // The receiver outlives the fit; a send error cannot happen
                // and would only lose a progress line.
                let _ = sender.send((step.fraction, log.then_some(step.message)));
            })
            .map(|model| (model, train_set))
        });
        while let Some((fraction, line)) = receiver.recv().await {
            progress
                .report(FIT_START + FIT_SPAN * fraction, line.as_deref())
                .await;
        }
        let (mut model, train_set) = fit
            .await
            .map_err(|e| format!("the training thread crashed: {e}"))?
            .map_err(|e| format!("training failed: {e}"))?;
        let fit_seconds = started.elapsed().as_secs_f64();

        let metrics = JobMetrics {
            validation: score(&model, &validation_set)?,
            train: score(&model, &train_set)?,
            train_rows: train_set.y.len(),
            validation_rows: validation_set.y.len(),
            fit_seconds,
        };
        let summary = format!(
            "validation: roc_auc {}, accuracy {:.4}, f1 {:.4}, log_loss {:.4}",
            metrics
                .validation
                .roc_auc
                .map_or("n/a".to_owned(), |auc| format!("{auc:.4}")),
            metrics.validation.accuracy,
            metrics.validation.f1,
            metrics.validation.log_loss
        );
        progress.report(0.95, Some(&summary)).await;

        model.set_dataset(job.dataset_name.clone(), job.dataset_version.clone());
        let bytes = model
            .to_bytes()
            .map_err(|e| format!("cannot serialize the model: {e}"))?;
        let sha = sha256_hex(&bytes);
        let key = ObjectKey::parse(&artifact_key(job.id)).map_err(|e| e.to_string())?;
        let size = bytes.len();
        self.datasets
            .write_object(&key, Bytes::from(bytes))
            .await
            .map_err(|e| format!("cannot write the artifact: {e}"))?;
        let uri = artifact_uri(job.id);
        Ok(TrainingOutcome {
            summary: format!("wrote {uri} ({size} bytes, sha256 {sha}); {summary}"),
            artifact_uri: uri,
            artifact_sha256: sha,
            metrics: serde_json::to_value(&metrics)
                .map_err(|e| format!("cannot serialize the metrics: {e}"))?,
        })
    }
}

fn score(model: &Model, rows: &TrainingSet) -> Result<BinaryClassificationMetrics, String> {
    let probabilities = model
        .predict_proba(&rows.x)
        .map_err(|e| format!("scoring failed: {e}"))?;
    binary_classification_metrics(&rows.y, &probabilities)
        .map_err(|e| format!("scoring failed: {e}"))
}

fn subset(all: &TrainingSet, rows: &[usize]) -> TrainingSet {
    TrainingSet {
        feature_names: all.feature_names.clone(),
        target: all.target.clone(),
        x: rows.iter().map(|&i| all.x[i].clone()).collect(),
        y: rows.iter().map(|&i| all.y[i]).collect(),
    }
}

fn positives(labels: &[i64]) -> usize {
    labels.iter().filter(|&&label| label == 1).count()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
