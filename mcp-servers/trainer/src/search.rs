//! Hyperparameter search: turning a search space into trial algorithms
//! (grid or seeded random), and picking the best finished trial.

use mlops_mcp_kit::ToolError;
use mlops_models::Algorithm;
use mlops_models::metrics::METRIC_NAMES;
use serde_json::{Map, Value};

/// Most trials one search may run.
pub const MAX_TRIALS: usize = 50;
/// Most values one grid dimension may list.
const MAX_VALUES: usize = 50;
const DEFAULT_RANDOM_TRIALS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Grid,
    Random,
}

impl Strategy {
    pub fn parse(raw: &str) -> Result<Strategy, ToolError> {
        match raw {
            "grid" => Ok(Strategy::Grid),
            "random" => Ok(Strategy::Random),
            other => Err(ToolError::Invalid(format!(
                "strategy {other:?} is not known; use \"grid\" or \"random\""
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Grid => "grid",
            Strategy::Random => "random",
        }
    }
}

/// One hyperparameter's candidates.
#[derive(Debug, Clone, PartialEq)]
enum Dimension {
    /// A list of values (a lone value is a list of one).
    Values(Vec<Value>),
    /// A range for random search: integers when both ends are integers,
    /// otherwise floats, log-uniform when `log` is set.
    Range {
        min: f64,
        max: f64,
        integer: bool,
        log: bool,
    },
}

fn parse_dimension(name: &str, raw: &Value) -> Result<Dimension, ToolError> {
    let invalid = |why: String| ToolError::Invalid(format!("search space `{name}`: {why}"));
    match raw {
        Value::Array(values) => {
            if values.is_empty() || values.len() > MAX_VALUES {
                return Err(invalid(format!(
                    "give 1-{MAX_VALUES} values, got {}",
                    values.len()
                )));
            }
            Ok(Dimension::Values(values.clone()))
        }
        Value::Object(range) => {
            for key in range.keys() {
                if !["min", "max", "log"].contains(&key.as_str()) {
                    return Err(invalid(format!(
                        "unknown range field {key:?}; a range is {{\"min\": …, \"max\": …, \"log\": false}}"
                    )));
                }
            }
            let bound = |key: &str| {
                range
                    .get(key)
                    .and_then(Value::as_f64)
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| invalid(format!("a range needs a finite number `{key}`")))
            };
            let (min, max) = (bound("min")?, bound("max")?);
            let log = match range.get("log") {
                None => false,
                Some(Value::Bool(log)) => *log,
                Some(other) => {
                    return Err(invalid(format!("`log` must be true or false, got {other}")));
                }
            };
            if min > max {
                return Err(invalid(format!("min {min} is above max {max}")));
            }
            if log && min <= 0.0 {
                return Err(invalid(format!("a log range needs min > 0, got {min}")));
            }
            let is_integer = |key: &str| range.get(key).is_some_and(|v| v.is_i64() || v.is_u64());
            Ok(Dimension::Range {
                min,
                max,
                integer: is_integer("min") && is_integer("max"),
                log,
            })
        }
        scalar => Ok(Dimension::Values(vec![scalar.clone()])),
    }
}

/// The trials of a search: each one the algorithm with one combination of
/// hyperparameters, checked before anything is queued.
pub fn plan_trials(
    algorithm: &str,
    space: &Map<String, Value>,
    strategy: Strategy,
    trials: Option<u32>,
    seed: u64,
) -> Result<Vec<Algorithm>, ToolError> {
    if space.is_empty() {
        return Err(ToolError::Invalid(
            "the search space is empty; give hyperparameter → values (or a range for random search)"
                .into(),
        ));
    }
    // Sorted names, so a space means the same trials however it was written.
    let mut dimensions: Vec<(String, Dimension)> = space
        .iter()
        .map(|(name, raw)| Ok((name.clone(), parse_dimension(name, raw)?)))
        .collect::<Result<_, ToolError>>()?;
    dimensions.sort_by(|a, b| a.0.cmp(&b.0));

    let combinations: Vec<Map<String, Value>> = match strategy {
        Strategy::Grid => {
            if trials.is_some() {
                return Err(ToolError::Invalid(
                    "`trials` applies to random search; a grid runs every combination".into(),
                ));
            }
            let mut size = 1usize;
            for (name, dimension) in &dimensions {
                match dimension {
                    Dimension::Values(values) => size = size.saturating_mul(values.len()),
                    Dimension::Range { .. } => {
                        return Err(ToolError::Invalid(format!(
                            "search space `{name}`: a grid needs a list of values, not a range"
                        )));
                    }
                }
            }
            if size > MAX_TRIALS {
                return Err(ToolError::Invalid(format!(
                    "the grid has {size} combinations; at most {MAX_TRIALS} trials per search"
                )));
            }
            grid(&dimensions)
        }
        Strategy::Random => {
            let count = trials.map_or(DEFAULT_RANDOM_TRIALS, |t| t as usize);
            if !(1..=MAX_TRIALS).contains(&count) {
                return Err(ToolError::Invalid(format!(
                    "trials must be 1-{MAX_TRIALS}, got {count}"
                )));
            }
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..count)
                .map(|_| {
                    dimensions
                        .iter()
                        .map(|(name, dimension)| (name.clone(), sample(dimension, &mut rng)))
                        .collect()
                })
                .collect()
        }
    };

    combinations
        .into_iter()
        .enumerate()
        .map(|(index, mut hyperparameters)| {
            if hyperparameters.contains_key("algorithm") {
                return Err(ToolError::Invalid(
                    "`algorithm` is not a hyperparameter; name it in the `algorithm` argument"
                        .into(),
                ));
            }
            let shown = Value::Object(hyperparameters.clone());
            hyperparameters.insert("algorithm".into(), Value::String(algorithm.to_owned()));
            Algorithm::from_json(&Value::Object(hyperparameters))
                .map_err(|e| ToolError::Invalid(format!("trial {index} {shown}: {e}")))
        })
        .collect()
}

fn grid(dimensions: &[(String, Dimension)]) -> Vec<Map<String, Value>> {
    let mut combinations = vec![Map::new()];
    for (name, dimension) in dimensions {
        let Dimension::Values(values) = dimension else {
            unreachable!("grid dimensions were checked to be value lists")
        };
        combinations = combinations
            .into_iter()
            .flat_map(|partial| {
                values.iter().map(move |value| {
                    let mut next = partial.clone();
                    next.insert(name.clone(), value.clone());
                    next
                })
            })
            .collect();
    }
    combinations
}

fn sample(dimension: &Dimension, rng: &mut fastrand::Rng) -> Value {
    match dimension {
        Dimension::Values(values) => values[rng.usize(..values.len())].clone(),
        &Dimension::Range {
            min,
            max,
            integer,
            log,
        } => {
            if integer && !log {
                // Integer ranges include both ends, each value equally likely.
                return Value::from(rng.i64(min as i64..=max as i64));
            }
            let unit = rng.f64();
            let drawn = if log {
                (min.ln() + unit * (max.ln() - min.ln())).exp()
            } else {
                min + unit * (max - min)
            };
            if integer {
                Value::from((drawn.round() as i64).clamp(min as i64, max as i64))
            } else {
                Value::from(drawn)
            }
        }
    }
}

/// Checks a metric name and says which way is better.
pub fn metric_direction(metric: &str) -> Result<MetricGoal, ToolError> {
    if !METRIC_NAMES.contains(&metric) {
        return Err(ToolError::Invalid(format!(
            "metric {metric:?} is not known; use one of {}",
            METRIC_NAMES.join(", ")
        )));
    }
    Ok(if metric == "log_loss" {
        MetricGoal::Minimize
    } else {
        MetricGoal::Maximize
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricGoal {
    Maximize,
    Minimize,
}

/// The index of the best `(index, value)`, ties going to the earlier
/// trial.
pub fn best_trial(scores: &[(usize, f64)], goal: MetricGoal) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for &(index, value) in scores {
        if !value.is_finite() {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, current)) => match goal {
                MetricGoal::Maximize => value > current,
                MetricGoal::Minimize => value < current,
            },
        };
        if better {
            best = Some((index, value));
        }
    }
    best.map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space(value: Value) -> Map<String, Value> {
        value.as_object().expect("object").clone()
    }

    #[test]
    fn grid_is_the_sorted_cartesian_product() {
        let trials = plan_trials(
            "random_forest",
            &space(json!({"n_trees": [5, 10], "max_depth": [2, 4, 6], "min_samples_leaf": 2})),
            Strategy::Grid,
            None,
            0,
        )
        .expect("valid");
        assert_eq!(trials.len(), 6);
        let first = serde_json::to_value(&trials[0]).expect("json");
        assert_eq!(
            (first["max_depth"].as_u64(), first["n_trees"].as_u64()),
            (Some(2), Some(5))
        );
        assert_eq!(first["min_samples_leaf"], 2);
        let last = serde_json::to_value(&trials[5]).expect("json");
        assert_eq!(
            (last["max_depth"].as_u64(), last["n_trees"].as_u64()),
            (Some(6), Some(10))
        );
    }

    #[test]
    fn random_is_seeded_and_respects_ranges() {
        let s = space(json!({"l2": {"min": 0.001, "max": 100.0, "log": true}}));
        let a =
            plan_trials("logistic_regression", &s, Strategy::Random, Some(8), 3).expect("valid");
        let b =
            plan_trials("logistic_regression", &s, Strategy::Random, Some(8), 3).expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.len(), 8);
        for trial in &a {
            let Algorithm::LogisticRegression { l2 } = trial else {
                panic!("{trial:?}")
            };
            assert!((0.001..=100.0).contains(l2), "{l2}");
        }
        let c =
            plan_trials("logistic_regression", &s, Strategy::Random, Some(8), 4).expect("valid");
        assert_ne!(a, c);
        let ints = plan_trials(
            "random_forest",
            &space(json!({"n_trees": {"min": 3, "max": 5}})),
            Strategy::Random,
            Some(20),
            1,
        )
        .expect("valid");
        for trial in ints {
            let Algorithm::RandomForest { n_trees, .. } = trial else {
                panic!()
            };
            assert!((3..=5).contains(&n_trees));
        }
    }

