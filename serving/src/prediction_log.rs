//! The router's prediction log: every scored instance (features, output,
//! version, latency), buffered and written as Parquet segments to the
//! object store, where the drift server reads windows of it.
//!
//! Layout (the contract with the drift server):
//! `prediction-logs/{model}/{YYYY-MM-DD}/{unix_millis}-{uuid}.parquet`, with
//! columns `_ts_ms` (Int64, epoch ms), `_version` (Utf8), `_output`
//! (Float64, the score), `_latency_ms` (Float64), then one Float64 column
//! per feature, named as the feature. A segment holds one model's rows.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use parquet::arrow::ArrowWriter;
use tokio_util::sync::CancellationToken;

/// A buffer is written once it holds this many rows, or every
/// [`FLUSH_EVERY`], whichever comes first.
pub const FLUSH_ROWS: usize = 50_000;
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// One scored instance.
#[derive(Debug, Clone)]
pub struct LoggedPrediction {
    pub ts_ms: i64,
    pub version: Arc<str>,
    pub output: f64,
    pub latency_ms: f64,
    pub feature_names: Arc<[String]>,
    pub features: Vec<f64>,
}

/// Shared by the router's handlers; cheap to clone.
#[derive(Clone)]
pub struct PredictionLog {
    model: String,
    store: DatasetStore,
    buffer: Arc<Mutex<Vec<LoggedPrediction>>>,
    flushing: Arc<tokio::sync::Mutex<()>>,
}

impl PredictionLog {
    pub fn new(model: &str, store: DatasetStore) -> Self {
        PredictionLog {
            model: model.to_owned(),
            store,
            buffer: Arc::default(),
            flushing: Arc::default(),
        }
    }

    /// Adds rows; returns true when the buffer is due for a flush.
    pub fn append(&self, rows: impl IntoIterator<Item = LoggedPrediction>) -> bool {
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        buffer.extend(rows);
        buffer.len() >= FLUSH_ROWS
    }

    /// Writes whatever is buffered as one segment. Rows whose write fails
    /// go back to the buffer, so a store outage delays the log but does
    /// not drop it.
    pub async fn flush(&self) -> Result<usize, String> {
        let _one_at_a_time = self.flushing.lock().await;
        let rows = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|p| p.into_inner()));
        if rows.is_empty() {
            return Ok(0);
        }
        let written = rows.len();
        let result = async {
            let first_ts = rows.first().map(|r| r.ts_ms).unwrap_or_default();
            let (key, bytes) = segment(&self.model, first_ts, &rows)?;
            self.store
                .write_object(&key, Bytes::from(bytes))
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = result {
            let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
            let newer = std::mem::replace(&mut *buffer, rows);
            buffer.extend(newer);
            return Err(e);
        }
        Ok(written)
    }

    /// Flushes on a timer until `shutdown`, then once more.
    pub async fn run_flusher(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            if let Err(e) = self.flush().await {
                tracing::warn!(model = %self.model, error = %e, "prediction log flush failed; will retry");
            }
        }
        if let Err(e) = self.flush().await {
            tracing::error!(model = %self.model, error = %e, "final prediction log flush failed");
        }
    }
}

/// The object key and Parquet bytes of one segment.
fn segment(
    model: &str,
    first_ts: i64,
    rows: &[LoggedPrediction],
) -> Result<(ObjectKey, Vec<u8>), String> {
    let date = chrono::DateTime::from_timestamp_millis(first_ts)
        .unwrap_or_default()
        .format("%Y-%m-%d");
    let key = ObjectKey::parse(&format!(
        "prediction-logs/{model}/{date}/{first_ts}-{}.parquet",
        uuid::Uuid::now_v7()
    ))
    .map_err(|e| e.to_string())?;
    let batch = to_batch(rows).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), None).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok((key, bytes))
}

/// Rows → one batch. Versions may differ in features, so the columns are
/// the union of feature names; a row lacking one gets a null.
pub fn to_batch(rows: &[LoggedPrediction]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let names: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.feature_names.iter().map(String::as_str))
        .collect();
    let mut fields = vec![
        Field::new("_ts_ms", DataType::Int64, false),
        Field::new("_version", DataType::Utf8, false),
        Field::new("_output", DataType::Float64, false),
        Field::new("_latency_ms", DataType::Float64, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.ts_ms))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &*r.version),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.output),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.latency_ms),
        )),
    ];
    for name in names {
        fields.push(Field::new(name, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            r.feature_names
                .iter()
                .position(|n| n == name)
                .map(|i| r.features[i])
        }))));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn row(version: &str, names: &[&str], features: &[f64]) -> LoggedPrediction {
        LoggedPrediction {
            ts_ms: 1_763_900_000_000,
            version: version.into(),
            output: 0.25,
            latency_ms: 1.5,
            feature_names: names.iter().map(|s| s.to_string()).collect(),
            features: features.to_vec(),
        }
    }

    #[test]
    fn columns_are_the_union_of_features() {
        let batch = to_batch(&[
            row("1", &["amount", "hour"], &[10.0, 3.0]),
            row("2", &["amount"], &[20.0]),
        ])
        .unwrap();
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "_ts_ms",
                "_version",
                "_output",
                "_latency_ms",
                "amount",
                "hour"
            ]
        );
        let hour = batch
            .column(5)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert!(hour.is_null(1));
    }

    #[tokio::test]
    async fn flush_writes_a_dated_parquet_segment() {
        let dir = tempfile::tempdir().unwrap();
        let store = DatasetStore::local(dir.path()).unwrap();
        let log = PredictionLog::new("fraud-detector", store.clone());
        log.append([row("1", &["amount"], &[1.0]), row("1", &["amount"], &[2.0])]);
        assert_eq!(log.flush().await.unwrap(), 2);
        assert_eq!(log.flush().await.unwrap(), 0, "nothing left");
        let day = dir.path().join("prediction-logs/fraud-detector/2025-11-23");
        let files: Vec<_> = std::fs::read_dir(&day).unwrap().collect();
        assert_eq!(files.len(), 1);
        let path = files[0].as_ref().unwrap().path();
        let bytes = Bytes::from(std::fs::read(path).unwrap());
        let batch = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.num_rows(), 2);
    }
}
