//! Scoring a registered model on a labelled dataset version.
//!
//! The drift server's performance and fairness reports take a dataset that
//! already holds predictions, and this agent may only read from storage, so
//! it cannot write one. It therefore scores the model itself: the dataset's
//! Parquet files (each checked against its manifest's sha256) and the model
//! artifact come through the storage server's `download_object`, the model
//! predicts with `mlops-models` exactly as the model servers do
//! (probability of class 1, label at 0.5), and the figures come from the
//! drift server's own metric functions, so they equal what its reports
//! would say for the same predictions.
//!
//! The limit that follows: `download_object` hands out at most 3 MiB per
//! object, so a holdout file or artifact above that fails the check with a
//! message saying so (a 5 000-row demo holdout is about 200 KB, a default
//! random forest about 0.5 MB). Scoring in the drift server, from the
//! artifact's object key, would lift it and store the reports there.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use mlops_agent_kit::{SkillContext, SkillError};
use mlops_mcp_storage::DatasetManifest;
use mlops_models::Model;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Deserialize;
use serde_json::json;

use crate::registry::RegisteredVersion;
use crate::request::{DatasetVersion, HoldoutSummary};

const STORAGE: &str = "storage";

/// The largest object `download_object` hands out (the storage server's
/// `MAX_DOWNLOAD_BYTES`).
pub const MAX_DOWNLOAD_BYTES: u64 = mlops_mcp_storage::MAX_DOWNLOAD_BYTES;

/// A labelled dataset version, read whole.
#[derive(Debug, Clone)]
pub struct LabelledData {
    pub dataset: String,
    /// 64 hex digits.
    pub version: String,
    pub rows: usize,
    pub batches: Vec<RecordBatch>,
}

