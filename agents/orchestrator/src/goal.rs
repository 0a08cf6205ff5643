//! Goals: what a person (or CI, or the monitoring agent) asks the
//! orchestrator for. Parsed at the edge into checked values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::{Policy, check_steps};

/// A dataset version by name and content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetRef {
    /// e.g. "transactions-holdout".
    pub name: String,
    /// Its sha256 content hash.
    pub version: String,
}

/// The input of `orchestrate-ml-pipeline` and `plan-deployment`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "goal", rename_all = "kebab-case")]
pub enum GoalRequest {
    /// Release a model version.
    Deploy(DeployRequest),
    /// Retrain a model on fresh data and release the result.
    Retrain(RetrainRequest),
    /// Return a model's traffic to its stable version now.
    Rollback(RollbackRequest),
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// e.g. "fraud-detector".
    pub model: String,
    /// The candidate version (1 or more).
    pub version: u32,
    /// Only "canary" today.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Traffic weights in percent; default from policy. A last 100 is the promotion.
    #[serde(default)]
    pub steps: Option<Vec<u32>>,
    /// Analysis window per step, within the policy's bounds.
    #[serde(default)]
    pub analysis_seconds: Option<u32>,
    /// The labelled holdout the model checks score on.
    #[serde(default)]
    pub holdout: Option<DatasetRef>,
    /// The candidate's training data, for the data check.
    #[serde(default)]
    pub training_data: Option<DatasetRef>,
    /// How long this release's gates stay open, at most the policy's
    /// expiry (a release can ask for a shorter decision window, not a
    /// longer one).
    #[serde(default)]
    pub gate_expiry_seconds: Option<u32>,
    /// Who asks (the control plane passes the signed-in user).
    #[serde(default)]
    pub requested_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrainRequest {
    pub model: String,
    /// Why, in a sentence.
    pub reason: String,
    #[serde(default)]
    pub drift_report_id: Option<String>,
    #[serde(default)]
    pub evidence: Option<Value>,
    /// The requester's idempotency key.
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub requested_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub model: String,
    /// The version to take out of traffic.
    pub version: u32,
    pub reason: String,
    #[serde(default)]
    pub requested_by: Option<String>,
}

/// A checked goal, as the planner and the workflow keep it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "goal", rename_all = "kebab-case")]
pub enum Goal {
    Deploy {
        model: String,
        version: u32,
        steps: Vec<u32>,
        analysis_seconds: u32,
        holdout: Option<DatasetRef>,
        training_data: Option<DatasetRef>,
        gate_expiry_seconds: Option<u32>,
        requested_by: Option<String>,
    },
    Retrain {
        model: String,
        reason: String,
        drift_report_id: Option<String>,
        request_id: Option<String>,
        requested_by: Option<String>,
    },
    Rollback {
        model: String,
        version: u32,
        reason: String,
        requested_by: Option<String>,
    },
}

impl Goal {
    pub fn model(&self) -> &str {
        match self {
            Goal::Deploy { model, .. }
            | Goal::Retrain { model, .. }
            | Goal::Rollback { model, .. } => model,
        }
    }

