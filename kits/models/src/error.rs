use thiserror::Error;

/// Everything that can go wrong when training, loading or predicting.
/// Every variant's message says what was wrong, so a tool can hand it to its
/// caller as is.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The algorithm's hyperparameters are out of range.
    #[error("invalid hyperparameters for {algorithm}: {reason}")]
    InvalidHyperparameters {
        algorithm: &'static str,
        reason: String,
    },
    /// The training data cannot be used (shape, values, labels).
    #[error("invalid training data: {0}")]
    InvalidTrainingData(String),
    /// A row handed to `predict` does not fit the model.
    #[error("invalid input row {row}: {reason}")]
    InvalidRow { row: usize, reason: String },
    /// The artifact bytes are not a model this crate can load.
    #[error("invalid model artifact: {0}")]
    InvalidArtifact(String),
    /// The ML library refused to fit or predict.
    #[error("{stage} failed: {reason}")]
    Library { stage: &'static str, reason: String },
}
