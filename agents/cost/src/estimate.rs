//! `estimate-training-cost`: how long a training run takes, how much memory
//! it needs, which instance to run it on and what that costs.
//!
//! Time comes from the trainer's own history. A run's *work* is
//! `rows × feature columns × complexity`, where complexity is 1 for
//! logistic regression and `n_trees × max_depth × feature_fraction` for a
//! random forest (each tree scans its share of the features over the rows
//! once per level). The throughput is the work of the newest succeeded jobs
//! of the same algorithm divided by their wall-clock durations (start to
//! finish: reading, fitting, scoring, writing, which is what an instance is
//! billed for), pooled so bigger jobs weigh more. With no such job, a
//! conservative configured default is used and the output says so.
//!
//! The estimate assumes the throughput of the trainer's backend, whatever
//! the instance: the in-process trainer fits on one thread, so more vCPUs
//! do not make it faster, and the estimate does not pretend they would.

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};
use mlops_models::Algorithm;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::CostSettings;
use crate::prices::{FitRequest, InstanceType, with_headroom};
use crate::trainer_jobs::{self, TrainerJob};

/// Bytes per feature cell: the trainer holds features as f64.
pub const BYTES_PER_CELL: f64 = 8.0;
/// The most rows an estimate accepts (10^11).
const MAX_ROWS: u64 = 100_000_000_000;
/// The most feature columns an estimate accepts.
const MAX_COLUMNS: u64 = 100_000;

/// Input of `estimate-training-cost`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateTrainingCostInput {
    /// Rows of the dataset version the job trains on (before the
    /// train/validation split), 1 to 10^11.
    pub dataset_rows: u64,
    /// How many feature columns the model is fitted on (1-100000). Give
    /// this or `features`.
    #[serde(default)]
    pub dataset_columns: Option<u64>,
    /// The feature column names, as the trainer's `submit_training_job`
    /// takes them; their count is what matters. Give this or
    /// `dataset_columns`.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// "logistic_regression" or "random_forest".
    pub algorithm: String,
    /// Hyperparameters as the trainer takes them (e.g. `{"n_trees": 100}`);
    /// the trainer's defaults fill the rest.
    #[serde(default)]
    pub hyperparameters: Map<String, Value>,
    /// Price the run on this instance type of the price table instead of
    /// the recommended one.
    #[serde(default)]
    pub instance_type: Option<String>,
}

/// Where the throughput came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThroughputSource {
    /// From the trainer's succeeded jobs of the same algorithm.
    Measured,
    /// The configured conservative default: no job of the algorithm has
    /// succeeded yet.
    Default,
}

/// One job the throughput was measured on.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MeasuredJob {
    pub job_id: String,
    /// Train plus validation rows.
    pub rows: u64,
    pub feature_columns: u64,
    pub complexity: f64,
    pub work_units: f64,
    /// Wall clock, start to finish.
    pub duration_seconds: f64,
    /// Of which fitting the model.
    pub fit_seconds: f64,
}

/// The memory estimate and how it was made.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MemoryEstimate {
    /// rows × columns × 8 bytes × factor.
    pub bytes: f64,
    /// The same in MiB, rounded up: what `recommend-instance-type` takes as
    /// `memory_mb_required`.
    pub memory_mb_required: u64,
    /// The algorithm's factor from the agent's config.
    pub algorithm_factor: f64,
    /// Required memory times the headroom factor: what the instance must have.
    pub memory_mb_with_headroom: u64,
    pub memory_headroom: f64,
    pub formula: String,
}

/// Output of `estimate-training-cost`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrainingCostEstimate {
    pub algorithm: String,
    /// The full algorithm spec, defaults filled in, as the trainer would run it.
    pub algorithm_spec: Value,
    pub dataset_rows: u64,
    pub feature_columns: u64,
    /// 1 for logistic regression; n_trees × max_depth × feature_fraction
    /// for a random forest.
    pub complexity: f64,
    /// rows × feature columns × complexity.
    pub work_units: f64,
    /// "measured" or "default".
    pub throughput_source: ThroughputSource,
    /// Work units per second of wall clock.
    pub throughput_work_units_per_second: f64,
    /// How the throughput was obtained, in a sentence.
    pub throughput_note: String,
    /// The jobs the throughput was measured on (empty for "default").
    pub measured_jobs: Vec<MeasuredJob>,
    /// work_units / throughput.
    pub estimated_seconds: f64,
    pub memory: MemoryEstimate,
    /// The cheapest instance type with enough memory; null when none has.
    pub recommended_instance: Option<InstanceType>,
    /// The instance the cost is for: the requested `instance_type`, else
    /// the recommended one.
    pub priced_instance: InstanceType,
    /// Whether the priced instance has the memory (with headroom).
    pub priced_instance_fits: bool,
    /// estimated_seconds / 3600 × the priced instance's hourly price.
    pub estimated_cost_usd: f64,
    /// Prices are the agent's configured table, not live cloud prices.
    pub price_note: String,
}

