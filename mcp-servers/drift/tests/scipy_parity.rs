//! Parity of every drift score and flag with scipy, and with Evidently 0.7
//! itself when `MLOPS_EVIDENTLY_PYTHON` names a Python that has it.
//!
//! Seeded test vectors are generated here (sizes around Evidently's
//! 1000-row boundary and scipy's 10 000-value exact-KS limit; normal,
//! shifted, discrete, categorical, binary, with nulls, constant), written as
//! JSON, and scored by `tests/parity/scipy_reference.py` (numpy, pandas,
//! scipy). Every score must agree to 1e-9 relative (1e-12 absolute near
//! zero) and every drift flag exactly.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{Field, Schema};
use mlops_mcp_drift::{DriftOptions, DriftReport, StatTest, drift_report};
use serde_json::{Value, json};

/// xoshiro256** seeded through splitmix64: the same vectors on every run.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal by Box–Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

#[derive(Clone)]
enum Values {
    Float(Vec<Option<f64>>),
    Int(Vec<Option<i64>>),
    Str(Vec<String>),
    Bool(Vec<bool>),
}

impl Values {
    fn kind(&self) -> &'static str {
        match self {
            Values::Float(_) => "float",
            Values::Int(_) => "int",
            Values::Str(_) => "str",
            Values::Bool(_) => "bool",
        }
    }

    fn json(&self) -> Value {
        match self {
            Values::Float(v) => json!(v),
            Values::Int(v) => json!(v),
            Values::Str(v) => json!(v),
            Values::Bool(v) => json!(v),
        }
    }

    fn array(&self) -> ArrayRef {
        match self {
            Values::Float(v) => Arc::new(Float64Array::from(v.clone())),
            Values::Int(v) => Arc::new(Int64Array::from(v.clone())),
            Values::Str(v) => Arc::new(StringArray::from(v.clone())),
            Values::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
        }
    }
}

struct ColumnSpec {
    name: &'static str,
    reference: Values,
    current: Values,
}

struct Case {
    name: String,
    columns: Vec<ColumnSpec>,
}

