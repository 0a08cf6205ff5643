//! The training agent: trains models on dataset versions through the
//! trainer MCP server and records every result in the registry with its
//! lineage.
//!
//! Skills:
//! - `train-model` (train): checks the request against the dataset's
//!   manifest, estimates the job's memory ([`memory`]) and fails early when
//!   the given memory is too small, submits the job, streams its progress
//!   at least every 2 s, and registers the model version with lineage.
//! - `hyperparameter-tune` (train): a grid or random search; the best
//!   trial becomes a version with the same lineage.
//! - `track-experiment` (observe): runs and versions in one table, ranked
//!   by a metric.
//!
//! It reaches storage (read), the trainer (run, read) and the registry
//! (read, write versions); the access matrix gives it no alias rights.

mod config;
mod contract;
mod lineage;
pub mod memory;
mod request;
mod track;
mod train;
mod trainer;
mod tune;
mod watch;

use async_trait::async_trait;
use mlops_agent_kit::{
    Action, AgentDefinition, AgentEnv, Phase, SkillContext, SkillContract, SkillError,
    SkillOutcome, Skills, parse_input,
};
use serde_json::Value;

pub use config::TrainingConfig;
pub use contract::{
    AlgorithmName, BestTrial, DatasetRef, ExperimentRow, Goal, MetricName, RegisteredVersion,
    Resources, SearchStrategy, TrackInput, TrackOutput, TrainModelInput, TrainModelOutput,
    TrialRow, TuneInput, TuneOutput,
};
pub use lineage::{AGENT_VERSION, canonical_json};

pub const NAME: &str = "training";

pub const TRAIN_MODEL: &str = "train-model";
pub const HYPERPARAMETER_TUNE: &str = "hyperparameter-tune";
pub const TRACK_EXPERIMENT: &str = "track-experiment";

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: NAME.into(),
        description: "Trains models on dataset versions through the trainer, tunes \
                      hyperparameters, and registers each result as a model version with \
                      its lineage (dataset digest, training run, code digest, metrics)."
            .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<TrainModelInput, TrainModelOutput>(
                TRAIN_MODEL,
                "Train a model",
                "Trains an algorithm on a dataset version and registers the result as the \
                 model's next version with full lineage. Checks the job's estimated memory \
                 against resources.memory_mb first and fails with evidence \
                 {reason: out_of_memory, required_mb, memory_mb} when it cannot fit. Streams \
                 the job's progress at least every 2 s.",
                Phase::Train,
            )
            .with_action(Action::TrainModel)
            .with_tags(&["training", "registry", "lineage"])
            .with_examples(&[
                r#"{"model":"fraud-detector","dataset":{"name":"transactions","version":"sha256:…"},"target":"is_fraud","algorithm":"random_forest","seed":42,"protected_attribute":"age_band"}"#,
            ]),
            SkillContract::new::<TuneInput, TuneOutput>(
                HYPERPARAMETER_TUNE,
                "Tune hyperparameters",
                "Runs a grid or random hyperparameter search on a dataset version, streams \
                 the trials as they finish, and registers the best trial as the model's \
                 next version with full lineage. Returns the trials table and the best.",
                Phase::Train,
            )
            .with_tags(&["training", "tuning", "registry"])
            .with_examples(&[
                r#"{"model":"fraud-detector","dataset":{"name":"transactions","version":"sha256:…"},"target":"is_fraud","algorithm":"random_forest","space":{"max_depth":[3,6],"n_trees":[20,50]}}"#,
            ]),
            SkillContract::new::<TrackInput, TrackOutput>(
                TRACK_EXPERIMENT,
                "Track experiments",
                "Lists training runs and registered versions side by side (params, \
                 metrics, lineage) and names the best by a chosen metric.",
                Phase::Observe,
            )
            .with_tags(&["experiments", "comparison"])
            .with_examples(&[r#"{"model":"fraud-detector","metric":"roc_auc"}"#]),
        ],
    }
}

pub struct TrainingAgent {
    config: TrainingConfig,
}

impl TrainingAgent {
    pub fn new(env: &AgentEnv) -> anyhow::Result<Self> {
        let config: TrainingConfig = env.config()?;
        TrainingAgent::with_config(config)
    }

    /// An agent with explicit settings (they are checked).
    pub fn with_config(config: TrainingConfig) -> anyhow::Result<Self> {
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("training agent config: {e}"))?;
        Ok(TrainingAgent { config })
    }

    pub fn config(&self) -> &TrainingConfig {
        &self.config
    }
}

