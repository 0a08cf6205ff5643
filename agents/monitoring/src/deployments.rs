//! What runs where, as the cluster server's `get_deployment_status` says:
//! which models are live, which version is stable (the champion), and the
//! training data each version was deployed with (the drift reference).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::ModelName;
use crate::tools::{Tools, call_as};

/// A dataset version: the data a model version was trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetReference {
    /// Dataset name, e.g. "transactions".
    pub dataset: String,
    /// Dataset version: its sha256 content hash (64 hex digits, "sha256:" optional).
    pub version: String,
}

/// One deployed version, as far as monitoring cares.
#[derive(Debug, Clone, Deserialize)]
pub struct DeployedVersion {
    pub version: i32,
    pub replicas: i32,
    /// Percent of the model's traffic.
    pub weight: i32,
    #[serde(default)]
    pub reference: Option<DatasetReference>,
}

#[derive(Debug, Clone, Deserialize)]
struct DesiredState {
    deployments: Vec<DeployedVersion>,
}

#[derive(Debug, Clone, Deserialize)]
struct ModelEntry {
    model: String,
    desired: DesiredState,
}

#[derive(Debug, Clone, Deserialize)]
struct StatusAnswer {
    models: Vec<ModelEntry>,
}

/// A model's deployed versions.
#[derive(Debug, Clone)]
pub struct ModelDeployment {
    pub model: String,
    pub versions: Vec<DeployedVersion>,
}

impl ModelDeployment {
    pub fn version(&self, version: i32) -> Option<&DeployedVersion> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// Versions that serve traffic: some weight and some replicas.
    pub fn live(&self) -> impl Iterator<Item = &DeployedVersion> {
        self.versions
            .iter()
            .filter(|v| v.weight > 0 && v.replicas > 0)
    }

    /// The stable version (the champion): the live version with the most
    /// traffic, the older one on a tie; `except` is left out (a canary).
    pub fn stable(&self, except: Option<i32>) -> Option<&DeployedVersion> {
        self.live().filter(|v| Some(v.version) != except).fold(
            None,
            |best: Option<&DeployedVersion>, v| match best {
                Some(b)
                    if b.weight > v.weight || (b.weight == v.weight && b.version < v.version) =>
                {
                    Some(b)
                }
                _ => Some(v),
            },
        )
    }
}

/// Every model with a deployment.
pub async fn all(tools: &dyn Tools) -> Result<Vec<ModelDeployment>, mlops_agent_kit::SkillError> {
    let answer: StatusAnswer =
        call_as(tools, "cluster", "get_deployment_status", json!({})).await?;
    Ok(answer
        .models
        .into_iter()
        .map(|m| ModelDeployment {
            model: m.model,
            versions: m.desired.deployments,
        })
        .collect())
}

/// One model's deployment, or `None` when it has none. Reads the whole
/// list so that "not deployed" is an answer, not a tool error.
pub async fn of(
    tools: &dyn Tools,
    model: &ModelName,
) -> Result<Option<ModelDeployment>, mlops_agent_kit::SkillError> {
    Ok(all(tools)
        .await?
        .into_iter()
        .find(|m| m.model == model.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed(versions: &[(i32, i32, i32)]) -> ModelDeployment {
        ModelDeployment {
            model: "fraud-detector".into(),
            versions: versions
                .iter()
                .map(|&(version, weight, replicas)| DeployedVersion {
                    version,
                    replicas,
                    weight,
                    reference: None,
                })
                .collect(),
        }
    }

    #[test]
    fn stable_is_the_heaviest_live_version_then_the_oldest() {
        let d = deployed(&[(1, 90, 1), (2, 10, 1)]);
        assert_eq!(d.stable(None).unwrap().version, 1);
        assert_eq!(d.stable(Some(1)).unwrap().version, 2);
        let tie = deployed(&[(1, 50, 1), (2, 50, 1)]);
        assert_eq!(tie.stable(None).unwrap().version, 1);
        let scaled_down = deployed(&[(1, 100, 0), (2, 0, 1)]);
        assert!(scaled_down.stable(None).is_none(), "nothing serves");
    }

    #[test]
    fn the_cluster_answer_parses_with_and_without_references() {
        let answer: StatusAnswer = serde_json::from_value(serde_json::json!({
            "backend": "local",
            "models": [{
                "model": "fraud-detector",
                "desired": {"model": "fraud-detector", "generation": 3, "deployments": [
                    {"version": 1, "artifact_key": "k", "replicas": 1, "weight": 100,
                     "error_share": 0.0, "added_latency_ms": 0, "restart_epoch": 0,
                     "reference": {"dataset": "transactions", "version": "ab"},
                     "updated_at": "2026-11-23T00:00:00Z"},
                    {"version": 2, "artifact_key": "k", "replicas": 1, "weight": 0,
                     "error_share": 0.0, "added_latency_ms": 0, "restart_epoch": 0,
                     "updated_at": "2026-11-23T00:00:00Z"}
                ]},
                "runtime": {}
            }]
        }))
        .unwrap();
        let versions = &answer.models[0].desired.deployments;
        assert_eq!(
            versions[0].reference.as_ref().unwrap().dataset,
            "transactions"
        );
        assert!(versions[1].reference.is_none());
    }
}
