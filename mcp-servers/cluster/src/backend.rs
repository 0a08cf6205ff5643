//! What a cluster backend does: make the running world match a model's
//! desired state, and say what is running. `local` runs processes here; a
//! `kubernetes` backend would apply Deployments, Services and HTTPRoutes.

use serde::Serialize;

use crate::state::ModelState;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ReplicaStatus {
    pub ready: bool,
    pub url: String,
    pub pid: Option<u32>,
    pub restart_epoch: i32,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct VersionStatus {
    pub version: i32,
    pub replicas: Vec<ReplicaStatus>,
}

/// What a backend observes for one model.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct RuntimeStatus {
    pub backend: String,
    /// Where clients send predictions: the model's router.
    pub endpoint: Option<String>,
    pub versions: Vec<VersionStatus>,
}

#[async_trait::async_trait]
pub trait ClusterBackend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Converges the running world on `desired`. Idempotent; called after
    /// every change and periodically, so crashed replicas come back.
    async fn reconcile(&self, desired: &ModelState) -> Result<(), BackendError>;
    /// Stops everything of a model that no longer has a deployment.
    async fn remove(&self, model: &str) -> Result<(), BackendError>;
    async fn status(&self, model: &str) -> RuntimeStatus;
    /// Models the backend runs something for.
    async fn models(&self) -> Vec<String>;
}
