//! Windows of the prediction log the traffic routers write.
//!
//! The contract: Parquet segments under
//! `prediction-logs/{model}/{YYYY-MM-DD}/{unix_millis}-{anything}.parquet`
//! on the data-plane object store, with columns `_ts_ms` (Int64, epoch
//! milliseconds), `_version` (Utf8), `_output` (Float64), `_latency_ms`
//! (Float64) and one column per input feature named as the feature. A window
//! reads every segment whose date directory falls in the window and keeps
//! the rows with `since ≤ _ts_ms < until`; only feature columns (names not
//! starting with `_`) are compared.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{BooleanArray, RecordBatch};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::TryStreamExt;
use mlops_mcp_kit::ToolError;
use mlops_mcp_storage::store_error;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

/// The longest window one report may read.
pub const MAX_WINDOW_DAYS: i64 = 92;
/// At most this many rows per window: the storage server's limit for one
/// dataset version, so a window costs no more than a dataset.
pub const MAX_ROWS: usize = 5_000_000;

/// A validated window of one model's prediction log.
#[derive(Debug, Clone, Serialize)]
pub struct LogWindow {
    pub model: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl LogWindow {
    /// `since` and `until` are RFC 3339 times; `until` defaults to now.
    pub fn parse(model: &str, since: &str, until: Option<&str>) -> Result<LogWindow, ToolError> {
        let model = mlops_mcp_kit::slug("model", model, 63)?;
        let time = |what: &str, raw: &str| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ToolError::Invalid(format!(
                        "{what} {raw:?} is not an RFC 3339 time such as 2026-11-23T10:00:00Z: {e}"
                    ))
                })
        };
        let since = time("since", since)?;
        let until = match until {
            Some(raw) => time("until", raw)?,
            None => Utc::now(),
        };
        if since >= until {
            return Err(ToolError::Invalid(format!(
                "the window is empty: since {since} is not before until {until}"
            )));
        }
        if until - since > Duration::days(MAX_WINDOW_DAYS) {
            return Err(ToolError::Invalid(format!(
                "the window is longer than {MAX_WINDOW_DAYS} days; narrow since/until"
            )));
        }
        Ok(LogWindow {
            model,
            since,
            until,
        })
    }

    fn dates(&self) -> Vec<NaiveDate> {
        let last = self.until.date_naive();
        let mut day = self.since.date_naive();
        let mut days = vec![day];
        while day < last {
            match day.succ_opt() {
                Some(next) => {
                    day = next;
                    days.push(day);
                }
                None => break,
            }
        }
        days
    }
}

/// The rows of a window: feature columns only, one batch per segment part.
#[derive(Debug, Clone)]
pub struct LogRows {
    pub batches: Vec<RecordBatch>,
    pub segments: usize,
    pub rows: usize,
}

/// Which columns of the log a reader keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    /// The input features (names not starting with `_`): what drift compares.
    Features,
    /// `_version` and `_output`: what the model answered, per version.
    Outputs,
}

impl Columns {
    fn keeps(self, name: &str) -> bool {
        match self {
            Columns::Features => !name.starts_with('_'),
            Columns::Outputs => name == "_version" || name == "_output",
        }
    }
}

/// Reads the window's segments and keeps its rows and feature columns.
pub async fn read_window(
    store: &Arc<dyn ObjectStore>,
    window: &LogWindow,
) -> Result<LogRows, ToolError> {
    read_window_columns(store, window, Columns::Features).await
}

