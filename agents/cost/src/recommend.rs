//! `recommend-instance-type`: the cheapest instance type with the memory a
//! run needs (with headroom), and, after an out-of-memory failure, one
//! strictly larger than the instance that ran out.

use mlops_agent_kit::{SkillError, SkillOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::CostSettings;
use crate::prices::{FitRequest, InstanceType, with_headroom};

/// The most memory a request may ask for: 16 TiB in MiB.
const MAX_MEMORY_MB: u64 = 16 * 1024 * 1024;
/// How many runners-up the output lists.
const ALTERNATIVES: usize = 3;

/// Input of `recommend-instance-type`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendInstanceTypeInput {
    /// Memory the run needs in MiB, before headroom (e.g.
    /// `memory.memory_mb_required` of `estimate-training-cost`), 1 to 16 TiB.
    pub memory_mb_required: u64,
    /// At least this many vCPUs (default 1).
    #[serde(default)]
    pub vcpus: Option<u32>,
    /// The instance type the run failed on (e.g. out of memory): the
    /// recommendation then has strictly more memory than it.
    #[serde(default)]
    pub current_instance_type: Option<String>,
}

/// Output of `recommend-instance-type`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InstanceRecommendation {
    /// The cheapest instance type that fits.
    pub instance_type: InstanceType,
    pub memory_mb_required: u64,
    /// Required memory × headroom, rounded up: the instance has at least this.
    pub memory_mb_with_headroom: u64,
    pub memory_headroom: f64,
    pub vcpus_required: u32,
    /// The instance the run failed on, when one was given.
    pub current_instance_type: Option<InstanceType>,
    /// The next cheapest types that also fit.
    pub alternatives: Vec<InstanceType>,
    /// Why this one, in a sentence.
    pub reason: String,
    /// Prices are the agent's configured table, not live cloud prices.
    pub price_note: String,
}

/// A checked request.
#[derive(Debug, Clone)]
pub struct RecommendRequest {
    pub memory_mb_required: u64,
    pub vcpus: u32,
    pub current: Option<InstanceType>,
}

impl RecommendInstanceTypeInput {
    pub fn check(self, settings: &CostSettings) -> Result<RecommendRequest, SkillError> {
        if !(1..=MAX_MEMORY_MB).contains(&self.memory_mb_required) {
            return Err(SkillError::bad_field(
                "memory_mb_required",
                format!(
                    "must be 1 to {MAX_MEMORY_MB} (MiB), got {}",
                    self.memory_mb_required
                ),
            ));
        }
        let vcpus = self.vcpus.unwrap_or(1);
        if !(1..=1024).contains(&vcpus) {
            return Err(SkillError::bad_field(
                "vcpus",
                format!("must be 1 to 1024, got {vcpus}"),
            ));
        }
        let current = self
            .current_instance_type
            .map(|name| {
                settings.prices.get(&name).cloned().ok_or_else(|| {
                    SkillError::bad_field(
                        "current_instance_type",
                        format!(
                            "{name:?} is not in the price table; use one of {}",
                            settings.prices.names().join(", ")
                        ),
                    )
                })
            })
            .transpose()?;
        Ok(RecommendRequest {
            memory_mb_required: self.memory_mb_required,
            vcpus,
            current,
        })
    }
}

/// The recommendation, or a failure that says why nothing fits.
pub fn recommend(
    settings: &CostSettings,
    request: &RecommendRequest,
) -> Result<InstanceRecommendation, SkillError> {
    let needed = with_headroom(request.memory_mb_required, settings.memory_headroom);
    let fits = settings.prices.fits(FitRequest {
        min_memory_mb: needed,
        min_vcpus: request.vcpus,
        larger_than: request.current.as_ref(),
    });
    let Some(best) = fits.first() else {
        let largest = settings.prices.largest();
        let mut reason = format!(
            "no instance type has {needed} MiB ({} MiB × headroom {}) and {} vCPUs",
            request.memory_mb_required, settings.memory_headroom, request.vcpus
        );
        if let Some(current) = &request.current {
            reason.push_str(&format!(
                " with more memory than {} ({} MiB)",
                current.name, current.memory_mb
            ));
        }
        reason.push_str(&format!(
            "; the largest is {} with {} MiB and {} vCPUs",
            largest.name, largest.memory_mb, largest.vcpus
        ));
        return Err(SkillError::failed_with(
            reason,
            serde_json::json!({
                "memory_mb_required": request.memory_mb_required,
                "memory_mb_with_headroom": needed,
                "vcpus_required": request.vcpus,
                "current_instance_type": request.current,
                "largest_instance_type": largest,
                "instance_types": settings.prices.all(),
            }),
        ));
    };
    let reason = match &request.current {
        Some(current) => format!(
            "{} is the cheapest type with more memory than {} ({} > {} MiB) and at least {needed} MiB and {} vCPUs",
            best.name, current.name, best.memory_mb, current.memory_mb, request.vcpus
        ),
        None => format!(
            "{} is the cheapest type with at least {needed} MiB ({} MiB × headroom {}) and {} vCPUs",
            best.name, request.memory_mb_required, settings.memory_headroom, request.vcpus
        ),
    };
    Ok(InstanceRecommendation {
        instance_type: (*best).clone(),
        memory_mb_required: request.memory_mb_required,
        memory_mb_with_headroom: needed,
        memory_headroom: settings.memory_headroom,
        vcpus_required: request.vcpus,
        current_instance_type: request.current.clone(),
        alternatives: fits
            .iter()
            .skip(1)
            .take(ALTERNATIVES)
            .map(|t| (*t).clone())
            .collect(),
        reason,
        price_note:
            "prices come from the cost agent's configured price table, not live cloud prices".into(),
    })
}

