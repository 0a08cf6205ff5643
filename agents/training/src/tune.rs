//! `hyperparameter-tune`: a grid or random search at the trainer, followed
//! trial by trial, whose best trial is registered as a model version with
//! the same lineage as `train-model` gives.

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use serde::Deserialize;
use serde_json::json;

use crate::config::TrainingConfig;
use crate::contract::{BestTrial, MetricName, SearchStrategy, TrialRow, TuneInput, TuneOutput};
use crate::lineage::register_version;
use crate::request::{CommonInput, TrainingRequest, search_space};
use crate::train::{JobMetrics, Prepared, metric_line, prepare};
use crate::trainer::{self, JobStatus, SearchObservation, look_at_search, without_tag};
use crate::watch::follow;

#[derive(Debug, Deserialize)]
struct Started {
    search_id: String,
}

pub async fn run(
    ctx: &SkillContext,
    config: &TrainingConfig,
    input: TuneInput,
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
    let strategy = input.strategy.unwrap_or(SearchStrategy::Grid);
    let metric = input.metric.unwrap_or(MetricName::RocAuc);
    let trial_count = search_space(input.algorithm, &input.space, strategy, input.trials)?;
    // Trials run one after another on the same data, so one trial's need
    // is the search's.
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
        "space": input.space,
        "strategy": strategy,
        "metric": metric,
        "seed": request.seed,
        "validation_fraction": request.validation_fraction,
        // Answer at once: the agent follows the trials itself, so progress
        // streams while they run.
        "wait_seconds": 0,
    });
    if let Some(features) = &request.features {
        args["features"] = json!(features);
    }
    if let Some(trials) = input.trials {
        args["trials"] = json!(trials);
    }
    let started: Started = ctx
        .mcp_as(trainer::SERVER, "run_hyperparameter_search", args)
        .await?;
    ctx.progress_with(
        format!(
            "started {} search {} over {trial_count} trials of {}, ranked by {}",
            strategy.as_str(),
            started.search_id,
            request.algorithm.as_str(),
            metric.as_str()
        ),
        json!({ "search_id": started.search_id, "trials_total": trial_count }),
    );

    let finished = follow(
        ctx,
        config,
        SearchObservation {
            search_id: started.search_id.clone(),
            report: None,
        },
        |seen| look_at_search(ctx, seen),
    )
    .await?;
    let report = finished
        .report
        .ok_or_else(|| SkillError::failed("the trainer never reported the search"))?;
    let trials: Vec<TrialRow> = report
        .trials
        .iter()
        .enumerate()
        .map(|(i, t)| TrialRow {
            trial_index: t
                .trial_index
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(i as u32),
            training_run_id: t.job_id.clone(),
            state: t.state.clone(),
            hyperparameters: without_tag(&t.algorithm),
            value: t.value,
            error: t.error.clone(),
        })
        .collect();
    let Some(best) = report.best.as_ref() else {
        return Err(SkillError::failed_with(
            format!(
                "search {} ended with no successful trial ({} of {} failed)",
                report.search_id,
                report.trials_total - report.trials_succeeded,
                report.trials_total
            ),
            json!({ "reason": "no_trial_succeeded", "search_id": report.search_id, "trials": trials }),
        ));
    };
    let best_value = best.value.ok_or_else(|| {
        SkillError::failed(format!(
            "the trainer named trial {} best without a {} value",
            best.job_id,
            metric.as_str()
        ))
    })?;

    let job: JobStatus = ctx
        .mcp_as(
            trainer::SERVER,
            "get_job_status",
            json!({ "job_id": best.job_id }),
        )
        .await?;
    let metrics: JobMetrics = ctx
        .mcp_as(
            trainer::SERVER,
            "get_job_metrics",
            json!({ "job_id": best.job_id }),
        )
        .await?;
    let registered = register_version(
        ctx,
        &request.model,
        &job,
        &metrics.metrics,
        request.protected_attribute.as_deref(),
    )
    .await?;
    let best = BestTrial {
        trial_index: best
            .trial_index
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or_default(),
        training_run_id: best.job_id.clone(),
        hyperparameters: without_tag(&best.algorithm),
        value: best_value,
    };
    let summary = format!(
        "search {}: {}/{} trials succeeded; best trial {} ({} {:.4}, {}) registered as {} v{}: {}",
        report.search_id,
        report.trials_succeeded,
        report.trials_total,
        best.trial_index,
        metric.as_str(),
        best.value,
        serde_json::Value::Object(best.hyperparameters.clone()),
        registered.model,
        registered.version,
        metric_line(&registered.metrics)
    );
    let output = TuneOutput {
        search_id: report.search_id.clone(),
        strategy,
        metric,
        goal: metric.goal(),
        trials,
        best,
        registered,
        memory: memory.clone(),
    };
    Ok(SkillOutcome::single("tuning-result", output, summary))
}
