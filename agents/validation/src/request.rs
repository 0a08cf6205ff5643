//! What every skill's input shares, parsed at the edge: model names,
//! version numbers, dataset versions; and the shapes every check reports.

use mlops_agent_kit::SkillError;
use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A dataset version on the storage server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetVersion {
    /// Dataset name, e.g. "transactions-holdout" (a-z, 0-9 and '-', starting with a letter).
    /// Also accepted as `name`, as the data agent and the orchestrator call it.
    #[serde(alias = "name")]
    pub dataset: String,
    /// The version: its sha256 content hash, 64 hex digits ("sha256:" prefix allowed).
    pub version: String,
}

impl DatasetVersion {
    /// The same version with its name checked and its hash in the storage
    /// server's bare 64-hex form; the rejection names `field`.
    pub fn checked(&self, field: &str) -> Result<DatasetVersion, SkillError> {
        let dataset = mlops_mcp_storage::keys::dataset_name(&self.dataset)
            .map_err(|e| SkillError::bad_field(&format!("{field}.dataset"), e))?;
        let version = mlops_mcp_storage::keys::dataset_version(&self.version)
            .map_err(|e| SkillError::bad_field(&format!("{field}.version"), e))?;
        Ok(DatasetVersion { dataset, version })
    }

    pub fn label(&self) -> String {
        format!("{}@{}", self.dataset, short_hash(&self.version))
    }
}

/// The first 12 hex digits of a content hash, for sentences.
pub fn short_hash(version: &str) -> &str {
    let hex = version.strip_prefix("sha256:").unwrap_or(version);
    hex.get(..12).unwrap_or(hex)
}

/// A registered model's name, as the registry spells them.
pub fn model_name(raw: &str) -> Result<String, SkillError> {
    mlops_mcp_kit::slug("model", raw, 63).map_err(|e| SkillError::bad_field("model", e))
}

/// A version number: at least 1.
pub fn version_number(version: u32) -> Result<u32, SkillError> {
    if version == 0 {
        return Err(SkillError::bad_field(
            "version",
            "must be a registered version number (1 or more)",
        ));
    }
    Ok(version)
}

/// A share or metric value in [0, 1].
pub fn unit_interval(field: &str, value: f64) -> Result<f64, SkillError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(SkillError::bad_field(
            field,
            format!("{value} must be between 0 and 1"),
        ))
    }
}

/// Deserializes a whole number, also when it arrives as a float such as
/// `2.0`: protobuf-based A2A clients (the Python SDK) carry every JSON
/// number as a double.
pub fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    deserializer.deserialize_any(WholeNumber)
}

/// [`whole_number`] for optional fields.
pub fn optional_whole_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    struct Wrapper(u32);
    impl<'de> Deserialize<'de> for Wrapper {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            whole_number(deserializer).map(Wrapper)
        }
    }
    Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|w| w.0))
}

struct WholeNumber;

impl Visitor<'_> for WholeNumber {
    type Value = u32;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a whole number between 0 and 4294967295")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u32, E> {
        if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
            Ok(v as u32)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Pass,
    Fail,
    /// The check could not apply (e.g. no champion to compare with); it
    /// does not fail the verdict, and `detail` says why.
    Skipped,
}

impl CheckOutcome {
    pub fn from_pass(passed: bool) -> Self {
        if passed {
            CheckOutcome::Pass
        } else {
            CheckOutcome::Fail
        }
    }
}

/// The holdout a model was scored on.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HoldoutSummary {
    pub dataset: String,
    /// Its sha256 content hash (64 hex digits).
    pub version: String,
    /// Rows in the dataset version.
    pub rows: usize,
    /// Rows scored: those with every feature, the label (and the protected
    /// attribute, for fairness) present.
    pub rows_scored: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Numbers {
        #[serde(deserialize_with = "whole_number")]
        version: u32,
        #[serde(default, deserialize_with = "optional_whole_number")]
        minutes: Option<u32>,
    }

    #[test]
    fn whole_numbers_accept_integral_floats_only() {
        let n: Numbers = serde_json::from_str(r#"{"version": 2.0, "minutes": 60}"#).unwrap();
        assert_eq!((n.version, n.minutes), (2, Some(60)));
        let n: Numbers = serde_json::from_str(r#"{"version": 3}"#).unwrap();
        assert_eq!((n.version, n.minutes), (3, None));
        for bad in [
            r#"{"version": 2.5}"#,
            r#"{"version": -1}"#,
            r#"{"version": "2"}"#,
            r#"{"version": 1e12}"#,
        ] {
            assert!(serde_json::from_str::<Numbers>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dataset_versions_are_normalised_and_named_in_rejections() {
        let hex = "ab".repeat(32);
        let ok = DatasetVersion {
            dataset: "transactions-holdout".into(),
            version: format!("sha256:{hex}"),
        }
        .checked("holdout")
        .unwrap();
        assert_eq!(ok.version, hex);
        let err = DatasetVersion {
            dataset: "Bad Name".into(),
            version: hex.clone(),
        }
        .checked("holdout")
        .unwrap_err()
        .to_string();
        assert!(err.contains("`holdout.dataset`"), "{err}");
        let err = DatasetVersion {
            dataset: "ok".into(),
            version: "latest".into(),
        }
        .checked("current")
        .unwrap_err()
        .to_string();
        assert!(err.contains("`current.version`"), "{err}");
    }

    #[test]
    fn names_and_numbers_are_checked() {
        assert!(model_name("fraud-detector").is_ok());
        assert!(
            model_name("Fraud")
                .unwrap_err()
                .to_string()
                .contains("`model`")
        );
        assert!(
            version_number(0)
                .unwrap_err()
                .to_string()
                .contains("`version`")
        );
        assert!(unit_interval("x", 1.5).is_err());
        assert!(unit_interval("x", f64::NAN).is_err());
        assert_eq!(unit_interval("x", 0.25).unwrap(), 0.25);
        assert_eq!(
            short_hash(&format!("sha256:{}", "c".repeat(64))),
            "cccccccccccc"
        );
    }
}
