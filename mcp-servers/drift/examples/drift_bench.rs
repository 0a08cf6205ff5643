//! The drift benchmark's measured side (run by `cargo xtask bench`): reads
//! two column-major f64 files, runs the default drift report over them
//! `rounds` times, and prints the timings and per-column results as JSON.
//!
//! Usage: drift_bench REFERENCE.bin CURRENT.bin ROWS COLUMNS ROUNDS

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use mlops_mcp_drift::report::{DriftOptions, drift_report};

fn read_columns(path: &str, rows: usize, columns: usize) -> RecordBatch {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    assert_eq!(bytes.len(), rows * columns * 8, "{path} has the wrong size");
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let fields: Vec<Field> = (0..columns)
        .map(|i| Field::new(format!("f{i}"), DataType::Float64, false))
        .collect();
    let arrays: Vec<ArrayRef> = values
        .chunks_exact(rows)
        .map(|col| Arc::new(Float64Array::from(col.to_vec())) as ArrayRef)
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("a batch")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, reference, current, rows, columns, rounds] = args.as_slice() else {
        eprintln!("usage: drift_bench REFERENCE.bin CURRENT.bin ROWS COLUMNS ROUNDS");
        std::process::exit(2);
    };
    let parse = |s: &str| s.parse::<usize>().expect("a number");
    let (rows, columns, rounds) = (parse(rows), parse(columns), parse(rounds));
    let reference = read_columns(reference, rows, columns);
    let current = read_columns(current, rows, columns);
    let options = DriftOptions::default();
    let mut seconds = Vec::new();
    let mut last = None;
    for _ in 0..rounds {
        let started = Instant::now();
        let report = drift_report(&reference, &current, &options).expect("a drift report");
        seconds.push(started.elapsed().as_secs_f64());
        last = Some(report);
    }
    let report = last.expect("at least one round");
    let columns: Vec<serde_json::Value> = report
        .columns
        .iter()
        .map(|c| {
            serde_json::json!({
                "column": c.column,
                "stattest": c.stattest_name,
                "score": c.score,
                "drift_detected": c.drift_detected,
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "drifted_columns": report.number_of_drifted_columns,
            "dataset_drift": report.dataset_drift,
            "columns": columns,
        })
    );
}
