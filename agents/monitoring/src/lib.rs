//! The monitoring agent: watches live models through the metrics, drift
//! and cluster MCP servers (read only; the access matrix gives it nothing
//! else), and asks the orchestrator to retrain when traffic drifts.
//!
//! Skills (all in the `observe` phase):
//! - `monitor-model-performance`: request rate, error rate, p50/p95
//!   latency and traffic weight per version, and the firing alerts;
//! - `detect-drift`: the live prediction log against the training data;
//! - `watch-canary`: canary against stable over a window, sampled as it
//!   goes, with a verdict (`successful`, `failed`, `inconclusive`);
//! - `trigger-retraining-alert`: an A2A request to the orchestrator's
//!   `handle-retraining` skill, at most one open per model.
//!
//! [`MonitoringAgent::new`] also starts the drift scheduler
//! ([`scheduler`]) on the current tokio runtime, unless the config turns it
//! off.

pub mod canary;
mod config;
pub mod deployments;
pub mod drift;
mod model;
pub mod performance;
pub mod retraining;
mod router_metrics;
pub mod scheduler;
mod tools;

use std::sync::Arc;

use async_trait::async_trait;
use mlops_agent_kit::{
    Action, AgentDefinition, AgentEnv, Phase, SkillContext, SkillContract, SkillError,
    SkillOutcome, Skills, parse_input,
};
use serde_json::Value;

pub use canary::{Verdict, WatchCanaryInput, WatchCanaryOutput};
pub use config::MonitoringConfig;
pub use deployments::DatasetReference;
pub use drift::{DetectDriftInput, DetectDriftOutput, DriftStatus};
pub use performance::{PerformanceInput, PerformanceOutput};
pub use retraining::{
    HANDLE_RETRAINING, RetrainingRequest, RetrainingRequestOutput, TriggerRetrainingInput,
};

pub const NAME: &str = "monitoring";

