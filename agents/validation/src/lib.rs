//! The validation agent: is a model version fit to release? It reads the
//! registry (`registry:read`) and storage (`storage:read`) and runs drift
//! reports (`drift:run`), as the access matrix allows.
//!
//! Skills, all in the `model-check` phase:
//! - `validate-model-quality` ([`quality`]): holdout performance against
//!   minimums and against the `champion` on the same holdout;
//! - `check-data-drift` ([`drift`]): the training data against recent
//!   serving traffic or a dataset version, per feature;
//! - `check-model-fairness` ([`fairness`]): per-group rates and the
//!   demographic parity and equalized odds differences on the holdout;
//! - `generate-validation-report` ([`report`]): all of them as one
//!   `validation-report` artifact.
//!
//! A check that runs and finds the model wanting completes its task with
//! `passed: false` and the numbers: that is the check's answer, and the
//! orchestrator's policy decides what follows (a failed validation halts a
//! release). Only a check that cannot run (a tool, the store or an artifact
//! unreachable or broken) fails its task. Bad input is rejected before any
//! work, naming the field.
//!
//! How the model is scored, and why here rather than in the drift server,
//! is in [`scoring`].

pub mod config;
pub mod drift;
pub mod fairness;
pub mod quality;
pub mod registry;
pub mod report;
pub mod request;
pub mod scoring;

use std::sync::Arc;

use async_trait::async_trait;
use mlops_agent_kit::{
    AgentDefinition, AgentEnv, Phase, SkillContext, SkillContract, SkillError, SkillOutcome, Skills,
};
use serde_json::Value;

pub use config::ValidationConfig;

pub const NAME: &str = "validation";

pub const VALIDATE_MODEL_QUALITY: &str = "validate-model-quality";
pub const CHECK_DATA_DRIFT: &str = "check-data-drift";
pub const CHECK_MODEL_FAIRNESS: &str = "check-model-fairness";
pub const GENERATE_VALIDATION_REPORT: &str = "generate-validation-report";

/// Artifact names, one per skill.
pub const MODEL_QUALITY_ARTIFACT: &str = "model-quality";
pub const DATA_DRIFT_ARTIFACT: &str = "data-drift";
pub const MODEL_FAIRNESS_ARTIFACT: &str = "model-fairness";
pub const VALIDATION_REPORT_ARTIFACT: &str = "validation-report";

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: NAME.into(),
        description: "Validates model versions before release: holdout quality against \
                      minimums and the champion, data drift against the training data, and \
                      group fairness, reading the registry and storage and running drift \
                      reports through MCP."
            .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<quality::ValidateModelQualityInput, quality::ModelQualityReport>(
                VALIDATE_MODEL_QUALITY,
                "Validate model quality",
                "Scores the version on a labelled holdout and checks each metric's minimum \
                 (default roc_auc ≥ 0.75, f1 ≥ 0.25) and that the primary metric (roc_auc) is \
                 no more than the tolerance (0.02) below the champion's on the same holdout. \
                 Completes with passed true or false and every number (artifact \
                 `model-quality`).",
                Phase::ModelCheck,
            )
            .with_tags(&["validation", "quality", "holdout", "champion"])
            .with_examples(&[
                r#"{"model":"fraud-detector","version":2,"holdout":{"dataset":"transactions-holdout","version":"sha256:…"}}"#,
            ]),
            SkillContract::new::<drift::CheckDataDriftInput, drift::DataDriftReport>(
                CHECK_DATA_DRIFT,
                "Check data drift",
                "Compares the version's training data with the last window_minutes of its \
                 prediction log or with a dataset version, per model feature (Evidently's \
                 tests through the drift server). Completes with passed false when at least \
                 drift_share (default 0.3) of the features drifted (artifact `data-drift`).",
                Phase::ModelCheck,
            )
            .with_tags(&["validation", "drift", "data"])
            .with_examples(&[r#"{"model":"fraud-detector","version":2,"window_minutes":60}"#]),
            SkillContract::new::<fairness::CheckModelFairnessInput, fairness::ModelFairnessReport>(
                CHECK_MODEL_FAIRNESS,
                "Check model fairness",
                "Scores the version on a labelled holdout and compares outcomes across the \
                 groups of its recorded protected attribute: per-group selection, true and \
                 false positive rates; demographic parity and equalized odds differences \
                 against limits (default 0.1 each). Completes with passed true or false and \
                 every number (artifact `model-fairness`).",
                Phase::ModelCheck,
            )
            .with_tags(&["validation", "fairness", "holdout"]),
            SkillContract::new::<report::GenerateValidationReportInput, report::ValidationReport>(
                GENERATE_VALIDATION_REPORT,
                "Generate validation report",
                "Runs the quality and fairness checks on the holdout, and the drift check \
                 when window_minutes or current is given, and returns one \
                 `validation-report` artifact with the overall verdict and every check's \
                 numbers.",
                Phase::ModelCheck,
            )
            .with_tags(&["validation", "report", "gate-evidence"]),
        ],
    }
}

pub struct ValidationAgent {
    config: Arc<ValidationConfig>,
}

impl ValidationAgent {
    pub fn new(env: &AgentEnv) -> anyhow::Result<Self> {
        let config: ValidationConfig = env.config()?;
        config.validate()?;
        Ok(Self::with_config(config))
    }

    /// An agent with the given settings (already validated).
    pub fn with_config(config: ValidationConfig) -> Self {
        ValidationAgent {
            config: Arc::new(config),
        }
    }
}

#[async_trait]
impl Skills for ValidationAgent {
    fn definition(&self) -> AgentDefinition {
        definition()
    }

    async fn run(
        &self,
        skill: &str,
        input: Value,
        ctx: &SkillContext,
    ) -> Result<SkillOutcome, SkillError> {
        let config = &self.config;
        match skill {
            VALIDATE_MODEL_QUALITY => quality::run(&config.quality, input, ctx).await,
            CHECK_DATA_DRIFT => drift::run(config.drift.drift_share, input, ctx).await,
            CHECK_MODEL_FAIRNESS => fairness::run(&config.fairness, input, ctx).await,
            GENERATE_VALIDATION_REPORT => report::run(config, input, ctx).await,
            other => Err(SkillError::rejected(format!(
                "unknown skill {other:?}; this agent has {VALIDATE_MODEL_QUALITY}, \
                 {CHECK_DATA_DRIFT}, {CHECK_MODEL_FAIRNESS} and {GENERATE_VALIDATION_REPORT}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_declares_four_model_check_skills_with_schemas() {
        let definition = definition();
        let ids: Vec<&str> = definition.skills.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                VALIDATE_MODEL_QUALITY,
                CHECK_DATA_DRIFT,
                CHECK_MODEL_FAIRNESS,
                GENERATE_VALIDATION_REPORT
            ]
        );
        for skill in &definition.skills {
            assert_eq!(skill.phase, Phase::ModelCheck);
            assert!(skill.consumes["properties"].is_object(), "{}", skill.id);
            let produces = &skill.produces["properties"];
            assert!(produces["passed"].is_object(), "{}: {produces}", skill.id);
            let required = skill.consumes["required"].as_array().unwrap();
            assert!(required.contains(&"model".into()), "{}", skill.id);
            assert!(required.contains(&"version".into()), "{}", skill.id);
        }
        let report = definition.skill(GENERATE_VALIDATION_REPORT).unwrap();
        let required = report.consumes["required"].as_array().unwrap();
        assert!(required.contains(&"holdout".into()));
        assert!(!required.contains(&"current".into()));
        let card = definition.card("http://127.0.0.1:1");
        assert_eq!(card.skills.len(), 4);
    }
}
