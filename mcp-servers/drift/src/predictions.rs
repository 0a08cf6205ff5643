//! The prediction distribution: how the scores a model served are spread,
//! per version, over a window of the prediction log. A shift here is often
//! the first sign of drift, and a canary whose scores differ from stable's
//! is worth a look before its error rate says so.

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use serde::Serialize;

/// Equal-width bins over the scores: [0, 1] when every score is a
/// probability, else from the smallest to the largest score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// `bins + 1` edges; bin i is [edges[i], edges[i+1]), the last one closed.
    pub edges: Vec<f64>,
    pub versions: Vec<VersionScores>,
    pub rows: usize,
    /// Rows with no score (a failed prediction) or no version.
    pub rows_without_score: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionScores {
    pub version: String,
    pub count: usize,
    pub mean: f64,
    pub counts: Vec<u64>,
}

/// `(version, score)` pairs of the log's `_version` and `_output` columns.
pub fn scores(batches: &[RecordBatch]) -> Result<(Vec<(String, f64)>, usize), String> {
    let mut out = Vec::new();
    let mut missing = 0;
    for batch in batches {
        let version = batch
            .column_by_name("_version")
            .ok_or("the log has no _version column")?;
        let version = version
            .as_string_opt::<i32>()
            .ok_or_else(|| format!("_version is {}, not Utf8", version.data_type()))?;
        let output = batch
            .column_by_name("_output")
            .ok_or("the log has no _output column")?;
        let output = output
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| format!("_output is {}, not Float64", output.data_type()))?;
        for (v, o) in version.iter().zip(output.iter()) {
            match (v, o) {
                (Some(v), Some(o)) if o.is_finite() => out.push((v.to_owned(), o)),
                _ => missing += 1,
            }
        }
    }
    Ok((out, missing))
}

/// Bins `scores` per version; versions in numeric order when they are
/// numbers.
pub fn distribution(scores: &[(String, f64)], missing: usize, bins: usize) -> Distribution {
    let bins = bins.max(1);
    let (lo, hi) = scores
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, s)| {
            (lo.min(*s), hi.max(*s))
        });
    let (lo, hi) = if scores.is_empty() || (lo >= 0.0 && hi <= 1.0) {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let width = (hi - lo) / bins as f64;
    let edges = (0..=bins).map(|i| lo + width * i as f64).collect();
    let mut versions: Vec<VersionScores> = Vec::new();
    for (version, score) in scores {
        let at = match versions.iter().position(|v| &v.version == version) {
            Some(at) => at,
            None => {
                versions.push(VersionScores {
                    version: version.clone(),
                    count: 0,
                    mean: 0.0,
                    counts: vec![0; bins],
                });
                versions.len() - 1
            }
        };
        let v = &mut versions[at];
        let bin = (((score - lo) / width) as usize).min(bins - 1);
        v.counts[bin] += 1;
        v.count += 1;
        // A running mean: no sum to overflow precision on long windows.
        v.mean += (score - v.mean) / v.count as f64;
    }
    versions.sort_by(
        |a, b| match (a.version.parse::<u64>(), b.version.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.version.cmp(&b.version),
        },
    );
    Distribution {
        edges,
        versions,
        rows: scores.len() + missing,
        rows_without_score: missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn probabilities_are_binned_over_zero_to_one_per_version() {
        let scores: Vec<(String, f64)> = [("2", 0.05), ("1", 0.15), ("1", 0.95), ("1", 1.0)]
            .iter()
            .map(|(v, s)| (v.to_string(), *s))
            .collect();
        let d = distribution(&scores, 1, 10);
        assert_eq!(d.edges.len(), 11);
        assert_eq!(d.edges[0], 0.0);
        assert!((d.edges[10] - 1.0).abs() < 1e-12);
        assert_eq!(d.rows, 5);
        assert_eq!(d.rows_without_score, 1);
        assert_eq!(d.versions[0].version, "1");
        assert_eq!(d.versions[0].counts[1], 1);
        // 0.95 and the closed upper edge 1.0 both land in the last bin.
        assert_eq!(d.versions[0].counts[9], 2);
        assert!((d.versions[0].mean - (0.15 + 0.95 + 1.0) / 3.0).abs() < 1e-12);
        assert_eq!(d.versions[1].counts[0], 1);
    }

    #[test]
    fn other_scores_span_their_range() {
        let scores = vec![("1".to_owned(), -2.0), ("1".to_owned(), 6.0)];
        let d = distribution(&scores, 0, 4);
        assert_eq!(d.edges, vec![-2.0, 0.0, 2.0, 4.0, 6.0]);
        assert_eq!(d.versions[0].counts, vec![1, 0, 0, 1]);
        let constant = distribution(&[("1".to_owned(), 3.0)], 0, 2);
        assert_eq!(constant.edges, vec![2.5, 3.0, 3.5]);
        assert_eq!(distribution(&[], 0, 3).edges.len(), 4);
    }

    #[test]
    fn scores_come_from_the_version_and_output_columns() {
        let batch = RecordBatch::try_from_iter([
            (
                "_version",
                Arc::new(StringArray::from(vec![Some("1"), Some("2"), None])) as _,
            ),
            (
                "_output",
                Arc::new(Float64Array::from(vec![Some(0.2), None, Some(0.3)])) as _,
            ),
        ])
        .unwrap();
        let (pairs, missing) = scores(&[batch]).unwrap();
        assert_eq!(pairs, vec![("1".to_owned(), 0.2)]);
        assert_eq!(missing, 2);
    }
}
