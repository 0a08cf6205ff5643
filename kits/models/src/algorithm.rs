//! The algorithms the trainer offers and their hyperparameters, as data: a
//! job's `algorithm` argument, a search trial and the artifact's record of
//! how it was made all use this one type.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// A learning algorithm with its hyperparameters, tagged by `algorithm`:
/// `{"algorithm": "logistic_regression", "l2": 1.0}` or
/// `{"algorithm": "random_forest", "n_trees": 50, "max_depth": 6}`.
/// Fields left out take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "algorithm", rename_all = "snake_case", deny_unknown_fields)]
pub enum Algorithm {
    /// Binary logistic regression fitted with L-BFGS on standardized features.
    LogisticRegression {
        /// L2 penalty strength (0 = none). The objective is the summed log
        /// loss plus `l2 / 2 * ||w||²`, so it scales with the row count.
        #[serde(default = "defaults::l2")]
        l2: f64,
    },
    /// Bagged CART decision trees, each grown on a bootstrap sample of the
    /// rows (stratified by class) and a random subset of the features.
    /// P(class = 1) is the share of trees that vote 1.
    RandomForest {
        /// Number of trees, 1..=500.
        #[serde(default = "defaults::n_trees")]
        n_trees: u16,
        /// Maximum depth of each tree, 1..=32.
        #[serde(default = "defaults::max_depth")]
        max_depth: u16,
        /// Fewest rows a node needs to be split, >= 2.
        #[serde(default = "defaults::min_samples_split")]
        min_samples_split: usize,
        /// Fewest rows a leaf may hold, >= 1.
        #[serde(default = "defaults::min_samples_leaf")]
        min_samples_leaf: usize,
        /// Share of the features each tree sees, in (0, 1]; at least one.
        #[serde(default = "defaults::feature_fraction")]
        feature_fraction: f64,
    },
}

mod defaults {
    pub fn l2() -> f64 {
        1.0
    }
    pub fn n_trees() -> u16 {
        50
    }
    pub fn max_depth() -> u16 {
        6
    }
    pub fn min_samples_split() -> usize {
        2
    }
    pub fn min_samples_leaf() -> usize {
        1
    }
    pub fn feature_fraction() -> f64 {
        0.7
    }
}

/// The algorithm names, as the `algorithm` tag spells them.
pub const ALGORITHM_NAMES: &[&str] = &["logistic_regression", "random_forest"];

impl Algorithm {
    /// Logistic regression with default hyperparameters.
    pub fn logistic_regression() -> Algorithm {
        Algorithm::LogisticRegression { l2: defaults::l2() }
    }

    /// A random forest with default hyperparameters.
    pub fn random_forest() -> Algorithm {
        Algorithm::RandomForest {
            n_trees: defaults::n_trees(),
            max_depth: defaults::max_depth(),
            min_samples_split: defaults::min_samples_split(),
            min_samples_leaf: defaults::min_samples_leaf(),
            feature_fraction: defaults::feature_fraction(),
        }
    }

    /// Parses and validates a JSON algorithm spec; the error says which
    /// field is wrong and what is allowed.
    pub fn from_json(value: &serde_json::Value) -> Result<Algorithm, ModelError> {
        let tag = value.get("algorithm").and_then(serde_json::Value::as_str);
        let Some(name) = tag.and_then(|tag| ALGORITHM_NAMES.iter().find(|n| **n == tag)) else {
            return Err(ModelError::InvalidHyperparameters {
                algorithm: "algorithm",
                reason: format!(
                    "unknown algorithm {}; use one of {}",
                    tag.map_or("(no `algorithm` tag)".to_owned(), |t| format!("{t:?}")),
                    ALGORITHM_NAMES.join(", ")
                ),
            });
        };
        let algorithm: Algorithm = serde_json::from_value(value.clone()).map_err(|err| {
            // serde loses the field name inside a tagged enum, so find the
            // offending field by parsing each one on its own (every field
            // has a default, so a lone valid field parses).
            let culprit = value.as_object().and_then(|fields| {
                fields
                    .iter()
                    .filter(|(key, _)| key.as_str() != "algorithm")
                    .find_map(|(key, field)| {
                        let probe = serde_json::json!({ "algorithm": name, key.as_str(): field });
                        serde_json::from_value::<Algorithm>(probe)
                            .err()
                            .map(|e| format!("`{key}`: {e}"))
                    })
            });
            ModelError::InvalidHyperparameters {
                algorithm: name,
                reason: culprit.unwrap_or_else(|| err.to_string()),
            }
        })?;
        algorithm.validate()?;
        Ok(algorithm)
    }

