//! The cost agent: what training and serving cost, and which instance type
//! a training run should get.
//!
//! Skills:
//! - `estimate-training-cost` (train): time from the trainer's measured
//!   throughput, memory, the cheapest instance that fits, and the price;
//! - `recommend-instance-type` (train): the cheapest instance with enough
//!   memory, strictly larger than the one a run ran out of memory on;
//! - `report-spend` (observe): training runs and serving CPU over a window.
//!
//! It reads the trainer (`trainer:read`) and Prometheus through the metrics
//! server (`metrics:read`) and changes nothing anywhere. Prices come from
//! its config ([`CostConfig`]), not from a cloud's price list.
//!
//! `estimate-training-cost` is a train-phase skill, not a gate: it informs
//! the choice of instance before a run and blocks nothing.

mod config;
mod estimate;
mod prices;
mod recommend;
mod spend;
mod trainer_jobs;

use async_trait::async_trait;
use mlops_agent_kit::{
    Action, AgentDefinition, AgentEnv, Phase, SkillContext, SkillContract, SkillError,
    SkillOutcome, Skills, parse_input,
};
use serde_json::Value;

pub use config::{CostConfig, CostSettings, PerAlgorithm};
pub use estimate::{
    EstimateTrainingCostInput, MeasuredJob, MemoryEstimate, ThroughputSource, TrainingCostEstimate,
};
pub use prices::{InstanceType, PriceTable};
pub use recommend::{InstanceRecommendation, RecommendInstanceTypeInput};
pub use spend::{
    CPU_METRIC, DeploymentSpend, ReportSpendInput, ServingSpend, ServingStatus, ServingTarget,
    SpendReport, SpendTotals, SpendWindow, TrainingRunSpend, TrainingSpend,
};

pub const NAME: &str = "cost";

pub const ESTIMATE_TRAINING_COST: &str = "estimate-training-cost";
pub const RECOMMEND_INSTANCE_TYPE: &str = "recommend-instance-type";
pub const REPORT_SPEND: &str = "report-spend";

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: NAME.into(),
        description: "Estimates what a training run costs from the trainer's measured \
                      throughput, recommends the cheapest instance type with enough memory \
                      (a larger one after an out-of-memory failure), and reports training and \
                      serving spend. Prices come from its configured price table."
            .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<EstimateTrainingCostInput, TrainingCostEstimate>(
                ESTIMATE_TRAINING_COST,
                "Estimate training cost",
                "Estimates a training run's duration from the throughput the trainer measured \
                 on its succeeded jobs of the same algorithm (or a conservative default when \
                 there are none: throughput_source says which), its memory (rows × columns × \
                 8 bytes × an algorithm factor), the cheapest instance type that fits and the \
                 cost. Artifact: training-cost-estimate.",
                Phase::Train,
            )
            .with_tags(&["cost", "training", "capacity"]),
            SkillContract::new::<RecommendInstanceTypeInput, InstanceRecommendation>(
                RECOMMEND_INSTANCE_TYPE,
                "Recommend instance type",
                "The cheapest instance type with at least the required memory × headroom and \
                 the vCPUs asked for; given current_instance_type (after an out-of-memory \
                 failure), one with strictly more memory than it. Fails when nothing fits. \
                 Artifact: instance-recommendation.",
                Phase::Train,
            )
            .with_action(Action::RecommendResources)
            .with_tags(&["cost", "capacity", "out-of-memory"]),
            SkillContract::new::<ReportSpendInput, SpendReport>(
                REPORT_SPEND,
                "Report spend",
                "Training spend (each trainer job's time in the window × the training \
                 instance's price) and serving spend (each model server's and router's \
                 process CPU seconds from Prometheus × the CPU-second price) over a window, \
                 with totals; targets without a CPU counter are listed as unmeasured. \
                 Artifact: spend-report.",
                Phase::Observe,
            )
            .with_tags(&["cost", "spend", "observe"]),
        ],
    }
}

pub struct CostAgent {
    settings: CostSettings,
}

impl CostAgent {
    pub fn new(env: &AgentEnv) -> anyhow::Result<Self> {
        let config: CostConfig = env.config()?;
        Self::from_config(config)
    }

    /// An agent with `config`, checked.
    pub fn from_config(config: CostConfig) -> anyhow::Result<Self> {
        let settings = config
            .check()
            .map_err(|e| anyhow::anyhow!("cost agent config: {e}"))?;
        tracing::info!(
            instance_types = settings.prices.all().len(),
            cpu_second_price_usd = settings.cpu_second_price_usd,
            training_instance = %settings.training_instance.name,
            "cost agent settings loaded"
        );
        Ok(CostAgent { settings })
    }

    pub fn settings(&self) -> &CostSettings {
        &self.settings
    }
}

#[async_trait]
impl Skills for CostAgent {
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
            ESTIMATE_TRAINING_COST => {
                let request =
                    parse_input::<EstimateTrainingCostInput>(input)?.check(&self.settings)?;
                estimate::estimate_training_cost(&self.settings, request, ctx).await
            }
            RECOMMEND_INSTANCE_TYPE => {
                let request =
                    parse_input::<RecommendInstanceTypeInput>(input)?.check(&self.settings)?;
                recommend::recommend_instance_type(&self.settings, &request)
            }
            REPORT_SPEND => {
                let request = parse_input::<ReportSpendInput>(input)?
                    .check(&self.settings, chrono::Utc::now())?;
                spend::report_spend(&self.settings, request, ctx).await
            }
            other => Err(SkillError::rejected(format!("unknown skill {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_floats_become_integers_and_fractions_stay() {
        let input = serde_json::json!({
            "memory_mb_required": 2000.0,
            "hyperparameters": {"n_trees": 8.0, "feature_fraction": 0.5, "l2": -3.0},
            "features": ["a", 1.5],
            "huge": 1e300,
        });
        let normalized = mlops_agent_kit::whole_numbers_as_integers(input);
        assert!(normalized["memory_mb_required"].is_u64());
        assert_eq!(normalized["hyperparameters"]["n_trees"], 8);
        assert_eq!(normalized["hyperparameters"]["l2"], -3);
        assert!(normalized["hyperparameters"]["feature_fraction"].is_f64());
        assert!(normalized["features"][1].is_f64());
        assert!(normalized["huge"].is_f64());
        let request = parse_input::<RecommendInstanceTypeInput>(serde_json::json!({
            "memory_mb_required": 2000.0
        }));
        assert!(
            request.is_err(),
            "the raw float is refused without normalizing"
        );
    }

    #[test]
    fn the_card_declares_three_skills_with_schemas() {
        let definition = definition();
        let ids: Vec<&str> = definition.skills.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                ESTIMATE_TRAINING_COST,
                RECOMMEND_INSTANCE_TYPE,
                REPORT_SPEND
            ]
        );
        let estimate = definition.skill(ESTIMATE_TRAINING_COST).unwrap();
        assert_eq!(estimate.phase, Phase::Train);
        let required = estimate.consumes["required"].as_array().unwrap();
        assert!(required.contains(&Value::from("dataset_rows")));
        assert!(
            estimate.produces["properties"]
                .get("throughput_source")
                .is_some()
        );
        assert_eq!(
            definition.skill(REPORT_SPEND).unwrap().phase,
            Phase::Observe
        );
        // The card serializes (the orchestrator reads it as JSON).
        let card = definition.card("http://127.0.0.1:1");
        assert!(serde_json::to_string(&card).unwrap().contains(REPORT_SPEND));
    }
}