/// A checked estimate request.
#[derive(Debug, Clone)]
pub struct EstimateRequest {
    pub rows: u64,
    pub columns: u64,
    pub algorithm: Algorithm,
    pub instance_type: Option<InstanceType>,
}

impl EstimateTrainingCostInput {
    /// Checks the input against the price table; the rejection names the
    /// field at fault.
    pub fn check(self, settings: &CostSettings) -> Result<EstimateRequest, SkillError> {
        if !(1..=MAX_ROWS).contains(&self.dataset_rows) {
            return Err(SkillError::bad_field(
                "dataset_rows",
                format!("must be 1 to {MAX_ROWS}, got {}", self.dataset_rows),
            ));
        }
        let columns = match (self.dataset_columns, &self.features) {
            (None, None) => {
                return Err(SkillError::bad_field(
                    "dataset_columns",
                    "is required (or give `features`, the feature column names)",
                ));
            }
            (Some(columns), None) => {
                if !(1..=MAX_COLUMNS).contains(&columns) {
                    return Err(SkillError::bad_field(
                        "dataset_columns",
                        format!("must be 1 to {MAX_COLUMNS}, got {columns}"),
                    ));
                }
                columns
            }
            (columns, Some(features)) => {
                if features.is_empty() || features.len() as u64 > MAX_COLUMNS {
                    return Err(SkillError::bad_field(
                        "features",
                        format!("must name 1 to {MAX_COLUMNS} columns"),
                    ));
                }
                if let Some(blank) = features.iter().position(|f| f.trim().is_empty()) {
                    return Err(SkillError::bad_field(
                        &format!("features[{blank}]"),
                        "must not be empty",
                    ));
                }
                let mut sorted: Vec<&String> = features.iter().collect();
                sorted.sort();
                if let Some(pair) = sorted.windows(2).find(|p| p[0] == p[1]) {
                    return Err(SkillError::bad_field(
                        "features",
                        format!("names {:?} twice", pair[0]),
                    ));
                }
                let count = features.len() as u64;
                if let Some(columns) = columns
                    && columns != count
                {
                    return Err(SkillError::bad_field(
                        "dataset_columns",
                        format!("is {columns} but `features` names {count} columns; give one"),
                    ));
                }
                count
            }
        };
        if !mlops_models::ALGORITHM_NAMES.contains(&self.algorithm.as_str()) {
            return Err(SkillError::bad_field(
                "algorithm",
                format!(
                    "{:?} is not one the trainer offers; use one of {}",
                    self.algorithm,
                    mlops_models::ALGORITHM_NAMES.join(", ")
                ),
            ));
        }
        if self.hyperparameters.contains_key("algorithm") {
            return Err(SkillError::bad_field(
                "hyperparameters",
                "must not contain `algorithm`; name it in the `algorithm` field",
            ));
        }
        let mut spec = self.hyperparameters;
        spec.insert("algorithm".into(), Value::String(self.algorithm));
        let algorithm = Algorithm::from_json(&Value::Object(spec))
            .map_err(|e| SkillError::bad_field("hyperparameters", e))?;
        let instance_type = self
            .instance_type
            .map(|name| {
                settings.prices.get(&name).cloned().ok_or_else(|| {
                    SkillError::bad_field(
                        "instance_type",
                        format!(
                            "{name:?} is not in the price table; use one of {}",
                            settings.prices.names().join(", ")
                        ),
                    )
                })
            })
            .transpose()?;
        Ok(EstimateRequest {
            rows: self.dataset_rows,
            columns,
            algorithm,
            instance_type,
        })
    }
}

/// How much work per row and feature an algorithm does, relative to one
/// pass (see the module doc).
pub fn complexity(algorithm: &Algorithm) -> f64 {
    match *algorithm {
        Algorithm::LogisticRegression { .. } => 1.0,
        Algorithm::RandomForest {
            n_trees,
            max_depth,
            feature_fraction,
            ..
        } => f64::from(n_trees) * f64::from(max_depth) * feature_fraction,
    }
}

