//! A training request checked at the edge: first on its own (names, ranges,
//! hyperparameters, search space), then against the dataset's manifest
//! (columns and their types). Every refusal names the input field at
//! fault, and all of it happens before anything is submitted.

use std::collections::BTreeSet;

use mlops_agent_kit::SkillError;
use mlops_models::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::contract::{AlgorithmName, DatasetRef, Resources, SearchStrategy};

/// Most trials one search may run (the trainer's bound too).
pub const MAX_TRIALS: u32 = 50;
/// Most values one search dimension may list.
const MAX_VALUES: usize = 50;
const DEFAULT_RANDOM_TRIALS: u32 = 10;
const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;

/// `^[a-z][a-z0-9-]{0,max-1}$`: model and dataset names.
fn slug(field: &str, raw: &str, max_len: usize) -> Result<String, SkillError> {
    let ok = !raw.is_empty()
        && raw.len() <= max_len
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(SkillError::bad_field(
            field,
            format!(
                "{raw:?} must be 1-{max_len} characters of a-z, 0-9 and '-', starting with a letter"
            ),
        ))
    }
}

/// A model name as the registry accepts it.
pub fn model_name(field: &str, raw: &str) -> Result<String, SkillError> {
    slug(field, raw, 63)
}

/// A dataset name as the storage server accepts it.
pub fn dataset_name(field: &str, raw: &str) -> Result<String, SkillError> {
    slug(field, raw, 63)
}

/// A dataset version: 64 lowercase hex digits, `sha256:` prefix allowed.
pub fn dataset_version(field: &str, raw: &str) -> Result<String, SkillError> {
    let hex = raw.strip_prefix("sha256:").unwrap_or(raw);
    if hex.len() == 64
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        Ok(hex.to_owned())
    } else {
        Err(SkillError::bad_field(
            field,
            format!(
                "{raw:?} must be a sha256 content hash: 64 lowercase hex digits, \"sha256:\" prefix allowed"
            ),
        ))
    }
}

/// A column name: 1-256 characters, no control characters.
fn column_name(field: &str, raw: &str) -> Result<(), SkillError> {
    if raw.is_empty() || raw.len() > 256 || raw.chars().any(char::is_control) {
        return Err(SkillError::bad_field(
            field,
            format!("{raw:?} must be a column name of 1-256 characters"),
        ));
    }
    Ok(())
}

/// The fields `train-model` and `hyperparameter-tune` share, as given.
pub struct CommonInput<'a> {
    pub model: &'a str,
    pub dataset: &'a DatasetRef,
    pub target: &'a str,
    pub features: Option<&'a [String]>,
    pub exclude: &'a [String],
    pub seed: Option<u64>,
    pub validation_fraction: Option<f64>,
    pub protected_attribute: Option<&'a str>,
    pub resources: Option<&'a Resources>,
}

/// The shared fields once checked, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRequest {
    pub model: String,
    pub dataset: String,
    /// 64 hex digits.
    pub version: String,
    pub target: String,
    pub features: Option<Vec<String>>,
    pub exclude: Vec<String>,
    pub algorithm: AlgorithmName,
    pub seed: u64,
    pub validation_fraction: f64,
    pub protected_attribute: Option<String>,
    /// The memory the job may use, when the caller said.
    pub memory_mb: Option<u64>,
}

