//! Datasets: rows or a CSV object become one Parquet file plus a manifest
//! with a sha256 per file. The version id is the hash of the content, so the
//! same data always gets the same version, and a version never changes.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use bytes::Bytes;
use futures::TryStreamExt;
use mlops_mcp_kit::ToolError;
use object_store::aws::AmazonS3Builder;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::keys::ObjectKey;
use crate::location::{OpenStoreError, StoreLocation};

/// Any of these in the environment gives `object_store` credentials without
/// the EC2 instance metadata service.
const AWS_CREDENTIAL_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_SKIP_SIGNATURE",
];

/// At most this many rows per dataset version (one file, one batch).
pub const MAX_ROWS: usize = 5_000_000;

/// One column of a dataset's schema.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ColumnSchema {
    pub name: String,
    /// Arrow type, e.g. Int64, Float64, Utf8, Boolean.
    pub data_type: String,
    pub nullable: bool,
}

/// One data file of a dataset version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct DatasetFile {
    /// Object key of the file.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What `put_dataset` writes next to the data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct DatasetManifest {
    pub name: String,
    /// The content hash: 64 hex digits.
    pub version: String,
    /// `sha256:<version>`, the form the registry records as lineage.
    pub digest: String,
    pub format: String,
    pub rows: u64,
    pub columns: Vec<ColumnSchema>,
    pub files: Vec<DatasetFile>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
}

/// A dataset version read back: its manifest and its rows as one batch.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub manifest: DatasetManifest,
    pub batch: RecordBatch,
}

/// Maps an object-store failure to a tool error; a missing object is a
/// not-found the caller can act on, anything else is internal.
pub fn store_error(context: &'static str) -> impl Fn(object_store::Error) -> ToolError {
    move |e| match e {
        object_store::Error::NotFound { path, .. } => {
            ToolError::NotFound(format!("no object {path:?}"))
        }
        other => ToolError::internal(context, other),
    }
}

/// Datasets on an object store: the storage server writes them; the quality
/// and drift servers and the traffic routers read and write through this
/// same type, so the layout (`datasets/{name}/{version}/…`) and the
/// integrity check live in one place. The object store is the data plane;
/// the storage server's tools are its control surface.
#[derive(Clone)]
pub struct DatasetStore {
    store: Arc<dyn ObjectStore>,
}

