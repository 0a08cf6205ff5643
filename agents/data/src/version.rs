//! Skill `version-dataset`: the versioned manifest of a dataset version,
//! checked against the store, with lineage hints; or an existing object
//! registered as a new dataset version.

use chrono::{DateTime, Utc};
use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome, parse_input};
use mlops_mcp_storage::keys::{ObjectKey, dataset_name, dataset_version};
use mlops_mcp_storage::{ColumnSchema, DatasetFile};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::DataConfig;
use crate::storage::{
    DatasetRef, LineageRecord, LineageSource, LineageSteps, ObjectFormat, Storage, dataset_uri,
};
use crate::table;

/// Input of `version-dataset`: give `version` to look a version up, or
/// `from_object` to register an object as a new version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionInput {
    /// Dataset name: 1-63 characters of a-z, 0-9 and '-', starting with a letter.
    pub dataset: String,
    /// The version to look up: its content hash, with or without "sha256:".
    #[serde(default)]
    pub version: Option<String>,
    /// An object key to register as a new version of `dataset`.
    #[serde(default)]
    pub from_object: Option<String>,
    /// The object's format; by default from the key's extension (.csv,
    /// .parquet). Only with `from_object`.
    #[serde(default)]
    pub format: Option<ObjectFormat>,
}

/// Output of `version-dataset`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VersionedDataset {
    pub name: String,
    /// The content hash (64 hex digits).
    pub version: String,
    /// `sha256:<version>`.
    pub sha256: String,
    pub rows: u64,
    pub schema: Vec<ColumnSchema>,
    /// Data files with their sizes and sha256, all present in the store.
    pub files: Vec<DatasetFile>,
    pub created_at: DateTime<Utc>,
    /// The service that wrote the version.
    pub created_by: String,
    /// With `from_object`: whether the object's content was new (false:
    /// the same content was already this version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    pub lineage: LineageHints,
}

/// What a model version's lineage needs to point at this dataset version,
/// and where it came from when this agent wrote it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LineageHints {
    /// The digest the registry records as a model version's dataset.
    pub digest: String,
    /// `dataset://{name}/{version}` on the storage server.
    pub uri: String,
    /// The data agent's record of the version's source and steps; null
    /// when the version was written by someone else.
    pub record: Option<LineageRecord>,
}

enum Request {
    Lookup { version: String },
    Register { key: String, format: ObjectFormat },
}

fn check(input: VersionInput) -> Result<(String, Request), SkillError> {
    let dataset = dataset_name(&input.dataset).map_err(|e| SkillError::bad_field("dataset", e))?;
    let request = match (input.version, input.from_object) {
        (Some(_), Some(_)) => {
            return Err(SkillError::bad_field(
                "from_object",
                "cannot be given with `version`: look a version up or register an object, not both",
            ));
        }
        (None, None) => {
            return Err(SkillError::bad_field(
                "version",
                "is required (or `from_object`, to register an object as a new version)",
            ));
        }
        (Some(version), None) => {
            if input.format.is_some() {
                return Err(SkillError::bad_field(
                    "format",
                    "only applies with `from_object`",
                ));
            }
            Request::Lookup {
                version: dataset_version(&version)
                    .map_err(|e| SkillError::bad_field("version", e))?,
            }
        }
        (None, Some(key)) => {
            ObjectKey::parse(&key).map_err(|e| SkillError::bad_field("from_object", e))?;
            let format = match input.format {
                Some(format) => format,
                None if key.ends_with(".csv") => ObjectFormat::Csv,
                None if key.ends_with(".parquet") => ObjectFormat::Parquet,
                None => {
                    return Err(SkillError::bad_field(
                        "format",
                        format!("is required: {key:?} does not end in .csv or .parquet"),
                    ));
                }
            };
            Request::Register { key, format }
        }
    };
    Ok((dataset, request))
}

