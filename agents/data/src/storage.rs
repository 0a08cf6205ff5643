//! Datasets through the storage MCP server: the only way this agent reads
//! objects and writes dataset versions. A batch travels as a CSV object
//! (`upload_object`), which `put_dataset` turns into a content-addressed
//! Parquet version; a lineage record is kept next to each version this
//! agent writes, so `version-dataset` can say where a version came from.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use mlops_agent_kit::{SkillContext, SkillError};
use mlops_mcp_storage::{ColumnSchema, DatasetFile, DatasetManifest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::DataConfig;
use crate::table::{self, ColumnType, TypeChange};

const SERVER: &str = "storage";

/// A dataset version as stored.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DatasetVersion {
    pub name: String,
    /// The content hash (64 hex digits): the version id.
    pub version: String,
    /// `sha256:<version>`, the form the registry records as lineage.
    pub digest: String,
    /// `dataset://{name}/{version}`, the storage server's resource.
    pub uri: String,
    pub rows: u64,
    pub columns: Vec<ColumnSchema>,
    /// The data files, each with its sha256.
    pub files: Vec<DatasetFile>,
    pub created_at: DateTime<Utc>,
    /// False when this exact content was already stored: the version is
    /// the existing one and nothing was written.
    pub created: bool,
}

impl DatasetVersion {
    pub fn from_manifest(manifest: DatasetManifest, created: bool) -> Self {
        DatasetVersion {
            uri: dataset_uri(&manifest.name, &manifest.version),
            name: manifest.name,
            version: manifest.version,
            digest: manifest.digest,
            rows: manifest.rows,
            columns: manifest.columns,
            files: manifest.files,
            created_at: manifest.created_at,
            created,
        }
    }
}

pub fn dataset_uri(name: &str, version: &str) -> String {
    format!("dataset://{name}/{version}")
}

/// A dataset version by name and content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetRef {
    pub name: String,
    pub version: String,
}

/// The formats an object can be read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObjectFormat {
    /// Comma-separated, with a header row; types are inferred.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// Where a dataset version's rows came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LineageSource {
    /// The seeded demo transactions generator (`mlops-demo-data`).
    Demo {
        seed: u64,
        rows: usize,
        start: DateTime<Utc>,
        interval_ms: u64,
        amount_scale: f64,
        distance_shift_km: f64,
        merchant_mix_shift: f64,
        hour_shift: i64,
        bias: f64,
    },
    /// An object in the store.
    Object { key: String, format: ObjectFormat },
}

/// The steps an ingest applied, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineageSteps {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub coerce: BTreeMap<String, ColumnType>,
    /// `column in [from, to)`, RFC 3339 bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dedupe_on: Vec<String>,
    /// For a split part: `train` or `holdout`, the fraction held out and
    /// the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitStep {
    pub part: SplitPart,
    pub holdout_fraction: f64,
    pub split_seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SplitPart {
    Train,
    Holdout,
}

/// What the data agent records about a dataset version it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineageRecord {
    pub dataset: DatasetRef,
    pub source: LineageSource,
    pub steps: LineageSteps,
    /// The version this one was split from, for train and holdout parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<DatasetRef>,
    /// The CSV object the rows travelled in, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_object: Option<String>,
    /// The A2A task that wrote the version.
    pub task_id: String,
    pub recorded_at: DateTime<Utc>,
}

/// A written dataset version and what happened on the way.
#[derive(Debug, Clone)]
pub struct Written {
    pub version: DatasetVersion,
    pub type_changes: Vec<TypeChange>,
}

#[derive(Deserialize)]
struct PutDatasetAnswer {
    manifest: DatasetManifest,
    created: bool,
}

#[derive(Deserialize)]
struct Downloaded {
    content_base64: String,
}

#[derive(Deserialize)]
struct Listing {
    objects: Vec<ListedObject>,
}

#[derive(Deserialize)]
struct ListedObject {
    key: String,
    bytes: u64,
}

/// The storage server's tools, as this agent uses them.
pub struct Storage<'a> {
    ctx: &'a SkillContext,
    config: &'a DataConfig,
}

impl<'a> Storage<'a> {
    pub fn new(ctx: &'a SkillContext, config: &'a DataConfig) -> Self {
        Storage { ctx, config }
    }

    /// An object's bytes (at most the server's 3 MiB download limit).
    pub async fn download(&self, key: &str) -> Result<Bytes, SkillError> {
        let answer: Downloaded = self
            .ctx
            .mcp_as(
                SERVER,
                "download_object",
                json!({ "key": key, "max_bytes": mlops_mcp_storage::MAX_DOWNLOAD_BYTES }),
            )
            .await?;
        STANDARD
            .decode(answer.content_base64.as_bytes())
            .map(Bytes::from)
            .map_err(|e| SkillError::failed(format!("storage sent {key} as invalid base64: {e}")))
    }

