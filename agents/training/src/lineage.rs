//! A finished training job becomes a registry version with full lineage:
//! the dataset version it read, the run that made it, the artifact, the
//! metrics, and a digest of the exact training config.

use std::collections::BTreeMap;

use mlops_agent_kit::{SkillContext, SkillError};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::contract::{AlgorithmName, DatasetRef, RegisteredVersion};
use crate::trainer::{JobStatus, flat_metrics};

pub const SERVER: &str = "registry";

/// The agent's version, part of every code digest: a new agent may train
/// differently from the same config.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// JSON with object keys sorted and no whitespace, so equal configs hash
/// equally however their maps were built.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // A string always serializes.
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a model version was trained from, besides its data: the config
/// the code digest covers.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingConfigRecord {
    pub algorithm: AlgorithmName,
    pub hyperparameters: Map<String, Value>,
    pub features: Vec<String>,
    pub target: String,
    pub seed: u64,
    pub validation_fraction: f64,
}

impl TrainingConfigRecord {
    /// The config as the trainer recorded it on the job (defaults filled in,
    /// features resolved), which is what was actually run.
    pub fn from_job(job: &JobStatus) -> Result<Self, SkillError> {
        let algorithm: AlgorithmName = job
            .algorithm_name()
            .and_then(|name| serde_json::from_value(json!(name)).ok())
            .ok_or_else(|| {
                SkillError::failed(format!(
                    "the trainer reports job {} with an algorithm this agent does not know: {:?}",
                    job.job_id, job.algorithm
                ))
            })?;
        let seed = u64::try_from(job.seed).map_err(|_| {
            SkillError::failed(format!(
                "the trainer reports a negative seed for job {}",
                job.job_id
            ))
        })?;
        Ok(TrainingConfigRecord {
            algorithm,
            hyperparameters: job.hyperparameters(),
            features: job.features.clone(),
            target: job.target.clone(),
            seed,
            validation_fraction: job.validation_fraction,
        })
    }

    /// `sha256:` of the canonical JSON of the config and the agent version.
    pub fn code_digest(&self) -> String {
        let config = json!({
            "agent": crate::NAME,
            "agent_version": AGENT_VERSION,
            "algorithm": self.algorithm.as_str(),
            "hyperparameters": self.hyperparameters,
            "features": self.features,
            "target": self.target,
            "seed": self.seed,
            "validation_fraction": self.validation_fraction,
        });
        format!("sha256:{}", sha256_hex(canonical_json(&config).as_bytes()))
    }

    /// The version's `params`: the hyperparameters plus what other agents
    /// need to find and reuse the training setup (the dataset by name, the
    /// target, the features, the algorithm and seed).
    pub fn params(&self, dataset: &DatasetRef) -> Map<String, Value> {
        let mut params = self.hyperparameters.clone();
        params.insert("dataset".into(), json!(dataset.name));
        params.insert("dataset_version".into(), json!(dataset.version));
        params.insert("target".into(), json!(self.target));
        params.insert("features".into(), json!(self.features));
        params.insert("algorithm".into(), json!(self.algorithm.as_str()));
        params.insert("seed".into(), json!(self.seed));
        params.insert(
            "validation_fraction".into(),
            json!(self.validation_fraction),
        );
        params
    }
}

/// A version as the registry answers (`create_model_version`,
/// `search_versions`).
#[derive(Debug, Clone, Deserialize)]
struct VersionView {
    version: u32,
    training_run_id: String,
}

#[derive(Debug, Deserialize)]
struct VersionList {
    versions: Vec<VersionView>,
}

