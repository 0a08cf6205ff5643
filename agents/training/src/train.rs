//! `train-model`: check the request against the dataset, estimate the
//! job's memory, submit it to the trainer, stream its progress, and
//! register the result as a model version with lineage.

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::TrainingConfig;
use crate::contract::{Resources, TrainModelInput, TrainModelOutput};
use crate::lineage::register_version;
use crate::memory::MemoryEstimate;
use crate::request::{CommonInput, ManifestView, TrainingRequest, hyperparameters};
use crate::trainer::{self, JobObservation, JobStatus, look_at_job};
use crate::watch::follow;

/// A request checked against its dataset and sized.
pub struct Prepared {
    pub request: TrainingRequest,
    pub manifest: ManifestView,
    /// The features the trainer will use.
    pub features: Vec<String>,
    pub memory: MemoryEstimate,
}

/// Reads the dataset's manifest, checks the columns, and estimates the
/// memory; refuses a request that names a missing dataset or column, and
/// fails one that cannot fit in the memory it was given. Nothing is
/// submitted here.
pub async fn prepare(
    ctx: &SkillContext,
    config: &TrainingConfig,
    request: TrainingRequest,
    resources: Option<&Resources>,
) -> Result<Prepared, SkillError> {
    let manifest: ManifestView = match ctx
        .mcp(
            "storage",
            "get_dataset_manifest",
            json!({ "name": request.dataset, "version": request.version }),
        )
        .await
    {
        Ok(value) => serde_json::from_value(value).map_err(|e| {
            SkillError::failed(format!(
                "storage/get_dataset_manifest answered in an unexpected shape: {e}"
            ))
        })?,
        // The storage server refusing the lookup (no such dataset or
        // version) is bad input; a transport failure is not.
        Err(SkillError::Failed { reason, .. }) if reason.contains(" refused: ") => {
            let why = reason
                .split_once(" refused: ")
                .map_or(reason.as_str(), |(_, why)| why);
            return Err(SkillError::bad_field("dataset", why));
        }
        Err(other) => return Err(other),
    };
    let features = request.check_columns(&manifest)?;
    // The job holds its features and the target.
    let memory = config
        .memory
        .estimate(manifest.rows, features.len() + 1, request.algorithm);
    ctx.progress_with(
        format!(
            "dataset {}@{}: {} rows; {} features; the job needs about {} MiB",
            manifest.name,
            &manifest.version[..12.min(manifest.version.len())],
            manifest.rows,
            features.len(),
            memory.required_mb
        ),
        json!({ "features": features, "memory": memory }),
    );
    if let Some(limit) = request.memory_mb
        && !memory.fits(limit)
    {
        return Err(SkillError::failed_with(
            format!(
                "out of memory: the job needs about {} MiB ({} rows × {} columns × {} bytes × {} for {}, plus {} MiB base) but only {limit} MiB were given; nothing was submitted",
                memory.required_mb,
                memory.rows,
                memory.columns,
                memory.bytes_per_value,
                memory.factor,
                request.algorithm.as_str(),
                memory.base_overhead_mb
            ),
            json!({
                "reason": "out_of_memory",
                "required_mb": memory.required_mb,
                "memory_mb": limit,
                "instance_type": resources.and_then(|r| r.instance_type.clone()),
                "algorithm": request.algorithm,
                "estimate": memory,
            }),
        ));
    }
    Ok(Prepared {
        request,
        manifest,
        features,
        memory,
    })
}

/// The failure for a job the trainer ran and failed.
pub fn job_failed(job: &JobStatus, memory: &MemoryEstimate, memory_mb: Option<u64>) -> SkillError {
    let error = job
        .error
        .clone()
        .unwrap_or_else(|| "no error recorded".into());
    let lowered = error.to_ascii_lowercase();
    let out_of_memory = lowered.contains("out of memory") || lowered.contains("memory allocation");
    let evidence = if out_of_memory {
        json!({
            "reason": "out_of_memory",
            "required_mb": memory.required_mb,
            "memory_mb": memory_mb,
            "training_run_id": job.job_id,
            "error": error,
        })
    } else {
        json!({
            "reason": "training_failed",
            "training_run_id": job.job_id,
            "error": error,
            "algorithm": job.algorithm,
            "dataset": job.dataset_name,
            "dataset_version": job.dataset_version,
        })
    };
    SkillError::failed_with(
        format!("training job {} failed: {error}", job.job_id),
        evidence,
    )
}

