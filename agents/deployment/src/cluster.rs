//! The cluster server's answers, read into types (tolerantly: fields this
//! agent does not use are ignored), and the pure decisions made on them:
//! what is deployed, what is ready, whether a split is already in place.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contract::{ServedVersion, ServingState};

/// The dataset a deployed version was trained on (`apply_deployment`'s
/// `reference`): what drift checks compare live traffic against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetReference {
    pub dataset: String,
    /// The dataset version: its sha256 content hash, 64 hex digits.
    pub version: String,
}

/// One version as desired (Postgres).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DesiredVersion {
    pub version: i32,
    #[serde(default)]
    pub artifact_key: String,
    pub replicas: i32,
    pub weight: i32,
    #[serde(default)]
    pub reference: Option<DatasetReference>,
    /// Bumped by every change to the version, traffic splits included.
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct DesiredState {
    #[serde(default)]
    pub deployments: Vec<DesiredVersion>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ReplicaRuntime {
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct VersionRuntime {
    pub version: i32,
    #[serde(default)]
    pub replicas: Vec<ReplicaRuntime>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Runtime {
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub versions: Vec<VersionRuntime>,
}

/// A model's deployments: what is desired and what runs. The shape of one
/// entry of `get_deployment_status` and of every changing tool's answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelDeployments {
    pub model: String,
    #[serde(default)]
    pub desired: Option<DesiredState>,
    #[serde(default)]
    pub runtime: Runtime,
    /// Set when the change is recorded but the backend has not converged.
    #[serde(default)]
    pub pending: Option<String>,
}

/// `get_deployment_status` without a model: every model.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterStatus {
    #[serde(default)]
    pub models: Vec<ModelDeployments>,
}

impl ModelDeployments {
    /// The state of a model with nothing deployed.
    pub fn none(model: &str) -> Self {
        ModelDeployments {
            model: model.to_owned(),
            desired: None,
            runtime: Runtime::default(),
            pending: None,
        }
    }

    pub fn deployments(&self) -> &[DesiredVersion] {
        self.desired
            .as_ref()
            .map(|d| d.deployments.as_slice())
            .unwrap_or_default()
    }

    pub fn deployment(&self, version: i32) -> Option<&DesiredVersion> {
        self.deployments().iter().find(|d| d.version == version)
    }

    pub fn is_deployed(&self, version: i32) -> bool {
        self.deployment(version).is_some()
    }

    pub fn ready_replicas(&self, version: i32) -> i32 {
        self.runtime
            .versions
            .iter()
            .find(|v| v.version == version)
            .map_or(0, |v| v.replicas.iter().filter(|r| r.ready).count() as i32)
    }

    /// Deployed, every desired replica ready, and the router up.
    pub fn is_ready(&self, version: i32) -> bool {
        match self.deployment(version) {
            Some(d) => {
                self.runtime.endpoint.is_some()
                    && d.replicas > 0
                    && self.ready_replicas(version) >= d.replicas
            }
            None => false,
        }
    }

    /// Whether every deployed version already has the weight `split` gives
    /// it (versions not in `split` get 0), and every version in `split` is
    /// deployed.
    pub fn has_split(&self, split: &BTreeMap<i32, i32>) -> bool {
        split.keys().all(|v| self.is_deployed(*v))
            && self
                .deployments()
                .iter()
                .all(|d| d.weight == split.get(&d.version).copied().unwrap_or(0))
    }

    /// Version → weight as deployed.
    pub fn split(&self) -> BTreeMap<i32, i32> {
        self.deployments()
            .iter()
            .map(|d| (d.version, d.weight))
            .collect()
    }

    pub fn serving(&self) -> ServingState {
        ServingState {
            model: self.model.clone(),
            endpoint: self.runtime.endpoint.clone(),
            split: self
                .deployments()
                .iter()
                .map(|d| (d.version.to_string(), d.weight))
                .collect(),
            versions: self
                .deployments()
                .iter()
                .map(|d| ServedVersion {
                    version: d.version,
                    weight: d.weight,
                    replicas: d.replicas,
                    ready_replicas: self.ready_replicas(d.version),
                    endpoints: self
                        .runtime
                        .versions
                        .iter()
                        .find(|v| v.version == d.version)
                        .map(|v| v.replicas.iter().map(|r| r.url.clone()).collect())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// A split as `set_traffic_split` takes it: only versions with traffic
/// are listed, since the cluster gives every unlisted version 0 (and a
/// version listed with 0 would have to be deployed).
pub fn split_arguments(split: &BTreeMap<i32, i32>) -> BTreeMap<String, i32> {
    split
        .iter()
        .filter(|(_, w)| **w > 0)
        .map(|(v, w)| (v.to_string(), *w))
        .collect()
}

/// A split for people: `v1=90% v2=10%`.
pub fn describe_split(split: &BTreeMap<i32, i32>) -> String {
    split
        .iter()
        .map(|(v, w)| format!("v{v}={w}%"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// When a version without traffic may be removed: a grace period after
/// its last change (the split that took its traffic away bumps it). An
/// unknown change time counts as now, which only waits longer.
pub fn retire_at(
    deployment: &DesiredVersion,
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    deployment.updated_at.unwrap_or(now).min(now) + grace
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status() -> ModelDeployments {
        serde_json::from_value(json!({
            "model": "fraud-detector",
            "desired": {"model": "fraud-detector", "generation": 4, "deployments": [
                {"version": 1, "artifact_key": "models/a/model.json", "replicas": 2, "weight": 90,
                 "error_share": 0.0, "added_latency_ms": 0, "restart_epoch": 0,
                 "reference": {"dataset": "transactions", "version": "ab"},
                 "updated_at": "2026-11-23T10:00:00Z"},
                {"version": 2, "artifact_key": "models/b/model.json", "replicas": 1, "weight": 10,
                 "error_share": 0.0, "added_latency_ms": 0, "restart_epoch": 0,
                 "updated_at": "2026-11-23T10:00:05Z"}
            ]},
            "runtime": {"backend": "local", "endpoint": "http://127.0.0.1:9000", "versions": [
                {"version": 1, "replicas": [
                    {"ready": true, "url": "http://127.0.0.1:9001", "pid": 1, "restart_epoch": 0},
                    {"ready": false, "url": "http://127.0.0.1:9002", "pid": 2, "restart_epoch": 0}]},
                {"version": 2, "replicas": [
                    {"ready": true, "url": "http://127.0.0.1:9003", "pid": 3, "restart_epoch": 0}]}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn readiness_counts_ready_replicas_against_desired() {
        let s = status();
        assert_eq!(s.ready_replicas(1), 1);
        assert!(!s.is_ready(1), "one of two replicas is down");
        assert!(s.is_ready(2));
        assert!(!s.is_ready(3), "not deployed");
        let mut no_router = s.clone();
        no_router.runtime.endpoint = None;
        assert!(!no_router.is_ready(2));
        assert_eq!(
            s.deployment(1).unwrap().reference,
            Some(DatasetReference {
                dataset: "transactions".into(),
                version: "ab".into()
            })
        );
    }

    #[test]
    fn splits_compare_with_unlisted_versions_at_zero() {
        let s = status();
        assert!(s.has_split(&BTreeMap::from([(1, 90), (2, 10)])));
        assert!(!s.has_split(&BTreeMap::from([(1, 50), (2, 50)])));
        assert!(!s.has_split(&BTreeMap::from([(1, 90), (3, 10)])));
        let mut all_v2 = s.clone();
        all_v2.desired.as_mut().unwrap().deployments[0].weight = 0;
        all_v2.desired.as_mut().unwrap().deployments[1].weight = 100;
        assert!(all_v2.has_split(&BTreeMap::from([(2, 100)])));
        assert_eq!(
            split_arguments(&BTreeMap::from([(1, 0), (2, 100)])),
            BTreeMap::from([("2".to_owned(), 100)])
        );
        assert_eq!(describe_split(&s.split()), "v1=90% v2=10%");
    }

    #[test]
    fn serving_state_lists_split_and_endpoints() {
        let serving = status().serving();
        assert_eq!(serving.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(serving.split["1"], 90);
        assert_eq!(serving.versions[0].ready_replicas, 1);
        assert_eq!(serving.versions[0].endpoints.len(), 2);
        let empty = ModelDeployments::none("m").serving();
        assert!(empty.split.is_empty() && empty.endpoint.is_none());
    }

    #[test]
    fn retirement_waits_a_grace_period_after_the_last_change() {
        let s = status();
        let changed: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let now = changed + chrono::Duration::seconds(10);
        let grace = chrono::Duration::seconds(30);
        assert_eq!(
            retire_at(s.deployment(1).unwrap(), grace, now),
            changed + grace
        );
        let mut unknown = s.deployment(1).unwrap().clone();
        unknown.updated_at = None;
        assert_eq!(retire_at(&unknown, grace, now), now + grace);
        // A change time in the future (clock skew) never stretches the wait
        // beyond the grace period.
        let mut future = unknown.clone();
        future.updated_at = Some(now + chrono::Duration::seconds(100));
        assert_eq!(retire_at(&future, grace, now), now + grace);
    }
}