/// The columns of one case, with `n_ref` and `n_cur` rows.
fn columns(rng: &mut Rng, n_ref: usize, n_cur: usize) -> Vec<ColumnSpec> {
    let floats = |n: usize, f: &mut dyn FnMut(&mut Rng) -> Option<f64>, rng: &mut Rng| {
        Values::Float((0..n).map(|_| f(rng)).collect())
    };
    let mut spec = Vec::new();
    let mut add = |name, reference, current| {
        spec.push(ColumnSpec {
            name,
            reference,
            current,
        })
    };
    add(
        "normal",
        floats(n_ref, &mut |r| Some(r.normal()), rng),
        floats(n_cur, &mut |r| Some(r.normal()), rng),
    );
    add(
        "shifted",
        floats(n_ref, &mut |r| Some(r.normal()), rng),
        floats(n_cur, &mut |r| Some(r.normal() + 0.3), rng),
    );
    add(
        "widened",
        floats(n_ref, &mut |r| Some(r.normal()), rng),
        floats(n_cur, &mut |r| Some(1.3 * r.normal()), rng),
    );
    add(
        "far",
        floats(n_ref, &mut |r| Some(r.normal()), rng),
        floats(n_cur, &mut |r| Some(r.normal() + 2.0), rng),
    );
    add(
        "with_nulls",
        floats(n_ref, &mut |r| (r.uniform() > 0.1).then(|| r.normal()), rng),
        floats(
            n_cur,
            &mut |r| (r.uniform() > 0.15).then(|| r.normal() + 0.2),
            rng,
        ),
    );
    add(
        "few_floats",
        floats(
            n_ref,
            &mut |r| Some([0.5, 1.5, 2.5][r.pick(&[0.3, 0.4, 0.3])]),
            rng,
        ),
        floats(
            n_cur,
            &mut |r| Some([0.5, 1.5, 2.5][r.pick(&[0.35, 0.4, 0.25])]),
            rng,
        ),
    );
    add(
        "binary_num",
        floats(
            n_ref,
            &mut |r| Some(f64::from(u8::from(r.uniform() < 0.3))),
            rng,
        ),
        floats(
            n_cur,
            &mut |r| Some(f64::from(u8::from(r.uniform() < 0.38))),
            rng,
        ),
    );
    add(
        "constant",
        floats(n_ref, &mut |_| Some(3.0), rng),
        floats(n_cur, &mut |_| Some(3.0), rng),
    );
    let ints = |n: usize, f: &mut dyn FnMut(&mut Rng) -> Option<i64>, rng: &mut Rng| {
        Values::Int((0..n).map(|_| f(rng)).collect())
    };
    add(
        "discrete",
        ints(
            n_ref,
            &mut |r| Some(r.pick(&[0.1, 0.2, 0.3, 0.25, 0.15]) as i64),
            rng,
        ),
        ints(
            n_cur,
            &mut |r| Some(r.pick(&[0.15, 0.2, 0.25, 0.25, 0.15]) as i64),
            rng,
        ),
    );
    add(
        "wide_ints",
        ints(n_ref, &mut |r| Some((r.uniform() * 60.0) as i64), rng),
        ints(n_cur, &mut |r| Some(5 + (r.uniform() * 60.0) as i64), rng),
    );
    add(
        "int_nulls",
        ints(
            n_ref,
            &mut |r| (r.uniform() > 0.05).then(|| r.pick(&[1.0, 1.0, 1.0, 1.0]) as i64),
            rng,
        ),
        ints(
            n_cur,
            &mut |r| (r.uniform() > 0.05).then(|| r.pick(&[1.0, 1.2, 1.0, 0.8]) as i64),
            rng,
        ),
    );
    let strings = |n: usize, labels: &[&str], weights: &[f64], rng: &mut Rng| {
        Values::Str(
            (0..n)
                .map(|_| labels[rng.pick(weights)].to_owned())
                .collect(),
        )
    };
    let letters = ["a", "b", "c", "d", "e", "f"];
    add(
        "category",
        strings(n_ref, &letters, &[0.3, 0.2, 0.2, 0.1, 0.1, 0.1], rng),
        strings(n_cur, &letters, &[0.25, 0.25, 0.2, 0.1, 0.1, 0.1], rng),
    );
    add(
        "binary_cat",
        strings(n_ref, &["no", "yes"], &[0.8, 0.2], rng),
        strings(n_cur, &["no", "yes"], &[0.75, 0.25], rng),
    );
    add(
        "new_category",
        strings(n_ref, &["x", "y", "z"], &[0.5, 0.3, 0.2], rng),
        strings(n_cur, &["x", "y", "z", "w"], &[0.5, 0.3, 0.18, 0.02], rng),
    );
    add(
        "flag",
        Values::Bool((0..n_ref).map(|_| rng.uniform() < 0.4).collect()),
        Values::Bool((0..n_cur).map(|_| rng.uniform() < 0.45).collect()),
    );
    spec
}

fn cases() -> Vec<Case> {
    let sizes = [
        ("n50", 50, 50),
        ("n500", 500, 400),
        ("n999", 999, 1001),
        ("n1001", 1001, 999),
        ("unequal_small", 120, 77),
        ("asymptotic_n100", 20_000, 100),
        ("asymptotic_n293", 300, 12_000),
        ("n20k", 20_000, 20_000),
    ];
    sizes
        .iter()
        .enumerate()
        .map(|(i, &(name, n_ref, n_cur))| {
            let mut rng = Rng::new(0xd1f7 + i as u64);
            Case {
                name: name.to_owned(),
                columns: columns(&mut rng, n_ref, n_cur),
            }
        })
        .collect()
}

