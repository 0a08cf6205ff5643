//! What the checks read from the registry MCP server (`registry:read`): the
//! version under test, its lineage, and which version an alias names.

use mlops_agent_kit::{SkillContext, SkillError};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::request::DatasetVersion;

const SERVER: &str = "registry";

/// A model as `list_models` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    pub latest_version: Option<i32>,
    /// alias → version number.
    #[serde(default)]
    pub aliases: Map<String, Value>,
}

impl RegisteredModel {
    /// The version `alias` points at, if any.
    pub fn alias(&self, alias: &str) -> Option<u32> {
        self.aliases
            .get(alias)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    }
}

#[derive(Debug, Deserialize)]
struct ModelList {
    models: Vec<RegisteredModel>,
}

/// One version as `get_model_version` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredVersion {
    pub model: String,
    pub version: u32,
    pub status: String,
    #[serde(default)]
    pub params: Value,
    /// `sha256:` + the training dataset version's content hash.
    pub dataset_digest: String,
    pub artifact_uri: String,
    #[serde(default)]
    pub protected_attribute: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl RegisteredVersion {
    pub fn label(&self) -> String {
        format!("{} v{}", self.model, self.version)
    }

    /// The dataset version the model was trained on: the name the training
    /// agent records in `params.dataset`, at the registry's
    /// `dataset_version_digest`. The reason names what is missing.
    pub fn training_dataset(&self) -> Result<DatasetVersion, String> {
        let name = self
            .params
            .get("dataset")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                format!(
                    "{} records no training dataset name (params.dataset), so there is no reference to compare with",
                    self.label()
                )
            })?;
        let unusable = |e: mlops_mcp_kit::ToolError| {
            format!("{} records an unusable training dataset: {e}", self.label())
        };
        Ok(DatasetVersion {
            dataset: mlops_mcp_storage::keys::dataset_name(name).map_err(unusable)?,
            version: mlops_mcp_storage::keys::dataset_version(&self.dataset_digest)
                .map_err(unusable)?,
        })
    }

    /// The object key of the model artifact on the storage server, from a
    /// `storage://` artifact URI.
    pub fn artifact_key(&self) -> Result<&str, String> {
        self.artifact_uri
            .strip_prefix("storage://")
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                format!(
                    "{}'s artifact {:?} is not on the storage server (storage://…); the validation agent reads artifacts only through it",
                    self.label(),
                    self.artifact_uri
                )
            })
    }
}

/// The model named `model`; a name the registry does not know is a
/// rejection of the `model` field.
pub async fn find_model(ctx: &SkillContext, model: &str) -> Result<RegisteredModel, SkillError> {
    let list: ModelList = ctx.mcp_as(SERVER, "list_models", json!({})).await?;
    list.models
        .into_iter()
        .find(|m| m.name == model)
        .ok_or_else(|| {
            SkillError::bad_field("model", format!("{model:?} is not a registered model"))
        })
}

/// Version `version` of `model`; a number past the latest is a rejection
/// of the `version` field.
pub async fn find_version(
    ctx: &SkillContext,
    model: &RegisteredModel,
    version: u32,
) -> Result<RegisteredVersion, SkillError> {
    let latest = model.latest_version.unwrap_or(0);
    if i64::from(version) > i64::from(latest) {
        return Err(SkillError::bad_field(
            "version",
            format!(
                "{} has no version {version} (latest: {})",
                model.name,
                if latest > 0 {
                    format!("v{latest}")
                } else {
                    "none".into()
                }
            ),
        ));
    }
    ctx.mcp_as(
        SERVER,
        "get_model_version",
        json!({ "model": model.name, "version": version }),
    )
    .await
}

/// The model and version a check is about, both looked up first so a
/// wrong name or number is rejected before any work.
pub async fn resolve(
    ctx: &SkillContext,
    model: &str,
    version: u32,
) -> Result<(RegisteredModel, RegisteredVersion), SkillError> {
    let registered = find_model(ctx, model).await?;
    let found = find_version(ctx, &registered, version).await?;
    Ok((registered, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(params: Value, artifact: &str) -> RegisteredVersion {
        RegisteredVersion {
            model: "fraud-detector".into(),
            version: 2,
            status: "active".into(),
            params,
            dataset_digest: format!("sha256:{}", "a".repeat(64)),
            artifact_uri: artifact.into(),
            protected_attribute: None,
            aliases: Vec::new(),
        }
    }

    #[test]
    fn lineage_gives_the_training_dataset_and_the_artifact_key() {
        let v = version(
            json!({"dataset": "transactions-train"}),
            "storage://models/job-1/model.json",
        );
        let dataset = v.training_dataset().unwrap();
        assert_eq!(dataset.dataset, "transactions-train");
        assert_eq!(dataset.version, "a".repeat(64));
        assert_eq!(v.artifact_key().unwrap(), "models/job-1/model.json");
    }

    #[test]
    fn missing_lineage_is_explained() {
        let v = version(json!({}), "s3://bucket/model.json");
        assert!(v.training_dataset().unwrap_err().contains("params.dataset"));
        assert!(v.artifact_key().unwrap_err().contains("storage://"));
        let v = version(json!({"dataset": "Bad Name"}), "storage://");
        assert!(v.training_dataset().is_err());
        assert!(v.artifact_key().is_err());
    }

    #[test]
    fn aliases_map_to_versions() {
        let model: RegisteredModel = serde_json::from_value(json!({
            "name": "fraud-detector", "latest_version": 3, "aliases": {"champion": 1}
        }))
        .unwrap();
        assert_eq!(model.alias("champion"), Some(1));
        assert_eq!(model.alias("challenger"), None);
    }
}