impl DatasetStore {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        DatasetStore { store }
    }

    /// A store over a local directory, created if missing.
    pub fn local(root: &std::path::Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(root)
            .map_err(std::io::Error::other)?;
        Ok(Self::new(Arc::new(fs)))
    }

    /// The store at `location`: a directory path or `file:///dir` (created
    /// if missing), or `s3://bucket[/prefix]`, configured from the standard
    /// `AWS_*` environment variables (see the crate docs). Opening does no
    /// network I/O; [`DatasetStore::check`] does.
    pub fn open(location: &str) -> Result<Self, OpenStoreError> {
        let store = match StoreLocation::parse(location)? {
            StoreLocation::Local(path) => {
                Self::local(&path).map_err(|source| OpenStoreError::Local { path, source })?
            }
            StoreLocation::S3 { bucket, prefix } => {
                if !AWS_CREDENTIAL_VARIABLES
                    .iter()
                    .any(|name| std::env::var_os(name).is_some())
                {
                    // Right on EC2, a slow timeout anywhere else: say so.
                    tracing::warn!(
                        %location,
                        "no AWS credentials in the environment; S3 requests will ask the EC2 instance metadata service"
                    );
                }
                // The bucket named in the location wins over AWS_BUCKET, so
                // the one string every process is given says where data is.
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(&bucket)
                    .build()
                    .map_err(|source| OpenStoreError::S3 {
                        bucket: bucket.clone(),
                        source,
                    })?;
                match prefix {
                    // Keys are relative to the prefix both ways: writes land
                    // under it and listings come back without it, so the
                    // tools see the same keys as on a local directory.
                    Some(prefix) => Self::new(Arc::new(PrefixStore::new(
                        s3,
                        object_store::path::Path::from(prefix.as_str()),
                    ))),
                    None => Self::new(Arc::new(s3)),
                }
            }
        };
        tracing::info!(%location, "object store opened");
        Ok(store)
    }

    /// One cheap request to the store (the first page of a listing), so a
    /// process can fail at start on a wrong bucket, endpoint or credentials
    /// rather than on its first tool call.
    ///
    /// The error is the store's own, in full: this is for an operator at
    /// start-up, not a tool caller (a missing bucket shows as "not found").
    pub async fn check(&self) -> Result<(), object_store::Error> {
        self.store.list(None).try_next().await.map(|_| ())
    }

    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub async fn read_object(&self, key: &ObjectKey) -> Result<Bytes, ToolError> {
        self.store
            .get(&key.path())
            .await
            .map_err(store_error("read object"))?
            .bytes()
            .await
            .map_err(store_error("read object"))
    }

    pub async fn write_object(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ToolError> {
        self.store
            .put(&key.path(), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(store_error("write object"))
    }

    /// The manifest of `name` at `version` (64 hex digits, `sha256:` allowed).
    pub async fn manifest(&self, name: &str, version: &str) -> Result<DatasetManifest, ToolError> {
        let name = crate::keys::dataset_name(name)?;
        let version = crate::keys::dataset_version(version)?;
        let key = ObjectKey::parse(&format!("datasets/{name}/{version}/manifest.json"))?;
        let bytes = self.read_object(&key).await.map_err(|e| match e {
            ToolError::NotFound(_) => {
                ToolError::NotFound(format!("dataset {name:?} has no version {version}"))
            }
            other => other,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ToolError::internal("parse a manifest", e))
    }

    /// The rows of a dataset version. Every file is checked against the
    /// sha256 in its manifest before it is trusted.
    pub async fn read(&self, name: &str, version: &str) -> Result<Dataset, ToolError> {
        let manifest = self.manifest(name, version).await?;
        let mut batches = Vec::new();
        for file in &manifest.files {
            let bytes = self.read_object(&ObjectKey::parse(&file.path)?).await?;
            let sha = sha256_hex(&bytes);
            if sha != file.sha256 {
                return Err(ToolError::Conflict(format!(
                    "{} does not match its manifest (sha256 {sha}, expected {}); the dataset is corrupt",
                    file.path, file.sha256
                )));
            }
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.with_batch_size(1 << 20).build())
                .map_err(|e| ToolError::internal("open a Parquet file", e))?;
            for batch in reader {
                batches.push(batch.map_err(|e| ToolError::internal("read a Parquet file", e))?);
            }
        }
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => {
                return Err(ToolError::internal(
                    "read a dataset",
                    format!("{name}@{version} has no rows"),
                ));
            }
        };
        let batch = arrow_select::concat::concat_batches(&schema, &batches)
            .map_err(|e| ToolError::internal("assemble a dataset", e))?;
        Ok(Dataset { manifest, batch })
    }

    /// Writes `batch` as a new version of `name`, or returns the existing
    /// version with the same content (`false`: nothing was written).
    pub async fn write(
        &self,
        name: &str,
        batch: &RecordBatch,
        created_by: &str,
    ) -> Result<(DatasetManifest, bool), ToolError> {
        let name = crate::keys::dataset_name(name)?;
        if batch.num_rows() == 0 {
            return Err(ToolError::Invalid(
                "a dataset needs at least one row".into(),
            ));
        }
        if batch.num_rows() > MAX_ROWS {
            return Err(ToolError::Invalid(format!(
                "at most {MAX_ROWS} rows per dataset version"
            )));
        }
        let parquet = to_parquet(batch)?;
        let file_name = "part-00000.parquet".to_owned();
        let sha = sha256_hex(&parquet);
        let version = content_version(&[(file_name.clone(), sha.clone())]);
        // Same content, same version: a repeat is answered from what exists.
        if let Ok(existing) = self.manifest(&name, &version).await {
            return Ok((existing, false));
        }
        let file_key = ObjectKey::parse(&format!("datasets/{name}/{version}/{file_name}"))?;
        let manifest = DatasetManifest {
            name: name.clone(),
            version: version.clone(),
            digest: format!("sha256:{version}"),
            format: "parquet".into(),
            rows: batch.num_rows() as u64,
            columns: columns_of(&batch.schema()),
            files: vec![DatasetFile {
                path: file_key.as_str().to_owned(),
                bytes: parquet.len() as u64,
                sha256: sha,
            }],
            created_at: chrono::Utc::now(),
            created_by: created_by.to_owned(),
        };
        self.write_object(&file_key, Bytes::from(parquet)).await?;
        // The manifest goes last: a version is visible only once complete.
        let manifest_key = ObjectKey::parse(&format!("datasets/{name}/{version}/manifest.json"))?;
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ToolError::internal("serialize a manifest", e))?;
        self.write_object(&manifest_key, Bytes::from(json)).await?;
        Ok((manifest, true))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Rows given as JSON objects → one record batch, types inferred.
pub fn batch_from_rows(rows: &[serde_json::Value]) -> Result<RecordBatch, ToolError> {
    if rows.is_empty() {
        return Err(ToolError::Invalid(
            "a dataset needs at least one row".into(),
        ));
    }
    if rows.len() > MAX_ROWS {
        return Err(ToolError::Invalid(format!(
            "at most {MAX_ROWS} rows per dataset version"
        )));
    }
    if let Some(i) = rows.iter().position(|r| !r.is_object()) {
        return Err(ToolError::Invalid(format!(
            "row {i} is not an object of column → value"
        )));
    }
    let schema = arrow_json::reader::infer_json_schema_from_iterator(rows.iter().map(Ok))
        .map_err(|e| ToolError::Invalid(format!("cannot infer column types: {e}")))?;
    if schema.fields().is_empty() {
        return Err(ToolError::Invalid("the rows have no columns".into()));
    }
    let mut decoder = arrow_json::ReaderBuilder::new(Arc::new(schema))
        .with_batch_size(rows.len())
        .build_decoder()
        .map_err(|e| ToolError::Invalid(format!("cannot read the rows: {e}")))?;
    decoder
        .serialize(rows)
        .map_err(|e| ToolError::Invalid(format!("rows do not fit their column types: {e}")))?;
    decoder
        .flush()
        .map_err(|e| ToolError::Invalid(format!("cannot read the rows: {e}")))?
        .ok_or_else(|| ToolError::Invalid("no rows decoded".into()))
}

/// A CSV file with a header row → one record batch, types inferred.
pub fn batch_from_csv(bytes: Bytes) -> Result<RecordBatch, ToolError> {
    let invalid =
        |e: arrow_schema::ArrowError| ToolError::Invalid(format!("cannot read the CSV: {e}"));
    let format = arrow_csv::reader::Format::default().with_header(true);
    let (schema, _) = format
        .infer_schema(std::io::Cursor::new(&bytes), Some(10_000))
        .map_err(invalid)?;
    let schema = Arc::new(schema);
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(64 * 1024)
        .build(std::io::Cursor::new(bytes))
        .map_err(invalid)?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(invalid)?;
    let batch = arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| ToolError::Invalid(format!("cannot assemble the CSV columns: {e}")))?;
    if batch.num_rows() == 0 {
        return Err(ToolError::Invalid(
            "the CSV has a header but no rows".into(),
        ));
    }
    if batch.num_rows() > MAX_ROWS {
        return Err(ToolError::Invalid(format!(
            "at most {MAX_ROWS} rows per dataset version"
        )));
    }
    Ok(batch)
}

