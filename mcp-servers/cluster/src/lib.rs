//! The cluster MCP server (the Kubernetes role): deployments of model
//! versions, their replicas, the traffic split between versions, and fault
//! injection for canary drills.
//!
//! The desired state lives in Postgres ([`state`]); a [`ClusterBackend`]
//! makes the world match it. Every tool changes the desired state in one
//! transaction and then reconciles, so it answers with what actually runs.
//! A background loop reconciles every few seconds too, which brings back
//! crashed replicas and, after a restart of this server, every process.
//!
//! Scopes: `cluster:write` changes deployments; `cluster:read` reads them
//! (ARCHITECTURE §4: the deployment agent writes, monitoring reads).

pub mod backend;
pub mod kubernetes;
pub mod local;
pub mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mlops_mcp_kit::{AuditLog, Caller, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_service_auth::access::scope::{CLUSTER_READ, CLUSTER_WRITE};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, JsonObject, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use sqlx::PgPool;

pub use backend::{BackendError, ClusterBackend, RuntimeStatus};
pub use kubernetes::{GatewayRef, KubernetesBackend, KubernetesConfig};
pub use local::{LocalBackend, LocalConfig};
pub use state::{Deployment, ModelState};

pub const SERVER: &str = "cluster";

/// Replicas per version, at most.
pub const MAX_REPLICAS: i32 = 16;
/// How often the background loop reconciles.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(3);

pub fn policy() -> ToolPolicy {
    ToolPolicy::new(&[
        ("apply_deployment", CLUSTER_WRITE),
        ("set_traffic_split", CLUSTER_WRITE),
        ("scale_deployment", CLUSTER_WRITE),
        ("delete_deployment", CLUSTER_WRITE),
        ("rollout_restart", CLUSTER_WRITE),
        ("inject_fault", CLUSTER_WRITE),
        ("get_deployment_status", CLUSTER_READ),
    ])
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyDeployment {
    /// Model name, e.g. "fraud-detector".
    pub model: String,
    /// The registry version number being deployed.
    pub version: i32,
    /// Object key of the model artifact (the registry's artifact_uri), e.g.
    /// "storage://models/<job>/model.json" (a bare key works too).
    pub artifact_uri: String,
    /// Replicas, 1-16 (default 1).
    #[serde(default)]
    pub replicas: Option<i32>,
    /// The dataset version this model version was trained on; observers
    /// check live traffic against it for drift. Kept when omitted later.
    #[serde(default)]
    pub reference: Option<state::DatasetReference>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTrafficSplit {
    pub model: String,
    /// Version → percent of traffic, e.g. {"1": 90, "2": 10}. Each 0-100,
    /// summing to 100; deployed versions not listed get 0.
    pub weights: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelVersionRef {
    pub model: String,
    pub version: i32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleDeployment {
    pub model: String,
    pub version: i32,
    /// Replicas, 0-16. Zero is refused while the version takes traffic.
    pub replicas: i32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InjectFault {
    pub model: String,
    pub version: i32,
    /// Share of the version's requests answered 500, 0-1. 0 clears it.
    #[serde(default)]
    pub error_share: f64,
    /// Latency added to each of the version's requests, 0-30000 ms.
    #[serde(default)]
    pub added_latency_ms: i32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetDeploymentStatus {
    /// One model, or every model when omitted.
    #[serde(default)]
    pub model: Option<String>,
}

/// The cluster server; cheap to clone.
#[derive(Clone)]
pub struct ClusterServer {
    kit: Arc<ToolKit>,
    backend: Arc<dyn ClusterBackend>,
    datasets: DatasetStore,
    pool: PgPool,
    tool_router: ToolRouter<Self>,
}

fn model_name(raw: &str) -> Result<String, ToolError> {
    mlops_mcp_kit::slug("model name", raw, 63)
}

fn version_number(version: i32) -> Result<i32, ToolError> {
    if version < 1 {
        return Err(ToolError::Invalid(format!(
            "version {version} must be a registry version number (1 or more)"
        )));
    }
    Ok(version)
}

fn replica_count(replicas: i32, min: i32) -> Result<i32, ToolError> {
    if !(min..=MAX_REPLICAS).contains(&replicas) {
        return Err(ToolError::Invalid(format!(
            "replicas {replicas} must be between {min} and {MAX_REPLICAS}"
        )));
    }
    Ok(replicas)
}

/// Checks a split: versions are numbers, weights 0..=100 summing to 100.
pub fn parse_weights(raw: &BTreeMap<String, i64>) -> Result<BTreeMap<i32, i32>, ToolError> {
    if raw.is_empty() {
        return Err(ToolError::Invalid(
            "weights is empty; give version → percent, summing to 100".into(),
        ));
    }
    let mut weights = BTreeMap::new();
    for (version, weight) in raw {
        let v: i32 =
            version.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
                ToolError::Invalid(format!("{version:?} is not a version number"))
            })?;
        if !(0..=100).contains(weight) {
            return Err(ToolError::Invalid(format!(
                "weight {weight} for version {v} is outside 0..100"
            )));
        }
        weights.insert(v, *weight as i32);
    }
    let total: i32 = weights.values().sum();
    if total != 100 {
        return Err(ToolError::Invalid(format!(
            "weights sum to {total}; they must sum to 100"
        )));
    }
    Ok(weights)
}

impl ClusterServer {
    pub fn new(backend: Arc<dyn ClusterBackend>, datasets: DatasetStore, pool: PgPool) -> Self {
        ClusterServer {
            kit: Arc::new(ToolKit::new(
                SERVER,
                policy(),
                Some(AuditLog::new(pool.clone(), SERVER)),
            )),
            backend,
            datasets,
            pool,
            tool_router: Self::tool_router(),
        }
    }

    pub fn kit(&self) -> &ToolKit {
        &self.kit
    }

    /// Reconciles every model now and then every [`RECONCILE_EVERY`], until
    /// the returned task is aborted.
    pub fn spawn_reconciler(&self) -> tokio::task::JoinHandle<()> {
        let server = self.clone();
        tokio::spawn(async move {
            loop {
                server.reconcile_all().await;
                tokio::time::sleep(RECONCILE_EVERY).await;
            }
        })
    }

    pub async fn reconcile_all(&self) {
        let desired = match state::all_models(&self.pool).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the desired state");
                return;
            }
        };
        for model in &desired {
            if let Err(e) = self.backend.reconcile(model).await {
                tracing::warn!(model = %model.model, error = %e, "reconcile failed; will retry");
            }
        }
        for running in self.backend.models().await {
            if !desired.iter().any(|m| m.model == running)
                && let Err(e) = self.backend.remove(&running).await
            {
                tracing::warn!(model = %running, error = %e, "cannot stop a removed model");
            }
        }
    }

    /// After a change: converge, then describe what runs.
    async fn converge(
        &self,
        desired: Option<&ModelState>,
        model: &str,
    ) -> Result<serde_json::Value, ToolError> {
        let outcome = match desired {
            Some(state) => self.backend.reconcile(state).await,
            None => self.backend.remove(model).await,
        };
        let runtime = self.backend.status(model).await;
        let mut out = serde_json::json!({
            "model": model,
            "desired": desired,
            "runtime": runtime,
        });
        if let Err(e) = outcome {
            // The change is recorded and the background loop keeps trying;
            // say so rather than pretending it failed to apply.
            out["pending"] = serde_json::Value::String(e.to_string());
        }
        Ok(out)
    }

    /// Refuses an artifact that is missing or is not a model before any
    /// state changes, so a bad deploy never reaches the desired state.
    async fn check_artifact(&self, uri: &str) -> Result<String, ToolError> {
        // The trainer records `storage://<key>`; a bare key works too.
        let key = uri.strip_prefix("storage://").unwrap_or(uri);
        let key = ObjectKey::parse(key)?;
        let bytes = self.datasets.read_object(&key).await.map_err(|e| match e {
            ToolError::NotFound(_) => ToolError::NotFound(format!("no model artifact at {uri:?}")),
            other => other,
        })?;
        mlops_models::Model::from_bytes(&bytes)
            .map_err(|e| ToolError::Invalid(format!("{uri:?} is not a model artifact: {e}")))?;
        Ok(key.as_str().to_owned())
    }

    fn summary(verb: &str, state: &ModelState) -> String {
        let split: Vec<String> = state
            .deployments
            .iter()
            .map(|d| format!("v{}={}%×{}", d.version, d.weight, d.replicas))
            .collect();
        format!("{} {verb}: {}", state.model, split.join(", "))
    }
}

#[tool_router]
impl ClusterServer {
    /// Deploys a model version: starts its model servers (and the model's
    /// router on first deploy). A model's first version takes all traffic;
    /// later versions start at 0% until set_traffic_split.
    #[tool(name = "apply_deployment", input_schema = input_schema::<ApplyDeployment>())]
    async fn apply_deployment(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "apply_deployment",
                raw,
                async |args: ApplyDeployment, caller: &Caller| {
                    let model = model_name(&args.model)?;
                    let version = version_number(args.version)?;
                    let replicas = replica_count(args.replicas.unwrap_or(1), 1)?;
                    let key = self.check_artifact(&args.artifact_uri).await?;
                    if let Some(reference) = &args.reference {
                        mlops_mcp_storage::keys::dataset_name(&reference.dataset)?;
                        let hex = reference.version.trim_start_matches("sha256:");
                        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                            return Err(ToolError::Invalid(
                                "reference.version must be a dataset version: 64 hex digits (sha256)"
                                    .into(),
                            ));
                        }
                    }
                    let (state, created) = state::apply(
                        &self.pool,
                        &model,
                        version,
                        &key,
                        replicas,
                        args.reference.as_ref(),
                        &caller.id(),
                    )
                    .await?;
                    let data = self.converge(Some(&state), &model).await?;
                    let verb = if created { "deployed" } else { "updated" };
                    Ok(ToolOutput::new(Self::summary(verb, &state), data))
                },
            )
            .await
    }

    /// Sets the traffic split between a model's deployed versions.
    #[tool(name = "set_traffic_split", input_schema = input_schema::<SetTrafficSplit>())]
    async fn set_traffic_split(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "set_traffic_split",
                raw,
                async |args: SetTrafficSplit, _caller: &Caller| {
                    let model = model_name(&args.model)?;
                    let weights = parse_weights(&args.weights)?;
                    let state = state::set_split(&self.pool, &model, &weights).await?;
                    let data = self.converge(Some(&state), &model).await?;
                    Ok(ToolOutput::new(Self::summary("split", &state), data))
                },
            )
            .await
    }

    /// Changes a version's replica count.
    #[tool(name = "scale_deployment", input_schema = input_schema::<ScaleDeployment>())]
    async fn scale_deployment(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "scale_deployment",
                raw,
                async |args: ScaleDeployment, _caller: &Caller| {
                    let model = model_name(&args.model)?;
                    let version = version_number(args.version)?;
                    let replicas = replica_count(args.replicas, 0)?;
                    let state = state::scale(&self.pool, &model, version, replicas).await?;
                    let data = self.converge(Some(&state), &model).await?;
                    Ok(ToolOutput::new(Self::summary("scaled", &state), data))
                },
            )
            .await
    }

    /// Removes a version (refused while it takes traffic and others
    /// remain); removing the last version removes the model's router.
    #[tool(name = "delete_deployment", input_schema = input_schema::<ModelVersionRef>())]
    async fn delete_deployment(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "delete_deployment",
                raw,
                async |args: ModelVersionRef, _caller: &Caller| {
                    let model = model_name(&args.model)?;
                    let version = version_number(args.version)?;
                    let state = state::delete(&self.pool, &model, version).await?;
                    let data = self.converge(state.as_ref(), &model).await?;
                    let summary = match &state {
                        Some(s) => Self::summary(&format!("v{version} deleted"), s),
                        None => {
                            format!("{model} v{version} deleted; {model} has no deployment left")
                        }
                    };
                    Ok(ToolOutput::new(summary, data))
                },
            )
            .await
    }

    /// Replaces a version's replicas one at a time, keeping it serving.
    #[tool(name = "rollout_restart", input_schema = input_schema::<ModelVersionRef>())]
    async fn rollout_restart(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "rollout_restart",
                raw,
                async |args: ModelVersionRef, _caller: &Caller| {
                    let model = model_name(&args.model)?;
                    let version = version_number(args.version)?;
                    let state = state::restart(&self.pool, &model, version).await?;
                    let data = self.converge(Some(&state), &model).await?;
                    Ok(ToolOutput::new(
                        Self::summary(&format!("v{version} restarted"), &state),
                        data,
                    ))
                },
            )
            .await
    }

    /// Makes a version fail a share of requests and/or respond slower, for
    /// canary drills; zeros clear the fault.
    #[tool(name = "inject_fault", input_schema = input_schema::<InjectFault>())]
    async fn inject_fault(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "inject_fault",
                raw,
                async |args: InjectFault, _caller: &Caller| {
                    let model = model_name(&args.model)?;
                    let version = version_number(args.version)?;
                    if !(0.0..=1.0).contains(&args.error_share) {
                        return Err(ToolError::Invalid(format!(
                            "error_share {} must be between 0 and 1",
                            args.error_share
                        )));
                    }
                    if !(0..=30_000).contains(&args.added_latency_ms) {
                        return Err(ToolError::Invalid(format!(
                            "added_latency_ms {} must be between 0 and 30000",
                            args.added_latency_ms
                        )));
                    }
                    let state = state::set_fault(
                        &self.pool,
                        &model,
                        version,
                        args.error_share,
                        args.added_latency_ms,
                    )
                    .await?;
                    let data = self.converge(Some(&state), &model).await?;
                    Ok(ToolOutput::new(
                        format!(
                            "{model} v{version}: {}% errors, +{} ms",
                            args.error_share * 100.0,
                            args.added_latency_ms
                        ),
                        data,
                    ))
                },
            )
            .await
    }

    /// Desired and running state of one model, or of every model.
    #[tool(name = "get_deployment_status", input_schema = input_schema::<GetDeploymentStatus>())]
    async fn get_deployment_status(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_deployment_status",
                raw,
                async |args: GetDeploymentStatus, _caller: &Caller| {
                    let states = match args.model.as_deref() {
                        Some(raw) => {
                            let model = model_name(raw)?;
                            vec![state::model_state(&self.pool, &model).await?.ok_or_else(
                                || {
                                    ToolError::NotFound(format!(
                                        "model {model:?} has no deployment"
                                    ))
                                },
                            )?]
                        }
                        None => state::all_models(&self.pool).await?,
                    };
                    let mut models = Vec::new();
                    for s in &states {
                        models.push(serde_json::json!({
                            "model": s.model,
                            "desired": s,
                            "runtime": self.backend.status(&s.model).await,
                        }));
                    }
                    let summary = states
                        .iter()
                        .map(|s| Self::summary("is", s))
                        .collect::<Vec<_>>()
                        .join("; ");
                    Ok(ToolOutput::new(
                        if summary.is_empty() {
                            "no deployments".into()
                        } else {
                            summary
                        },
                        serde_json::json!({ "backend": self.backend.name(), "models": models }),
                    ))
                },
            )
            .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ClusterServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mlops-cluster",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Deployments of model versions: start model servers, split traffic between \
                 versions through each model's router, scale, restart, delete, and inject \
                 faults for canary drills.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_must_be_versions_in_range_summing_to_100() {
        let w = |pairs: &[(&str, i64)]| {
            parse_weights(&pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
        };
        assert_eq!(
            w(&[("1", 90), ("2", 10)]).unwrap(),
            BTreeMap::from([(1, 90), (2, 10)])
        );
        let err = |pairs: &[(&str, i64)]| w(pairs).unwrap_err().to_string();
        assert!(err(&[]).contains("empty"));
        assert!(err(&[("1", 90), ("2", 20)]).contains("sum to 110"));
        assert!(err(&[("1", 110), ("2", -10)]).contains("outside 0..100"));
        assert!(err(&[("one", 100)]).contains("not a version number"));
        assert!(err(&[("0", 100)]).contains("not a version number"));
    }
}