impl LabelledData {
    pub fn summary(&self, rows_scored: usize) -> HoldoutSummary {
        HoldoutSummary {
            dataset: self.dataset.clone(),
            version: self.version.clone(),
            rows: self.rows,
            rows_scored,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ObjectListing {
    objects: Vec<ListedObject>,
}

#[derive(Debug, Deserialize)]
struct ListedObject {
    key: String,
}

#[derive(Debug, Deserialize)]
struct Download {
    sha256: String,
    content_base64: String,
}

/// Downloads one object, at most `max_bytes` long.
async fn download(ctx: &SkillContext, key: &str, max_bytes: u64) -> Result<Download, SkillError> {
    ctx.mcp_as(
        STORAGE,
        "download_object",
        json!({ "key": key, "max_bytes": max_bytes.clamp(1, MAX_DOWNLOAD_BYTES) }),
    )
    .await
}

fn decode(key: &str, download: &Download) -> Result<Bytes, SkillError> {
    STANDARD
        .decode(download.content_base64.as_bytes())
        .map(Bytes::from)
        .map_err(|e| SkillError::failed(format!("storage sent {key} as invalid base64: {e}")))
}

/// Checks that dataset version `dataset` is stored; one that is not is a
/// rejection of `field`, since the request named it.
pub async fn ensure_dataset(
    ctx: &SkillContext,
    field: &str,
    dataset: &DatasetVersion,
) -> Result<(), SkillError> {
    // Listing first tells "no such version" (the caller's mistake) apart
    // from a storage failure, which the manifest read alone cannot.
    let prefix = format!("datasets/{}/{}", dataset.dataset, dataset.version);
    let listing: ObjectListing = ctx
        .mcp_as(
            STORAGE,
            "list_objects",
            json!({ "prefix": prefix, "limit": 1000 }),
        )
        .await?;
    let manifest_key = format!("{prefix}/manifest.json");
    if !listing.objects.iter().any(|o| o.key == manifest_key) {
        return Err(SkillError::bad_field(
            field,
            format!(
                "names no stored dataset version: {} has no version {}",
                dataset.dataset, dataset.version
            ),
        ));
    }
    Ok(())
}

/// Reads dataset version `dataset` through the storage server. A version
/// that does not exist is a rejection of `field`.
pub async fn load_dataset(
    ctx: &SkillContext,
    field: &str,
    dataset: &DatasetVersion,
) -> Result<LabelledData, SkillError> {
    ensure_dataset(ctx, field, dataset).await?;
    let manifest: DatasetManifest = ctx
        .mcp_as(
            STORAGE,
            "get_dataset_manifest",
            json!({ "name": dataset.dataset, "version": dataset.version }),
        )
        .await?;
    let mut batches = Vec::new();
    for file in &manifest.files {
        if file.bytes > MAX_DOWNLOAD_BYTES {
            return Err(SkillError::failed(format!(
                "{} is {} bytes; the validation agent scores datasets whose files are at most {MAX_DOWNLOAD_BYTES} bytes (what the storage server's download_object hands out)",
                file.path, file.bytes
            )));
        }
        let downloaded = download(ctx, &file.path, file.bytes).await?;
        if downloaded.sha256 != file.sha256 {
            return Err(SkillError::failed(format!(
                "{} does not match its manifest (sha256 {}, expected {}); the dataset is corrupt",
                file.path, downloaded.sha256, file.sha256
            )));
        }
        let bytes = decode(&file.path, &downloaded)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(|e| {
                SkillError::failed(format!("{} is not readable Parquet: {e}", file.path))
            })?;
        for batch in reader {
            batches.push(batch.map_err(|e| {
                SkillError::failed(format!("{} is not readable Parquet: {e}", file.path))
            })?);
        }
    }
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    Ok(LabelledData {
        dataset: manifest.name,
        version: manifest.version,
        rows,
        batches,
    })
}

/// Loads a version's model artifact through the storage server.
pub async fn load_model(
    ctx: &SkillContext,
    version: &RegisteredVersion,
) -> Result<Arc<Model>, SkillError> {
    let key = version.artifact_key().map_err(SkillError::failed)?;
    let downloaded = download(ctx, key, MAX_DOWNLOAD_BYTES).await?;
    let bytes = decode(key, &downloaded)?;
    let model = Model::from_bytes(&bytes).map_err(|e| {
        SkillError::failed(format!(
            "{}'s artifact {key} is not a model this agent can load: {e}",
            version.label()
        ))
    })?;
    Ok(Arc::new(model))
}

/// A model's predictions on a dataset's complete rows, with the labels
/// (and the group of each row, when asked for).
#[derive(Debug, Clone)]
pub struct Scored {
    pub labels: Vec<i64>,
    /// Class labels at probability 0.5, as the model servers predict.
    pub predictions: Vec<i64>,
    /// P(class = 1).
    pub scores: Vec<f64>,
    pub groups: Option<Vec<String>>,
}

impl Scored {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// Why a model could not be scored on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreError {
    /// The dataset does not fit the model: a column is missing or has a
    /// type the model cannot take. The request chose the dataset.
    Unfit(String),
    /// The model itself failed to predict.
    Model(String),
}

impl ScoreError {
    /// As a skill error: an unfit dataset rejects `field`.
    pub fn into_skill_error(self, field: &str) -> SkillError {
        match self {
            ScoreError::Unfit(why) => SkillError::bad_field(field, why),
            ScoreError::Model(why) => SkillError::failed(why),
        }
    }
}

/// Scores `model` on `data`: every row with all of the model's features,
/// its label (the model's target column) and, when `group_column` is given,
/// its group present. Pure computation; run it off the async runtime.
pub fn score(
    model: &Model,
    data: &LabelledData,
    group_column: Option<&str>,
) -> Result<Scored, ScoreError> {
    let features = model.feature_names();
    let target = model.target();
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(data.rows);
    let mut labels = Vec::with_capacity(data.rows);
    let mut groups: Option<Vec<String>> = group_column.map(|_| Vec::with_capacity(data.rows));
    for batch in &data.batches {
        let columns = features
            .iter()
            .map(|name| numbers(column(batch, data, name, "feature")?, name))
            .collect::<Result<Vec<_>, _>>()?;
        let batch_labels = class_labels(column(batch, data, target, "label")?, target)?;
        let batch_groups = group_column
            .map(|name| group_names(column(batch, data, name, "protected attribute")?, name))
            .transpose()?;
        for (row, label) in batch_labels.iter().enumerate() {
            let values: Option<Vec<f64>> = columns.iter().map(|c| c[row]).collect();
            let group = batch_groups.as_ref().map(|g| g[row].clone());
            let (Some(values), Some(label)) = (values, label) else {
                continue;
            };
            match (group, groups.as_mut()) {
                (Some(Some(group)), Some(all)) => all.push(group),
                (Some(None), _) => continue,
                _ => {}
            }
            rows.push(values);
            labels.push(*label);
        }
    }
    if rows.is_empty() {
        return Err(ScoreError::Unfit(format!(
            "has no row with every column the model needs ({}, {target}{}) present",
            features.join(", "),
            group_column.map(|g| format!(", {g}")).unwrap_or_default()
        )));
    }
    let scores = model
        .predict_proba(&rows)
        .map_err(|e| ScoreError::Model(format!("the model failed to predict: {e}")))?;
    let predictions = scores.iter().map(|&p| i64::from(p >= 0.5)).collect();
    Ok(Scored {
        labels,
        predictions,
        scores,
        groups,
    })
}

/// [`score`] on a blocking thread, so a large forest does not stall the
/// agent's other tasks.
pub async fn score_off_runtime(
    model: Arc<Model>,
    data: &LabelledData,
    group_column: Option<&str>,
) -> Result<Scored, ScoreError> {
    let data = data.clone();
    let group_column = group_column.map(str::to_owned);
    tokio::task::spawn_blocking(move || score(&model, &data, group_column.as_deref()))
        .await
        .map_err(|e| ScoreError::Model(format!("scoring stopped unexpectedly: {e}")))?
}

fn column<'a>(
    batch: &'a RecordBatch,
    data: &LabelledData,
    name: &str,
    role: &str,
) -> Result<&'a dyn Array, ScoreError> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| {
            ScoreError::Unfit(format!(
                "{}@{} has no {role} column {name:?}",
                data.dataset,
                crate::request::short_hash(&data.version)
            ))
        })
}

