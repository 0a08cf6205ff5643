//! The quality MCP server (the Great Expectations role): expectation suites
//! are data, stored in versions in Postgres (`quality` schema); a checkpoint
//! runs one suite version over one dataset version, read from the object
//! store through [`mlops_mcp_storage::DatasetStore`], and records a result
//! that names both exactly.
//!
//! Tools: `put_suite`, `get_suite`, `list_suites`, `run_checkpoint`,
//! `get_validation_result`. Resources: `expectations://{suite}` (the latest
//! version) and `expectations://{suite}/versions/{v}`. Every tool and
//! resource needs scope `quality:run`, which the data and validation agents
//! hold (ARCHITECTURE §4).
//!
//! # Expectation kinds
//!
//! Each expectation is a JSON object tagged by `type`; unknown kinds and
//! unknown fields are refused, as are impossible parameters (min above max,
//! fractions outside 0-1, empty sets, unknown type names). Re-putting a
//! suite identical to its latest version changes nothing.
//!
//! | `type` | parameters | met when |
//! |---|---|---|
//! | `column_exists` | `column`, optional `data_type` | the column exists and, if given, has that type: an Arrow name as the storage manifest writes it (`Int64`, `Float64`, `Utf8`, `Boolean`, `Timestamp` — any unit and zone — …), an exact Arrow type (`Timestamp(ms, "UTC")`), or a family (`integer`, `float`, `number`, `string`, `boolean`, `timestamp`, `date`) |
//! | `not_null_fraction` | `column`, `min` | non-null rows / all rows ≥ `min` |
//! | `values_between` | `column`, `min` and/or `max`, optional `mostly` | at least `mostly` (default 1) of the non-null values of a numeric column lie in [`min`, `max`], bounds inclusive; NaN is out of range |
//! | `values_in_set` | `column`, `values`, optional `mostly` | at least `mostly` of the non-null values are in `values` (strings for text columns, numbers for numeric ones, booleans for boolean ones; numbers compare numerically) |
//! | `values_unique` | `column` | no non-null value occurs twice |
//! | `row_count_between` | `min` and/or `max` | the row count lies in [`min`, `max`] |
//! | `freshness` | `column`, `max_age_seconds` | the newest value is at most `max_age_seconds` older than the time of the run; the column is an Arrow Timestamp or Date, Int64 epoch milliseconds, or ISO-8601 text (with offset or `Z`; without one read as UTC; a bare date is midnight UTC) |
//!
//! **Nulls.** For `values_between`, `values_in_set` and `values_unique`
//! nulls are neither expected nor unexpected: fractions are over the
//! non-null values, and a column of nulls only meets them vacuously. Use
//! `not_null_fraction` to bound nulls. For `freshness` nulls are skipped;
//! a column with no non-null value fails.
//!
//! **Results.** Each expectation reports `success`, `observed` values
//! (counts, the unexpected fraction, up to five unexpected examples,
//! observed min and max, the newest timestamp and its age) and, when it
//! cannot be evaluated (missing column, wrong type, unparseable
//! timestamps), an `error`. Such an expectation has failed; the checkpoint
//! itself still succeeds as a tool call and is recorded.

mod evaluate;
mod store;
mod suite;

use std::sync::Arc;

use mlops_mcp_kit::{
    AuditLog, Caller, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema, require_scope,
};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::{dataset_name, dataset_version};
use mlops_service_auth::access::scope::QUALITY_RUN;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, Implementation, JsonObject, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

pub use evaluate::{ExpectationResult, Statistics, evaluate};
pub use store::{DatasetRef, StoredSuite, SuiteRef, SuiteSummary, ValidationResult};
pub use suite::{Expectation, MAX_EXPECTATIONS, SuiteDefinition, SuiteName};

use store::{NewValidationResult, QualityStore};

/// The server's name: the audience of its tokens and its audit label.
pub const SERVER: &str = "quality";

