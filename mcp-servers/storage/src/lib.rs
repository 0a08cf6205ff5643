//! The storage MCP server: objects, and content-addressed datasets (Parquet
//! plus a manifest with a sha256 per file), on an `object_store`: a local
//! directory by default, S3 by configuration.
//!
//! Scopes: `storage:read` lists, downloads and reads manifests;
//! `storage:write` uploads and writes datasets (ARCHITECTURE §4).
//!
//! # Where objects live
//!
//! One string, `MLOPS_STORAGE_ROOT`, names the store; [`DatasetStore::open`]
//! and [`StorageServer::open`] take it:
//!
//! - a directory (`.mlops/objects`, `/var/lib/mlops/objects`) or
//!   `file:///var/lib/mlops/objects`: a local directory, created if missing;
//! - `s3://bucket` or `s3://bucket/prefix`: an S3 bucket, with every key
//!   under `prefix/` when one is given (so several deployments can share a
//!   bucket). Keys the tools show and take stay relative to the prefix.
//!
//! **Every process that shares the store must get the same location**: the
//! storage, quality, drift, trainer and cluster MCP servers, and the model
//! servers and traffic routers the cluster server starts (they read
//! artifacts and write prediction logs). The object store is the data
//! plane: a dataset the storage server writes is read by the others straight
//! from the store, so two processes with different locations simply do not
//! see each other's data. The same goes for the `AWS_*` variables below.
//!
//! ## Configuring S3
//!
//! S3 is configured from the standard `AWS_*` environment variables (read by
//! `object_store`'s `AmazonS3Builder::from_env`); the bucket always comes
//! from the location, never from `AWS_BUCKET`.
//!
//! | variable | meaning |
//! |---|---|
//! | `AWS_REGION` (or `AWS_DEFAULT_REGION`) | the bucket's region; `us-east-1` when unset |
//! | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | static credentials |
//! | `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN` | web identity (e.g. IRSA on EKS) |
//! | `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `..._FULL_URI` | ECS / EKS Pod Identity credentials |
//! | `AWS_ENDPOINT` (or `AWS_ENDPOINT_URL`) | an S3-compatible endpoint (MinIO, Ceph, R2, a local emulator) |
//! | `AWS_ALLOW_HTTP=true` | allow a plain-`http://` endpoint, e.g. one on localhost |
//! | `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true` | `bucket.host` addressing instead of `host/bucket` |
//!
//! With no credentials in the environment, `object_store` asks the EC2
//! instance metadata service, as AWS SDKs do. Opening a store does no
//! network I/O; call [`DatasetStore::check`] at start to fail early on a
//! wrong bucket, endpoint or credentials.
//!
//! ## What holds on every backend
//!
//! Keys are parsed by [`keys::ObjectKey`] before they reach the store (no
//! `..`, no absolute keys, a fixed character set), and a prefix is applied
//! below that, so no key reaches outside the location it was given, on disk
//! or in a bucket. Upload and download limits are checked by this crate,
//! not by the backend. The S3 path is tested against moto's S3 server, an
//! emulator of the S3 API, not against AWS itself.

mod datasets;
pub mod keys;
mod location;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::TryStreamExt;
use mlops_mcp_kit::{
    AuditLog, Caller, ToolError, ToolKit, ToolOutput, ToolPolicy, input_schema, require_scope,
};
use mlops_service_auth::access::scope::{STORAGE_READ, STORAGE_WRITE};
use object_store::{ObjectStore, ObjectStoreExt};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, Implementation, JsonObject, ListResourceTemplatesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use sqlx::PgPool;

pub use datasets::{
    ColumnSchema, Dataset, DatasetFile, DatasetManifest, DatasetStore, store_error,
};
use keys::ObjectKey;
pub use location::{OpenStoreError, StoreLocation};

pub const SERVER: &str = "storage";