impl TrainingRequest {
    pub fn parse(input: CommonInput<'_>, algorithm: AlgorithmName) -> Result<Self, SkillError> {
        let model = model_name("model", input.model)?;
        let dataset = dataset_name("dataset.name", &input.dataset.name)?;
        let version = dataset_version("dataset.version", &input.dataset.version)?;
        column_name("target", input.target)?;
        if let Some(features) = input.features {
            if features.is_empty() {
                return Err(SkillError::bad_field(
                    "features",
                    "is empty; leave it out to train on every numeric or Boolean column",
                ));
            }
            let mut seen = BTreeSet::new();
            for name in features {
                column_name("features", name)?;
                if name == input.target {
                    return Err(SkillError::bad_field(
                        "features",
                        format!("lists {name:?}, the target; a target cannot also be a feature"),
                    ));
                }
                if !seen.insert(name) {
                    return Err(SkillError::bad_field(
                        "features",
                        format!("lists {name:?} twice"),
                    ));
                }
            }
        }
        for name in input.exclude {
            column_name("exclude", name)?;
        }
        let seed = input.seed.unwrap_or(0);
        if i64::try_from(seed).is_err() {
            return Err(SkillError::bad_field(
                "seed",
                format!("{seed} is too large; use 0-{}", i64::MAX),
            ));
        }
        let validation_fraction = input
            .validation_fraction
            .unwrap_or(DEFAULT_VALIDATION_FRACTION);
        if !validation_fraction.is_finite() || !(0.05..=0.5).contains(&validation_fraction) {
            return Err(SkillError::bad_field(
                "validation_fraction",
                format!("must be between 0.05 and 0.5, got {validation_fraction}"),
            ));
        }
        let protected_attribute = match input.protected_attribute {
            None => None,
            Some(raw) => {
                if raw.is_empty()
                    || raw.len() > 64
                    || raw.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(SkillError::bad_field(
                        "protected_attribute",
                        format!("{raw:?} must be a column name of 1-64 characters without spaces"),
                    ));
                }
                Some(raw.to_owned())
            }
        };
        let memory_mb = match input.resources {
            None => None,
            Some(resources) => {
                if let Some(instance) = &resources.instance_type {
                    let ok = !instance.is_empty()
                        && instance.len() <= 64
                        && instance
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                    if !ok {
                        return Err(SkillError::bad_field(
                            "resources.instance_type",
                            format!(
                                "{instance:?} must be 1-64 characters of a-z, A-Z, 0-9, '.', '_' and '-'"
                            ),
                        ));
                    }
                }
                if resources.memory_mb == Some(0) {
                    return Err(SkillError::bad_field(
                        "resources.memory_mb",
                        "must be at least 1 (MiB)",
                    ));
                }
                resources.memory_mb
            }
        };
        Ok(TrainingRequest {
            model,
            dataset,
            version,
            target: input.target.to_owned(),
            features: input.features.map(<[String]>::to_vec),
            exclude: input.exclude.to_vec(),
            algorithm,
            seed,
            validation_fraction,
            protected_attribute,
            memory_mb,
        })
    }

    /// Checks the columns against the dataset's schema and returns the
    /// features the trainer will use (its rule: the explicit list minus
    /// `exclude`, or every numeric/Boolean column but the target and
    /// `exclude`).
    pub fn check_columns(&self, manifest: &ManifestView) -> Result<Vec<String>, SkillError> {
        let listing = || manifest.column_listing();
        let target = manifest.column(&self.target).ok_or_else(|| {
            SkillError::bad_field(
                "target",
                format!(
                    "dataset {} has no column {:?}; its columns: {}",
                    self.dataset,
                    self.target,
                    listing()
                ),
            )
        })?;
        if target.data_type != "Boolean" && !INTEGER_TYPES.contains(&target.data_type.as_str()) {
            return Err(SkillError::bad_field(
                "target",
                format!(
                    "{:?} is {}; a target must be Boolean or an integer column of 0/1 labels",
                    self.target, target.data_type
                ),
            ));
        }
        for name in &self.exclude {
            if manifest.column(name).is_none() {
                return Err(SkillError::bad_field(
                    "exclude",
                    format!(
                        "names {name:?}, which dataset {} does not have; its columns: {}",
                        self.dataset,
                        listing()
                    ),
                ));
            }
        }
        if let Some(attribute) = &self.protected_attribute
            && manifest.column(attribute).is_none()
        {
            return Err(SkillError::bad_field(
                "protected_attribute",
                format!(
                    "{attribute:?} is not a column of dataset {}; its columns: {}",
                    self.dataset,
                    listing()
                ),
            ));
        }
        let chosen: Vec<String> = match &self.features {
            Some(list) => {
                for name in list {
                    let column = manifest.column(name).ok_or_else(|| {
                        SkillError::bad_field(
                            "features",
                            format!(
                                "names {name:?}, which dataset {} does not have; its columns: {}",
                                self.dataset,
                                listing()
                            ),
                        )
                    })?;
                    if !is_feature_type(&column.data_type) {
                        return Err(SkillError::bad_field(
                            "features",
                            format!(
                                "{name:?} is {}; features must be numeric or Boolean",
                                column.data_type
                            ),
                        ));
                    }
                }
                list.iter()
                    .filter(|name| !self.exclude.contains(name))
                    .cloned()
                    .collect()
            }
            None => manifest
                .columns
                .iter()
                .filter(|c| c.name != self.target && is_feature_type(&c.data_type))
                .filter(|c| !self.exclude.contains(&c.name))
                .map(|c| c.name.clone())
                .collect(),
        };
        if chosen.is_empty() {
            return Err(SkillError::bad_field(
                "features",
                format!(
                    "leave no feature column: dataset {} needs a numeric or Boolean column besides the target; its columns: {}",
                    self.dataset,
                    listing()
                ),
            ));
        }
        Ok(chosen)
    }
}

