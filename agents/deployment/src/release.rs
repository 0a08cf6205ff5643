//! The steps every release skill is made of, each idempotent: it reads
//! the current state first and changes only what differs, recording each
//! change it makes. Re-running a skill therefore repeats no side effect.

use std::collections::BTreeMap;
use std::time::Instant;

use mlops_agent_kit::{SkillContext, SkillError};
use serde_json::json;

use crate::cluster::{ClusterStatus, ModelDeployments, describe_split, split_arguments};
use crate::config::DeploymentConfig;
use crate::contract::ModelName;
use crate::registry::{Aliases, ModelList, RegistryVersion};

const REGISTRY: &str = "registry";
const CLUSTER: &str = "cluster";

/// One skill run's work on one model.
pub struct Release<'a> {
    ctx: &'a SkillContext,
    config: &'a DeploymentConfig,
    pub model: &'a ModelName,
    /// What this run changed, in order.
    pub changes: Vec<String>,
}

impl<'a> Release<'a> {
    pub fn new(ctx: &'a SkillContext, config: &'a DeploymentConfig, model: &'a ModelName) -> Self {
        Release {
            ctx,
            config,
            model,
            changes: Vec::new(),
        }
    }

    pub fn config(&self) -> &DeploymentConfig {
        self.config
    }

    pub fn progress(&self, text: impl AsRef<str>) {
        self.ctx.progress(text);
    }

    fn changed(&mut self, what: String) {
        self.ctx.progress(&what);
        self.changes.push(what);
    }

    // --- reading -----------------------------------------------------------

    /// The model's deployments; an empty state when it has none.
    pub async fn status(&self) -> Result<ModelDeployments, SkillError> {
        // Every model at once: asking for one model that has no deployment
        // is an error, and "none yet" is a normal answer here.
        let all: ClusterStatus = self
            .ctx
            .mcp_as(CLUSTER, "get_deployment_status", json!({}))
            .await?;
        Ok(all
            .models
            .into_iter()
            .find(|m| m.model == self.model.as_str())
            .unwrap_or_else(|| ModelDeployments::none(self.model.as_str())))
    }

    /// The model's aliases; fails when the model is not registered.
    pub async fn aliases(&self) -> Result<Aliases, SkillError> {
        let list: ModelList = self.ctx.mcp_as(REGISTRY, "list_models", json!({})).await?;
        list.models
            .iter()
            .find(|m| m.name == self.model.as_str())
            .map(Aliases::from_summary)
            .ok_or_else(|| {
                SkillError::failed(format!(
                    "model {:?} is not registered in the registry",
                    self.model.as_str()
                ))
            })
    }

    /// A registry version that may be deployed: it exists, is active and
    /// has an artifact.
    pub async fn deployable_version(&self, version: i32) -> Result<RegistryVersion, SkillError> {
        let found: RegistryVersion = self
            .ctx
            .mcp_as(
                REGISTRY,
                "get_model_version",
                json!({ "model": self.model.as_str(), "version": version }),
            )
            .await?;
        found.deployability().map_err(SkillError::failed)?;
        Ok(found)
    }

    // --- deployments -------------------------------------------------------

    /// Makes `version` deployed from its registry artifact, with `wanted`
    /// replicas when given (else as deployed, else `fallback`), recording
    /// its training data as the drift reference. No call when already so.
    pub async fn ensure_deployed(
        &mut self,
        status: ModelDeployments,
        version: &RegistryVersion,
        wanted: Option<i32>,
        fallback: i32,
    ) -> Result<ModelDeployments, SkillError> {
        let reference = version.reference();
        let current = status.deployment(version.version);
        let replicas = wanted.or(current.map(|d| d.replicas)).unwrap_or(fallback);
        let up_to_date = current.is_some_and(|d| {
            d.replicas == replicas && (reference.is_none() || d.reference == reference)
        });
        if up_to_date {
            return Ok(status);
        }
        if reference.is_none() {
            self.progress(format!(
                "v{} records no params.dataset with its dataset digest; deploying it without a drift reference",
                version.version
            ));
        }
        let mut args = json!({
            "model": self.model.as_str(),
            "version": version.version,
            "artifact_uri": version.artifact_uri,
            "replicas": replicas,
        });
        if let Some(reference) = &reference {
            args["reference"] = json!(reference);
        }
        let after: ModelDeployments = self.ctx.mcp_as(CLUSTER, "apply_deployment", args).await?;
        let verb = if current.is_some() {
            "updated"
        } else {
            "started"
        };
        self.changed(format!(
            "{verb} v{} ({replicas} replica{}) from {}",
            version.version,
            if replicas == 1 { "" } else { "s" },
            version.artifact_uri
        ));
        if let Some(pending) = &after.pending {
            self.progress(format!("the cluster is still converging: {pending}"));
        }
        Ok(after)
    }

