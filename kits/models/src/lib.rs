//! Model artifacts: the binary classifiers the trainer fits and the model
//! servers load.
//!
//! - [`train`] fits an [`Algorithm`] (logistic regression or a random forest,
//!   via the pure-Rust `smartcore`) on a [`TrainingSet`], deterministically
//!   for a seed.
//! - [`Model`] is the artifact: `to_bytes`/`from_bytes` (JSON), and
//!   `predict_proba`/`predict` on rows in `feature_names` order.
//! - [`metrics`] scores predictions; [`stratified_split`] makes a seeded
//!   train/validation split.

mod algorithm;
mod error;
pub mod metrics;
mod model;
mod training;

pub use algorithm::{ALGORITHM_NAMES, Algorithm};
pub use error::ModelError;
pub use metrics::{BinaryClassificationMetrics, binary_classification_metrics};
pub use model::{DatasetRef, FORMAT_VERSION, Model, ServingFault, TrainingMetadata};
pub use training::{TrainingProgress, TrainingSet, stratified_split, train, train_with_progress};
