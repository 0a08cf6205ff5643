//! The deployment agent: releases model versions. It starts versions on the
//! cluster, splits traffic between the stable `champion` and a candidate
//! (canary or blue-green), promotes a candidate to champion, and rolls
//! back. It reaches the world only through MCP: the registry (read, set
//! aliases) and the cluster (read, write).
//!
//! Every skill is idempotent: it reads the current state first and changes
//! only what differs, so a retried task (same input) repeats no side effect
//! and ends in the same state; each outcome lists the `changes` it made.
//!
//! Choices worth knowing:
//! - The stable version is always the registry's `champion`. A canary or
//!   blue-green release needs one, so a model's first version goes out
//!   with `promote-to-production`, which starts it, gives it all traffic
//!   and makes it champion (how `mlops up` seeds the demo's v1).
//! - Promotion records the old champion as `previous-champion`, so rolling
//!   back a fresh promotion restores it (restarting its deployment from the
//!   registry artifact when it was retired already).
//! - A candidate under a canary or blue-green release carries the
//!   `challenger` alias until it is promoted or rolled back.
//! - Each deployment records its training data (`params.dataset` and the
//!   dataset digest from lineage) as the cluster's drift reference.

mod blue_green;
mod canary;
pub mod cluster;
pub mod config;
pub mod contract;
mod promotion;
pub mod registry;
mod release;
mod rollback;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use mlops_agent_kit::{
    Action, AgentDefinition, AgentEnv, Phase, SkillContext, SkillContract, SkillError,
    SkillOutcome, Skills, parse_input,
};
use serde_json::Value;
use tokio::sync::OwnedMutexGuard;

pub use config::DeploymentConfig;
pub use contract::*;

