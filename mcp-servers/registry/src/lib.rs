//! The registry MCP server: models, versions with their metrics and lineage,
//! and the aliases (`champion`, `challenger`) that say which version serves.
//! Postgres (`registry` schema) is the backend; agents reach it only here.
//!
//! Scopes (ARCHITECTURE §4): reading needs `registry:read`; registering
//! models and versions and archiving need `registry:write` (the training
//! agent); moving aliases needs `registry:alias` (the deployment agent).

pub mod domain;
mod store;

use std::collections::BTreeMap;
use std::sync::Arc;

use mlops_mcp_kit::{
    AuditLog, Caller, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema, require_scope,
};
use mlops_service_auth::access::scope::{REGISTRY_ALIAS, REGISTRY_READ, REGISTRY_WRITE};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation,
    JsonObject, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::PgPool;

pub use store::{ModelSummary, ModelVersion, RegistryStore};

use domain::{Alias, ModelName};
use store::{NewVersion, VersionQuery};

/// The server's name: the audience of its tokens and its audit label.
pub const SERVER: &str = "registry";

/// Which scope each tool needs.
pub fn policy() -> ToolPolicy {
    ToolPolicy::new(&[
        ("register_model", REGISTRY_WRITE),
        ("create_model_version", REGISTRY_WRITE),
        ("archive_version", REGISTRY_WRITE),
        ("set_alias", REGISTRY_ALIAS),
        ("delete_alias", REGISTRY_ALIAS),
        ("get_model_version", REGISTRY_READ),
        ("list_models", REGISTRY_READ),
        ("search_versions", REGISTRY_READ),
        ("get_lineage", REGISTRY_READ),
    ])
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterModel {
    /// Model name: 1-63 characters of a-z, 0-9 and '-', starting with a letter.
    pub name: String,
    /// What the model predicts, for people.
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModelVersion {
    pub model: String,
    /// Hyperparameters the version was trained with.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Evaluation metrics, name → finite number (e.g. "auc": 0.91).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Content hash of the training dataset version ("sha256:…").
    pub dataset_version_digest: String,
    /// The trainer's run id.
    pub training_run_id: String,
    /// Where the artifact lives: storage://, s3:// or file://.
    pub artifact_uri: String,
    /// Hash of the training code and config ("sha256:…").
    #[serde(default)]
    pub code_digest: Option<String>,
    /// The column fairness checks group by.
    #[serde(default)]
    pub protected_attribute: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    pub model: String,
    /// e.g. "champion" or "challenger".
    pub alias: String,
    pub version: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAlias {
    pub model: String,
    pub alias: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRef {
    pub model: String,
    pub version: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetModelVersion {
    pub model: String,
    /// The version number; give this or `alias`.
    #[serde(default)]
    pub version: Option<u32>,
    /// An alias such as "champion"; give this or `version`.
    #[serde(default)]
    pub alias: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListModels {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchVersions {
    #[serde(default)]
    pub model: Option<String>,
    /// "active" or "archived".
    #[serde(default)]
    pub status: Option<String>,
    /// Only versions that report this metric, best first.
    #[serde(default)]
    pub metric: Option<String>,
    /// With `metric`: only versions whose value is at least this.
    #[serde(default)]
    pub min_value: Option<f64>,
    /// At most this many (1-100, default 20).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The registry server: one per connection; cheap to clone.
#[derive(Clone)]
pub struct RegistryServer {
    kit: Arc<ToolKit>,
    store: RegistryStore,
    tool_router: ToolRouter<Self>,
}

impl RegistryServer {
    /// A server over `pool`, auditing every call there too.
    pub fn new(pool: PgPool) -> Self {
        let kit = ToolKit::new(SERVER, policy(), Some(AuditLog::new(pool.clone(), SERVER)));
        RegistryServer {
            kit: Arc::new(kit),
            store: RegistryStore::new(pool),
            tool_router: Self::tool_router(),
        }
    }

    pub fn kit(&self) -> &ToolKit {
        &self.kit
    }

    fn model_name(raw: &str) -> Result<ModelName, ToolError> {
        ModelName::parse(raw)
    }
}

fn version_summary(v: &ModelVersion) -> String {
    let aliases = if v.aliases.is_empty() {
        String::new()
    } else {
        format!(" ({})", v.aliases.join(", "))
    };
    format!(
        "{} v{}{aliases}: {}, metrics {}",
        v.model, v.version, v.status, v.metrics
    )
}

#[tool_router]
impl RegistryServer {
    /// Registers a model name. Registering an existing name returns it unchanged.
    #[tool(name = "register_model", input_schema = input_schema::<RegisterModel>())]
    async fn register_model(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "register_model",
                raw,
                async |args: RegisterModel, caller: &Caller| {
                    let name = Self::model_name(&args.name)?;
                    if args.description.len() > 2000 {
                        return Err(ToolError::Invalid(
                            "description must be at most 2000 characters".into(),
                        ));
                    }
                    let (model, created) = self
                        .store
                        .register_model(&name, &args.description, &caller.id())
                        .await?;
                    let verb = if created {
                        "registered"
                    } else {
                        "already registered"
                    };
                    Ok(ToolOutput::new(
                        format!("{} {verb}", model.name),
                        serde_json::json!({ "model": model, "created": created }),
                    ))
                },
            )
            .await
    }

    /// Adds the next version of a model with its params, metrics and lineage.
    #[tool(name = "create_model_version", input_schema = input_schema::<CreateModelVersion>())]
    async fn create_model_version(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "create_model_version",
                raw,
                async |args: CreateModelVersion, caller: &Caller| {
                    let model = Self::model_name(&args.model)?;
                    if let Some((name, value)) = args.metrics.iter().find(|(_, v)| !v.is_finite()) {
                        return Err(ToolError::Invalid(format!(
                            "metric {name:?} is {value}; metrics must be finite numbers"
                        )));
                    }
                    if serde_json::to_vec(&args.params)
                        .map(|b| b.len())
                        .unwrap_or(0)
                        > 64 * 1024
                    {
                        return Err(ToolError::Invalid(
                            "params must serialize to at most 64 KiB".into(),
                        ));
                    }
                    let new = NewVersion {
                        params: args.params,
                        metrics: args
                            .metrics
                            .into_iter()
                            .map(|(k, v)| (k, Value::from(v)))
                            .collect(),
                        dataset_digest: domain::digest(
                            "dataset_version_digest",
                            &args.dataset_version_digest,
                        )?,
                        training_run_id: domain::run_id(&args.training_run_id)?,
                        artifact_uri: domain::artifact_uri(&args.artifact_uri)?,
                        code_digest: args
                            .code_digest
                            .as_deref()
                            .map(|d| domain::digest("code_digest", d))
                            .transpose()?,
                        protected_attribute: args
                            .protected_attribute
                            .as_deref()
                            .map(domain::attribute)
                            .transpose()?,
                    };
                    let version = self.store.create_version(&model, new, &caller.id()).await?;
                    Ok(ToolOutput::new(
                        format!("created {}", version_summary(&version)),
                        &version,
                    ))
                },
            )
            .await
    }

    /// Points an alias (champion, challenger) at an active version.
    #[tool(name = "set_alias", input_schema = input_schema::<SetAlias>())]
    async fn set_alias(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(&ctx, "set_alias", raw, async |args: SetAlias, caller: &Caller| {
                let model = Self::model_name(&args.model)?;
                let alias = Alias::parse(&args.alias)?;
                let version = domain::version(args.version)?;
                let previous = self.store.set_alias(&model, &alias, version, &caller.id()).await?;
                let moved = match previous {
                    Some(p) if p == version => format!("{} already pointed at v{version}", alias.as_str()),
                    Some(p) => format!("{} moved from v{p} to v{version}", alias.as_str()),
                    None => format!("{} now points at v{version}", alias.as_str()),
                };
                Ok(ToolOutput::new(
                    format!("{}: {moved}", model.as_str()),
                    serde_json::json!({ "model": model.as_str(), "alias": alias.as_str(), "version": version, "previous_version": previous }),
                ))
            })
            .await
    }

    /// Removes an alias.
    #[tool(name = "delete_alias", input_schema = input_schema::<DeleteAlias>())]
    async fn delete_alias(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(&ctx, "delete_alias", raw, async |args: DeleteAlias, _caller: &Caller| {
                let model = Self::model_name(&args.model)?;
                let alias = Alias::parse(&args.alias)?;
                let version = self.store.delete_alias(&model, &alias).await?;
                Ok(ToolOutput::new(
                    format!("{}: removed {} (was v{version})", model.as_str(), alias.as_str()),
                    serde_json::json!({ "model": model.as_str(), "alias": alias.as_str(), "previous_version": version }),
                ))
            })
            .await
    }

    /// Archives a version that no alias points at.
    #[tool(name = "archive_version", input_schema = input_schema::<VersionRef>())]
    async fn archive_version(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "archive_version",
                raw,
                async |args: VersionRef, _caller: &Caller| {
                    let model = Self::model_name(&args.model)?;
                    let version = self
                        .store
                        .archive_version(&model, domain::version(args.version)?)
                        .await?;
                    Ok(ToolOutput::new(
                        format!("archived {}", version_summary(&version)),
                        &version,
                    ))
                },
            )
            .await
    }

    /// One version, by number or by alias, with metrics and lineage.
    #[tool(name = "get_model_version", input_schema = input_schema::<GetModelVersion>())]
    async fn get_model_version(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_model_version",
                raw,
                async |args: GetModelVersion, _caller: &Caller| {
                    let model = Self::model_name(&args.model)?;
                    let version = match (args.version, args.alias.as_deref()) {
                        (Some(v), None) => self.store.version(&model, domain::version(v)?).await?,
                        (None, Some(a)) => {
                            self.store
                                .version_by_alias(&model, &Alias::parse(a)?)
                                .await?
                        }
                        _ => {
                            return Err(ToolError::Invalid(
                                "give exactly one of `version` and `alias`".into(),
                            ));
                        }
                    };
                    Ok(ToolOutput::new(version_summary(&version), &version))
                },
            )
            .await
    }

    /// Every registered model with its latest version and aliases.
    #[tool(name = "list_models", input_schema = input_schema::<ListModels>())]
    async fn list_models(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "list_models",
                raw,
                async |_args: ListModels, _caller: &Caller| {
                    let models = self.store.models(None).await?;
                    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
                    Ok(ToolOutput::new(
                        format!("{} models: {}", models.len(), names.join(", ")),
                        serde_json::json!({ "models": models }),
                    ))
                },
            )
            .await
    }

    /// Versions matching filters, best first when a metric is given.
    #[tool(name = "search_versions", input_schema = input_schema::<SearchVersions>())]
    async fn search_versions(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "search_versions",
                raw,
                async |args: SearchVersions, _caller: &Caller| {
                    let status = match args.status.as_deref() {
                        None => None,
                        Some(s @ ("active" | "archived")) => Some(s.to_owned()),
                        Some(other) => {
                            return Err(ToolError::Invalid(format!(
                                "status {other:?} must be \"active\" or \"archived\""
                            )));
                        }
                    };
                    if args.min_value.is_some() && args.metric.is_none() {
                        return Err(ToolError::Invalid("min_value needs `metric`".into()));
                    }
                    let limit = args.limit.unwrap_or(20);
                    if !(1..=100).contains(&limit) {
                        return Err(ToolError::Invalid(format!(
                            "limit {limit} must be between 1 and 100"
                        )));
                    }
                    let query = VersionQuery {
                        model: args.model.as_deref().map(ModelName::parse).transpose()?,
                        status,
                        metric: args.metric,
                        min_value: args.min_value,
                        limit: limit as i64,
                    };
                    let versions = self.store.search(&query).await?;
                    Ok(ToolOutput::new(
                        format!("{} versions", versions.len()),
                        serde_json::json!({ "versions": versions }),
                    ))
                },
            )
            .await
    }

    /// Where a version came from: dataset, training run, code, artifact, params.
    #[tool(name = "get_lineage", input_schema = input_schema::<VersionRef>())]
    async fn get_lineage(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_lineage",
                raw,
                async |args: VersionRef, _caller: &Caller| {
                    let model = Self::model_name(&args.model)?;
                    let v = self
                        .store
                        .version(&model, domain::version(args.version)?)
                        .await?;
                    let lineage = serde_json::json!({
                        "model": v.model,
                        "version": v.version,
                        "dataset_version_digest": v.dataset_digest,
                        "training_run_id": v.training_run_id,
                        "code_digest": v.code_digest,
                        "artifact_uri": v.artifact_uri,
                        "params": v.params,
                        "created_by": v.created_by,
                        "created_at": v.created_at,
                    });
                    Ok(ToolOutput::new(
                        format!(
                            "{} v{} ← dataset {} · run {}",
                            v.model, v.version, v.dataset_digest, v.training_run_id
                        ),
                        lineage,
                    ))
                },
            )
            .await
    }
}

/// Resource URIs: `model://registry/{name}` and `…/{name}/versions/{version}`.
enum ResourceUri {
    Model(ModelName),
    Version(ModelName, i32),
}

fn parse_resource_uri(uri: &str) -> Result<ResourceUri, ErrorData> {
    let not_found = || {
        ErrorData::resource_not_found(
            format!("no resource {uri:?}; try model://registry/{{name}}"),
            None,
        )
    };
    let rest = uri
        .strip_prefix("model://registry/")
        .ok_or_else(not_found)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let name = |raw: &str| {
        ModelName::parse(raw).map_err(|e| ErrorData::invalid_params(e.to_string(), None))
    };
    match parts.as_slice() {
        [model] => Ok(ResourceUri::Model(name(model)?)),
        [model, "versions", v] => {
            let version: u32 = v.parse().map_err(|_| {
                ErrorData::invalid_params(format!("version {v:?} is not a number"), None)
            })?;
            let version = domain::version(version)
                .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
            Ok(ResourceUri::Version(name(model)?, version))
        }
        _ => Err(not_found()),
    }
}

fn to_error_data(error: ToolError) -> ErrorData {
    match error {
        ToolError::NotFound(m) => ErrorData::resource_not_found(m, None),
        ToolError::Invalid(m) | ToolError::Conflict(m) => ErrorData::invalid_params(m, None),
        ToolError::Internal(m) => ErrorData::internal_error(m, None),
    }
}

fn require_read(ctx: &RequestContext<RoleServer>) -> Result<(), ErrorData> {
    require_scope(ctx, REGISTRY_READ, "read the registry").map(|_| ())
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for RegistryServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            "mlops-registry",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "The model registry: register models and versions with lineage, move the champion and \
             challenger aliases, and read versions, metrics and lineage.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        require_read(&ctx)?;
        let models = self.store.models(None).await.map_err(to_error_data)?;
        Ok(ListResourcesResult::with_all_items(
            models
                .into_iter()
                .map(|m| {
                    Resource::new(format!("model://registry/{}", m.name), m.name)
                        .with_mime_type("application/json")
                })
                .collect(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("model://registry/{name}", "model"),
            ResourceTemplate::new(
                "model://registry/{name}/versions/{version}",
                "model version",
            ),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        require_read(&ctx)?;
        let body = match parse_resource_uri(&request.uri)? {
            ResourceUri::Model(name) => {
                let model = self.store.model(&name).await.map_err(to_error_data)?;
                let versions = self
                    .store
                    .search(&VersionQuery {
                        model: Some(name),
                        status: None,
                        metric: None,
                        min_value: None,
                        limit: 100,
                    })
                    .await
                    .map_err(to_error_data)?;
                serde_json::json!({ "model": model, "versions": versions })
            }
            ResourceUri::Version(name, version) => serde_json::to_value(
                self.store
                    .version(&name, version)
                    .await
                    .map_err(to_error_data)?,
            )
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
        };
        let text = serde_json::to_string_pretty(&body)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri.clone())]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![
            deployment_checklist_prompt(),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        require_read(&ctx)?;
        if request.name != "deployment-checklist" {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown prompt {:?}; this server has deployment-checklist",
                    request.name
                ),
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let arg = |key: &str| {
            args.get(key)
                .and_then(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_u64().map(|n| n.to_string()))
                })
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("argument {key:?} is required"), None)
                })
        };
        let model = ModelName::parse(&arg("model")?)
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        let version: u32 = arg("version")?.parse().map_err(|_| {
            ErrorData::invalid_params("argument \"version\" must be a number", None)
        })?;
        let v = self
            .store
            .version(&model, domain::version(version).map_err(to_error_data)?)
            .await
            .map_err(to_error_data)?;
        let text = format!(
            "Deployment checklist for {model} v{version}.\n\
             Confirm each item against the evidence before promoting:\n\
             1. Lineage is complete: dataset {dataset}, training run {run}, code {code}.\n\
             2. The artifact at {artifact} exists and matches the registered version.\n\
             3. Holdout metrics {metrics} meet the policy thresholds and do not regress against the current champion.\n\
             4. Data drift between the training data and recent traffic is below threshold.\n\
             5. Fairness across {attribute} is within policy.\n\
             6. The canary steps, analysis windows and rollback rule are set, and an approver other than the requester signs off.",
            model = v.model,
            dataset = v.dataset_digest,
            run = v.training_run_id,
            code = v.code_digest.as_deref().unwrap_or("(not recorded)"),
            artifact = v.artifact_uri,
            metrics = v.metrics,
            attribute = v
                .protected_attribute
                .as_deref()
                .unwrap_or("(no protected attribute recorded)"),
        );
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description(format!(
                    "Pre-deployment checklist for {} v{}",
                    v.model, v.version
                ))
                .into(),
        )
    }
}

fn deployment_checklist_prompt() -> Prompt {
    Prompt::new(
        "deployment-checklist",
        Some(
            "The checks to make before deploying a model version, filled in from its registry record",
        ),
        Some(vec![
            PromptArgument::new("model")
                .with_description("model name")
                .with_required(true),
            PromptArgument::new("version")
                .with_description("version number")
                .with_required(true),
        ]),
    )
}