/// rows × columns × 8 bytes × the algorithm's factor.
pub fn memory_bytes(rows: u64, columns: u64, factor: f64) -> f64 {
    rows as f64 * columns as f64 * BYTES_PER_CELL * factor
}

/// Bytes to whole MiB, rounded up (at least 1).
pub fn bytes_to_mb(bytes: f64) -> u64 {
    ((bytes / (1024.0 * 1024.0)).ceil() as u64).max(1)
}

/// Pooled throughput of `jobs`: their total work over their total time.
/// None when there is no time to divide by.
pub fn pooled_throughput(jobs: &[MeasuredJob]) -> Option<f64> {
    let work: f64 = jobs.iter().map(|j| j.work_units).sum();
    let seconds: f64 = jobs.iter().map(|j| j.duration_seconds).sum();
    (seconds > 0.0 && work > 0.0).then(|| work / seconds)
}

/// Reads the trainer's succeeded jobs of `algorithm`'s kind and measures
/// each one's work and wall-clock time (newest first, at most `max_jobs`).
async fn measure(
    ctx: &SkillContext,
    algorithm: &str,
    max_jobs: usize,
) -> Result<Vec<MeasuredJob>, SkillError> {
    let jobs = trainer_jobs::list_jobs(ctx, Some("succeeded"), None).await?;
    let candidates: Vec<&TrainerJob> = jobs
        .iter()
        .filter(|j| j.algorithm_name() == algorithm)
        .filter(|j| j.duration_seconds.is_some_and(|d| d > 0.0) && !j.features.is_empty())
        .take(max_jobs)
        .collect();
    let mut measured = Vec::with_capacity(candidates.len());
    for job in candidates {
        ctx.check_canceled()?;
        let Ok(spec) = Algorithm::from_json(&job.algorithm) else {
            // A spec this build cannot read (a newer trainer, say) says
            // nothing about this build's complexity model.
            tracing::warn!(job = %job.job_id, "skipping a job whose algorithm spec does not parse");
            continue;
        };
        let size = trainer_jobs::job_size(ctx, &job.job_id).await?;
        let rows = size.train_rows + size.validation_rows;
        let columns = job.features.len() as u64;
        let complexity = complexity(&spec);
        measured.push(MeasuredJob {
            job_id: job.job_id.clone(),
            rows,
            feature_columns: columns,
            complexity,
            work_units: rows as f64 * columns as f64 * complexity,
            duration_seconds: job.duration_seconds.unwrap_or_default(),
            fit_seconds: size.fit_seconds,
        });
    }
    Ok(measured)
}

/// Runs `estimate-training-cost`.
pub async fn estimate_training_cost(
    settings: &CostSettings,
    request: EstimateRequest,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let name = request.algorithm.name();
    ctx.progress(format!(
        "measuring {name} throughput from the trainer's succeeded jobs"
    ));
    let measured = measure(ctx, name, settings.throughput_history_jobs as usize).await?;
    let estimate = build_estimate(settings, &request, measured)?;
    ctx.progress_with(
        format!(
            "{} throughput: {:.0} work units/s",
            match estimate.throughput_source {
                ThroughputSource::Measured => "measured",
                ThroughputSource::Default => "default",
            },
            estimate.throughput_work_units_per_second
        ),
        &estimate.measured_jobs,
    );
    let summary = format!(
        "{name} on {} rows × {} columns: about {:.1} s ({} throughput), {} MiB needed; \
         {} at ${:.4}/h → ${:.6}",
        estimate.dataset_rows,
        estimate.feature_columns,
        estimate.estimated_seconds,
        match estimate.throughput_source {
            ThroughputSource::Measured => "measured",
            ThroughputSource::Default => "default",
        },
        estimate.memory.memory_mb_required,
        estimate.priced_instance.name,
        estimate.priced_instance.price_per_hour_usd,
        estimate.estimated_cost_usd
    );
    Ok(SkillOutcome::single(
        "training-cost-estimate",
        estimate,
        summary,
    ))
}