/// The drift server's readers of columns, so the agent and the server
/// agree on what a column's values are.
fn unfit(error: mlops_mcp_kit::ToolError) -> ScoreError {
    ScoreError::Unfit(error.to_string())
}

/// A numeric or Boolean column as f64; nulls, NaN and ±∞ become missing.
fn numbers(array: &dyn Array, name: &str) -> Result<Vec<Option<f64>>, ScoreError> {
    mlops_mcp_drift::evaluation::numbers(array, &format!("column {name:?}")).map_err(unfit)
}

/// Class labels: integers, Booleans, or whole-valued floats.
fn class_labels(array: &dyn Array, name: &str) -> Result<Vec<Option<i64>>, ScoreError> {
    mlops_mcp_drift::evaluation::labels(array, &format!("label column {name:?}")).map_err(unfit)
}

/// Group names: strings as they are; integers and Booleans as text.
fn group_names(array: &dyn Array, name: &str) -> Result<Vec<Option<String>>, ScoreError> {
    mlops_mcp_drift::evaluation::groups(array, &format!("protected attribute column {name:?}"))
        .map_err(unfit)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};
    use mlops_models::{Algorithm, TrainingSet};

    use super::*;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    fn data(batch: RecordBatch) -> LabelledData {
        LabelledData {
            dataset: "holdout".into(),
            version: "f".repeat(64),
            rows: batch.num_rows(),
            batches: vec![batch],
        }
    }

    /// y = 1 exactly when x > 0.5: a model that finds it scores near-perfectly.
    fn model() -> Model {
        let x: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i) / 200.0]).collect();
        let y = x.iter().map(|r| i64::from(r[0] > 0.5)).collect();
        let set = TrainingSet {
            feature_names: vec!["x".into()],
            target: "y".into(),
            x,
            y,
        };
        mlops_models::train(&Algorithm::LogisticRegression { l2: 0.01 }, &set, 1).unwrap()
    }

    #[test]
    fn scores_complete_rows_and_keeps_groups_aligned() {
        let b = batch(vec![
            (
                "x",
                Arc::new(Float64Array::from(vec![
                    Some(0.1),
                    Some(0.9),
                    None,
                    Some(0.95),
                ])),
            ),
            ("y", Arc::new(Int64Array::from(vec![0, 1, 1, 1]))),
            (
                "g",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("b"),
                    Some("b"),
                ])),
            ),
        ]);
        let scored = score(&model(), &data(b.clone()), Some("g")).unwrap();
        // Row 1 lacks a group, row 2 a feature.
        assert_eq!(scored.labels, vec![0, 1]);
        assert_eq!(scored.groups, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(scored.predictions, vec![0, 1]);
        assert!(scored.scores[0] < 0.5 && scored.scores[1] > 0.5);
        let without_groups = score(&model(), &data(b), None).unwrap();
        assert_eq!(without_groups.rows(), 3);
        assert_eq!(without_groups.groups, None);
    }

    #[test]
    fn an_unfit_dataset_says_which_column() {
        let no_label = batch(vec![(
            "x",
            Arc::new(Float64Array::from(vec![0.2])) as ArrayRef,
        )]);
        let err = score(&model(), &data(no_label), None).unwrap_err();
        assert!(
            matches!(&err, ScoreError::Unfit(m) if m.contains("label column \"y\"")),
            "{err:?}"
        );
        let text_feature = batch(vec![
            ("x", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
            ("y", Arc::new(Int64Array::from(vec![1]))),
        ]);
        let err = score(&model(), &data(text_feature), None).unwrap_err();
        assert!(
            matches!(&err, ScoreError::Unfit(m) if m.contains("column \"x\"") && m.contains("must be numeric")),
            "{err:?}"
        );
        let fractional = batch(vec![
            ("x", Arc::new(Float64Array::from(vec![0.2])) as ArrayRef),
            ("y", Arc::new(Float64Array::from(vec![0.5]))),
        ]);
        let err = score(&model(), &data(fractional), None).unwrap_err();
        assert!(
            matches!(&err, ScoreError::Unfit(m) if m.contains("whole numbers")),
            "{err:?}"
        );
        let empty = batch(vec![
            (
                "x",
                Arc::new(Float64Array::from(vec![None::<f64>])) as ArrayRef,
            ),
            ("y", Arc::new(Int64Array::from(vec![1]))),
        ]);
        assert!(matches!(
            score(&model(), &data(empty), None),
            Err(ScoreError::Unfit(_))
        ));
        let rejected = ScoreError::Unfit("x".into()).into_skill_error("holdout");
        assert!(rejected.to_string().contains("`holdout`"));
    }

    #[test]
    fn groups_and_labels_accept_other_types() {
        let bools = BooleanArray::from(vec![true, false]);
        assert_eq!(
            group_names(&bools, "g").unwrap(),
            vec![Some("true".to_owned()), Some("false".to_owned())]
        );
        let codes = Int64Array::from(vec![Some(0), None]);
        assert_eq!(
            group_names(&codes, "g").unwrap(),
            vec![Some("0".to_owned()), None]
        );
        assert_eq!(class_labels(&bools, "y").unwrap(), vec![Some(1), Some(0)]);
        let odd = Float64Array::from(vec![f64::INFINITY]);
        assert_eq!(numbers(&odd, "x").unwrap(), vec![None]);
    }
}