/// Largest upload, after base64 decoding. Bigger data arrives as datasets
/// built from objects, or through the object store directly.
pub const MAX_UPLOAD_BYTES: usize = 3 * 1024 * 1024;
/// Largest download a caller may ask for.
pub const MAX_DOWNLOAD_BYTES: u64 = 3 * 1024 * 1024;
const DEFAULT_DOWNLOAD_BYTES: u64 = 1024 * 1024;

pub fn policy() -> ToolPolicy {
    ToolPolicy::new(&[
        ("upload_object", STORAGE_WRITE),
        ("put_dataset", STORAGE_WRITE),
        ("download_object", STORAGE_READ),
        ("list_objects", STORAGE_READ),
        ("get_dataset_manifest", STORAGE_READ),
    ])
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadObject {
    /// Relative key, e.g. "uploads/transactions.csv".
    pub key: String,
    /// The content as base64; give this or `text`.
    #[serde(default)]
    pub content_base64: Option<String>,
    /// The content as UTF-8 text; give this or `content_base64`.
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadObject {
    pub key: String,
    /// Refuse objects larger than this many bytes (default 1 MiB, at most 3 MiB).
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListObjects {
    /// Only keys under this prefix, e.g. "datasets/transactions".
    #[serde(default)]
    pub prefix: Option<String>,
    /// At most this many (1-1000, default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutDataset {
    /// Dataset name, e.g. "transactions".
    pub name: String,
    /// Rows as objects of column → value; give this or `source_key`.
    #[serde(default)]
    pub rows: Option<Vec<serde_json::Value>>,
    /// A CSV object (with a header row) to convert; give this or `rows`.
    #[serde(default)]
    pub source_key: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetDatasetManifest {
    pub name: String,
    /// The content hash, with or without "sha256:".
    pub version: String,
}

/// The storage server; cheap to clone.
#[derive(Clone)]
pub struct StorageServer {
    kit: Arc<ToolKit>,
    datasets: DatasetStore,
    tool_router: ToolRouter<Self>,
}

impl StorageServer {
    /// A server over a local directory, auditing to `pool`.
    pub fn local(root: &std::path::Path, pool: PgPool) -> std::io::Result<Self> {
        Ok(Self::new(
            DatasetStore::local(root)?.objects().clone(),
            pool,
        ))
    }

    /// A server over the store at `location` (a directory, `file:///dir`
    /// or `s3://bucket[/prefix]`; see the crate docs), auditing to `pool`.
    pub fn open(location: &str, pool: PgPool) -> Result<Self, OpenStoreError> {
        Ok(Self::new(
            DatasetStore::open(location)?.objects().clone(),
            pool,
        ))
    }

    pub fn new(store: Arc<dyn ObjectStore>, pool: PgPool) -> Self {
        StorageServer {
            kit: Arc::new(ToolKit::new(
                SERVER,
                policy(),
                Some(AuditLog::new(pool, SERVER)),
            )),
            datasets: DatasetStore::new(store),
            tool_router: Self::tool_router(),
        }
    }

    pub fn kit(&self) -> &ToolKit {
        &self.kit
    }

    pub fn datasets(&self) -> &DatasetStore {
        &self.datasets
    }

    async fn read(&self, key: &ObjectKey) -> Result<Bytes, ToolError> {
        self.datasets.read_object(key).await
    }

    async fn write(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ToolError> {
        self.datasets.write_object(key, bytes).await
    }

    async fn manifest(&self, name: &str, version: &str) -> Result<DatasetManifest, ToolError> {
        self.datasets.manifest(name, version).await
    }

    async fn put_dataset_impl(
        &self,
        args: PutDataset,
        caller: &Caller,
    ) -> Result<(DatasetManifest, bool), ToolError> {
        let name = keys::dataset_name(&args.name)?;
        let batch = match (args.rows, args.source_key.as_deref()) {
            (Some(rows), None) => datasets::batch_from_rows(&rows)?,
            (None, Some(source)) => {
                let key = ObjectKey::parse(source)?;
                datasets::batch_from_csv(self.read(&key).await?)?
            }
            _ => {
                return Err(ToolError::Invalid(
                    "give exactly one of `rows` and `source_key`".into(),
                ));
            }
        };
        self.datasets.write(&name, &batch, &caller.id()).await
    }
}

#[tool_router]
impl StorageServer {
    /// Stores an object under a relative key (at most 3 MiB).
    #[tool(name = "upload_object", input_schema = input_schema::<UploadObject>())]
    async fn upload_object(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "upload_object",
                raw,
                async |args: UploadObject, _caller: &Caller| {
                    let key = ObjectKey::parse(&args.key)?;
                    let bytes = match (args.content_base64, args.text) {
                        (Some(b64), None) => STANDARD.decode(b64.as_bytes()).map_err(|e| {
                            ToolError::Invalid(format!("content_base64 is not base64: {e}"))
                        })?,
                        (None, Some(text)) => text.into_bytes(),
                        _ => {
                            return Err(ToolError::Invalid(
                                "give exactly one of `content_base64` and `text`".into(),
                            ));
                        }
                    };
                    if bytes.len() > MAX_UPLOAD_BYTES {
                        return Err(ToolError::Invalid(format!(
                            "the object is {} bytes; uploads are limited to {MAX_UPLOAD_BYTES}",
                            bytes.len()
                        )));
                    }
                    let sha = datasets::sha256_hex(&bytes);
                    let size = bytes.len();
                    self.write(&key, Bytes::from(bytes)).await?;
                    Ok(ToolOutput::new(
                        format!("stored {} ({size} bytes)", key.as_str()),
                        serde_json::json!({ "key": key.as_str(), "bytes": size, "sha256": sha }),
                    ))
                },
            )
            .await
    }

    /// Reads an object, refusing ones larger than `max_bytes`.
    #[tool(name = "download_object", input_schema = input_schema::<DownloadObject>())]
    async fn download_object(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(&ctx, "download_object", raw, async |args: DownloadObject, _caller: &Caller| {
                let key = ObjectKey::parse(&args.key)?;
                let limit = args.max_bytes.unwrap_or(DEFAULT_DOWNLOAD_BYTES);
                if limit == 0 || limit > MAX_DOWNLOAD_BYTES {
                    return Err(ToolError::Invalid(format!("max_bytes must be between 1 and {MAX_DOWNLOAD_BYTES}")));
                }
                // One GET: its size is checked before the body is read, so
                // the limit holds even if the object is replaced between
                // requests (other processes write to the same bucket).
                let object = self.datasets.objects().get(&key.path()).await.map_err(store_error("read object"))?;
                let size = object.meta.size;
                if size > limit {
                    return Err(ToolError::Invalid(format!(
                        "{} is {size} bytes, more than max_bytes {limit}; read it as a dataset instead",
                        key.as_str()
                    )));
                }
                let bytes = object.bytes().await.map_err(store_error("read object"))?;
                let text = std::str::from_utf8(&bytes).ok().map(str::to_owned);
                Ok(ToolOutput::new(
                    format!("{} ({} bytes)", key.as_str(), bytes.len()),
                    serde_json::json!({
                        "key": key.as_str(),
                        "bytes": bytes.len(),
                        "sha256": datasets::sha256_hex(&bytes),
                        "content_base64": STANDARD.encode(&bytes),
                        "text": text,
                    }),
                ))
            })
            .await
    }

    /// Lists objects under a prefix.
    #[tool(name = "list_objects", input_schema = input_schema::<ListObjects>())]
    async fn list_objects(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "list_objects",
                raw,
                async |args: ListObjects, _caller: &Caller| {
                    let limit = args.limit.unwrap_or(100);
                    if !(1..=1000).contains(&limit) {
                        return Err(ToolError::Invalid(format!(
                            "limit {limit} must be between 1 and 1000"
                        )));
                    }
                    let prefix = args.prefix.as_deref().map(ObjectKey::parse).transpose()?;
                    let path = prefix.as_ref().map(ObjectKey::path);
                    let mut objects: Vec<serde_json::Value> = Vec::new();
                    let mut listing = self.datasets.objects().list(path.as_ref());
                    while let Some(meta) = listing
                        .try_next()
                        .await
                        .map_err(store_error("list objects"))?
                    {
                        objects.push(serde_json::json!({
                            "key": meta.location.to_string(),
                            "bytes": meta.size,
                            "last_modified": meta.last_modified,
                        }));
                    }
                    objects.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
                    let truncated = objects.len() > limit as usize;
                    objects.truncate(limit as usize);
                    Ok(ToolOutput::new(
                        format!(
                            "{} objects{}",
                            objects.len(),
                            if truncated { " (truncated)" } else { "" }
                        ),
                        serde_json::json!({ "objects": objects, "truncated": truncated }),
                    ))
                },
            )
            .await
    }

    /// Writes rows or a CSV object as a Parquet dataset version named by its content hash.
    #[tool(name = "put_dataset", input_schema = input_schema::<PutDataset>())]
    async fn put_dataset(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "put_dataset",
                raw,
                async |args: PutDataset, caller: &Caller| {
                    let (manifest, created) = self.put_dataset_impl(args, caller).await?;
                    Ok(ToolOutput::new(
                        format!(
                            "{} {} {}: {} rows, {} columns",
                            if created { "wrote" } else { "already had" },
                            manifest.name,
                            manifest.digest,
                            manifest.rows,
                            manifest.columns.len()
                        ),
                        serde_json::json!({ "manifest": manifest, "created": created }),
                    ))
                },
            )
            .await
    }

    /// The manifest of a dataset version: schema, rows, files with sha256.
    #[tool(name = "get_dataset_manifest", input_schema = input_schema::<GetDatasetManifest>())]
    async fn get_dataset_manifest(
        &self,
        Parameters(raw): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.kit
            .call(
                &ctx,
                "get_dataset_manifest",
                raw,
                async |args: GetDatasetManifest, _caller: &Caller| {
                    let name = keys::dataset_name(&args.name)?;
                    let version = keys::dataset_version(&args.version)?;
                    let manifest = self.manifest(&name, &version).await?;
                    Ok(ToolOutput::new(
                        format!(
                            "{} {}: {} rows",
                            manifest.name, manifest.digest, manifest.rows
                        ),
                        &manifest,
                    ))
                },
            )
            .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for StorageServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("mlops-storage", env!("CARGO_PKG_VERSION")))
            .with_instructions("Objects and content-addressed Parquet datasets. A dataset version is the sha256 of its content.")
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("dataset://{name}/{version}", "dataset manifest"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        require_scope(&ctx, STORAGE_READ, "read datasets")?;
        let rest = request.uri.strip_prefix("dataset://").ok_or_else(|| {
            ErrorData::resource_not_found(
                format!(
                    "no resource {:?}; try dataset://{{name}}/{{version}}",
                    request.uri
                ),
                None,
            )
        })?;
        let (name, version) = rest.split_once('/').ok_or_else(|| {
            ErrorData::invalid_params("a dataset URI is dataset://{name}/{version}", None)
        })?;
        let invalid = |e: ToolError| ErrorData::invalid_params(e.to_string(), None);
        let name = keys::dataset_name(name).map_err(invalid)?;
        let version = keys::dataset_version(version).map_err(invalid)?;
        let manifest = self.manifest(&name, &version).await.map_err(|e| match e {
            ToolError::NotFound(m) => ErrorData::resource_not_found(m, None),
            other => ErrorData::internal_error(other.to_string(), None),
        })?;
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri.clone())]).into())
    }
}