/// Reads the window's segments and keeps its rows and `columns`.
pub async fn read_window_columns(
    store: &Arc<dyn ObjectStore>,
    window: &LogWindow,
    columns: Columns,
) -> Result<LogRows, ToolError> {
    let since_ms = window.since.timestamp_millis();
    let until_ms = window.until.timestamp_millis();
    let mut keys: Vec<Path> = Vec::new();
    for date in window.dates() {
        let prefix = Path::from(format!(
            "prediction-logs/{}/{}",
            window.model,
            date.format("%Y-%m-%d")
        ));
        let listed: Vec<_> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(store_error("list prediction-log segments"))?;
        for meta in listed {
            let name = meta.location.filename().unwrap_or_default();
            if is_segment_name(name) {
                keys.push(meta.location);
            } else {
                tracing::warn!(key = %meta.location, "not a prediction-log segment name; ignored");
            }
        }
    }
    keys.sort();
    let mut batches = Vec::new();
    let mut rows = 0usize;
    for key in &keys {
        let bytes = store
            .get(key)
            .await
            .map_err(store_error("read a prediction-log segment"))?
            .bytes()
            .await
            .map_err(store_error("read a prediction-log segment"))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.with_batch_size(1 << 16).build())
            .map_err(|e| {
                ToolError::Conflict(format!(
                    "prediction-log segment {key} is not readable Parquet: {e}"
                ))
            })?;
        for batch in reader {
            let batch = batch.map_err(|e| {
                ToolError::Conflict(format!(
                    "prediction-log segment {key} is not readable Parquet: {e}"
                ))
            })?;
            let kept = window_rows(&batch, since_ms, until_ms, columns).map_err(|why| {
                ToolError::Conflict(format!("prediction-log segment {key} {why}"))
            })?;
            if kept.num_rows() > 0 {
                rows += kept.num_rows();
                if rows > MAX_ROWS {
                    return Err(ToolError::Invalid(format!(
                        "the window holds more than {MAX_ROWS} rows; narrow since/until"
                    )));
                }
                batches.push(kept);
            }
        }
    }
    Ok(LogRows {
        batches,
        segments: keys.len(),
        rows,
    })
}

/// `{unix_millis}-{anything}.parquet`.
fn is_segment_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".parquet") else {
        return false;
    };
    match stem.split_once('-') {
        Some((millis, _)) => !millis.is_empty() && millis.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// The rows of `batch` inside [since, until), `columns` only.
fn window_rows(
    batch: &RecordBatch,
    since_ms: i64,
    until_ms: i64,
    columns: Columns,
) -> Result<RecordBatch, String> {
    let ts = batch
        .column_by_name("_ts_ms")
        .ok_or("has no _ts_ms column")?;
    let ts = ts
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| format!("has _ts_ms as {}, not Int64", ts.data_type()))?;
    let mask: BooleanArray = ts
        .iter()
        .map(|t| Some(t.is_some_and(|t| t >= since_ms && t < until_ms)))
        .collect();
    let features: Vec<usize> = batch
        .schema_ref()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| columns.keeps(f.name()))
        .map(|(i, _)| i)
        .collect();
    let projected = batch
        .project(&features)
        .map_err(|e| format!("cannot be projected: {e}"))?;
    arrow_select::filter::filter_record_batch(&projected, &mask)
        .map_err(|e| format!("cannot be filtered: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_follow_the_contract() {
        assert!(is_segment_name("1763900000000-a1b2.parquet"));
        assert!(is_segment_name("1763900000000-router-0-part-3.parquet"));
        assert!(!is_segment_name("latest.parquet"));
        assert!(!is_segment_name("1763900000000-a1b2.json"));
        assert!(!is_segment_name("-x.parquet"));
    }

    #[test]
    fn windows_are_validated() {
        let ok = LogWindow::parse(
            "fraud-detector",
            "2026-11-20T00:00:00Z",
            Some("2026-11-22T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(ok.dates().len(), 3);
        let err = LogWindow::parse(
            "fraud-detector",
            "2026-11-22T00:00:00Z",
            Some("2026-11-20T00:00:00Z"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = LogWindow::parse("fraud-detector", "yesterday", None).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
        let err = LogWindow::parse("Fraud", "2026-11-20T00:00:00Z", None).unwrap_err();
        assert!(err.to_string().contains("model"), "{err}");
        let err = LogWindow::parse("m", "2026-01-01T00:00:00Z", Some("2026-11-01T00:00:00Z"))
            .unwrap_err();
        assert!(err.to_string().contains("92 days"), "{err}");
    }
}
