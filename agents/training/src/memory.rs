//! How much memory a training job needs, estimated from the dataset's
//! manifest before anything is submitted, so a job that cannot fit fails at
//! once with numbers the cost agent can size a bigger instance from.
//!
//! The estimate is
//!
//! ```text
//! required_mb = base_overhead_mb + ceil(rows × columns × bytes_per_value × factor / 2^20)
//! ```
//!
//! where `columns` are the columns the job trains on (its features plus the
//! target) and `factor` is the algorithm's, counting the copies of the
//! training data a fit holds at its peak:
//!
//! - **logistic_regression = 4**: the columns as read (1×), the row-major
//!   feature matrix (1×), the train/validation split copies (1×), and the
//!   standardized dense matrix the solver works on (~0.8× of the training
//!   rows), rounded up for per-row allocation overhead.
//! - **random_forest = 6**: the same first three copies (3×), plus, while a
//!   tree grows, its bootstrap sample of whole rows (1×) and that sample's
//!   column subset as a dense matrix (up to 1×), plus scoring copies and
//!   per-row allocation overhead.
//!
//! `base_overhead_mb` is the job's fixed working set apart from the data:
//! the runtime, the dataset's other columns while it is read, the model.

use serde::{Deserialize, Serialize};

use crate::contract::AlgorithmName;

const MIB: f64 = 1024.0 * 1024.0;

/// The estimate's constants (config key `memory`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryModel {
    /// Bytes one value takes in memory: features are held as f64.
    pub bytes_per_value: u64,
    /// The job's fixed working set apart from its data, in MiB.
    pub base_overhead_mb: u64,
    /// Copies of the data a logistic regression fit holds at its peak.
    pub logistic_regression_factor: f64,
    /// Copies of the data a random forest fit holds at its peak.
    pub random_forest_factor: f64,
}

impl Default for MemoryModel {
    fn default() -> Self {
        MemoryModel {
            bytes_per_value: 8,
            base_overhead_mb: 128,
            logistic_regression_factor: 4.0,
            random_forest_factor: 6.0,
        }
    }
}

impl MemoryModel {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.bytes_per_value) {
            return Err(format!(
                "bytes_per_value must be 1-64, got {}",
                self.bytes_per_value
            ));
        }
        for (name, factor) in [
            (
                "logistic_regression_factor",
                self.logistic_regression_factor,
            ),
            ("random_forest_factor", self.random_forest_factor),
        ] {
            if !factor.is_finite() || !(0.1..=1000.0).contains(&factor) {
                return Err(format!("{name} must be between 0.1 and 1000, got {factor}"));
            }
        }
        Ok(())
    }

    pub fn factor(&self, algorithm: AlgorithmName) -> f64 {
        match algorithm {
            AlgorithmName::LogisticRegression => self.logistic_regression_factor,
            AlgorithmName::RandomForest => self.random_forest_factor,
        }
    }

    /// The memory a job on `rows` × `columns` with `algorithm` needs.
    pub fn estimate(&self, rows: u64, columns: usize, algorithm: AlgorithmName) -> MemoryEstimate {
        let factor = self.factor(algorithm);
        let data_bytes = rows as f64 * columns as f64 * self.bytes_per_value as f64 * factor;
        let data_mb = (data_bytes / MIB).ceil() as u64;
        MemoryEstimate {
            rows,
            columns,
            bytes_per_value: self.bytes_per_value,
            factor,
            base_overhead_mb: self.base_overhead_mb,
            required_mb: self.base_overhead_mb.saturating_add(data_mb),
        }
    }
}

/// What a job was estimated to need, with the terms of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MemoryEstimate {
    /// Dataset rows (from its manifest).
    pub rows: u64,
    /// Columns the job trains on: features plus the target.
    pub columns: usize,
    pub bytes_per_value: u64,
    /// The algorithm's factor: copies of the data a fit holds at its peak.
    pub factor: f64,
    pub base_overhead_mb: u64,
    /// base_overhead_mb + ceil(rows × columns × bytes_per_value × factor / MiB).
    pub required_mb: u64,
}

impl MemoryEstimate {
    /// Whether a job fits in `memory_mb`.
    pub fn fits(&self, memory_mb: u64) -> bool {
        self.required_mb <= memory_mb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_follows_the_documented_formula() {
        let model = MemoryModel::default();
        // 1 Mi rows × 8 columns × 8 bytes × 6 = 384 MiB, plus the base.
        let forest = model.estimate(1 << 20, 8, AlgorithmName::RandomForest);
        assert_eq!(forest.required_mb, 128 + 384);
        let logistic = model.estimate(1 << 20, 8, AlgorithmName::LogisticRegression);
        assert_eq!(logistic.required_mb, 128 + 256);
        assert!(forest.fits(512));
        assert!(!forest.fits(511));
    }

    #[test]
    fn a_partial_mebibyte_rounds_up() {
        let model = MemoryModel {
            base_overhead_mb: 0,
            ..MemoryModel::default()
        };
        let small = model.estimate(1000, 9, AlgorithmName::LogisticRegression);
        assert_eq!(small.required_mb, 1, "288 000 bytes still need a whole MiB");
        assert_eq!(
            model
                .estimate(0, 9, AlgorithmName::LogisticRegression)
                .required_mb,
            0
        );
    }

    #[test]
    fn bad_constants_are_refused() {
        let model = MemoryModel {
            random_forest_factor: f64::NAN,
            ..MemoryModel::default()
        };
        assert!(
            model
                .validate()
                .unwrap_err()
                .contains("random_forest_factor")
        );
        let model = MemoryModel {
            bytes_per_value: 0,
            ..MemoryModel::default()
        };
        assert!(model.validate().is_err());
    }
}
