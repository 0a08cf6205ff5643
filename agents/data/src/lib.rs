//! The data agent: ingests rows into versioned datasets, validates them
//! against expectation suites, and reports dataset versions with their
//! lineage. It reaches data only through the storage MCP server (read and
//! write) and the quality MCP server (run), as the access matrix allows.
//!
//! Skills, all in the `data-check` phase:
//! - `ingest-data` ([`ingest`]): demo generator or stored object → coerce,
//!   time window, de-duplicate → dataset version, optional train/holdout split;
//! - `validate-data` ([`validate`]): a quality suite over a dataset version;
//!   failing checks fail the task with the evidence;
//! - `version-dataset` ([`version`]): a version's manifest, checked against
//!   the store, with lineage hints; or an object registered as a version.

pub mod config;
pub mod ingest;
pub mod storage;
pub mod table;
pub mod validate;
pub mod version;

use std::sync::Arc;

use async_trait::async_trait;
use mlops_agent_kit::{
    Action, AgentDefinition, AgentEnv, Phase, SkillContext, SkillContract, SkillError,
    SkillOutcome, Skills,
};
use serde_json::Value;

pub use config::DataConfig;

pub const NAME: &str = "data";

pub const INGEST_DATA: &str = "ingest-data";
pub const VALIDATE_DATA: &str = "validate-data";
pub const VERSION_DATASET: &str = "version-dataset";

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: NAME.into(),
        description: "Ingests, validates and versions datasets through the storage and quality \
                      MCP servers."
            .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<ingest::IngestInput, ingest::IngestOutput>(
                INGEST_DATA,
                "Ingest data",
                "Loads rows from the seeded demo generator or a CSV/Parquet object, coerces \
                 column types, keeps a time window, drops duplicates, and writes a dataset \
                 version; optionally also a deterministic train/holdout split as \
                 `<dataset>-train` and `<dataset>-holdout`. Reports row counts of every step.",
                Phase::DataCheck,
            )
            .with_action(Action::IngestData)
            .with_tags(&["data", "ingest", "dataset"])
            .with_examples(&[
                r#"{"source":{"kind":"demo","seed":42,"rows":5000},"dataset":"transactions","holdout_fraction":0.2,"split_seed":1}"#,
                r#"{"source":{"kind":"object","key":"uploads/tx.csv","format":"csv"},"dataset":"uploaded","coerce":{"amount":"float"},"dedupe_on":["transaction_id"]}"#,
            ]),
            SkillContract::new::<validate::ValidateInput, validate::ValidationReport>(
                VALIDATE_DATA,
                "Validate data",
                "Runs an expectation suite (default `fraud-transactions`, created from a \
                 built-in definition when missing) over a dataset version through the quality \
                 server. Fails with the failing expectations and their observed values as \
                 evidence; on success reports every expectation's result.",
                Phase::DataCheck,
            )
            .with_action(Action::ValidateData)
            .with_tags(&["data", "quality", "validation"]),
            SkillContract::new::<version::VersionInput, version::VersionedDataset>(
                VERSION_DATASET,
                "Version dataset",
                "Returns a dataset version's manifest (sha256, rows, schema, files, creation) \
                 after checking its files are in the store, with lineage hints; or registers \
                 a CSV/Parquet object as a new dataset version.",
                Phase::DataCheck,
            )
            .with_tags(&["data", "dataset", "lineage"]),
        ],
    }
}

pub struct DataAgent {
    config: Arc<DataConfig>,
}

impl DataAgent {
    pub fn new(env: &AgentEnv) -> anyhow::Result<Self> {
        let config: DataConfig = env.config()?;
        config.validate()?;
        Ok(Self::with_config(config))
    }

    /// An agent with the given settings (already validated).
    pub fn with_config(config: DataConfig) -> Self {
        DataAgent {
            config: Arc::new(config),
        }
    }
}

#[async_trait]
impl Skills for DataAgent {
    fn definition(&self) -> AgentDefinition {
        definition()
    }

    async fn run(
        &self,
        skill: &str,
        input: Value,
        ctx: &SkillContext,
    ) -> Result<SkillOutcome, SkillError> {
        match skill {
            INGEST_DATA => ingest::run(&self.config, input, ctx).await,
            VALIDATE_DATA => validate::run(&self.config, input, ctx).await,
            VERSION_DATASET => version::run(&self.config, input, ctx).await,
            other => Err(SkillError::rejected(format!(
                "unknown skill {other:?}; this agent has {INGEST_DATA}, {VALIDATE_DATA} and {VERSION_DATASET}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlops_agent_kit::whole_numbers_as_integers;

    #[test]
    fn whole_doubles_from_the_wire_parse_as_integers() {
        let wire = serde_json::json!({
            "source": { "kind": "demo", "seed": 42.0, "rows": 300.0, "bias": 0.5 },
            "dataset": "d",
            "holdout_fraction": 0.2,
            "split_seed": 7.0,
            "dedupe_on": ["a"],
            "big": 1e300
        });
        let fixed = whole_numbers_as_integers(wire);
        assert_eq!(fixed["source"]["seed"], serde_json::json!(42));
        assert!(fixed["source"]["seed"].is_u64());
        assert_eq!(fixed["source"]["bias"], serde_json::json!(0.5));
        assert_eq!(fixed["holdout_fraction"], serde_json::json!(0.2));
        assert!(fixed["big"].is_f64(), "too large to be exact: left alone");
        let mut fixed = fixed;
        fixed.as_object_mut().unwrap().remove("big");
        let parsed: ingest::IngestInput = mlops_agent_kit::parse_input(fixed).unwrap();
        assert_eq!(parsed.split_seed, Some(7));
        let fraction = whole_numbers_as_integers(serde_json::json!({ "rows": 4.5 }));
        assert!(fraction["rows"].is_f64());
    }

    #[test]
    fn the_card_declares_three_data_check_skills_with_schemas() {
        let definition = definition();
        let ids: Vec<&str> = definition.skills.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec![INGEST_DATA, VALIDATE_DATA, VERSION_DATASET]);
        for skill in &definition.skills {
            assert_eq!(skill.phase, Phase::DataCheck);
            assert!(skill.consumes["properties"].is_object(), "{}", skill.id);
            assert!(skill.produces["properties"].is_object(), "{}", skill.id);
        }
        let ingest = &definition.skills[0];
        let required = ingest.consumes["required"].as_array().unwrap();
        assert!(required.contains(&"dataset".into()) && required.contains(&"source".into()));
        let card = definition.card("http://127.0.0.1:1");
        assert_eq!(card.skills.len(), 3);
    }
}