/// Which scope each tool needs: `quality:run` for all of them.
pub fn policy() -> ToolPolicy {
    ToolPolicy::new(&[
        ("put_suite", QUALITY_RUN),
        ("get_suite", QUALITY_RUN),
        ("list_suites", QUALITY_RUN),
        ("run_checkpoint", QUALITY_RUN),
        ("get_validation_result", QUALITY_RUN),
    ])
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSuite {
    /// Suite name: 1-63 characters of a-z, 0-9 and '-', starting with a letter.
    pub name: String,
    /// 1-200 expectations, each an object tagged by `type`.
    // Parsed one by one, so an error can name the expectation that is wrong.
    #[schemars(with = "Vec<Expectation>")]
    pub expectations: Vec<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSuite {
    pub name: String,
    /// A version number; the latest when omitted.
    #[serde(default)]
    pub version: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSuites {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCheckpoint {
    /// Dataset name, as in storage, e.g. "transactions".
    pub dataset: String,
    /// The dataset version: its content hash, with or without "sha256:".
    pub version: String,
    /// The suite to run.
    pub suite: String,
    /// A suite version number; the latest when omitted.
    #[serde(default)]
    pub suite_version: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetValidationResult {
    /// The result id run_checkpoint returned (a UUID).
    pub id: String,
}

/// The quality server; cheap to clone.
#[derive(Clone)]
pub struct QualityServer {
    kit: Arc<ToolKit>,
    datasets: DatasetStore,
    store: QualityStore,
    tool_router: ToolRouter<Self>,
}

impl QualityServer {
    /// A server reading datasets from `datasets` (the storage server's
    /// object-store root) and keeping suites, results and audit in `pool`.
    pub fn new(datasets: DatasetStore, pool: PgPool) -> Self {
        QualityServer {
            kit: Arc::new(ToolKit::new(
                SERVER,
                policy(),
                Some(AuditLog::new(pool.clone(), SERVER)),
            )),
            datasets,
            store: QualityStore::new(pool),
            tool_router: Self::tool_router(),
        }
    }

    /// A server over datasets in a local directory.
    pub fn local(root: &std::path::Path, pool: PgPool) -> std::io::Result<Self> {
        Ok(Self::new(DatasetStore::local(root)?, pool))
    }

    pub fn kit(&self) -> &ToolKit {
        &self.kit
    }

    async fn run_checkpoint_impl(
        &self,
        args: RunCheckpoint,
        caller: &Caller,
    ) -> Result<ValidationResult, ToolError> {
        let dataset = dataset_name(&args.dataset)?;
        let version = dataset_version(&args.version)?;
        let suite_name = SuiteName::parse(&args.suite)?;
        let suite_version = args.suite_version.map(suite::suite_version).transpose()?;
        // The suite first: it is one row, the dataset may be millions.
        let suite = self.store.suite(&suite_name, suite_version).await?;
        let data = self.datasets.read(&dataset, &version).await?;
        let batch = data.batch;
        // Datasets hold at most a few million rows.
        let rows = batch.num_rows() as i64;
        let expectations = suite.expectations.clone();
        let now = chrono::Utc::now();
        // Evaluation is CPU-bound over whole columns; keep it off the
        // runtime's worker threads.
        let results = tokio::task::spawn_blocking(move || evaluate(&batch, &expectations, now))
            .await
            .map_err(|e| ToolError::internal("evaluate the suite", e))?;
        let result = self
            .store
            .insert_result(NewValidationResult {
                dataset: DatasetRef {
                    name: data.manifest.name,
                    digest: data.manifest.digest,
                    rows,
                },
                suite: SuiteRef {
                    name: suite.name,
                    version: suite.version,
                },
                results,
                run_by: caller.id(),
            })
            .await?;
        tracing::info!(
            id = %result.id,
            dataset = %result.dataset.name,
            digest = %result.dataset.digest,
            suite = %result.suite.name,
            suite_version = result.suite.version,
            success = result.success,
            "checkpoint ran"
        );
        Ok(result)
    }
}

fn checkpoint_summary(r: &ValidationResult) -> String {
    let failed: Vec<String> = r
        .results
        .iter()
        .filter(|e| !e.success)
        .map(|e| e.expectation.label())
        .collect();
    let verdict = if r.success {
        "passed".to_owned()
    } else {
        format!("FAILED: {}", failed.join(", "))
    };
    format!(
        "{} {} against suite {} v{}: {}/{} expectations met; {verdict} (result {})",
        r.dataset.name,
        r.dataset.digest,
        r.suite.name,
        r.suite.version,
        r.statistics.successful_expectations,
        r.statistics.evaluated_expectations,
        r.id
    )
}

#[tool_router]
impl QualityServer {
    /// Stores an expectation suite as its next version; an identical re-put returns the current version.
    #[tool(name = "put_suite", input_schema = input_schema::<PutSuite>())]
    async fn put_suite(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "put_suite",
                raw,
                async |args: PutSuite, caller: &Caller| {
                    let name = SuiteName::parse(&args.name)?;
                    let definition = SuiteDefinition::parse(args.expectations)?;
                    let (suite, created) = self
                        .store
                        .put_suite(&name, &definition, &caller.id())
                        .await?;
                    let verb = if created { "stored" } else { "unchanged:" };
                    Ok(ToolOutput::new(
                        format!(
                            "{verb} suite {} v{} ({} expectations)",
                            suite.name,
                            suite.version,
                            suite.expectations.len()
                        ),
                        serde_json::json!({ "suite": suite, "created": created }),
                    ))
                },
            )
            .await
    }

    /// One suite version (the latest by default) with its expectations.
    #[tool(name = "get_suite", input_schema = input_schema::<GetSuite>())]
    async fn get_suite(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_suite",
                raw,
                async |args: GetSuite, _caller: &Caller| {
                    let name = SuiteName::parse(&args.name)?;
                    let version = args.version.map(suite::suite_version).transpose()?;
                    let suite = self.store.suite(&name, version).await?;
                    let labels: Vec<String> =
                        suite.expectations.iter().map(Expectation::label).collect();
                    Ok(ToolOutput::new(
                        format!(
                            "suite {} v{}: {}",
                            suite.name,
                            suite.version,
                            labels.join(", ")
                        ),
                        &suite,
                    ))
                },
            )
            .await
    }

    /// Every suite with its latest version.
    #[tool(name = "list_suites", input_schema = input_schema::<ListSuites>())]
    async fn list_suites(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "list_suites",
                raw,
                async |_args: ListSuites, _caller: &Caller| {
                    let suites = self.store.suites().await?;
                    let names: Vec<String> = suites
                        .iter()
                        .map(|s| format!("{} v{}", s.name, s.latest_version))
                        .collect();
                    Ok(ToolOutput::new(
                        format!("{} suites: {}", suites.len(), names.join(", ")),
                        serde_json::json!({ "suites": suites }),
                    ))
                },
            )
            .await
    }

    /// Runs a suite over a dataset version; returns success per expectation with observed values, and records the result.
    #[tool(name = "run_checkpoint", input_schema = input_schema::<RunCheckpoint>())]
    async fn run_checkpoint(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "run_checkpoint",
                raw,
                async |args: RunCheckpoint, caller: &Caller| {
                    let result = self.run_checkpoint_impl(args, caller).await?;
                    Ok(ToolOutput::new(checkpoint_summary(&result), &result))
                },
            )
            .await
    }

    /// A recorded checkpoint result by id.
    #[tool(name = "get_validation_result", input_schema = input_schema::<GetValidationResult>())]
    async fn get_validation_result(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_validation_result",
                raw,
                async |args: GetValidationResult, _caller: &Caller| {
                    let id = uuid::Uuid::parse_str(args.id.trim()).map_err(|_| {
                        ToolError::Invalid(format!(
                            "id {:?} is not a UUID; use the id run_checkpoint returned",
                            args.id
                        ))
                    })?;
                    let result = self.store.result(id).await?;
                    Ok(ToolOutput::new(checkpoint_summary(&result), &result))
                },
            )
            .await
    }
}