/// The batch as one Parquet file. Writer settings are fixed, so equal data
/// gives equal bytes and so an equal version.
pub fn to_parquet(batch: &RecordBatch) -> Result<Vec<u8>, ToolError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("mlops-storage".into())
        .build();
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))
        .map_err(|e| ToolError::internal("start the Parquet writer", e))?;
    writer
        .write(batch)
        .map_err(|e| ToolError::internal("write Parquet", e))?;
    writer
        .close()
        .map_err(|e| ToolError::internal("finish Parquet", e))?;
    Ok(buf)
}

pub fn columns_of(schema: &Schema) -> Vec<ColumnSchema> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnSchema {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect()
}

/// The version of a dataset whose files have these (path-in-version, sha256) pairs.
pub fn content_version(files: &[(String, String)]) -> String {
    let mut text = String::new();
    for (path, sha) in files {
        text.push_str(path);
        text.push(':');
        text.push_str(sha);
        text.push('\n');
    }
    sha256_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_parquet_with_inferred_types() {
        let rows: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"amount": 12.5, "n": 1, "country": "DE", "fraud": false},
                {"amount": 3.0, "n": 2, "country": "FR", "fraud": true},
                {"amount": null, "n": 3, "country": "DE", "fraud": false}]"#,
        )
        .unwrap();
        let batch = batch_from_rows(&rows).unwrap();
        let bytes = to_parquet(&batch).unwrap();
        assert_eq!(to_parquet(&batch).unwrap(), bytes, "deterministic bytes");
        let read: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(read[0].num_rows(), 3);
        let cols = columns_of(&read[0].schema());
        let types: Vec<(&str, &str)> = cols
            .iter()
            .map(|c| (c.name.as_str(), c.data_type.as_str()))
            .collect();
        assert!(types.contains(&("amount", "Float64")), "{types:?}");
        assert!(types.contains(&("n", "Int64")), "{types:?}");
        assert!(types.contains(&("country", "Utf8")), "{types:?}");
        assert!(types.contains(&("fraud", "Boolean")), "{types:?}");
    }

    #[test]
    fn csv_is_read_with_a_header() {
        let csv = Bytes::from_static(b"amount,country\n1.5,DE\n2.5,FR\n");
        let batch = batch_from_csv(csv).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert!(batch_from_csv(Bytes::from_static(b"amount,country\n")).is_err());
    }

    #[test]
    fn bad_rows_are_refused() {
        assert!(batch_from_rows(&[]).is_err());
        assert!(batch_from_rows(&[serde_json::json!([1, 2])]).is_err());
    }
}
