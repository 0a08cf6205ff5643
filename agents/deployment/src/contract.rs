//! What each skill consumes and produces (the card's schemas), and the
//! domain values inputs are parsed into, so an out-of-range weight or a
//! malformed model name cannot get past the edge.

use std::collections::BTreeMap;

use mlops_agent_kit::SkillError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Replicas per version the cluster accepts, at most.
pub const MAX_REPLICAS: i64 = 16;
/// Longest rollback reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

// ---------------------------------------------------------------------------
// Inputs, as the card shows them.

/// Whole numbers as they arrive in A2A data parts. A data part may travel
/// as a protobuf `Struct`, where every number is a double, so a client's
/// `2` can arrive as `2.0`; both mean 2. A fraction is refused.
mod whole {
    use serde::Deserializer;
    use serde::de::{Error, Visitor};

    struct WholeNumber;

    impl Visitor<'_> for WholeNumber {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<i64, E> {
            // `i64::MAX as f64` is 2^63 exactly; anything at or past it is out.
            if v.fract() == 0.0 && v.abs() < i64::MAX as f64 {
                Ok(v as i64)
            } else {
                Err(E::custom(format!("{v} is not a whole number")))
            }
        }
    }

    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(WholeNumber)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        struct Optional;
        impl<'de> Visitor<'de> for Optional {
            type Value = Option<i64>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number or null")
            }

            fn visit_none<E: Error>(self) -> Result<Option<i64>, E> {
                Ok(None)
            }

            fn visit_unit<E: Error>(self) -> Result<Option<i64>, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
                number(d).map(Some)
            }
        }
        d.deserialize_option(Optional)
    }
}

/// Input of `deploy-canary`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployCanaryInput {
    /// Registered model name, e.g. "fraud-detector".
    pub model: String,
    /// The registry version to start as the canary; the model's `champion`
    /// stays the stable version.
    #[serde(deserialize_with = "whole::number")]
    #[schemars(range(min = 1))]
    pub version: i64,
    /// Percent of traffic the canary takes, 1-99; the champion takes the rest.
    #[serde(deserialize_with = "whole::number")]
    #[schemars(range(min = 1, max = 99))]
    pub weight: i64,
    /// Canary replicas, 1-16. Default: what the version runs with already,
    /// else the agent's `default_replicas`.
    #[serde(default, deserialize_with = "whole::optional")]
    #[schemars(range(min = 1, max = 16))]
    pub replicas: Option<i64>,
}

/// Input of `set-traffic-weight`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTrafficWeightInput {
    pub model: String,
    /// The candidate version (deployed already, e.g. by `deploy-canary`).
    #[serde(deserialize_with = "whole::number")]
    #[schemars(range(min = 1))]
    pub version: i64,
    /// Percent of traffic the candidate takes, 0-100; the champion takes the rest.
    #[serde(deserialize_with = "whole::number")]
    #[schemars(range(min = 0, max = 100))]
    pub weight: i64,
}

/// Input of `deploy-blue-green`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBlueGreenInput {
    pub model: String,
    /// The registry version to start as green; the `champion` is blue.
    #[serde(deserialize_with = "whole::number")]
    #[schemars(range(min = 1))]
    pub version: i64,
    /// Green's replicas, 1-16. Default: blue's replica count, so the
    /// switch keeps capacity.
    #[serde(default, deserialize_with = "whole::optional")]
    #[schemars(range(min = 1, max = 16))]
    pub replicas: Option<i64>,
}

/// Input of `rollback-deployment`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackInput {
    pub model: String,
    /// The version being rolled back (the canary, green, or a champion
    /// promoted moments ago).
    #[serde(deserialize_with = "whole::number")]
    #[schemars(range(min = 1))]
    pub version: i64,
    /// Why, for the record (at most 1000 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Input of `promote-to-production`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteInput {
    pub model: String,
    /// The version that becomes the champion and takes all traffic. A
    /// version not deployed yet is started first (a model's first deploy).
    #[serde(deserialize_with = "whole::number")]
    #[schemars(range(min = 1))]
    pub version: i64,
    /// How long the previous versions keep running, without traffic, before
    /// they are retired; 0 retires them at once. Default: the agent's
    /// `grace_period_seconds`.
    #[serde(default, deserialize_with = "whole::optional")]
    #[schemars(range(min = 0))]
    pub grace_period_seconds: Option<i64>,
    /// Replicas when the version has to be started, 1-16. Default: the old
    /// champion's replica count, else the agent's `default_replicas`.
    #[serde(default, deserialize_with = "whole::optional")]
    #[schemars(range(min = 1, max = 16))]
    pub replicas: Option<i64>,
}