pub const MONITOR_MODEL_PERFORMANCE: &str = "monitor-model-performance";
pub const DETECT_DRIFT: &str = "detect-drift";
pub const WATCH_CANARY: &str = "watch-canary";
pub const TRIGGER_RETRAINING_ALERT: &str = "trigger-retraining-alert";

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: NAME.into(),
        description: "Watches live models: per-version performance and alerts from Prometheus, \
                      drift of live traffic against training data, canary analysis with a \
                      verdict, and retraining requests to the orchestrator when drift persists."
            .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<PerformanceInput, PerformanceOutput>(
                MONITOR_MODEL_PERFORMANCE,
                "Monitor model performance",
                "Per version of a deployed model over a window: request rate, error rate (5xx \
                 share), p50/p95 latency and traffic weight from the router's metrics, plus the \
                 alerts firing for the model.",
                Phase::Observe,
            )
            .with_tags(&["metrics", "latency", "errors", "alerts"])
            .with_examples(&[r#"{"model": "fraud-detector", "window_seconds": 300}"#]),
            SkillContract::new::<DetectDriftInput, DetectDriftOutput>(
                DETECT_DRIFT,
                "Detect drift",
                "Compares a recent window of the model's prediction log with a reference dataset \
                 (default: the stable deployment's training data): per-feature test, score and \
                 threshold, and whether the model drifted; the report is stored on the drift server.",
                Phase::Observe,
            )
            .with_tags(&["drift", "data-quality"])
            .with_examples(&[r#"{"model": "fraud-detector", "window_minutes": 15}"#]),
            SkillContract::new::<WatchCanaryInput, WatchCanaryOutput>(
                WATCH_CANARY,
                "Watch canary",
                "Analyses a canary against the stable version over a window, sampling error rate \
                 and latency as it goes, and returns successful, failed (as soon as the SLO is \
                 clearly broken) or inconclusive (too little traffic), with every sample as \
                 evidence. The verdict is the result; the task completes either way.",
                Phase::Observe,
            )
            .with_action(Action::AnalyzeCanary)
            .with_tags(&["canary", "analysis", "slo"])
            .with_examples(&[
                r#"{"model": "fraud-detector", "canary_version": 2, "window_seconds": 300}"#,
            ]),
            SkillContract::new::<TriggerRetrainingInput, RetrainingRequestOutput>(
                TRIGGER_RETRAINING_ALERT,
                "Trigger retraining alert",
                "Asks the orchestrator (the agent offering handle-retraining) to retrain a model, \
                 with the drift report attached; while an earlier request's workflow still runs, \
                 returns that request instead of sending another.",
                Phase::Observe,
            )
            .with_tags(&["retraining", "drift", "a2a"])
            .with_examples(&[
                r#"{"model": "fraud-detector", "reason": "amount and distance drifted", "drift_report_id": "0190…"}"#,
            ]),
        ],
    }
}

/// What the skills and the scheduler share.
pub struct Monitor {
    pub(crate) env: AgentEnv,
    pub(crate) config: MonitoringConfig,
    pub(crate) retrainer: retraining::Retrainer,
}

pub struct MonitoringAgent {
    monitor: Arc<Monitor>,
    scheduler: Option<tokio::task::JoinHandle<()>>,
}

impl MonitoringAgent {
    /// Reads the config and, when running inside a tokio runtime with the
    /// scheduler enabled, starts the drift scheduler.
    pub fn new(env: &AgentEnv) -> anyhow::Result<Self> {
        let config: MonitoringConfig = env.config()?;
        config.validate()?;
        let monitor = Arc::new(Monitor {
            retrainer: retraining::Retrainer::new(
                env.clone(),
                config.orchestrator_fallback.clone(),
            ),
            env: env.clone(),
            config,
        });
        let scheduler = if monitor.config.scheduler_enabled {
            match tokio::runtime::Handle::try_current() {
                Ok(_) => Some(scheduler::spawn(monitor.clone())),
                Err(_) => {
                    tracing::warn!("no tokio runtime: the drift scheduler is not running");
                    None
                }
            }
        } else {
            tracing::info!("drift scheduler disabled by config");
            None
        };
        Ok(MonitoringAgent { monitor, scheduler })
    }

    pub fn config(&self) -> &MonitoringConfig {
        &self.monitor.config
    }

    /// Whether the drift scheduler runs.
    pub fn scheduler_running(&self) -> bool {
        self.scheduler.as_ref().is_some_and(|h| !h.is_finished())
    }
}

impl Drop for MonitoringAgent {
    fn drop(&mut self) {
        if let Some(scheduler) = self.scheduler.take() {
            scheduler.abort();
        }
    }
}

#[async_trait]
impl Skills for MonitoringAgent {
    fn definition(&self) -> AgentDefinition {
        definition()
    }

    async fn run(
        &self,
        skill: &str,
        input: Value,
        ctx: &SkillContext,
    ) -> Result<SkillOutcome, SkillError> {
        let config = &self.monitor.config;
        match skill {
            MONITOR_MODEL_PERFORMANCE => performance::run(ctx, config, parse_input(input)?).await,
            DETECT_DRIFT => drift::run(ctx, config, parse_input(input)?).await,
            WATCH_CANARY => canary::run(ctx, config, parse_input(input)?).await,
            TRIGGER_RETRAINING_ALERT => {
                let input: TriggerRetrainingInput = parse_input(input)?;
                let ask = retraining::parse(ctx, input, format!("task {}", ctx.task_id())).await?;
                let output = self.monitor.retrainer.request(ask).await?;
                let summary = retraining::summary(&output);
                Ok(SkillOutcome::single("retraining-request", output, summary))
            }
            other => Err(SkillError::rejected(format!("unknown skill {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_doubles_become_integers_again() {
        let input =
            serde_json::json!({"window_seconds": 60.0, "rate": 0.5, "n": [-3.0, 2.5], "s": "10.0"});
        assert_eq!(
            mlops_agent_kit::whole_numbers_as_integers(input),
            serde_json::json!({"window_seconds": 60, "rate": 0.5, "n": [-3, 2.5], "s": "10.0"})
        );
    }

    #[test]
    fn the_card_declares_four_observe_skills_with_schemas() {
        let definition = definition();
        let ids: Vec<&str> = definition.skills.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                MONITOR_MODEL_PERFORMANCE,
                DETECT_DRIFT,
                WATCH_CANARY,
                TRIGGER_RETRAINING_ALERT
            ]
        );
        for skill in &definition.skills {
            assert_eq!(skill.phase, Phase::Observe);
            assert_eq!(skill.consumes["type"], "object", "{}", skill.id);
        }
        let canary = definition.skill(WATCH_CANARY).unwrap();
        let required = canary.consumes["required"].as_array().unwrap();
        assert!(required.contains(&Value::from("canary_version")));
        assert_eq!(
            canary.consumes["additionalProperties"],
            Value::Bool(false),
            "unknown fields are refused"
        );
    }
}