    pub fn requested_by(&self) -> Option<&str> {
        match self {
            Goal::Deploy { requested_by, .. }
            | Goal::Retrain { requested_by, .. }
            | Goal::Rollback { requested_by, .. } => requested_by.as_deref(),
        }
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        match self {
            Goal::Deploy {
                model,
                version,
                steps,
                ..
            } => format!(
                "deploy {model} v{version} as a canary ({})",
                steps
                    .iter()
                    .map(|w| format!("{w}%"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            Goal::Retrain { model, reason, .. } => format!("retrain {model}: {reason}"),
            Goal::Rollback { model, version, .. } => format!("roll back {model} v{version}"),
        }
    }
}

/// The shortest decision window a release may ask for: a person needs
/// time to read the evidence.
pub const MIN_GATE_EXPIRY_SECONDS: u64 = 10;

/// A model name: 1-63 characters of a-z, 0-9 and '-', starting with a letter.
fn model_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err("`model` must be a model name: 1-63 characters of a-z, 0-9 and -, starting with a letter".into())
    }
}

fn sentence(field: &str, raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() || text.len() > 2000 {
        return Err(format!("`{field}` must be 1-2000 characters"));
    }
    Ok(text.to_owned())
}

fn dataset(field: &str, d: &Option<DatasetRef>) -> Result<Option<DatasetRef>, String> {
    let Some(d) = d else { return Ok(None) };
    let name_ok = !d.name.is_empty()
        && d.name.len() <= 63
        && d.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let hex = d.version.strip_prefix("sha256:").unwrap_or(&d.version);
    let version_ok = hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit());
    if !name_ok {
        return Err(format!(
            "`{field}.name` must be a dataset name (a-z, 0-9, -)"
        ));
    }
    if !version_ok {
        return Err(format!(
            "`{field}.version` must be a sha256 content hash (64 hex digits)"
        ));
    }
    Ok(Some(d.clone()))
}

impl GoalRequest {
    /// Checks the request against itself and the policy's bounds.
    pub fn check(self, policy: &Policy) -> Result<Goal, String> {
        match self {
            GoalRequest::Deploy(r) => {
                let model = model_name(&r.model)?;
                if r.version == 0 {
                    return Err("`version` must be 1 or more".into());
                }
                match r.strategy.as_deref() {
                    None | Some("canary") => {}
                    Some(other) => {
                        return Err(format!(
                            "`strategy` {other:?} is not offered; the policy allows: canary"
                        ));
                    }
                }
                let steps = r.steps.unwrap_or_else(|| policy.canary.steps.clone());
                check_steps(&steps).map_err(|e| format!("`steps`: {e}"))?;
                let c = &policy.canary;
                let analysis_seconds = r.analysis_seconds.unwrap_or(c.analysis_seconds);
                if !(c.min_analysis_seconds..=c.max_analysis_seconds).contains(&analysis_seconds) {
                    return Err(format!(
                        "`analysis_seconds` must be {}-{} under this policy",
                        c.min_analysis_seconds, c.max_analysis_seconds
                    ));
                }
                if let Some(seconds) = r.gate_expiry_seconds
                    && !(MIN_GATE_EXPIRY_SECONDS..=policy.gate_expiry_seconds)
                        .contains(&u64::from(seconds))
                {
                    return Err(format!(
                        "`gate_expiry_seconds` must be {MIN_GATE_EXPIRY_SECONDS}-{} under this policy",
                        policy.gate_expiry_seconds
                    ));
                }
                Ok(Goal::Deploy {
                    model,
                    version: r.version,
                    steps,
                    analysis_seconds,
                    holdout: dataset("holdout", &r.holdout)?,
                    training_data: dataset("training_data", &r.training_data)?,
                    gate_expiry_seconds: r.gate_expiry_seconds,
                    requested_by: r.requested_by,
                })
            }
            GoalRequest::Retrain(r) => Ok(Goal::Retrain {
                model: model_name(&r.model)?,
                reason: sentence("reason", &r.reason)?,
                drift_report_id: r.drift_report_id,
                request_id: r.request_id,
                requested_by: r.requested_by,
            }),
            GoalRequest::Rollback(r) => {
                if r.version == 0 {
                    return Err("`version` must be 1 or more".into());
                }
                Ok(Goal::Rollback {
                    model: model_name(&r.model)?,
                    version: r.version,
                    reason: sentence("reason", &r.reason)?,
                    requested_by: r.requested_by,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(v: Value) -> Result<Goal, String> {
        serde_json::from_value::<GoalRequest>(v)
            .map_err(|e| e.to_string())?
            .check(&Policy::default())
    }

    #[test]
    fn deploy_goals_are_checked_against_the_policy() {
        let goal =
            deploy(serde_json::json!({"goal": "deploy", "model": "fraud-detector", "version": 2}))
                .unwrap();
        assert_eq!(
            goal.summary(),
            "deploy fraud-detector v2 as a canary (10% → 50% → 100%)"
        );
        for (bad, field) in [
            (
                serde_json::json!({"goal": "deploy", "model": "Fraud", "version": 2}),
                "model",
            ),
            (
                serde_json::json!({"goal": "deploy", "model": "m", "version": 0}),
                "version",
            ),
            (
                serde_json::json!({"goal": "deploy", "model": "m", "version": 2, "steps": [50, 10]}),
                "steps",
            ),
            (
                serde_json::json!({"goal": "deploy", "model": "m", "version": 2, "analysis_seconds": 1}),
                "analysis_seconds",
            ),
            (
                serde_json::json!({"goal": "deploy", "model": "m", "version": 2, "strategy": "yolo"}),
                "strategy",
            ),
            (
                serde_json::json!({"goal": "deploy", "model": "m", "version": 2, "holdout": {"name": "h", "version": "x"}}),
                "holdout.version",
            ),
            (
                serde_json::json!({"goal": "deploy", "model": "m", "version": 2, "colour": 1}),
                "colour",
            ),
            (
                serde_json::json!({"goal": "launch", "model": "m"}),
                "launch",
            ),
        ] {
            let error = deploy(bad).unwrap_err();
            assert!(error.contains(field), "{field}: {error}");
        }
    }
}