const NUMERIC_TYPES: &[&str] = &[
    "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
];
const INTEGER_TYPES: &[&str] = &[
    "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
];

fn is_feature_type(data_type: &str) -> bool {
    data_type == "Boolean" || NUMERIC_TYPES.contains(&data_type)
}

/// The parts of a dataset manifest (storage `get_dataset_manifest`) the
/// agent uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ManifestView {
    pub name: String,
    pub version: String,
    pub digest: String,
    pub rows: u64,
    pub columns: Vec<ColumnView>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ColumnView {
    pub name: String,
    /// Arrow type name, e.g. Int64, Float64, Utf8, Boolean.
    pub data_type: String,
}

impl ManifestView {
    fn column(&self, name: &str) -> Option<&ColumnView> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn column_listing(&self) -> String {
        self.columns
            .iter()
            .map(|c| format!("{} ({})", c.name, c.data_type))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Checks a fixed set of hyperparameters for `algorithm` and returns the
/// full spec, defaults filled in.
pub fn hyperparameters(
    algorithm: AlgorithmName,
    given: &Map<String, Value>,
) -> Result<Algorithm, SkillError> {
    if given.contains_key("algorithm") {
        return Err(SkillError::bad_field(
            "hyperparameters",
            "must not hold `algorithm`; name it in the `algorithm` field",
        ));
    }
    let mut spec = given.clone();
    spec.insert("algorithm".into(), json!(algorithm.as_str()));
    Algorithm::from_json(&Value::Object(spec))
        .map_err(|e| SkillError::bad_field("hyperparameters", e))
}

/// A search space checked for `algorithm` and `strategy`: every value a
/// trial could take is a valid hyperparameter, and the trial count is in
/// bounds. Returns how many trials the search runs.
pub fn search_space(
    algorithm: AlgorithmName,
    space: &Map<String, Value>,
    strategy: SearchStrategy,
    trials: Option<u32>,
) -> Result<u32, SkillError> {
    if space.is_empty() {
        return Err(SkillError::bad_field(
            "space",
            "is empty; give hyperparameter → list of values (or a range for random search)",
        ));
    }
    let probe = |name: &str, value: &Value| -> Result<(), SkillError> {
        let spec = json!({ "algorithm": algorithm.as_str(), name: value });
        Algorithm::from_json(&spec)
            .map(|_| ())
            .map_err(|e| SkillError::bad_field(&format!("space.{name}"), e))
    };
    let mut grid_size: u64 = 1;
    for (name, dimension) in space {
        let field = format!("space.{name}");
        if name == "algorithm" {
            return Err(SkillError::bad_field(
                "space",
                "must not hold `algorithm`; name it in the `algorithm` field",
            ));
        }
        match dimension {
            Value::Array(values) => {
                if values.is_empty() || values.len() > MAX_VALUES {
                    return Err(SkillError::bad_field(
                        &field,
                        format!("must list 1-{MAX_VALUES} values, got {}", values.len()),
                    ));
                }
                for value in values {
                    probe(name, value)?;
                }
                grid_size = grid_size.saturating_mul(values.len() as u64);
            }
            Value::Object(range) => {
                if strategy == SearchStrategy::Grid {
                    return Err(SkillError::bad_field(
                        &field,
                        "is a range; a grid needs a list of values (ranges are for strategy \"random\")",
                    ));
                }
                for key in range.keys() {
                    if !["min", "max", "log"].contains(&key.as_str()) {
                        return Err(SkillError::bad_field(
                            &field,
                            format!(
                                "has {key:?}; a range is {{\"min\": …, \"max\": …, \"log\": false}}"
                            ),
                        ));
                    }
                }
                let bound = |key: &str| {
                    range
                        .get(key)
                        .filter(|v| v.as_f64().is_some_and(f64::is_finite))
                        .ok_or_else(|| {
                            SkillError::bad_field(&field, format!("needs a finite number `{key}`"))
                        })
                };
                let (min, max) = (bound("min")?, bound("max")?);
                let (low, high) = (min.as_f64().unwrap_or(0.0), max.as_f64().unwrap_or(0.0));
                if low > high {
                    return Err(SkillError::bad_field(
                        &field,
                        format!("has min {low} above max {high}"),
                    ));
                }
                match range.get("log") {
                    None | Some(Value::Bool(false)) => {}
                    Some(Value::Bool(true)) if low > 0.0 => {}
                    Some(Value::Bool(true)) => {
                        return Err(SkillError::bad_field(
                            &field,
                            format!("is a log range, so it needs min > 0, got {low}"),
                        ));
                    }
                    Some(other) => {
                        return Err(SkillError::bad_field(
                            &field,
                            format!("has `log` {other}; it must be true or false"),
                        ));
                    }
                }
                // Both ends are values a draw can take.
                probe(name, min)?;
                probe(name, max)?;
            }
            scalar => probe(name, scalar)?,
        }
    }
    match strategy {
        SearchStrategy::Grid => {
            if trials.is_some() {
                return Err(SkillError::bad_field(
                    "trials",
                    "applies to random search; a grid runs every combination",
                ));
            }
            if grid_size > u64::from(MAX_TRIALS) {
                return Err(SkillError::bad_field(
                    "space",
                    format!(
                        "makes a grid of {grid_size} combinations; at most {MAX_TRIALS} trials per search"
                    ),
                ));
            }
            Ok(grid_size as u32)
        }
        SearchStrategy::Random => {
            let count = trials.unwrap_or(DEFAULT_RANDOM_TRIALS);
            if !(1..=MAX_TRIALS).contains(&count) {
                return Err(SkillError::bad_field(
                    "trials",
                    format!("must be 1-{MAX_TRIALS}, got {count}"),
                ));
            }
            Ok(count)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset() -> DatasetRef {
        DatasetRef {
            name: "transactions".into(),
            version: format!("sha256:{}", "ab".repeat(32)),
        }
    }

    fn common<'a>(dataset: &'a DatasetRef, features: Option<&'a [String]>) -> CommonInput<'a> {
        CommonInput {
            model: "fraud-detector",
            dataset,
            target: "is_fraud",
            features,
            exclude: &[],
            seed: Some(7),
            validation_fraction: None,
            protected_attribute: Some("age_band"),
            resources: None,
        }
    }

    fn manifest() -> ManifestView {
        let column = |name: &str, data_type: &str| ColumnView {
            name: name.into(),
            data_type: data_type.into(),
        };
        ManifestView {
            name: "transactions".into(),
            version: "ab".repeat(32),
            digest: format!("sha256:{}", "ab".repeat(32)),
            rows: 1000,
            columns: vec![
                column("transaction_id", "Utf8"),
                column("amount", "Float64"),
                column("hour", "Int64"),
                column("card_present", "Boolean"),
                column("age_band", "Utf8"),
                column("age_band_code", "Int64"),
                column("is_fraud", "Int64"),
            ],
        }
    }

    fn field_of(error: SkillError) -> String {
        error.to_string()
    }

    #[test]
    fn shared_fields_are_checked_and_defaulted() {
        let data = dataset();
        let request =
            TrainingRequest::parse(common(&data, None), AlgorithmName::RandomForest).unwrap();
        assert_eq!(request.version, "ab".repeat(32), "the prefix is dropped");
        assert_eq!(request.validation_fraction, 0.2);
        assert_eq!(request.seed, 7);

        let mut bad = common(&data, None);
        bad.model = "Fraud Detector";
        let error = field_of(TrainingRequest::parse(bad, AlgorithmName::RandomForest).unwrap_err());
        assert!(error.contains("`model`"), "{error}");

        let mut bad = common(&data, None);
        bad.validation_fraction = Some(0.9);
        let error = field_of(TrainingRequest::parse(bad, AlgorithmName::RandomForest).unwrap_err());
        assert!(error.contains("`validation_fraction`"), "{error}");

        let bad_version = DatasetRef {
            name: "transactions".into(),
            version: "latest".into(),
        };
        let error = field_of(
            TrainingRequest::parse(common(&bad_version, None), AlgorithmName::RandomForest)
                .unwrap_err(),
        );
        assert!(error.contains("`dataset.version`"), "{error}");

        let twice = vec!["amount".to_owned(), "amount".to_owned()];
        let error = field_of(
            TrainingRequest::parse(common(&data, Some(&twice)), AlgorithmName::RandomForest)
                .unwrap_err(),
        );
        assert!(
            error.contains("`features`") && error.contains("twice"),
            "{error}"
        );

        let zero = Resources {
            instance_type: None,
            memory_mb: Some(0),
        };
        let mut bad = common(&data, None);
        bad.resources = Some(&zero);
        let error = field_of(TrainingRequest::parse(bad, AlgorithmName::RandomForest).unwrap_err());
        assert!(error.contains("`resources.memory_mb`"), "{error}");
    }

    #[test]
    fn columns_follow_the_trainers_rule() {
        let data = dataset();
        let request =
            TrainingRequest::parse(common(&data, None), AlgorithmName::LogisticRegression).unwrap();
        // Numeric and Boolean columns but the target; strings are skipped.
        assert_eq!(
            request.check_columns(&manifest()).unwrap(),
            vec!["amount", "hour", "card_present", "age_band_code"]
        );
        let excluding = TrainingRequest {
            exclude: vec!["age_band_code".into()],
            ..request.clone()
        };
        assert_eq!(
            excluding.check_columns(&manifest()).unwrap(),
            vec!["amount", "hour", "card_present"]
        );

        let unknown = TrainingRequest {
            features: Some(vec!["amount".into(), "velocity".into()]),
            ..request.clone()
        };
        let error = field_of(unknown.check_columns(&manifest()).unwrap_err());
        assert!(
            error.contains("`features`") && error.contains("velocity"),
            "{error}"
        );

        let text_feature = TrainingRequest {
            features: Some(vec!["age_band".into()]),
            ..request.clone()
        };
        let error = field_of(text_feature.check_columns(&manifest()).unwrap_err());
        assert!(error.contains("Utf8"), "{error}");

        let text_target = TrainingRequest {
            target: "transaction_id".into(),
            ..request.clone()
        };
        let error = field_of(text_target.check_columns(&manifest()).unwrap_err());
        assert!(error.contains("`target`"), "{error}");

        let no_attribute = TrainingRequest {
            protected_attribute: Some("gender".into()),
            ..request
        };
        let error = field_of(no_attribute.check_columns(&manifest()).unwrap_err());
        assert!(error.contains("`protected_attribute`"), "{error}");
    }

    #[test]
    fn hyperparameters_are_checked_with_defaults_filled_in() {
        let forest = hyperparameters(
            AlgorithmName::RandomForest,
            json!({"n_trees": 10}).as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(
            forest,
            Algorithm::RandomForest {
                n_trees: 10,
                max_depth: 6,
                min_samples_split: 2,
                min_samples_leaf: 1,
                feature_fraction: 0.7
            }
        );
        let error = field_of(
            hyperparameters(
                AlgorithmName::RandomForest,
                json!({"n_trees": 0}).as_object().unwrap(),
            )
            .unwrap_err(),
        );
        assert!(
            error.contains("`hyperparameters`") && error.contains("n_trees"),
            "{error}"
        );
        let error = field_of(
            hyperparameters(
                AlgorithmName::LogisticRegression,
                json!({"n_trees": 3}).as_object().unwrap(),
            )
            .unwrap_err(),
        );
        assert!(error.contains("`hyperparameters`"), "{error}");
    }

    #[test]
    fn search_spaces_are_checked_value_by_value() {
        let space = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            search_space(
                AlgorithmName::RandomForest,
                &space(json!({"max_depth": [2, 4], "n_trees": [5, 10, 20]})),
                SearchStrategy::Grid,
                None
            )
            .unwrap(),
            6
        );
        assert_eq!(
            search_space(
                AlgorithmName::LogisticRegression,
                &space(json!({"l2": {"min": 0.01, "max": 10, "log": true}})),
                SearchStrategy::Random,
                Some(4)
            )
            .unwrap(),
            4
        );
        let error = field_of(
            search_space(
                AlgorithmName::RandomForest,
                &space(json!({"n_trees": [5, 0]})),
                SearchStrategy::Grid,
                None,
            )
            .unwrap_err(),
        );
        assert!(error.contains("`space.n_trees`"), "{error}");
        let error = field_of(
            search_space(
                AlgorithmName::RandomForest,
                &space(json!({"n_trees": {"min": 1, "max": 9}})),
                SearchStrategy::Grid,
                None,
            )
            .unwrap_err(),
        );
        assert!(
            error.contains("`space.n_trees`") && error.contains("grid"),
            "{error}"
        );
        let big: Vec<u32> = (1..=8).collect();
        let error = field_of(
            search_space(
                AlgorithmName::RandomForest,
                &space(json!({"n_trees": big, "max_depth": big})),
                SearchStrategy::Grid,
                None,
            )
            .unwrap_err(),
        );
        assert!(error.contains("`space`") && error.contains("64"), "{error}");
        let error = field_of(
            search_space(
                AlgorithmName::RandomForest,
                &space(json!({"n_trees": [5]})),
                SearchStrategy::Random,
                Some(0),
            )
            .unwrap_err(),
        );
        assert!(error.contains("`trials`"), "{error}");
        let error = field_of(
            search_space(
                AlgorithmName::LogisticRegression,
                &space(json!({"l2": {"min": 0, "max": 1, "log": true}})),
                SearchStrategy::Random,
                None,
            )
            .unwrap_err(),
        );
        assert!(error.contains("min > 0"), "{error}");
    }
}