// ---------------------------------------------------------------------------
// Outputs.

/// One deployed version as the cluster runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServedVersion {
    pub version: i32,
    /// Percent of the model's traffic.
    pub weight: i32,
    /// Replicas asked for.
    pub replicas: i32,
    /// Replicas running and ready.
    pub ready_replicas: i32,
    /// The replicas' own URLs (behind the router).
    pub endpoints: Vec<String>,
}

/// How a model is served after a skill: where, and the split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServingState {
    pub model: String,
    /// The model's router; clients post predictions to
    /// `{endpoint}/v1/models/{model}:predict`. None when nothing is deployed.
    pub endpoint: Option<String>,
    /// Version → percent of traffic, e.g. {"1": 90, "2": 10}.
    pub split: BTreeMap<String, i32>,
    pub versions: Vec<ServedVersion>,
}

/// Output of `deploy-canary` and `set-traffic-weight`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CanaryOutcome {
    pub model: String,
    /// The champion, taking 100 - weight percent.
    pub stable_version: i32,
    pub candidate_version: i32,
    /// The candidate's percent of traffic.
    pub candidate_weight: i32,
    pub serving: ServingState,
    /// What this run changed, in order; empty when everything was already so.
    pub changes: Vec<String>,
}

/// Output of `deploy-blue-green`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BlueGreenOutcome {
    pub model: String,
    /// The champion: kept running without traffic, for rollback.
    pub blue_version: i32,
    /// The new version, taking all traffic.
    pub green_version: i32,
    pub serving: ServingState,
    pub changes: Vec<String>,
}

/// Output of `rollback-deployment`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RollbackOutcome {
    pub model: String,
    /// The version rolled back; its deployment is gone.
    pub rolled_back_version: i32,
    /// The version taking all traffic now, and the `champion`.
    pub stable_version: i32,
    pub reason: Option<String>,
    pub serving: ServingState,
    pub changes: Vec<String>,
}

/// Output of `promote-to-production`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PromotionOutcome {
    pub model: String,
    /// The `champion` now, taking all traffic.
    pub champion: i32,
    /// The `previous-champion` alias: where a rollback returns to.
    pub previous_champion: Option<i32>,
    pub grace_period_seconds: u64,
    /// Versions whose deployments this run removed after the grace period.
    pub retired_versions: Vec<i32>,
    /// Versions left running because they took traffic again meanwhile.
    pub kept_versions: Vec<i32>,
    pub serving: ServingState,
    pub changes: Vec<String>,
}

// ---------------------------------------------------------------------------
// Domain values.

/// A model name as the registry and cluster accept it:
/// `^[a-z][a-z0-9-]{0,62}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelName(String);