/// Runs `recommend-instance-type`.
pub fn recommend_instance_type(
    settings: &CostSettings,
    request: &RecommendRequest,
) -> Result<SkillOutcome, SkillError> {
    let recommendation = recommend(settings, request)?;
    let summary = format!(
        "{} (${:.4}/h, {} MiB, {} vCPUs): {}",
        recommendation.instance_type.name,
        recommendation.instance_type.price_per_hour_usd,
        recommendation.instance_type.memory_mb,
        recommendation.instance_type.vcpus,
        recommendation.reason
    );
    Ok(SkillOutcome::single(
        "instance-recommendation",
        recommendation,
        summary,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CostConfig;
    use serde_json::{Value, json};

    fn settings() -> CostSettings {
        CostConfig::default().check().unwrap()
    }

    fn run(input: Value) -> Result<InstanceRecommendation, SkillError> {
        let settings = settings();
        let request =
            mlops_agent_kit::parse_input::<RecommendInstanceTypeInput>(input)?.check(&settings)?;
        recommend(&settings, &request)
    }

    #[test]
    fn cheapest_fit_with_headroom() {
        // 3300 MiB × 1.25 = 4125 MiB: just over cpu-small's 4096.
        let r = run(json!({"memory_mb_required": 3300})).unwrap();
        assert_eq!(r.instance_type.name, "cpu-medium");
        assert_eq!(r.memory_mb_with_headroom, 4125);
        let r = run(json!({"memory_mb_required": 3000})).unwrap();
        assert_eq!(r.instance_type.name, "cpu-small");
        assert!(!r.alternatives.is_empty());
        assert!(
            r.alternatives
                .iter()
                .all(|a| a.price_per_hour_usd >= r.instance_type.price_per_hour_usd)
        );
    }

    #[test]
    fn after_oom_the_choice_is_strictly_larger() {
        let r =
            run(json!({"memory_mb_required": 100, "current_instance_type": "cpu-small"})).unwrap();
        assert_eq!(r.instance_type.name, "cpu-medium");
        assert!(r.instance_type.memory_mb > 4096);
        let r =
            run(json!({"memory_mb_required": 100, "current_instance_type": "cpu-large"})).unwrap();
        assert!(r.instance_type.memory_mb > 16 * 1024, "{r:?}");
        assert_eq!(r.instance_type.name, "mem-medium");
    }

    #[test]
    fn nothing_fits_is_a_failure_with_a_reason() {
        for input in [
            json!({"memory_mb_required": 60_000}),
            json!({"memory_mb_required": 100, "current_instance_type": "mem-large"}),
            json!({"memory_mb_required": 100, "vcpus": 64}),
        ] {
            match run(input.clone()) {
                Err(SkillError::Failed { reason, evidence }) => {
                    assert!(reason.contains("no instance type"), "{reason}");
                    assert!(reason.contains("mem-large"), "{reason}");
                    assert!(evidence.is_some());
                }
                other => panic!("{input}: expected a failure, got {other:?}"),
            }
        }
    }

    #[test]
    fn bad_input_names_the_field() {
        let reason = |input: Value| match run(input) {
            Err(SkillError::Rejected(reason)) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        };
        assert!(reason(json!({"memory_mb_required": 0})).contains("`memory_mb_required`"));
        assert!(reason(json!({"memory_mb_required": "lots"})).contains("memory_mb_required"));
        assert!(reason(json!({})).contains("memory_mb_required"));
        assert!(reason(json!({"memory_mb_required": 1, "vcpus": 0})).contains("`vcpus`"));
        assert!(
            reason(json!({"memory_mb_required": 1, "current_instance_type": "x1"}))
                .contains("`current_instance_type`")
        );
    }
}