    /// The `algorithm` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::LogisticRegression { .. } => "logistic_regression",
            Algorithm::RandomForest { .. } => "random_forest",
        }
    }

    /// Checks every hyperparameter's range.
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid = |reason: String| ModelError::InvalidHyperparameters {
            algorithm: self.name(),
            reason,
        };
        match *self {
            Algorithm::LogisticRegression { l2 } => {
                if !l2.is_finite() || !(0.0..=1e6).contains(&l2) {
                    return Err(invalid(format!("l2 must be in [0, 1e6], got {l2}")));
                }
            }
            Algorithm::RandomForest {
                n_trees,
                max_depth,
                min_samples_split,
                min_samples_leaf,
                feature_fraction,
            } => {
                if !(1..=500).contains(&n_trees) {
                    return Err(invalid(format!(
                        "n_trees must be in 1..=500, got {n_trees}"
                    )));
                }
                if !(1..=32).contains(&max_depth) {
                    return Err(invalid(format!(
                        "max_depth must be in 1..=32, got {max_depth}"
                    )));
                }
                if !(2..=100_000).contains(&min_samples_split) {
                    return Err(invalid(format!(
                        "min_samples_split must be in 2..=100000, got {min_samples_split}"
                    )));
                }
                if !(1..=100_000).contains(&min_samples_leaf) {
                    return Err(invalid(format!(
                        "min_samples_leaf must be in 1..=100000, got {min_samples_leaf}"
                    )));
                }
                if !feature_fraction.is_finite()
                    || feature_fraction <= 0.0
                    || feature_fraction > 1.0
                {
                    return Err(invalid(format!(
                        "feature_fraction must be in (0, 1], got {feature_fraction}"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_missing_fields() {
        let algorithm = Algorithm::from_json(&json!({"algorithm": "random_forest", "n_trees": 7}))
            .expect("valid spec");
        assert_eq!(
            algorithm,
            Algorithm::RandomForest {
                n_trees: 7,
                max_depth: 6,
                min_samples_split: 2,
                min_samples_leaf: 1,
                feature_fraction: 0.7
            }
        );
        assert_eq!(
            Algorithm::from_json(&json!({"algorithm": "logistic_regression"})).expect("valid"),
            Algorithm::logistic_regression()
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let unknown = Algorithm::from_json(&json!({"algorithm": "xgboost"}))
            .expect_err("unknown algorithm")
            .to_string();
        assert!(unknown.contains("xgboost"), "{unknown}");
        let kind =
            Algorithm::from_json(&json!({"algorithm": "random_forest", "max_depth": "deep"}))
                .expect_err("wrong type")
                .to_string();
        assert!(
            kind.contains("max_depth") && kind.contains("random_forest"),
            "{kind}"
        );
        assert!(unknown.contains("random_forest"), "{unknown}");

        let field = Algorithm::from_json(&json!({"algorithm": "logistic_regression", "depth": 3}))
            .expect_err("unknown field")
            .to_string();
        assert!(field.contains("depth"), "{field}");

        let range = Algorithm::from_json(&json!({"algorithm": "random_forest", "n_trees": 0}))
            .expect_err("out of range")
            .to_string();
        assert!(range.contains("n_trees"), "{range}");

        let negative = Algorithm::from_json(&json!({"algorithm": "logistic_regression", "l2": -1}))
            .expect_err("negative l2")
            .to_string();
        assert!(negative.contains("l2"), "{negative}");

        let fraction =
            Algorithm::from_json(&json!({"algorithm": "random_forest", "feature_fraction": 1.5}))
                .expect_err("fraction > 1")
                .to_string();
        assert!(fraction.contains("feature_fraction"), "{fraction}");
    }

    #[test]
    fn round_trips_through_json() {
        let algorithm = Algorithm::random_forest();
        let value = serde_json::to_value(&algorithm).expect("serializes");
        assert_eq!(value["algorithm"], "random_forest");
        assert_eq!(Algorithm::from_json(&value).expect("parses"), algorithm);
    }
}
