//! The release policy: gates, canary steps, analysis windows, SLOs and
//! retry budgets, as data (Argo Rollouts' canary spec is the model). One
//! file per environment, given to the orchestrator as its config file.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// A human gate after the checks, before any traffic moves.
    pub pre_deploy_gate: bool,
    /// A human gate after the last analysis, before promotion.
    pub promotion_gate: bool,
    /// The role a gate's approver must hold.
    pub approver_role: String,
    /// The approver may not be the requester.
    pub four_eyes: bool,
    /// How long a gate stays open; an expired gate takes the reject path.
    pub gate_expiry_seconds: u64,
    pub canary: CanaryPolicy,
    /// The live-traffic window the pre-deploy drift check reads.
    pub drift_window_minutes: u32,
    /// How long an unreachable agent is retried before its node fails.
    pub agent_retry_seconds: u64,
    /// How long one delegated task may run before its node fails.
    pub node_timeout_seconds: u64,
    /// How long retired versions keep serving after promotion.
    pub promote_grace_seconds: u64,
    pub retraining: RetrainingPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryPolicy {
    /// Traffic weights in percent, increasing; a last 100 is the promotion.
    pub steps: Vec<u32>,
    /// The analysis window after each step.
    pub analysis_seconds: u32,
    /// The bounds a request may choose its window within.
    pub min_analysis_seconds: u32,
    pub max_analysis_seconds: u32,
    /// SLOs the analysis checks; unset ones take the monitoring agent's.
    pub max_error_rate: Option<f64>,
    pub max_latency_p95_ms: Option<f64>,
    pub max_error_rate_increase: Option<f64>,
    pub min_requests: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrainingPolicy {
    /// A human confirms a retraining request before any compute is spent.
    pub confirm_first: bool,
    /// The input of the fresh-data step (the ingest action), as given to it.
    /// The defaults fit the demo's `fraud-detector`; a real environment's
    /// policy file names its own source and training recipe.
    pub ingest: Map<String, Value>,
    /// The input of the training step, less `model` and `dataset`.
    pub train: Map<String, Value>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pre_deploy_gate: true,
            promotion_gate: true,
            approver_role: "approver".into(),
            four_eyes: true,
            gate_expiry_seconds: 3600,
            canary: CanaryPolicy::default(),
            drift_window_minutes: 60,
            agent_retry_seconds: 60,
            node_timeout_seconds: 1800,
            promote_grace_seconds: 30,
            retraining: RetrainingPolicy::default(),
        }
    }
}

impl Default for CanaryPolicy {
    fn default() -> Self {
        CanaryPolicy {
            steps: vec![10, 50, 100],
            analysis_seconds: 60,
            min_analysis_seconds: 5,
            max_analysis_seconds: 3600,
            max_error_rate: None,
            max_latency_p95_ms: None,
            max_error_rate_increase: None,
            min_requests: None,
        }
    }
}

impl Default for RetrainingPolicy {
    fn default() -> Self {
        let object = |v: Value| match v {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        RetrainingPolicy {
            confirm_first: true,
            ingest: object(serde_json::json!({
                "source": {"kind": "demo", "seed": 4242, "rows": 20000},
                "dataset": "transactions-fresh",
                "dedupe_on": ["transaction_id"],
                "holdout_fraction": 0.2,
                "split_seed": 1,
            })),
            train: object(serde_json::json!({
                "target": "is_fraud",
                "features": ["amount", "hour", "distance_from_home_km", "account_age_days",
                             "txn_count_24h", "card_present", "merchant_risk"],
                "algorithm": "logistic_regression",
                "hyperparameters": {"l2": 0.01},
                "seed": 42,
                "protected_attribute": "age_band",
            })),
        }
    }
}

impl Policy {
    /// Checks the policy's own consistency, naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        check_steps(&self.canary.steps).map_err(|e| format!("canary.steps: {e}"))?;
        let c = &self.canary;
        if c.min_analysis_seconds == 0 || c.min_analysis_seconds > c.max_analysis_seconds {
            return Err("canary: 0 < min_analysis_seconds <= max_analysis_seconds".into());
        }
        if !(c.min_analysis_seconds..=c.max_analysis_seconds).contains(&c.analysis_seconds) {
            return Err("canary.analysis_seconds must lie within the min and max".into());
        }
        if self.gate_expiry_seconds == 0 {
            return Err("gate_expiry_seconds must be above 0".into());
        }
        if self.approver_role.trim().is_empty() {
            return Err("approver_role must name a role".into());
        }
        Ok(())
    }
}

/// Weights in percent, strictly increasing, each 1-100.
pub fn check_steps(steps: &[u32]) -> Result<(), String> {
    if steps.is_empty() || steps.len() > 10 {
        return Err("give 1 to 10 weights".into());
    }
    if steps.iter().any(|w| *w == 0 || *w > 100) {
        return Err("each weight is a percentage from 1 to 100".into());
    }
    if steps.windows(2).any(|w| w[0] >= w[1]) {
        return Err("weights must increase step by step".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_steps_are_named() {
        Policy::default().validate().unwrap();
        assert!(check_steps(&[50, 10]).unwrap_err().contains("increase"));
        assert!(check_steps(&[0]).unwrap_err().contains("1 to 100"));
        assert!(check_steps(&[]).is_err());
        let mut policy = Policy::default();
        policy.canary.analysis_seconds = 1;
        assert!(policy.validate().is_err());
    }
}