    /// Waits until every replica of `version` is ready and the router is
    /// up; fails with the last status as evidence after the configured
    /// timeout.
    pub async fn wait_ready(
        &self,
        status: ModelDeployments,
        version: i32,
    ) -> Result<ModelDeployments, SkillError> {
        let started = Instant::now();
        let mut status = status;
        let mut last_ready = None;
        loop {
            if status.is_ready(version) {
                return Ok(status);
            }
            let Some(desired) = status.deployment(version) else {
                return Err(SkillError::failed(format!(
                    "v{version} of {} is not deployed (removed while waiting for it)",
                    self.model
                )));
            };
            let ready = status.ready_replicas(version);
            if last_ready != Some(ready) {
                self.progress(format!(
                    "waiting for v{version}: {ready}/{} replicas ready",
                    desired.replicas
                ));
                last_ready = Some(ready);
            }
            if started.elapsed() >= self.config.ready_timeout() {
                return Err(SkillError::failed_with(
                    format!(
                        "v{version} of {} was not ready within {} s ({ready}/{} replicas ready)",
                        self.model, self.config.ready_timeout_seconds, desired.replicas
                    ),
                    json!({
                        "model": self.model.as_str(),
                        "version": version,
                        "replicas": desired.replicas,
                        "ready_replicas": ready,
                        "endpoint": status.runtime.endpoint,
                        "pending": status.pending,
                    }),
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval()) => {}
                _ = self.ctx.canceled() => return Err(SkillError::Canceled),
            }
            status = self.status().await?;
        }
    }

    /// [`Release::ensure_deployed`], then [`Release::wait_ready`].
    pub async fn ensure_running(
        &mut self,
        status: ModelDeployments,
        version: &RegistryVersion,
        wanted: Option<i32>,
        fallback: i32,
    ) -> Result<ModelDeployments, SkillError> {
        let status = self
            .ensure_deployed(status, version, wanted, fallback)
            .await?;
        self.wait_ready(status, version.version).await
    }

    /// Makes `version` (the stable version, taking traffic) deployed and
    /// ready; starts it from the registry when it is missing, e.g. after a
    /// promotion retired it and is now rolled back.
    pub async fn ensure_stable(
        &mut self,
        status: ModelDeployments,
        version: i32,
        fallback_replicas: i32,
    ) -> Result<ModelDeployments, SkillError> {
        let status = if status.is_deployed(version) {
            status
        } else {
            self.progress(format!(
                "stable v{version} is not deployed; starting it from the registry"
            ));
            let registered = self.deployable_version(version).await?;
            self.ensure_deployed(status, &registered, None, fallback_replicas)
                .await?
        };
        self.wait_ready(status, version).await
    }

    /// Sets the split (version → percent; unlisted versions get 0) unless
    /// it is already in place.
    pub async fn ensure_split(
        &mut self,
        status: ModelDeployments,
        split: &BTreeMap<i32, i32>,
    ) -> Result<ModelDeployments, SkillError> {
        if status.has_split(split) {
            return Ok(status);
        }
        let before = describe_split(&status.split());
        let after: ModelDeployments = self
            .ctx
            .mcp_as(
                CLUSTER,
                "set_traffic_split",
                json!({ "model": self.model.as_str(), "weights": split_arguments(split) }),
            )
            .await?;
        self.changed(format!(
            "traffic {before} → {}",
            describe_split(&after.split())
        ));
        Ok(after)
    }

    /// Removes `version`'s deployment unless it is gone already.
    pub async fn ensure_removed(
        &mut self,
        status: ModelDeployments,
        version: i32,
    ) -> Result<ModelDeployments, SkillError> {
        if !status.is_deployed(version) {
            return Ok(status);
        }
        let after: ModelDeployments = self
            .ctx
            .mcp_as(
                CLUSTER,
                "delete_deployment",
                json!({ "model": self.model.as_str(), "version": version }),
            )
            .await?;
        self.changed(format!("removed the v{version} deployment"));
        Ok(after)
    }

    // --- aliases -----------------------------------------------------------

    /// Points `alias` at `version` unless it does already.
    pub async fn ensure_alias(
        &mut self,
        aliases: &Aliases,
        alias: &str,
        version: i32,
    ) -> Result<(), SkillError> {
        if aliases.get(alias) == Some(version) {
            return Ok(());
        }
        self.ctx
            .mcp(
                REGISTRY,
                "set_alias",
                json!({ "model": self.model.as_str(), "alias": alias, "version": version }),
            )
            .await?;
        match aliases.get(alias) {
            Some(before) => self.changed(format!("moved {alias} from v{before} to v{version}")),
            None => self.changed(format!("set {alias} to v{version}")),
        }
        Ok(())
    }

    /// Removes `alias` when it points at `version` (another version's alias
    /// is someone else's release and stays).
    pub async fn ensure_alias_removed(
        &mut self,
        aliases: &Aliases,
        alias: &str,
        version: i32,
    ) -> Result<(), SkillError> {
        if aliases.get(alias) != Some(version) {
            return Ok(());
        }
        self.ctx
            .mcp(
                REGISTRY,
                "delete_alias",
                json!({ "model": self.model.as_str(), "alias": alias }),
            )
            .await?;
        self.changed(format!("removed {alias} (was v{version})"));
        Ok(())
    }
}