#[async_trait]
impl Skills for TrainingAgent {
    fn definition(&self) -> AgentDefinition {
        definition()
    }

    async fn run(
        &self,
        skill: &str,
        input: Value,
        ctx: &SkillContext,
    ) -> Result<SkillOutcome, SkillError> {
        let input = integral_numbers(input);
        match skill {
            TRAIN_MODEL => train::run(ctx, &self.config, parse_input(input)?).await,
            HYPERPARAMETER_TUNE => tune::run(ctx, &self.config, parse_input(input)?).await,
            TRACK_EXPERIMENT => track::run(ctx, parse_input(input)?).await,
            other => Err(SkillError::rejected(format!(
                "unknown skill {other:?}; this agent has {TRAIN_MODEL}, {HYPERPARAMETER_TUNE}, {TRACK_EXPERIMENT}"
            ))),
        }
    }
}

/// The largest integer a double holds exactly.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A2A data parts travel as protobuf `Struct` values, where every number is
/// a double: an integer sent as `8192` arrives as `8192.0`. Integral
/// doubles are turned back into integers so integer fields (seed,
/// memory_mb, n_trees, …) parse; float fields accept integers anyway.
fn integral_numbers(value: Value) -> Value {
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(f)
                if !number.is_i64()
                    && !number.is_u64()
                    && f.fract() == 0.0
                    && f.abs() <= MAX_EXACT_INTEGER =>
            {
                if f >= 0.0 {
                    Value::from(f as u64)
                } else {
                    Value::from(f as i64)
                }
            }
            _ => Value::Number(number),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_doubles_from_the_wire_become_integers() {
        let wire = serde_json::json!({
            "seed": 42.0, "resources": {"memory_mb": 8192.0},
            "hyperparameters": {"n_trees": 50.0, "l2": 0.5, "min": -3.0},
            "features": ["a"], "big": 1e300
        });
        let fixed = integral_numbers(wire);
        assert!(fixed["seed"].is_u64());
        assert_eq!(fixed["resources"]["memory_mb"], 8192);
        assert_eq!(fixed["hyperparameters"]["n_trees"], 50);
        assert_eq!(fixed["hyperparameters"]["l2"], 0.5);
        assert_eq!(fixed["hyperparameters"]["min"], -3);
        assert_eq!(
            fixed["big"], 1e300,
            "beyond exact integers it stays a double"
        );
        let parsed: TrainModelInput = parse_input(integral_numbers(serde_json::json!({
            "model": "m", "dataset": {"name": "d", "version": "v"}, "target": "y",
            "algorithm": "random_forest", "seed": 7.0, "resources": {"memory_mb": 64.0}
        })))
        .unwrap();
        assert_eq!(parsed.seed, Some(7));
    }

    #[test]
    fn the_card_declares_three_skills_with_phases_and_schemas() {
        let definition = definition();
        let ids: Vec<&str> = definition.skills.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, [TRAIN_MODEL, HYPERPARAMETER_TUNE, TRACK_EXPERIMENT]);
        let train = definition.skill(TRAIN_MODEL).unwrap();
        assert_eq!(train.phase, Phase::Train);
        assert_eq!(
            definition.skill(TRACK_EXPERIMENT).unwrap().phase,
            Phase::Observe
        );
        let required = train.consumes["required"].as_array().unwrap();
        for field in ["model", "dataset", "target", "algorithm"] {
            assert!(
                required.contains(&Value::from(field)),
                "{field} is required"
            );
        }
        let produces = train.produces["properties"].as_object().unwrap();
        for field in [
            "model",
            "version",
            "artifact_uri",
            "metrics",
            "training_run_id",
            "dataset",
            "code_digest",
        ] {
            assert!(produces.contains_key(field), "output has {field}");
        }
    }

    #[test]
    fn inputs_are_parsed_strictly() {
        let error = parse_input::<TrainModelInput>(serde_json::json!({
            "model": "m", "dataset": {"name": "d", "version": "v"}, "target": "y",
            "algorithm": "svm"
        }))
        .unwrap_err();
        assert!(error.to_string().contains("`algorithm`"), "{error}");
        let error = parse_input::<TrainModelInput>(serde_json::json!({
            "model": "m", "dataset": {"name": "d", "version": "v"}, "target": "y",
            "algorithm": "random_forest", "epochs": 3
        }))
        .unwrap_err();
        assert!(error.to_string().contains("epochs"), "{error}");
    }
}
