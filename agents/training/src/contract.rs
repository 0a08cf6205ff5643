//! What the skills consume and produce. These types are the card's skill
//! contracts (their JSON Schemas come from here), so the doc comments are
//! what the orchestrator and people read.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::memory::MemoryEstimate;

/// A dataset version held by the storage server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRef {
    /// Dataset name, e.g. "transactions": 1-63 characters of a-z, 0-9 and
    /// '-', starting with a letter.
    pub name: String,
    /// The version's content hash: 64 lowercase hex digits, "sha256:"
    /// prefix allowed (the data agent's manifest `version` or `digest`).
    pub version: String,
}

/// A learning algorithm the trainer offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmName {
    /// L2-regularized logistic regression (hyperparameter `l2`, default 1).
    LogisticRegression,
    /// Bagged decision trees (`n_trees`, `max_depth`, `min_samples_split`,
    /// `min_samples_leaf`, `feature_fraction`).
    RandomForest,
}

impl AlgorithmName {
    pub fn as_str(self) -> &'static str {
        match self {
            AlgorithmName::LogisticRegression => "logistic_regression",
            AlgorithmName::RandomForest => "random_forest",
        }
    }
}

/// Where the job runs; the cost agent recommends these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Instance type the job is meant for, e.g. "cpu-4x16" (recorded with
    /// the run; 1-64 characters of a-z, A-Z, 0-9, '.', '_', '-').
    #[serde(default)]
    pub instance_type: Option<String>,
    /// Memory available to the job, in MiB. A job estimated to need more
    /// fails before it is submitted, with evidence
    /// `{"reason": "out_of_memory", "required_mb", "memory_mb"}`.
    #[serde(default)]
    pub memory_mb: Option<u64>,
}

/// Input of `train-model`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainModelInput {
    /// The registry model to add a version to, e.g. "fraud-detector";
    /// registered first if new.
    pub model: String,
    /// The training data.
    pub dataset: DatasetRef,
    /// The label column: Boolean, or integers 0/1.
    pub target: String,
    /// Feature columns (numeric or Boolean). Default: every numeric or
    /// Boolean column except the target and `exclude`.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Columns never to use as features, e.g. ids or the protected
    /// attribute's code.
    #[serde(default)]
    pub exclude: Vec<String>,
    pub algorithm: AlgorithmName,
    /// logistic_regression: `l2` (0-1e6, default 1). random_forest:
    /// `n_trees` (1-500, default 50), `max_depth` (1-32, default 6),
    /// `min_samples_split` (>= 2), `min_samples_leaf` (>= 1),
    /// `feature_fraction` ((0, 1], default 0.7).
    #[serde(default)]
    pub hyperparameters: Map<String, Value>,
    /// Seeds the split and the fit (default 0): the same seed on the same
    /// data gives the same model and metrics.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Share of rows held out for validation metrics, 0.05-0.5 (default 0.2).
    #[serde(default)]
    pub validation_fraction: Option<f64>,
    /// The column fairness checks group by (recorded on the version), e.g.
    /// "age_band"; must be a column of the dataset.
    #[serde(default)]
    pub protected_attribute: Option<String>,
    /// Where the job runs; with `memory_mb` the job's memory need is checked
    /// before it is submitted.
    #[serde(default)]
    pub resources: Option<Resources>,
}

/// How a search picks its trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchStrategy {
    /// Every combination of the listed values.
    Grid,
    /// `trials` seeded draws from the lists or ranges.
    Random,
}

impl SearchStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchStrategy::Grid => "grid",
            SearchStrategy::Random => "random",
        }
    }
}

/// A validation metric to compare runs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    Accuracy,
    Precision,
    Recall,
    F1,
    /// Area under the ROC curve (the default).
    RocAuc,
    /// Lower is better.
    LogLoss,
}

impl MetricName {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricName::Accuracy => "accuracy",
            MetricName::Precision => "precision",
            MetricName::Recall => "recall",
            MetricName::F1 => "f1",
            MetricName::RocAuc => "roc_auc",
            MetricName::LogLoss => "log_loss",
        }
    }

    pub fn goal(self) -> Goal {
        match self {
            MetricName::LogLoss => Goal::Minimize,
            _ => Goal::Maximize,
        }
    }
}

/// Whether a metric is better high or low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    Maximize,
    Minimize,
}

impl Goal {
    /// Whether `a` is better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Goal::Maximize => a > b,
            Goal::Minimize => a < b,
        }
    }
}