pub const NAME: &str = "deployment";

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: NAME.into(),
        description: "Releases model versions: starts them on the cluster, splits traffic between \
                      the champion and a candidate (canary or blue-green), promotes a candidate to \
                      champion and rolls back. Every skill is idempotent."
            .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<DeployCanaryInput, CanaryOutcome>(
                "deploy-canary",
                "Deploy a canary",
                "Checks the version's artifact in the registry, starts the version, waits until its \
                 replicas are ready, and sends it `weight` percent of traffic, the champion the \
                 rest. Fails when the model has no champion (promote a first version instead).",
                Phase::Deploy,
            )
            .with_action(Action::StartCanary)
            .with_tags(&["deploy", "canary", "traffic"])
            .with_examples(&[r#"{"model": "fraud-detector", "version": 2, "weight": 10}"#]),
            SkillContract::new::<SetTrafficWeightInput, CanaryOutcome>(
                "set-traffic-weight",
                "Set a candidate's traffic weight",
                "Gives a deployed candidate `weight` percent of traffic (0-100) and the champion \
                 the rest.",
                Phase::Deploy,
            )
            .with_action(Action::SetWeight)
            .with_tags(&["deploy", "canary", "traffic"])
            .with_examples(&[r#"{"model": "fraud-detector", "version": 2, "weight": 50}"#]),
            SkillContract::new::<DeployBlueGreenInput, BlueGreenOutcome>(
                "deploy-blue-green",
                "Deploy blue-green",
                "Starts the version (green) beside the champion (blue), waits until green is \
                 ready, then switches all traffic to green; blue keeps running for rollback.",
                Phase::Deploy,
            )
            .with_tags(&["deploy", "blue-green", "traffic"])
            .with_examples(&[r#"{"model": "fraud-detector", "version": 2}"#]),
            SkillContract::new::<RollbackInput, RollbackOutcome>(
                "rollback-deployment",
                "Roll back a deployment",
                "Returns all traffic to the stable champion, removes the rolled-back version's \
                 deployment, and restores the champion alias when the version had been promoted.",
                Phase::Rollback,
            )
            .with_action(Action::Rollback)
            .with_tags(&["rollback", "traffic"])
            .with_examples(&[
                r#"{"model": "fraud-detector", "version": 2, "reason": "canary error rate above SLO"}"#,
            ]),
            SkillContract::new::<PromoteInput, PromotionOutcome>(
                "promote-to-production",
                "Promote to production",
                "Gives the version all traffic (starting it first if needed), makes it the \
                 champion with the old one as previous-champion, and retires the old versions' \
                 deployments after a grace period.",
                Phase::Deploy,
            )
            .with_action(Action::Promote)
            .with_tags(&["deploy", "promote", "champion"])
            .with_examples(&[
                r#"{"model": "fraud-detector", "version": 2, "grace_period_seconds": 30}"#,
            ]),
        ],
    }
}

/// One lock per model, so two releases of the same model through this
/// agent never interleave their reads and writes.
#[derive(Default)]
struct ModelLocks(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl ModelLocks {
    async fn lock(
        &self,
        model: &ModelName,
        ctx: &SkillContext,
    ) -> Result<OwnedMutexGuard<()>, SkillError> {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(model.as_str().to_owned()).or_default().clone()
        };
        if let Ok(guard) = lock.clone().try_lock_owned() {
            return Ok(guard);
        }
        ctx.progress(format!(
            "waiting for another release of {model} to finish its step"
        ));
        tokio::select! {
            guard = lock.lock_owned() => Ok(guard),
            _ = ctx.canceled() => Err(SkillError::Canceled),
        }
    }
}

pub struct DeploymentAgent {
    config: DeploymentConfig,
    locks: ModelLocks,
}

impl DeploymentAgent {
    pub fn new(env: &AgentEnv) -> anyhow::Result<Self> {
        let config: DeploymentConfig = env.config()?;
        Self::with_config(config)
    }

    /// The agent with explicit settings (checked).
    pub fn with_config(config: DeploymentConfig) -> anyhow::Result<Self> {
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("deployment agent config: {e}"))?;
        Ok(DeploymentAgent {
            config,
            locks: ModelLocks::default(),
        })
    }
}

#[async_trait]
impl Skills for DeploymentAgent {
    fn definition(&self) -> AgentDefinition {
        definition()
    }

    async fn run(
        &self,
        skill: &str,
        input: Value,
        ctx: &SkillContext,
    ) -> Result<SkillOutcome, SkillError> {
        // Every input is parsed and checked before anything is read or
        // changed, so a rejection never leaves a trace.
        match skill {
            "deploy-canary" => {
                let request = CanaryRequest::parse(parse_input(input)?)?;
                let _guard = self.locks.lock(&request.model, ctx).await?;
                canary::deploy_canary(&self.config, ctx, request).await
            }
            "set-traffic-weight" => {
                let request = WeightRequest::parse(parse_input(input)?)?;
                let _guard = self.locks.lock(&request.model, ctx).await?;
                canary::set_traffic_weight(&self.config, ctx, request).await
            }
            "deploy-blue-green" => {
                let request = BlueGreenRequest::parse(parse_input(input)?)?;
                let _guard = self.locks.lock(&request.model, ctx).await?;
                blue_green::deploy_blue_green(&self.config, ctx, request).await
            }
            "rollback-deployment" => {
                let request = RollbackRequest::parse(parse_input(input)?)?;
                let _guard = self.locks.lock(&request.model, ctx).await?;
                rollback::rollback(&self.config, ctx, request).await
            }
            "promote-to-production" => {
                let request = PromoteRequest::parse(
                    parse_input(input)?,
                    self.config.grace_period_seconds,
                    self.config.max_grace_period_seconds,
                )?;
                // The promotion takes the lock itself: it must not hold it
                // through the grace period, or a rollback would wait.
                promotion::promote(&self.config, ctx, request, &self.locks).await
            }
            other => Err(SkillError::rejected(format!("unknown skill {other:?}"))),
        }
    }
}

/// The stable version a candidate is released beside: the champion, which
/// must exist and be another version.
fn stable_version(
    aliases: &registry::Aliases,
    model: &ModelName,
    candidate: i32,
) -> Result<i32, SkillError> {
    match aliases.champion() {
        None => Err(SkillError::failed(format!(
            "{model} has no champion to keep as the stable version; release a model's first \
             version with promote-to-production, which starts it with all traffic and makes it \
             champion"
        ))),
        Some(champion) if champion == candidate => Err(SkillError::failed(format!(
            "v{candidate} is already the champion of {model}; a candidate must be another version"
        ))),
        Some(champion) => Ok(champion),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_lists_every_skill_with_its_phase() {
        let definition = definition();
        let phases: Vec<(&str, Phase)> = definition
            .skills
            .iter()
            .map(|s| (s.id.as_str(), s.phase))
            .collect();
        assert_eq!(
            phases,
            [
                ("deploy-canary", Phase::Deploy),
                ("set-traffic-weight", Phase::Deploy),
                ("deploy-blue-green", Phase::Deploy),
                ("rollback-deployment", Phase::Rollback),
                ("promote-to-production", Phase::Deploy),
            ]
        );
        let canary = definition.skill("deploy-canary").unwrap();
        assert_eq!(canary.consumes["properties"]["weight"]["maximum"], 99);
        assert!(
            canary.consumes["required"]
                .as_array()
                .unwrap()
                .contains(&"weight".into())
        );
        assert!(canary.produces["properties"]["serving"].is_object());
    }

    #[test]
    fn the_stable_version_is_another_versions_champion() {
        let model = ModelName::parse("fraud-detector").unwrap();
        let aliases = |champion: Option<i64>| {
            let summary: registry::ModelSummary = serde_json::from_value(serde_json::json!({
                "name": "fraud-detector",
                "aliases": champion
                    .map(|c| serde_json::json!({"champion": c}))
                    .unwrap_or(serde_json::json!({})),
            }))
            .unwrap();
            registry::Aliases::from_summary(&summary)
        };
        assert_eq!(stable_version(&aliases(Some(1)), &model, 2).unwrap(), 1);
        let none = stable_version(&aliases(None), &model, 2).unwrap_err();
        assert!(none.to_string().contains("promote-to-production"), "{none}");
        let same = stable_version(&aliases(Some(2)), &model, 2).unwrap_err();
        assert!(same.to_string().contains("already the champion"), "{same}");
    }
}