fn batch(columns: &[ColumnSpec], side: fn(&ColumnSpec) -> &Values) -> RecordBatch {
    let arrays: Vec<ArrayRef> = columns.iter().map(|c| side(c).array()).collect();
    let fields: Vec<Field> = columns
        .iter()
        .zip(&arrays)
        .map(|(c, a)| Field::new(c.name, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("a valid batch")
}

/// One comparison to make: a column in a report run of a group.
struct Check {
    group: String,
    column: String,
    test: Option<StatTest>,
    threshold: Option<f64>,
}

/// The Rust reports for a case: the default run, one run per explicit
/// test over the columns it applies to, and one with custom thresholds.
fn rust_runs(case: &Case) -> CaseRuns {
    let reference = batch(&case.columns, |c| &c.reference);
    let current = batch(&case.columns, |c| &c.current);
    let mut checks = Vec::new();
    let mut results = BTreeMap::new();
    let mut drifted_counts = BTreeMap::new();
    let mut record = |group: &str,
                      report: &DriftReport,
                      test: Option<StatTest>,
                      thresholds: &BTreeMap<String, f64>,
                      checks: &mut Vec<Check>| {
        assert!(
            report.skipped_columns.is_empty(),
            "{}: skipped {:?}",
            case.name,
            report.skipped_columns
        );
        drifted_counts.insert(group.to_owned(), report.number_of_drifted_columns);
        for column in &report.columns {
            checks.push(Check {
                group: group.to_owned(),
                column: column.column.clone(),
                test,
                threshold: thresholds.get(&column.column).copied(),
            });
            let column_type = serde_json::to_value(column.column_type).unwrap();
            results.insert(
                (group.to_owned(), column.column.clone()),
                (
                    column.stattest.name().to_owned(),
                    column_type.as_str().unwrap().to_owned(),
                    column.score,
                    column.threshold,
                    column.drift_detected,
                ),
            );
        }
    };
    let default =
        drift_report(&reference, &current, &DriftOptions::default()).expect("default report");
    record("default", &default, None, &BTreeMap::new(), &mut checks);
    for test in StatTest::ALL {
        let columns: Vec<String> = default
            .columns
            .iter()
            .filter(|c| applies(test, c.column_type))
            .map(|c| c.column.clone())
            .collect();
        let options = DriftOptions {
            columns: Some(columns),
            stattest: Some(test),
            ..Default::default()
        };
        let report = drift_report(&reference, &current, &options).expect("explicit report");
        record(
            &format!("test:{}", test.name()),
            &report,
            Some(test),
            &BTreeMap::new(),
            &mut checks,
        );
    }
    let thresholds: BTreeMap<String, f64> = [
        ("shifted", 0.01),
        ("category", 0.3),
        ("discrete", 0.2),
        ("wide_ints", 0.03),
    ]
    .into_iter()
    .map(|(c, t)| (c.to_owned(), t))
    .collect();
    let options = DriftOptions {
        per_column_stattest_threshold: thresholds.clone(),
        ..Default::default()
    };
    let report = drift_report(&reference, &current, &options).expect("threshold report");
    record("thresholds", &report, None, &thresholds, &mut checks);
    CaseRuns {
        checks,
        results,
        drifted_counts,
    }
}

/// The Rust side of one case: the checks to send to the reference, and
/// the results and drifted-column counts keyed by (group, column).
struct CaseRuns {
    checks: Vec<Check>,
    results: BTreeMap<(String, String), RustResult>,
    drifted_counts: BTreeMap<String, usize>,
}

fn applies(test: StatTest, column_type: mlops_mcp_drift::ColumnType) -> bool {
    use mlops_mcp_drift::ColumnType::*;
    match test {
        StatTest::Ks | StatTest::Wasserstein => column_type == Numerical,
        StatTest::Chisquare | StatTest::Z => column_type == Categorical,
        _ => true,
    }
}

fn spec_json(cases: &[Case], checks: &[Vec<Check>]) -> Value {
    json!({
        "cases": cases.iter().zip(checks).map(|(case, checks)| json!({
            "name": case.name,
            "columns": case.columns.iter().map(|c| json!({
                "name": c.name,
                "kind": c.reference.kind(),
                "reference": c.reference.json(),
                "current": c.current.json(),
            })).collect::<Vec<_>>(),
            "checks": checks.iter().map(|c| json!({
                "group": c.group,
                "column": c.column,
                "test": c.test.map(|t| t.name()),
                "threshold": c.threshold,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn run_python(python: &str, script: &str, input: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity")
        .join(script);
    let output = Command::new(python)
        .arg(&script)
        .arg(input)
        .output()
        .expect("running the Python reference");
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the reference prints JSON")
}

fn same_score(rust: f64, reference: &Value) -> bool {
    match reference {
        Value::String(s) if s == "nan" => rust.is_nan(),
        Value::String(s) if s == "inf" => rust == f64::INFINITY,
        Value::String(s) if s == "-inf" => rust == f64::NEG_INFINITY,
        Value::Number(n) => {
            let b = n.as_f64().expect("a number");
            (rust - b).abs() <= (1e-9 * b.abs()).max(1e-12)
        }
        _ => false,
    }
}

struct Prepared {
    cases: Vec<Case>,
    results: Vec<BTreeMap<(String, String), RustResult>>,
    counts: Vec<BTreeMap<String, usize>>,
    spec_file: tempfile::NamedTempFile,
}

fn prepare() -> Prepared {
    let cases = cases();
    let mut all_checks = Vec::new();
    let mut results = Vec::new();
    let mut counts = Vec::new();
    for case in &cases {
        let runs = rust_runs(case);
        all_checks.push(runs.checks);
        results.push(runs.results);
        counts.push(runs.drifted_counts);
    }
    let spec = spec_json(&cases, &all_checks);
    let spec_file = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(spec_file.path(), serde_json::to_vec(&spec).unwrap()).unwrap();
    Prepared {
        cases,
        results,
        counts,
        spec_file,
    }
}

#[test]
fn every_score_and_flag_matches_scipy() {
    let prepared = prepare();
    let reference = run_python(
        &mlops_mcp_kit::test_support::python(),
        "scipy_reference.py",
        prepared.spec_file.path(),
    );
    let mut mismatches = Vec::new();
    let mut compared = 0;
    let mut seen = 0;
    for row in reference["results"].as_array().expect("results") {
        seen += 1;
        compare_row(&prepared, row, "scipy", &mut mismatches, &mut compared);
    }
    let expected: usize = prepared.results.iter().map(BTreeMap::len).sum();
    assert_eq!(seen, expected, "the reference scored every check once");
    println!("compared {compared} scores with scipy");
    assert!(compared > 500, "only {compared} comparisons");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

type RustResult = (String, String, f64, f64, bool);

/// Compares one reference row with the Rust result of the same case, group
/// and column.
fn compare_row(
    prepared: &Prepared,
    row: &Value,
    who: &str,
    mismatches: &mut Vec<String>,
    compared: &mut usize,
) {
    let case_name = row["case"].as_str().unwrap_or_default();
    let group = row["group"].as_str().unwrap_or_default();
    let column = row["column"].as_str().unwrap_or_default();
    let Some(index) = prepared.cases.iter().position(|c| c.name == case_name) else {
        mismatches.push(format!("{case_name}: unknown case"));
        return;
    };
    let Some((test, column_type, score, threshold, drift)) =
        prepared.results[index].get(&(group.to_owned(), column.to_owned()))
    else {
        mismatches.push(format!(
            "{case_name}/{group}/{column}: not in the Rust report"
        ));
        return;
    };
    *compared += 1;
    let label = format!("{case_name}/{group}/{column} ({test})");
    if row["test"] != test.as_str() {
        mismatches.push(format!("{label}: {who} chose {}", row["test"]));
    }
    if row["column_type"] != column_type.as_str() {
        mismatches.push(format!(
            "{label}: typed {column_type}, {who} {}",
            row["column_type"]
        ));
    }
    if !same_score(*score, &row["score"]) {
        mismatches.push(format!(
            "{label}: score {score:e} vs {who} {}",
            row["score"]
        ));
    }
    if row["threshold"].as_f64() != Some(*threshold) {
        mismatches.push(format!(
            "{label}: threshold {threshold} vs {who} {}",
            row["threshold"]
        ));
    }
    if row["drift"].as_bool() != Some(*drift) {
        mismatches.push(format!("{label}: drift {drift} vs {who} {}", row["drift"]));
    }
}

#[test]
fn evidently_itself_agrees() {
    let Ok(python) = std::env::var("MLOPS_EVIDENTLY_PYTHON") else {
        println!(
            "skipped: set MLOPS_EVIDENTLY_PYTHON to a Python with evidently 0.7 (and pandas<3) to compare with Evidently itself"
        );
        return;
    };
    let prepared = prepare();
    let reference = run_python(&python, "evidently_reference.py", prepared.spec_file.path());
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for row in reference["results"].as_array().expect("results") {
        compare_row(&prepared, row, "Evidently", &mut mismatches, &mut compared);
    }
    for row in reference["counts"].as_array().expect("counts") {
        let case_name = row["case"].as_str().unwrap();
        let group = row["group"].as_str().unwrap();
        let index = prepared
            .cases
            .iter()
            .position(|c| c.name == case_name)
            .unwrap();
        let ours = prepared.counts[index].get(group).copied();
        if row["count"].as_f64().map(|c| c as usize) != ours {
            mismatches.push(format!(
                "{case_name}/{group}: {ours:?} drifted columns vs Evidently {}",
                row["count"]
            ));
        }
    }
    println!("compared {compared} columns with Evidently");
    assert!(compared > 500, "only {compared} comparisons");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// scipy's `ks_2samp` across the exact/asymptotic switch and every branch
/// of `kstwo.sf` (Ruben–Gambino ends, Durbin matrix, Pomeranz, Pelz–Good,
/// Smirnov's upper tail, scipy's large-n approximation).
#[test]
fn kolmogorov_smirnov_matches_scipy_on_every_branch() {
    use mlops_mcp_drift::kolmogorov::{kolmogorov_sf, ks_2samp, smirnov_sf};
    let mut rng = Rng::new(0x5eed);
    let sizes = [
        (1usize, 1usize),
        (3, 8),
        (40, 40),
        (77, 120),
        (1000, 1000),
        (999, 1001),
        (2500, 4000),
        (10_000, 9_999),
        (10_001, 10_001),
        (20_000, 60),
        (25_000, 140),
        (15_000, 1_000),
    ];
    let shifts = [0.0, 0.05, 0.2, 0.6, 3.0];
    let mut pairs: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    for &(n1, n2) in &sizes {
        for &shift in &shifts {
            let mut a: Vec<f64> = (0..n1).map(|_| rng.normal()).collect();
            // Rounded values give ties, which the ECDFs must handle.
            let mut b: Vec<f64> = (0..n2)
                .map(|_| ((rng.normal() + shift) * 8.0).round() / 8.0)
                .collect();
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            pairs.push((a, b));
        }
    }
    let ns = [
        2u64, 5, 37, 140, 141, 1_000, 10_000, 100_000, 100_001, 400_000, 1_000_000, 1_000_001,
        3_000_000,
    ];
    let mut grid: Vec<(u64, f64)> = Vec::new();
    for &n in &ns {
        // The Birnbaum–Tingey sum has up to n terms: fewer points for large n.
        let step = if n >= 100_000 { 7 } else { 1 };
        for i in (1..120).step_by(step) {
            grid.push((n, (i as f64 / 120.0).powf(2.5)));
        }
    }
    let input = json!({
        "pairs": pairs.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
        "grid": grid.iter().map(|(n, x)| json!([n, x])).collect::<Vec<_>>(),
    });
    let file = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(file.path(), serde_json::to_vec(&input).unwrap()).unwrap();
    let reference = run_python(
        &mlops_mcp_kit::test_support::python(),
        "ks_reference.py",
        file.path(),
    );

    let mut mismatches = Vec::new();
    for ((a, b), expected) in pairs.iter().zip(reference["ks_2samp"].as_array().unwrap()) {
        let ours = ks_2samp(a, b);
        let label = format!("ks_2samp n1={} n2={}", a.len(), b.len());
        if !same_score(ours.statistic, &expected[0]) {
            mismatches.push(format!("{label}: D {} vs {}", ours.statistic, expected[0]));
        }
        if !same_score(ours.p_value, &expected[1]) {
            mismatches.push(format!(
                "{label}: p {:e} vs {} ({:?})",
                ours.p_value, expected[1], ours.method
            ));
        }
    }
    let kstwo = reference["kstwo_sf"].as_array().unwrap();
    let smirnov = reference["smirnov"].as_array().unwrap();
    for (i, &(n, x)) in grid.iter().enumerate() {
        let ours = kolmogorov_sf(n, x);
        if !same_score(ours, &kstwo[i]) {
            mismatches.push(format!("kstwo.sf({x:e}, {n}): {ours:e} vs {}", kstwo[i]));
        }
        let ours = smirnov_sf(n, x);
        if !same_score(ours, &smirnov[i]) {
            mismatches.push(format!("smirnov({n}, {x:e}): {ours:e} vs {}", smirnov[i]));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