    #[test]
    fn bad_spaces_say_what_is_wrong() {
        let err = |value: Value, strategy: Strategy, trials: Option<u32>| {
            plan_trials("random_forest", &space(value), strategy, trials, 0)
                .expect_err("invalid")
                .to_string()
        };
        assert!(err(json!({}), Strategy::Grid, None).contains("empty"));
        assert!(err(json!({"n_trees": [0, 5]}), Strategy::Grid, None).contains("n_trees"));
        assert!(err(json!({"depth": [3]}), Strategy::Grid, None).contains("depth"));
        assert!(
            err(
                json!({"n_trees": {"min": 1, "max": 5}}),
                Strategy::Grid,
                None
            )
            .contains("range")
        );
        assert!(err(json!({"n_trees": []}), Strategy::Grid, None).contains("1-50"));
        assert!(err(json!({"n_trees": [1, 2]}), Strategy::Random, Some(0)).contains("trials"));
        let big = json!({"n_trees": (1..=10).collect::<Vec<_>>(), "max_depth": (1..=6).collect::<Vec<_>>()});
        assert!(err(big, Strategy::Grid, None).contains("60 combinations"));
        assert!(Strategy::parse("bayes").is_err());
        assert!(metric_direction("auc").is_err());
    }

    #[test]
    fn best_trial_follows_the_metric_direction() {
        let scores = [(0, 0.7), (1, 0.9), (2, f64::NAN), (3, 0.9)];
        assert_eq!(best_trial(&scores, MetricGoal::Maximize), Some(1));
        assert_eq!(best_trial(&scores, MetricGoal::Minimize), Some(0));
        assert_eq!(best_trial(&[], MetricGoal::Maximize), None);
    }
}