    /// Objects under `prefix` (a directory-like prefix), with their sizes.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, SkillError> {
        let listing: Listing = self
            .ctx
            .mcp_as(
                SERVER,
                "list_objects",
                json!({ "prefix": prefix, "limit": 1000 }),
            )
            .await?;
        Ok(listing
            .objects
            .into_iter()
            .map(|o| (o.key, o.bytes))
            .collect())
    }

    pub async fn manifest(&self, name: &str, version: &str) -> Result<DatasetManifest, SkillError> {
        self.ctx
            .mcp_as(
                SERVER,
                "get_dataset_manifest",
                json!({ "name": name, "version": version }),
            )
            .await
    }

    /// Registers a CSV object as a dataset version, read by the storage
    /// server itself (no size limit on the way).
    pub async fn put_csv_object(
        &self,
        name: &str,
        key: &str,
    ) -> Result<DatasetVersion, SkillError> {
        let answer: PutDatasetAnswer = self
            .ctx
            .mcp_as(
                SERVER,
                "put_dataset",
                json!({ "name": name, "source_key": key }),
            )
            .await?;
        Ok(DatasetVersion::from_manifest(
            answer.manifest,
            answer.created,
        ))
    }

    /// Writes `batch` as a version of `name`: as a CSV object under the
    /// staging prefix, then `put_dataset` from it. `lineage` is completed
    /// with the version and recorded unless one is already there.
    pub async fn write_batch(
        &self,
        name: &str,
        batch: &RecordBatch,
        lineage: impl FnOnce(DatasetRef, String) -> LineageRecord,
    ) -> Result<Written, SkillError> {
        let ready = table::storable(batch).map_err(SkillError::failed)?;
        let csv = mlops_demo_data::to_csv(&ready)
            .map_err(|e| SkillError::failed(format!("cannot write {name} as CSV: {e}")))?;
        if csv.len() > mlops_mcp_storage::MAX_UPLOAD_BYTES {
            return Err(SkillError::failed(format!(
                "{name} is {} bytes as CSV, above the storage server's upload limit of {} bytes; ingest fewer rows",
                csv.len(),
                mlops_mcp_storage::MAX_UPLOAD_BYTES
            )));
        }
        let stored = table::stored_types(&csv).map_err(SkillError::failed)?;
        let type_changes = table::type_changes(&ready, &stored);
        let key = format!(
            "{}/{}/{}.csv",
            self.config.staging_prefix,
            self.ctx.task_id(),
            name
        );
        self.ctx
            .mcp(SERVER, "upload_object", json!({ "key": key, "text": csv }))
            .await?;
        let version = self.put_csv_object(name, &key).await?;
        // The storage server counted the rows itself; a different count
        // means the CSV did not read back as written.
        if version.rows != batch.num_rows() as u64 {
            return Err(SkillError::failed_with(
                format!(
                    "{name} {} holds {} rows, but {} were written",
                    version.digest,
                    version.rows,
                    batch.num_rows()
                ),
                json!({ "dataset": version, "rows_written": batch.num_rows() }),
            ));
        }
        let reference = DatasetRef {
            name: version.name.clone(),
            version: version.version.clone(),
        };
        self.record_lineage(&lineage(reference, key)).await?;
        Ok(Written {
            version,
            type_changes,
        })
    }

    fn lineage_dir(&self, dataset: &DatasetRef) -> String {
        format!(
            "{}/{}/{}",
            self.config.lineage_prefix, dataset.name, dataset.version
        )
    }

    /// Records `record` unless the version has a lineage record already:
    /// the first writer of a content hash is where it came from, and a
    /// retried task finds its own record.
    pub async fn record_lineage(&self, record: &LineageRecord) -> Result<(), SkillError> {
        let dir = self.lineage_dir(&record.dataset);
        if !self.list(&dir).await?.is_empty() {
            return Ok(());
        }
        let text = serde_json::to_string_pretty(record)
            .map_err(|e| SkillError::failed(format!("cannot serialize lineage: {e}")))?;
        self.ctx
            .mcp(
                SERVER,
                "upload_object",
                json!({ "key": format!("{dir}/lineage.json"), "text": text }),
            )
            .await?;
        Ok(())
    }

    /// The lineage record of a version, if this agent wrote one. A record
    /// that does not parse is reported as absent, with a progress note.
    pub async fn lineage(&self, dataset: &DatasetRef) -> Result<Option<LineageRecord>, SkillError> {
        let dir = self.lineage_dir(dataset);
        let key = format!("{dir}/lineage.json");
        if !self.list(&dir).await?.iter().any(|(k, _)| *k == key) {
            return Ok(None);
        }
        let bytes = self.download(&key).await?;
        match serde_json::from_slice(&bytes) {
            Ok(record) => Ok(Some(record)),
            Err(error) => {
                tracing::warn!(%key, %error, "unreadable lineage record");
                self.ctx.progress(format!(
                    "lineage record {key} is unreadable ({error}); ignored"
                ));
                Ok(None)
            }
        }
    }

    /// Files of the manifest that are missing from the store or have
    /// another size: empty when the version is complete.
    pub async fn missing_files(
        &self,
        manifest: &DatasetManifest,
    ) -> Result<Vec<FileProblem>, SkillError> {
        let listed = self
            .list(&format!("datasets/{}/{}", manifest.name, manifest.version))
            .await?;
        Ok(manifest
            .files
            .iter()
            .filter_map(
                |file| match listed.iter().find(|(key, _)| *key == file.path) {
                    None => Some(FileProblem {
                        path: file.path.clone(),
                        expected_bytes: file.bytes,
                        found_bytes: None,
                    }),
                    Some((_, bytes)) if *bytes != file.bytes => Some(FileProblem {
                        path: file.path.clone(),
                        expected_bytes: file.bytes,
                        found_bytes: Some(*bytes),
                    }),
                    Some(_) => None,
                },
            )
            .collect())
    }
}

/// A manifest file that is not in the store as the manifest says.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FileProblem {
    pub path: String,
    pub expected_bytes: u64,
    /// The size found, or null when the file is missing.
    pub found_bytes: Option<u64>,
}
