//! Datasets: rows or a CSV object become one Parquet file plus a manifest
//! with a sha256 per file. The version id is the hash of the content, so the
//! same data always gets the same version, and a version never changes.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use bytes::Bytes;
use mlops_mcp_kit::ToolError;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

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
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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
