//! The registry's answers this agent reads, and the checks a version must
//! pass before it is deployed.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::cluster::DatasetReference;

/// The alias of the version that serves production.
pub const CHAMPION: &str = "champion";
/// The champion before the last promotion: where a rollback of a fresh
/// promotion returns to. Set by `promote-to-production`.
pub const PREVIOUS_CHAMPION: &str = "previous-champion";
/// The candidate under a canary or blue-green release.
pub const CHALLENGER: &str = "challenger";

/// One registry version (`get_model_version`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RegistryVersion {
    pub model: String,
    pub version: i32,
    pub status: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub dataset_digest: String,
    #[serde(default)]
    pub artifact_uri: String,
}

/// One entry of `list_models`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    /// alias → version
    #[serde(default)]
    pub aliases: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelList {
    #[serde(default)]
    pub models: Vec<ModelSummary>,
}

/// A model's aliases, read once per decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aliases(BTreeMap<String, i32>);

impl Aliases {
    pub fn from_summary(summary: &ModelSummary) -> Self {
        Aliases(
            summary
                .aliases
                .iter()
                .filter_map(|(alias, v)| {
                    let version = i32::try_from(v.as_i64()?).ok()?;
                    Some((alias.clone(), version))
                })
                .collect(),
        )
    }

    pub fn get(&self, alias: &str) -> Option<i32> {
        self.0.get(alias).copied()
    }

    pub fn champion(&self) -> Option<i32> {
        self.get(CHAMPION)
    }

    pub fn previous_champion(&self) -> Option<i32> {
        self.get(PREVIOUS_CHAMPION)
    }

    pub fn challenger(&self) -> Option<i32> {
        self.get(CHALLENGER)
    }
}

impl RegistryVersion {
    /// Why this version cannot be deployed, if it cannot.
    pub fn deployability(&self) -> Result<(), String> {
        if self.status != "active" {
            return Err(format!(
                "{} v{} is {}; only active versions are deployed",
                self.model, self.version, self.status
            ));
        }
        if self.artifact_uri.trim().is_empty() {
            return Err(format!(
                "{} v{} has no artifact_uri; there is nothing to serve",
                self.model, self.version
            ));
        }
        Ok(())
    }

    /// The training data, from lineage: `params.dataset` names it and the
    /// dataset digest (`sha256:<hex>`) is its version. None when the
    /// version does not record the dataset's name.
    pub fn reference(&self) -> Option<DatasetReference> {
        let dataset = self.params.get("dataset")?.as_str()?.trim();
        let hex = self.dataset_digest.strip_prefix("sha256:")?;
        let valid = hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit());
        (!dataset.is_empty() && valid).then(|| DatasetReference {
            dataset: dataset.to_owned(),
            version: hex.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(status: &str, params: Value, uri: &str) -> RegistryVersion {
        RegistryVersion {
            model: "fraud-detector".into(),
            version: 2,
            status: status.into(),
            params,
            dataset_digest: format!("sha256:{}", "ab".repeat(32)),
            artifact_uri: uri.into(),
        }
    }

    #[test]
    fn only_active_versions_with_artifacts_deploy() {
        assert!(
            version("active", json!({}), "storage://m/model.json")
                .deployability()
                .is_ok()
        );
        let archived = version("archived", json!({}), "storage://m/model.json")
            .deployability()
            .unwrap_err();
        assert!(archived.contains("archived"), "{archived}");
        let empty = version("active", json!({}), "")
            .deployability()
            .unwrap_err();
        assert!(empty.contains("artifact_uri"), "{empty}");
    }

    #[test]
    fn the_reference_comes_from_lineage() {
        let v = version("active", json!({"dataset": "transactions"}), "x");
        assert_eq!(
            v.reference(),
            Some(DatasetReference {
                dataset: "transactions".into(),
                version: "ab".repeat(32)
            })
        );
        assert_eq!(version("active", json!({}), "x").reference(), None);
        let mut bad_digest = v.clone();
        bad_digest.dataset_digest = "sha256:xyz".into();
        assert_eq!(bad_digest.reference(), None);
    }

    #[test]
    fn aliases_read_from_the_model_summary() {
        let summary: ModelSummary = serde_json::from_value(json!({
            "name": "fraud-detector",
            "aliases": {"champion": 2, "previous-champion": 1, "odd": "x"}
        }))
        .unwrap();
        let aliases = Aliases::from_summary(&summary);
        assert_eq!(aliases.champion(), Some(2));
        assert_eq!(aliases.previous_champion(), Some(1));
        assert_eq!(aliases.challenger(), None);
        assert_eq!(aliases.get("odd"), None);
    }
}