/// Input of `hyperparameter-tune`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TuneInput {
    /// The registry model the best trial becomes a version of.
    pub model: String,
    pub dataset: DatasetRef,
    pub target: String,
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub algorithm: AlgorithmName,
    /// Hyperparameter → a list of values (grid or random), or for random
    /// search a range `{"min": 1, "max": 10}` (integers when both ends
    /// are) or `{"min": 0.001, "max": 10, "log": true}`. A lone value is
    /// fixed. A grid runs at most 50 combinations.
    pub space: Map<String, Value>,
    /// "grid" (default) or "random".
    #[serde(default)]
    pub strategy: Option<SearchStrategy>,
    /// Random search: how many trials, 1-50 (default 10).
    #[serde(default)]
    pub trials: Option<u32>,
    /// The validation metric the best trial is picked by (default roc_auc).
    #[serde(default)]
    pub metric: Option<MetricName>,
    /// Seeds the draws, the shared split and every fit (default 0).
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub validation_fraction: Option<f64>,
    #[serde(default)]
    pub protected_attribute: Option<String>,
    #[serde(default)]
    pub resources: Option<Resources>,
}

/// Input of `track-experiment`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackInput {
    /// Only this registry model's versions, and runs on the datasets they
    /// were trained on.
    #[serde(default)]
    pub model: Option<String>,
    /// Only runs on this dataset (by name).
    #[serde(default)]
    pub dataset: Option<String>,
    /// At most this many runs and this many versions, 1-100 (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The metric to rank by (default roc_auc).
    #[serde(default)]
    pub metric: Option<MetricName>,
}

/// A registered model version with its lineage, as `train-model` and
/// `hyperparameter-tune` leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RegisteredVersion {
    pub model: String,
    pub version: u32,
    /// Where the trained model lives, e.g. storage://models/{run}/model.json.
    pub artifact_uri: String,
    /// Validation metrics by name (accuracy, precision, recall, f1,
    /// roc_auc, log_loss), the same on the training rows as `train_*`,
    /// and the row counts.
    pub metrics: BTreeMap<String, f64>,
    /// The trainer's job id.
    pub training_run_id: String,
    /// The dataset version trained on.
    pub dataset: DatasetRef,
    /// "sha256:" + the dataset version, as the registry records it.
    pub dataset_version_digest: String,
    /// sha256 of the canonical JSON of the training config (algorithm,
    /// hyperparameters, features, target, seed, validation fraction, agent
    /// version).
    pub code_digest: String,
    pub algorithm: AlgorithmName,
    /// Every hyperparameter the fit used, defaults filled in.
    pub hyperparameters: Map<String, Value>,
    pub features: Vec<String>,
    pub target: String,
    pub seed: u64,
    pub validation_fraction: f64,
    #[serde(default)]
    pub protected_attribute: Option<String>,
}

/// Output of `train-model`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrainModelOutput {
    #[serde(flatten)]
    pub registered: RegisteredVersion,
    /// The job's estimated memory need.
    pub memory: MemoryEstimate,
    /// The resources the job was sized for, as given.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// From the job's start to its end, on the trainer.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
}

/// One trial of a search.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrialRow {
    pub trial_index: u32,
    /// The trial's training job.
    pub training_run_id: String,
    /// queued, running, succeeded or failed.
    pub state: String,
    /// The trial's hyperparameters (defaults filled in).
    pub hyperparameters: Map<String, Value>,
    /// The search metric on the validation rows.
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The winning trial of a search.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BestTrial {
    pub trial_index: u32,
    pub training_run_id: String,
    pub hyperparameters: Map<String, Value>,
    pub value: f64,
}

/// Output of `hyperparameter-tune`: the trials table, the best trial, and
/// the version it was registered as.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TuneOutput {
    pub search_id: String,
    pub strategy: SearchStrategy,
    pub metric: MetricName,
    pub goal: Goal,
    pub trials: Vec<TrialRow>,
    pub best: BestTrial,
    #[serde(flatten)]
    pub registered: RegisteredVersion,
    pub memory: MemoryEstimate,
}

/// One row of the experiment table: a training run, the version it was
/// registered as (if any), or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentRow {
    pub training_run_id: String,
    /// The run's state at the trainer (None: the trainer does not know
    /// the run, e.g. a version registered from elsewhere).
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub dataset_version: Option<String>,
    #[serde(default)]
    pub algorithm: Option<String>,
    /// Hyperparameters, defaults filled in.
    #[serde(default)]
    pub hyperparameters: Map<String, Value>,
    #[serde(default)]
    pub seed: Option<i64>,
    /// The search the run was a trial of.
    #[serde(default)]
    pub search_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// The registry model and version the run became, if registered.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Flat metrics, as registered (validation by plain name, `train_*`).
    pub metrics: BTreeMap<String, f64>,
    /// The ranking metric's value.
    #[serde(default)]
    pub value: Option<f64>,
}

/// Output of `track-experiment`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrackOutput {
    pub metric: MetricName,
    pub goal: Goal,
    /// Runs and versions, best first by `metric`; rows without it last.
    pub rows: Vec<ExperimentRow>,
    /// The best row by `metric`, if any row has it.
    #[serde(default)]
    pub best: Option<ExperimentRow>,
    /// How many training runs and registered versions were read.
    pub runs_listed: usize,
    pub versions_listed: usize,
}