impl ModelName {
    pub fn parse(raw: &str) -> Result<Self, SkillError> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(ModelName(raw.to_owned()))
        } else {
            Err(SkillError::bad_field(
                "model",
                format!(
                    "{raw:?} must be 1-63 characters of a-z, 0-9 and '-', starting with a letter"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn version(raw: i64) -> Result<i32, SkillError> {
    i32::try_from(raw).ok().filter(|v| *v >= 1).ok_or_else(|| {
        SkillError::bad_field(
            "version",
            format!("{raw} must be a registry version number (1 or more)"),
        )
    })
}

fn weight(raw: i64, min: i64, max: i64) -> Result<i32, SkillError> {
    if (min..=max).contains(&raw) {
        Ok(raw as i32)
    } else {
        Err(SkillError::bad_field(
            "weight",
            format!("{raw} must be a percent between {min} and {max}"),
        ))
    }
}

fn replicas(raw: Option<i64>) -> Result<Option<i32>, SkillError> {
    match raw {
        None => Ok(None),
        Some(r) if (1..=MAX_REPLICAS).contains(&r) => Ok(Some(r as i32)),
        Some(r) => Err(SkillError::bad_field(
            "replicas",
            format!("{r} must be between 1 and {MAX_REPLICAS}"),
        )),
    }
}

/// `deploy-canary`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryRequest {
    pub model: ModelName,
    pub version: i32,
    pub weight: i32,
    pub replicas: Option<i32>,
}

impl CanaryRequest {
    pub fn parse(input: DeployCanaryInput) -> Result<Self, SkillError> {
        Ok(CanaryRequest {
            model: ModelName::parse(&input.model)?,
            version: version(input.version)?,
            // 0 and 100 are not canaries: 0 serves nothing and 100 is a
            // promotion, which moves the champion too.
            weight: weight(input.weight, 1, 99)?,
            replicas: replicas(input.replicas)?,
        })
    }
}

/// `set-traffic-weight`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightRequest {
    pub model: ModelName,
    pub version: i32,
    pub weight: i32,
}

impl WeightRequest {
    pub fn parse(input: SetTrafficWeightInput) -> Result<Self, SkillError> {
        Ok(WeightRequest {
            model: ModelName::parse(&input.model)?,
            version: version(input.version)?,
            weight: weight(input.weight, 0, 100)?,
        })
    }
}

/// `deploy-blue-green`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct BlueGreenRequest {
    pub model: ModelName,
    pub version: i32,
    pub replicas: Option<i32>,
}

impl BlueGreenRequest {
    pub fn parse(input: DeployBlueGreenInput) -> Result<Self, SkillError> {
        Ok(BlueGreenRequest {
            model: ModelName::parse(&input.model)?,
            version: version(input.version)?,
            replicas: replicas(input.replicas)?,
        })
    }
}

/// `rollback-deployment`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackRequest {
    pub model: ModelName,
    pub version: i32,
    pub reason: Option<String>,
}

impl RollbackRequest {
    pub fn parse(input: RollbackInput) -> Result<Self, SkillError> {
        let reason = match input.reason.map(|r| r.trim().to_owned()) {
            Some(r) if r.chars().count() > MAX_REASON_CHARS => {
                return Err(SkillError::bad_field(
                    "reason",
                    format!("must be at most {MAX_REASON_CHARS} characters"),
                ));
            }
            Some(r) if r.chars().any(|c| c.is_control() && c != '\n') => {
                return Err(SkillError::bad_field(
                    "reason",
                    "must be plain text (no control characters)",
                ));
            }
            Some(r) if r.is_empty() => None,
            other => other,
        };
        Ok(RollbackRequest {
            model: ModelName::parse(&input.model)?,
            version: version(input.version)?,
            reason,
        })
    }
}

/// `promote-to-production`, parsed; the grace period is checked against
/// the agent's configured maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct PromoteRequest {
    pub model: ModelName,
    pub version: i32,
    pub grace_period_seconds: u64,
    pub replicas: Option<i32>,
}