#[derive(Debug, Deserialize)]
struct Submitted {
    job_id: String,
}

#[derive(Debug, Deserialize)]
pub struct JobMetrics {
    pub metrics: Value,
}

pub async fn run(
    ctx: &SkillContext,
    config: &TrainingConfig,
    input: TrainModelInput,
) -> Result<SkillOutcome, SkillError> {
    let request = TrainingRequest::parse(
        CommonInput {
            model: &input.model,
            dataset: &input.dataset,
            target: &input.target,
            features: input.features.as_deref(),
            exclude: &input.exclude,
            seed: input.seed,
            validation_fraction: input.validation_fraction,
            protected_attribute: input.protected_attribute.as_deref(),
            resources: input.resources.as_ref(),
        },
        input.algorithm,
    )?;
    hyperparameters(input.algorithm, &input.hyperparameters)?;
    let prepared = prepare(ctx, config, request, input.resources.as_ref()).await?;
    let Prepared {
        request, memory, ..
    } = &prepared;

    let mut args = json!({
        "dataset": request.dataset,
        "version": request.version,
        "target": request.target,
        "exclude": request.exclude,
        "algorithm": request.algorithm,
        "hyperparameters": input.hyperparameters,
        "seed": request.seed,
        "validation_fraction": request.validation_fraction,
    });
    if let Some(features) = &request.features {
        args["features"] = json!(features);
    }
    let submitted: Submitted = ctx
        .mcp_as(trainer::SERVER, "submit_training_job", args)
        .await?;
    ctx.progress_with(
        format!(
            "submitted training job {} ({} on {} rows)",
            submitted.job_id,
            request.algorithm.as_str(),
            prepared.manifest.rows
        ),
        json!({
            "job_id": submitted.job_id,
            "state": "queued",
            "progress": 0.0,
            "features": prepared.features,
        }),
    );

    let finished = follow(
        ctx,
        config,
        JobObservation::new(&submitted.job_id),
        |seen| look_at_job(ctx, seen),
    )
    .await?;
    let job = finished
        .status
        .ok_or_else(|| SkillError::failed("the trainer never reported the job"))?;
    if job.state != "succeeded" {
        return Err(job_failed(&job, memory, request.memory_mb));
    }
    let metrics: JobMetrics = ctx
        .mcp_as(
            trainer::SERVER,
            "get_job_metrics",
            json!({ "job_id": job.job_id }),
        )
        .await?;
    let flat = crate::trainer::flat_metrics(&metrics.metrics);
    ctx.progress_with(
        format!(
            "training job {} succeeded: {}",
            job.job_id,
            metric_line(&flat)
        ),
        json!({
            "job_id": job.job_id,
            "state": job.state,
            "progress": 1.0,
            "metrics": flat,
        }),
    );
    let registered = register_version(
        ctx,
        &request.model,
        &job,
        &metrics.metrics,
        request.protected_attribute.as_deref(),
    )
    .await?;
    let summary = format!(
        "trained {} v{} ({}) on {}@{}: {}",
        registered.model,
        registered.version,
        registered.algorithm.as_str(),
        registered.dataset.name,
        &registered.dataset.version[..12.min(registered.dataset.version.len())],
        metric_line(&registered.metrics)
    );
    let output = TrainModelOutput {
        registered,
        memory: memory.clone(),
        resources: input.resources.clone(),
        duration_seconds: job.duration_seconds,
    };
    Ok(SkillOutcome::single("model-version", output, summary))
}

/// "roc_auc 0.9123, accuracy 0.9500, f1 0.6000" from flat metrics.
pub fn metric_line(metrics: &std::collections::BTreeMap<String, f64>) -> String {
    ["roc_auc", "accuracy", "f1"]
        .iter()
        .filter_map(|name| metrics.get(*name).map(|v| format!("{name} {v:.4}")))
        .collect::<Vec<_>>()
        .join(", ")
}