pub async fn run(
    config: &DataConfig,
    input: Value,
    ctx: &SkillContext,
) -> Result<SkillOutcome, SkillError> {
    let (dataset, request) = check(parse_input::<VersionInput>(input)?)?;
    let storage = Storage::new(ctx, config);

    let (version, registered) = match request {
        Request::Lookup { version } => (version, None),
        Request::Register { key, format } => {
            ctx.progress_with(
                format!("registering {key} as a version of {dataset}"),
                json!({ "stage": "register", "object": key, "format": format }),
            );
            let (written, staged) = match format {
                // The storage server reads a CSV object itself.
                ObjectFormat::Csv => (storage.put_csv_object(&dataset, &key).await?, None),
                ObjectFormat::Parquet => {
                    let bytes = storage.download(&key).await?;
                    let batch = table::read_parquet(bytes)
                        .map_err(|e| SkillError::failed(format!("{key}: {e}")))?;
                    let mut staged = None;
                    let written = storage
                        .write_batch(&dataset, &batch, |d, staged_key| {
                            staged = Some(staged_key.clone());
                            registration_record(ctx, d, &key, format, Some(staged_key))
                        })
                        .await?;
                    (written.version, staged)
                }
            };
            if staged.is_none() {
                let reference = DatasetRef {
                    name: written.name.clone(),
                    version: written.version.clone(),
                };
                storage
                    .record_lineage(&registration_record(ctx, reference, &key, format, None))
                    .await?;
            }
            (written.version.clone(), Some(written.created))
        }
    };

    let manifest = storage.manifest(&dataset, &version).await?;
    let problems = storage.missing_files(&manifest).await?;
    if !problems.is_empty() {
        return Err(SkillError::failed_with(
            format!(
                "{dataset} {} is incomplete in the store: {} of {} files are missing or the wrong size",
                manifest.digest,
                problems.len(),
                manifest.files.len()
            ),
            json!({ "dataset": dataset, "version": version, "problems": problems }),
        ));
    }
    let reference = DatasetRef {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
    };
    let record = storage.lineage(&reference).await?;
    let summary = format!(
        "{} {}: {} rows, {} columns{}",
        manifest.name,
        manifest.digest,
        manifest.rows,
        manifest.columns.len(),
        match registered {
            Some(true) => ", registered",
            Some(false) => ", already registered",
            None => "",
        }
    );
    let output = VersionedDataset {
        lineage: LineageHints {
            digest: manifest.digest.clone(),
            uri: dataset_uri(&manifest.name, &manifest.version),
            record,
        },
        name: manifest.name,
        version: manifest.version,
        sha256: manifest.digest,
        rows: manifest.rows,
        schema: manifest.columns,
        files: manifest.files,
        created_at: manifest.created_at,
        created_by: manifest.created_by,
        registered,
    };
    Ok(SkillOutcome::single("dataset-version", output, summary))
}

fn registration_record(
    ctx: &SkillContext,
    dataset: DatasetRef,
    key: &str,
    format: ObjectFormat,
    staged_object: Option<String>,
) -> LineageRecord {
    LineageRecord {
        dataset,
        source: LineageSource::Object {
            key: key.to_owned(),
            format,
        },
        steps: LineageSteps::default(),
        parent: None,
        staged_object,
        task_id: ctx.task_id().to_owned(),
        recorded_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(input: Value) -> String {
        let input = parse_input::<VersionInput>(input).map_err(|e| e.to_string());
        match input.and_then(|i| check(i).map_err(|e| e.to_string())) {
            Ok(_) => panic!("should be refused"),
            Err(e) => e,
        }
    }

    #[test]
    fn requests_are_checked() {
        let hex = "ab".repeat(32);
        let (name, request) = check(VersionInput {
            dataset: "tx".into(),
            version: Some(format!("sha256:{hex}")),
            from_object: None,
            format: None,
        })
        .unwrap();
        assert_eq!(name, "tx");
        assert!(matches!(request, Request::Lookup { version } if version == hex));
        let (_, request) = check(VersionInput {
            dataset: "tx".into(),
            version: None,
            from_object: Some("uploads/a.parquet".into()),
            format: None,
        })
        .unwrap();
        assert!(matches!(
            request,
            Request::Register {
                format: ObjectFormat::Parquet,
                ..
            }
        ));

        assert!(refused(json!({ "version": hex })).contains("`dataset`"));
        assert!(refused(json!({ "dataset": "tx" })).contains("`version`"));
        assert!(refused(json!({ "dataset": "tx", "version": "v1" })).contains("`version`"));
        assert!(
            refused(json!({ "dataset": "tx", "version": hex, "from_object": "a.csv" }))
                .contains("`from_object`")
        );
        assert!(refused(json!({ "dataset": "tx", "from_object": "a.json" })).contains("`format`"));
        assert!(
            refused(json!({ "dataset": "tx", "from_object": "../a.csv" }))
                .contains("`from_object`")
        );
        assert!(
            refused(json!({ "dataset": "tx", "version": hex, "format": "csv" }))
                .contains("`format`")
        );
    }
}