/// The estimate from checked input and the measured jobs (pure).
pub fn build_estimate(
    settings: &CostSettings,
    request: &EstimateRequest,
    measured: Vec<MeasuredJob>,
) -> Result<TrainingCostEstimate, SkillError> {
    let name = request.algorithm.name();
    let complexity = complexity(&request.algorithm);
    let work_units = request.rows as f64 * request.columns as f64 * complexity;
    let (throughput_source, throughput, note) = match pooled_throughput(&measured) {
        Some(rate) => (
            ThroughputSource::Measured,
            rate,
            format!(
                "pooled over the {} newest succeeded {name} jobs of the trainer: their work over their wall-clock durations",
                measured.len()
            ),
        ),
        None => (
            ThroughputSource::Default,
            settings.default_throughput.get(name).ok_or_else(|| {
                SkillError::failed(format!("no default throughput configured for {name}"))
            })?,
            format!(
                "the trainer has no succeeded {name} job to measure, so this uses the agent's conservative default (config default_throughput.{name})"
            ),
        ),
    };
    let estimated_seconds = work_units / throughput;

    let factor = settings
        .memory_factor
        .get(name)
        .ok_or_else(|| SkillError::failed(format!("no memory factor configured for {name}")))?;
    let bytes = memory_bytes(request.rows, request.columns, factor);
    let memory_mb_required = bytes_to_mb(bytes);
    let memory_mb_with_headroom = with_headroom(memory_mb_required, settings.memory_headroom);
    let memory = MemoryEstimate {
        bytes,
        memory_mb_required,
        algorithm_factor: factor,
        memory_mb_with_headroom,
        memory_headroom: settings.memory_headroom,
        formula: format!(
            "{} rows × {} columns × 8 bytes × {factor} ({name})",
            request.rows, request.columns
        ),
    };
    let recommended = settings
        .prices
        .fits(FitRequest {
            min_memory_mb: memory_mb_with_headroom,
            min_vcpus: 1,
            larger_than: None,
        })
        .first()
        .map(|t| (*t).clone());
    let priced = match (&request.instance_type, &recommended) {
        (Some(requested), _) => requested.clone(),
        (None, Some(recommended)) => recommended.clone(),
        (None, None) => {
            let largest = settings.prices.largest();
            return Err(SkillError::failed_with(
                format!(
                    "no instance type has the {memory_mb_with_headroom} MiB this run needs \
                     ({memory_mb_required} MiB × headroom {}); the largest is {} with {} MiB",
                    settings.memory_headroom, largest.name, largest.memory_mb
                ),
                serde_json::json!({
                    "memory": memory,
                    "estimated_seconds": estimated_seconds,
                    "largest_instance": largest,
                }),
            ));
        }
    };
    Ok(TrainingCostEstimate {
        algorithm: name.to_owned(),
        algorithm_spec: serde_json::to_value(&request.algorithm).unwrap_or(Value::Null),
        dataset_rows: request.rows,
        feature_columns: request.columns,
        complexity,
        work_units,
        throughput_source,
        throughput_work_units_per_second: throughput,
        throughput_note: note,
        measured_jobs: measured,
        estimated_seconds,
        priced_instance_fits: priced.memory_mb >= memory_mb_with_headroom,
        estimated_cost_usd: priced.cost_of(estimated_seconds),
        memory,
        recommended_instance: recommended,
        priced_instance: priced,
        price_note:
            "prices come from the cost agent's configured price table, not live cloud prices".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CostConfig;
    use serde_json::json;

    fn settings() -> CostSettings {
        CostConfig::default().check().unwrap()
    }

    fn input(value: Value) -> Result<EstimateRequest, SkillError> {
        mlops_agent_kit::parse_input::<EstimateTrainingCostInput>(value)?.check(&settings())
    }

    fn rejection(value: Value) -> String {
        match input(value) {
            Err(SkillError::Rejected(reason)) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn complexity_follows_the_hyperparameters() {
        assert_eq!(complexity(&Algorithm::logistic_regression()), 1.0);
        // Defaults: 50 trees × depth 6 × 0.7 of the features.
        assert!((complexity(&Algorithm::random_forest()) - 210.0).abs() < 1e-9);
        let request = input(json!({
            "dataset_rows": 1000, "dataset_columns": 4, "algorithm": "random_forest",
            "hyperparameters": {"n_trees": 10, "max_depth": 3, "feature_fraction": 0.5}
        }))
        .unwrap();
        assert!((complexity(&request.algorithm) - 15.0).abs() < 1e-9);
    }

    #[test]
    fn memory_is_rows_times_columns_times_eight_times_the_factor() {
        assert_eq!(memory_bytes(1_000_000, 10, 5.0), 400_000_000.0);
        assert_eq!(bytes_to_mb(400_000_000.0), 382);
        assert_eq!(bytes_to_mb(1.0), 1);
    }

    #[test]
    fn throughput_is_pooled_work_over_time() {
        let job = |work_units, duration_seconds| MeasuredJob {
            job_id: "j".into(),
            rows: 0,
            feature_columns: 0,
            complexity: 1.0,
            work_units,
            duration_seconds,
            fit_seconds: 0.0,
        };
        assert_eq!(pooled_throughput(&[]), None);
        assert_eq!(
            pooled_throughput(&[job(100.0, 1.0), job(300.0, 1.0)]),
            Some(200.0)
        );
        assert_eq!(pooled_throughput(&[job(100.0, 0.0)]), None);
    }

    #[test]
    fn a_measured_estimate_divides_work_by_the_measured_rate() {
        let settings = settings();
        let request = input(json!({
            "dataset_rows": 100_000, "features": ["a", "b", "c", "d"],
            "algorithm": "logistic_regression"
        }))
        .unwrap();
        let measured = vec![MeasuredJob {
            job_id: "j1".into(),
            rows: 10_000,
            feature_columns: 4,
            complexity: 1.0,
            work_units: 40_000.0,
            duration_seconds: 0.5,
            fit_seconds: 0.3,
        }];
        let estimate = build_estimate(&settings, &request, measured).unwrap();
        assert_eq!(estimate.throughput_source, ThroughputSource::Measured);
        assert_eq!(estimate.throughput_work_units_per_second, 80_000.0);
        assert!((estimate.estimated_seconds - 5.0).abs() < 1e-9);
        // 100k × 4 × 8 × 5 bytes = 16 MB → 16 MiB → 20 MiB with headroom.
        assert_eq!(estimate.memory.memory_mb_required, 16);
        assert_eq!(estimate.memory.memory_mb_with_headroom, 20);
        let small = estimate.recommended_instance.as_ref().unwrap();
        assert_eq!(small.name, "cpu-small");
        assert!((estimate.estimated_cost_usd - 5.0 / 3600.0 * 0.085).abs() < 1e-15);
        assert!(estimate.priced_instance_fits);
    }

    #[test]
    fn without_history_the_default_is_used_and_said() {
        let settings = settings();
        let request = input(json!({
            "dataset_rows": 2_000_000, "dataset_columns": 8, "algorithm": "random_forest",
            "instance_type": "cpu-large"
        }))
        .unwrap();
        let estimate = build_estimate(&settings, &request, Vec::new()).unwrap();
        assert_eq!(estimate.throughput_source, ThroughputSource::Default);
        assert!(estimate.throughput_note.contains("default"));
        assert_eq!(estimate.throughput_work_units_per_second, 1_000_000.0);
        // 2M × 8 × 8 × 7 bytes ≈ 855 MiB; cpu-small fits, cpu-large was asked for.
        assert_eq!(estimate.recommended_instance.unwrap().name, "cpu-small");
        assert_eq!(estimate.priced_instance.name, "cpu-large");
        let seconds = 2_000_000.0 * 8.0 * 210.0 / 1_000_000.0;
        assert!((estimate.estimated_seconds - seconds).abs() < 1e-9);
    }

    #[test]
    fn a_run_too_big_for_every_instance_fails_with_evidence() {
        let request = input(json!({
            "dataset_rows": 10_000_000_000u64, "dataset_columns": 100, "algorithm": "logistic_regression"
        }))
        .unwrap();
        match build_estimate(&settings(), &request, Vec::new()) {
            Err(SkillError::Failed { reason, evidence }) => {
                assert!(reason.contains("mem-large"), "{reason}");
                assert!(evidence.is_some());
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn bad_input_names_the_field() {
        let base = |extra: Value| {
            let mut v = json!({"dataset_rows": 10, "dataset_columns": 3, "algorithm": "logistic_regression"});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        assert!(rejection(base(json!({"dataset_rows": 0}))).contains("`dataset_rows`"));
        assert!(rejection(base(json!({"dataset_rows": -5}))).contains("dataset_rows"));
        assert!(rejection(base(json!({"algorithm": "xgboost"}))).contains("`algorithm`"));
        assert!(
            rejection(base(json!({"hyperparameters": {"l2": -1}}))).contains("`hyperparameters`")
        );
        assert!(rejection(base(json!({"instance_type": "gpu-huge"}))).contains("`instance_type`"));
        assert!(rejection(base(json!({"features": ["a", "b"]}))).contains("`dataset_columns`"));
        assert!(rejection(base(json!({"colour": 1}))).contains("colour"));
        let no_columns = rejection(json!({"dataset_rows": 10, "algorithm": "random_forest"}));
        assert!(no_columns.contains("`dataset_columns`"), "{no_columns}");
        let twice = rejection(json!({
            "dataset_rows": 10, "features": ["a", "a"], "algorithm": "random_forest"
        }));
        assert!(twice.contains("`features`"), "{twice}");
    }
}