/// Registers the model if new and records `job` as its next version, with
/// lineage. A run already recorded as a version of this model (a retried
/// task) is answered with that version rather than a duplicate.
pub async fn register_version(
    ctx: &SkillContext,
    model: &str,
    job: &JobStatus,
    metrics: &Value,
    protected_attribute: Option<&str>,
) -> Result<RegisteredVersion, SkillError> {
    let config = TrainingConfigRecord::from_job(job)?;
    let artifact_uri = job.artifact_uri.clone().ok_or_else(|| {
        SkillError::failed(format!(
            "training job {} succeeded without an artifact URI",
            job.job_id
        ))
    })?;
    let dataset = DatasetRef {
        name: job.dataset_name.clone(),
        version: job.dataset_version.clone(),
    };
    let dataset_version_digest = format!("sha256:{}", job.dataset_version);
    let metrics: BTreeMap<String, f64> = flat_metrics(metrics);
    let code_digest = config.code_digest();
    let params = config.params(&dataset);

    ctx.mcp(
        SERVER,
        "register_model",
        json!({
            "name": model,
            "description": format!(
                "Predicts {} from {} features; versions trained by the training agent.",
                config.target,
                config.features.len()
            ),
        }),
    )
    .await?;
    let existing: VersionList = ctx
        .mcp_as(
            SERVER,
            "search_versions",
            json!({ "model": model, "limit": 100 }),
        )
        .await?;
    let version = match existing
        .versions
        .iter()
        .find(|v| v.training_run_id == job.job_id)
    {
        Some(found) => {
            ctx.progress(format!(
                "run {} is already {model} v{}; not registering it twice",
                job.job_id, found.version
            ));
            found.version
        }
        None => {
            let mut args = json!({
                "model": model,
                "params": params,
                "metrics": metrics,
                "dataset_version_digest": dataset_version_digest,
                "training_run_id": job.job_id,
                "artifact_uri": artifact_uri,
                "code_digest": code_digest,
            });
            if let Some(attribute) = protected_attribute {
                args["protected_attribute"] = json!(attribute);
            }
            let created: VersionView = ctx.mcp_as(SERVER, "create_model_version", args).await?;
            created.version
        }
    };
    Ok(RegisteredVersion {
        model: model.to_owned(),
        version,
        artifact_uri,
        metrics,
        training_run_id: job.job_id.clone(),
        dataset,
        dataset_version_digest,
        code_digest,
        algorithm: config.algorithm,
        hyperparameters: config.hyperparameters,
        features: config.features,
        target: config.target,
        seed: config.seed,
        validation_fraction: config.validation_fraction,
        protected_attribute: protected_attribute.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 1}], "c": "s"}});
        let b = json!({"a": {"c": "s", "z": [1, {"x": 1, "y": 2}]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"s","z":[1,{"x":1,"y":2}]},"b":1}"#
        );
    }

    fn config() -> TrainingConfigRecord {
        TrainingConfigRecord {
            algorithm: AlgorithmName::RandomForest,
            hyperparameters: json!({"n_trees": 50, "max_depth": 6})
                .as_object()
                .cloned()
                .unwrap(),
            features: vec!["amount".into(), "hour".into()],
            target: "is_fraud".into(),
            seed: 42,
            validation_fraction: 0.2,
        }
    }

    #[test]
    fn the_code_digest_covers_the_config() {
        let digest = config().code_digest();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
        assert_eq!(digest, config().code_digest(), "deterministic");
        let other_seed = TrainingConfigRecord {
            seed: 43,
            ..config()
        };
        assert_ne!(digest, other_seed.code_digest());
        let other_features = TrainingConfigRecord {
            features: vec!["hour".into(), "amount".into()],
            ..config()
        };
        assert_ne!(
            digest,
            other_features.code_digest(),
            "feature order matters to a model"
        );
    }

    #[test]
    fn params_carry_the_dataset_name_and_the_hyperparameters() {
        let dataset = DatasetRef {
            name: "transactions".into(),
            version: "ab".repeat(32),
        };
        let params = config().params(&dataset);
        assert_eq!(params["dataset"], "transactions");
        assert_eq!(params["n_trees"], 50);
        assert_eq!(params["algorithm"], "random_forest");
        assert_eq!(params["features"], json!(["amount", "hour"]));
        assert_eq!(params["seed"], 42);
        assert_eq!(params["target"], "is_fraud");
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