/// Resource URIs: `expectations://{suite}` and `…/{suite}/versions/{v}`.
fn parse_resource_uri(uri: &str) -> Result<(SuiteName, Option<i32>), ErrorData> {
    let not_found = || {
        ErrorData::resource_not_found(
            format!("no resource {uri:?}; try expectations://{{suite}}"),
            None,
        )
    };
    let rest = uri.strip_prefix("expectations://").ok_or_else(not_found)?;
    let invalid = |e: ToolError| ErrorData::invalid_params(e.to_string(), None);
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [name] => Ok((SuiteName::parse(name).map_err(invalid)?, None)),
        [name, "versions", v] => {
            let version: u32 = v.parse().map_err(|_| {
                ErrorData::invalid_params(format!("suite version {v:?} is not a number"), None)
            })?;
            Ok((
                SuiteName::parse(name).map_err(invalid)?,
                Some(suite::suite_version(version).map_err(invalid)?),
            ))
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

fn require_run(ctx: &RequestContext<RoleServer>) -> Result<(), ErrorData> {
    require_scope(ctx, QUALITY_RUN, "read expectation suites").map(|_| ())
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for QualityServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "mlops-quality",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "Data quality: store expectation suites (column exists and type, not-null fraction, \
             range, set membership, uniqueness, row count, freshness) and run them as checkpoints \
             over dataset versions; each result lists success and observed values per expectation.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        require_run(&ctx)?;
        let suites = self.store.suites().await.map_err(to_error_data)?;
        Ok(ListResourcesResult::with_all_items(
            suites
                .into_iter()
                .map(|s| {
                    Resource::new(format!("expectations://{}", s.name), s.name)
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
            ResourceTemplate::new(
                "expectations://{suite}",
                "expectation suite (latest version)",
            ),
            ResourceTemplate::new(
                "expectations://{suite}/versions/{version}",
                "expectation suite version",
            ),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        require_run(&ctx)?;
        let (name, version) = parse_resource_uri(&request.uri)?;
        let suite = self
            .store
            .suite(&name, version)
            .await
            .map_err(to_error_data)?;
        let text = serde_json::to_string_pretty(&suite)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri.clone())]).into())
    }
}