impl PromoteRequest {
    pub fn parse(
        input: PromoteInput,
        default_grace: u64,
        max_grace: u64,
    ) -> Result<Self, SkillError> {
        let grace = match input.grace_period_seconds {
            None => default_grace,
            Some(g) if g >= 0 && g as u64 <= max_grace => g as u64,
            Some(g) => {
                return Err(SkillError::bad_field(
                    "grace_period_seconds",
                    format!("{g} must be between 0 and {max_grace}"),
                ));
            }
        };
        Ok(PromoteRequest {
            model: ModelName::parse(&input.model)?,
            version: version(input.version)?,
            grace_period_seconds: grace,
            replicas: replicas(input.replicas)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(error: SkillError) -> String {
        match error {
            SkillError::Rejected(message) => message,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn whole_numbers_may_arrive_as_doubles() {
        let parse =
            |input: serde_json::Value| mlops_agent_kit::parse_input::<DeployCanaryInput>(input);
        let canary = parse(serde_json::json!({
            "model": "m", "version": 2.0, "weight": 10, "replicas": 2.0
        }))
        .unwrap();
        assert_eq!(
            (canary.version, canary.weight, canary.replicas),
            (2, 10, Some(2))
        );
        let canary = parse(serde_json::json!({
            "model": "m", "version": 2, "weight": 10, "replicas": null
        }))
        .unwrap();
        assert_eq!(canary.replicas, None);
        let message = rejection(
            parse(serde_json::json!({"model": "m", "version": 2, "weight": 10.5})).unwrap_err(),
        );
        assert!(
            message.contains("weight") && message.contains("whole"),
            "{message}"
        );
        let message = rejection(
            parse(serde_json::json!({"model": "m", "version": "2", "weight": 10})).unwrap_err(),
        );
        assert!(message.contains("version"), "{message}");
    }

    #[test]
    fn model_names_follow_the_registry() {
        assert!(ModelName::parse("fraud-detector").is_ok());
        for bad in ["", "Fraud", "9lives", "a/b", "a b", &"a".repeat(64)] {
            let message = rejection(ModelName::parse(bad).unwrap_err());
            assert!(message.contains("`model`"), "{message}");
        }
    }

    #[test]
    fn canary_weights_are_1_to_99() {
        let input = |weight| DeployCanaryInput {
            model: "fraud-detector".into(),
            version: 2,
            weight,
            replicas: None,
        };
        assert_eq!(CanaryRequest::parse(input(10)).unwrap().weight, 10);
        for bad in [0, 100, 150, -5] {
            let message = rejection(CanaryRequest::parse(input(bad)).unwrap_err());
            assert!(message.contains("`weight`"), "{message}");
            assert!(message.contains("between 1 and 99"), "{message}");
        }
    }

    #[test]
    fn traffic_weights_are_0_to_100() {
        let input = |weight| SetTrafficWeightInput {
            model: "m".into(),
            version: 2,
            weight,
        };
        assert_eq!(WeightRequest::parse(input(0)).unwrap().weight, 0);
        assert_eq!(WeightRequest::parse(input(100)).unwrap().weight, 100);
        let message = rejection(WeightRequest::parse(input(101)).unwrap_err());
        assert!(message.contains("`weight`"), "{message}");
    }

    #[test]
    fn versions_and_replicas_are_checked() {
        let message = rejection(
            BlueGreenRequest::parse(DeployBlueGreenInput {
                model: "m".into(),
                version: 0,
                replicas: None,
            })
            .unwrap_err(),
        );
        assert!(message.contains("`version`"), "{message}");
        let message = rejection(
            BlueGreenRequest::parse(DeployBlueGreenInput {
                model: "m".into(),
                version: i64::from(i32::MAX) + 1,
                replicas: None,
            })
            .unwrap_err(),
        );
        assert!(message.contains("`version`"), "{message}");
        let message = rejection(
            BlueGreenRequest::parse(DeployBlueGreenInput {
                model: "m".into(),
                version: 1,
                replicas: Some(17),
            })
            .unwrap_err(),
        );
        assert!(message.contains("`replicas`"), "{message}");
    }

    #[test]
    fn grace_periods_default_and_are_bounded() {
        let input = |grace| PromoteInput {
            model: "m".into(),
            version: 1,
            grace_period_seconds: grace,
            replicas: None,
        };
        assert_eq!(
            PromoteRequest::parse(input(None), 30, 600)
                .unwrap()
                .grace_period_seconds,
            30
        );
        assert_eq!(
            PromoteRequest::parse(input(Some(0)), 30, 600)
                .unwrap()
                .grace_period_seconds,
            0
        );
        for bad in [-1, 601] {
            let message = rejection(PromoteRequest::parse(input(Some(bad)), 30, 600).unwrap_err());
            assert!(message.contains("`grace_period_seconds`"), "{message}");
        }
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        let input = |reason: &str| RollbackInput {
            model: "m".into(),
            version: 2,
            reason: Some(reason.into()),
        };
        assert_eq!(
            RollbackRequest::parse(input("  canary errors  "))
                .unwrap()
                .reason
                .as_deref(),
            Some("canary errors")
        );
        assert_eq!(RollbackRequest::parse(input("   ")).unwrap().reason, None);
        let message = rejection(RollbackRequest::parse(input(&"x".repeat(1001))).unwrap_err());
        assert!(message.contains("`reason`"), "{message}");
    }
}
