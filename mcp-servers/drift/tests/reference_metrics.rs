//! Parity with the reference implementations: the same seeded datasets go
//! through this crate's metrics and through scikit-learn and fairlearn
//! (`tests/parity/reference_metrics.py`), and every figure must agree to
//! 1e-9 relative (1e-12 absolute near zero).
//!
//! Needs a Python with scikit-learn and fairlearn: `MLOPS_PYTHON`, or the
//! venv that `cargo xtask test` sets up.

use std::process::Command;

use mlops_mcp_drift::fairness::fairness_report;
use mlops_mcp_drift::performance::{classification_report, regression_report};
use mlops_mcp_kit::test_support::python;
use serde_json::{Value, json};

/// A small seeded generator (SplitMix64), so the datasets are the same on
/// every run without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform(); // (0, 1], keeps ln finite
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

struct ClassificationCase {
    name: &'static str,
    y_true: Vec<i64>,
    y_pred: Vec<i64>,
    scores: Option<Vec<f64>>,
    positive: i64,
}

/// Binary labels `negative`/`positive` at `base_rate`, with probability
/// scores that separate them by `signal`, thresholded at 0.5.
fn binary_case(
    name: &'static str,
    seed: u64,
    n: usize,
    base_rate: f64,
    signal: f64,
    (negative, positive): (i64, i64),
) -> ClassificationCase {
    let mut rng = Rng(seed);
    let (mut y_true, mut y_pred, mut scores) = (vec![], vec![], vec![]);
    for _ in 0..n {
        let is_positive = rng.bernoulli(base_rate);
        let centre = if is_positive { signal } else { -signal };
        let score = sigmoid(centre + rng.normal());
        y_true.push(if is_positive { positive } else { negative });
        y_pred.push(if score >= 0.5 { positive } else { negative });
        scores.push(score);
    }
    ClassificationCase {
        name,
        y_true,
        y_pred,
        scores: Some(scores),
        positive,
    }
}

fn classification_cases() -> Vec<ClassificationCase> {
    let mut cases = vec![
        binary_case("balanced", 1, 400, 0.5, 1.0, (0, 1)),
        binary_case("imbalanced", 2, 1000, 0.05, 1.5, (0, 1)),
        binary_case("positive_is_the_smaller_label", 3, 300, 0.4, 0.8, (7, 2)),
    ];

    // Scores rounded to one decimal: many ties, and exact 0s and 1s that
    // log loss must clip.
    let mut tied = binary_case(
        "tied_scores_with_certain_mistakes",
        4,
        300,
        0.3,
        1.2,
        (0, 1),
    );
    let scores = tied.scores.as_mut().expect("binary_case gives scores");
    for s in scores.iter_mut() {
        *s = (*s * 10.0).round() / 10.0;
    }
    scores[0] = 0.0;
    scores[1] = 1.0;
    scores[2] = 0.0;
    scores[3] = 1.0;
    cases.push(tied);

    // Nothing predicted positive: precision is undefined and set to 0.
    let mut silent = binary_case("no_positive_predictions", 5, 200, 0.2, 1.0, (0, 1));
    silent.y_pred = vec![0; 200];
    cases.push(silent);

    // A monitoring window without positives: ROC AUC undefined.
    let mut window = binary_case("one_class_window", 6, 150, 0.0, 1.0, (0, 1));
    window.y_pred[10] = 1;
    cases.push(window);

    // Four true classes, one extra class only ever predicted; the score is
    // the probability of class 2.
    let mut rng = Rng(7);
    let (mut y_true, mut y_pred, mut scores) = (vec![], vec![], vec![]);
    for _ in 0..500 {
        let t = *rng.pick(&[0, 1, 2, 2, 3]);
        let p = if rng.bernoulli(0.7) {
            t
        } else {
            *rng.pick(&[0, 1, 2, 3, 4])
        };
        let centre = if t == 2 { 1.0 } else { -1.0 };
        y_true.push(t);
        y_pred.push(p);
        scores.push(sigmoid(centre + rng.normal()));
    }
    cases.push(ClassificationCase {
        name: "multiclass",
        y_true,
        y_pred,
        scores: Some(scores),
        positive: 2,
    });

    // No scores at all.
    let mut labels_only = binary_case("labels_only", 8, 100, 0.5, 0.5, (0, 1));
    labels_only.scores = None;
    cases.push(labels_only);
    cases
}

struct RegressionCase {
    name: &'static str,
    y_true: Vec<f64>,
    y_pred: Vec<f64>,
}

fn regression_cases() -> Vec<RegressionCase> {
    let mut rng = Rng(11);
    let xs: Vec<f64> = (0..500).map(|_| rng.uniform() * 10.0).collect();
    let y_true: Vec<f64> = xs.iter().map(|x| 3.0 * x + 2.0 + rng.normal()).collect();
    let good: Vec<f64> = xs.iter().map(|x| 3.0 * x + 2.3).collect();
    let bad: Vec<f64> = xs.iter().map(|_| rng.uniform() * 60.0).collect();
    let varied: Vec<f64> = (0..50).map(|_| 3.5 + rng.normal()).collect();
    vec![
        RegressionCase {
            name: "linear_with_noise",
            y_true: y_true.clone(),
            y_pred: good,
        },
        RegressionCase {
            name: "worse_than_the_mean",
            y_true,
            y_pred: bad,
        },
        RegressionCase {
            name: "constant_target_missed",
            y_true: vec![3.5; 50],
            y_pred: varied,
        },
        RegressionCase {
            name: "constant_target_hit",
            y_true: vec![3.5; 50],
            y_pred: vec![3.5; 50],
        },
    ]
}

struct FairnessCase {
    name: &'static str,
    y_true: Vec<i64>,
    y_pred: Vec<i64>,
    groups: Vec<String>,
    positive: i64,
}

/// Each group: (name, samples, base rate of the positive label, chance a
/// positive is selected, chance a negative is selected).
fn fairness_case(
    name: &'static str,
    seed: u64,
    spec: &[(&str, usize, f64, f64, f64)],
    (negative, positive): (i64, i64),
) -> FairnessCase {
    let mut rng = Rng(seed);
    let mut case = FairnessCase {
        name,
        y_true: vec![],
        y_pred: vec![],
        groups: vec![],
        positive,
    };
    for &(group, n, base_rate, tpr, fpr) in spec {
        for _ in 0..n {
            let is_positive = rng.bernoulli(base_rate);
            let selected = rng.bernoulli(if is_positive { tpr } else { fpr });
            case.y_true
                .push(if is_positive { positive } else { negative });
            case.y_pred.push(if selected { positive } else { negative });
            case.groups.push(group.to_owned());
        }
    }
    case
}

fn fairness_cases() -> Vec<FairnessCase> {
    let three_groups = [
        ("north", 300, 0.1, 0.8, 0.05),
        ("south", 250, 0.3, 0.6, 0.1),
        ("east", 350, 0.5, 0.7, 0.2),
    ];
    let mut with_island = three_groups.to_vec();
    with_island.push(("island", 40, 0.0, 0.9, 0.15));
    let mut nobody_selected = fairness_case("nobody_selected", 23, &three_groups, (0, 1));
    nobody_selected.y_pred.fill(0);
    vec![
        fairness_case("three_groups", 21, &three_groups, (0, 1)),
        fairness_case("group_without_positives", 22, &with_island, (0, 1)),
        nobody_selected,
        // Positives are never caught: every TPR is 0, so the TPR ratio is
        // 0/0 (the one documented divergence from fairlearn).
        fairness_case(
            "no_true_positives",
            24,
            &[("a", 100, 0.3, 0.0, 0.2), ("b", 100, 0.4, 0.0, 0.3)],
            (0, 1),
        ),
        // Perfect predictions: every FPR is 0.
        fairness_case(
            "no_false_positives",
            25,
            &[("a", 100, 0.3, 1.0, 0.0), ("b", 100, 0.4, 1.0, 0.0)],
            (0, 1),
        ),
        fairness_case(
            "other_labels",
            26,
            &[("x", 200, 0.2, 0.9, 0.1), ("y", 200, 0.6, 0.5, 0.4)],
            (3, 7),
        ),
    ]
}

/// Runs the Python reference over `input` and returns its JSON answer.
fn reference(input: &Value) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("datasets.json");
    std::fs::write(&path, input.to_string()).expect("write datasets");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/parity/reference_metrics.py"
    );
    let output = Command::new(python())
        .arg(script)
        .arg(&path)
        .output()
        .expect("run the Python reference");
    assert!(
        output.status.success(),
        "reference_metrics.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("reference prints JSON")
}

fn assert_close(what: &str, ours: f64, theirs: f64) {
    let tolerance = (1e-9 * ours.abs().max(theirs.abs())).max(1e-12);
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{what}: ours {ours} vs reference {theirs}"
    );
}

fn assert_close_option(what: &str, ours: Option<f64>, theirs: &Value) {
    match (ours, theirs.as_f64()) {
        (Some(a), Some(b)) => assert_close(what, a, b),
        (None, None) => {}
        (a, _) => panic!("{what}: ours {a:?} vs reference {theirs}"),
    }
}

fn number(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what}: reference gave {v}, not a number"))
}

#[test]
fn classification_matches_scikit_learn() {
    let cases = classification_cases();
    let input = json!({ "classification": cases.iter().map(|c| json!({
        "name": c.name, "y_true": c.y_true, "y_pred": c.y_pred,
        "scores": c.scores, "positive": c.positive,
    })).collect::<Vec<_>>() });
    let answer = reference(&input);
    let expected = answer["classification"].as_array().expect("list");
    assert_eq!(expected.len(), cases.len());

    for (case, sk) in cases.iter().zip(expected) {
        assert_eq!(sk["name"], case.name);
        let ours = classification_report(
            &case.y_true,
            &case.y_pred,
            case.scores.as_deref(),
            case.positive,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let at = |field: &str| format!("{} {field}", case.name);
        for (field, value) in [
            ("accuracy", ours.accuracy),
            ("precision", ours.precision),
            ("recall", ours.recall),
            ("f1", ours.f1),
            ("macro_precision", ours.macro_average.precision),
            ("macro_recall", ours.macro_average.recall),
            ("macro_f1", ours.macro_average.f1),
        ] {
            assert_close(&at(field), value, number(&sk[field], &at(field)));
        }
        assert_close_option(&at("roc_auc"), ours.roc_auc, &sk["roc_auc"]);
        assert_close_option(&at("log_loss"), ours.log_loss, &sk["log_loss"]);
        assert_eq!(
            json!(ours.confusion_matrix.labels),
            sk["labels"],
            "{}",
            at("labels")
        );
        assert_eq!(
            json!(ours.confusion_matrix.counts),
            sk["confusion_matrix"],
            "{}",
            at("confusion_matrix")
        );
    }

    // The edge cases really were exercised.
    let by_name = |name: &str| {
        let i = cases.iter().position(|c| c.name == name).expect("case");
        &expected[i]
    };
    assert_eq!(by_name("one_class_window")["roc_auc"], Value::Null);
    assert_eq!(by_name("no_positive_predictions")["precision"], 0.0);
    assert_eq!(by_name("multiclass")["labels"], json!([0, 1, 2, 3, 4]));
    assert!(
        number(
            &by_name("tied_scores_with_certain_mistakes")["log_loss"],
            "log loss"
        ) > 0.5,
        "the certain mistakes should cost about 36 each"
    );
}

#[test]
fn regression_matches_scikit_learn() {
    let cases = regression_cases();
    let input = json!({ "regression": cases.iter().map(|c| json!({
        "name": c.name, "y_true": c.y_true, "y_pred": c.y_pred,
    })).collect::<Vec<_>>() });
    let answer = reference(&input);
    let expected = answer["regression"].as_array().expect("list");
    assert_eq!(expected.len(), cases.len());

    for (case, sk) in cases.iter().zip(expected) {
        assert_eq!(sk["name"], case.name);
        let ours = regression_report(&case.y_true, &case.y_pred)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let at = |field: &str| format!("{} {field}", case.name);
        for (field, value) in [
            ("mean_absolute_error", ours.mean_absolute_error),
            ("root_mean_squared_error", ours.root_mean_squared_error),
            ("r2", ours.r2),
        ] {
            assert_close(&at(field), value, number(&sk[field], &at(field)));
        }
    }
    assert_eq!(expected[2]["r2"], 0.0);
    assert_eq!(expected[3]["r2"], 1.0);
    assert!(number(&expected[1]["r2"], "r2") < 0.0);
}

#[test]
fn fairness_matches_fairlearn() {
    let cases = fairness_cases();
    let input = json!({ "fairness": cases.iter().map(|c| json!({
        "name": c.name, "y_true": c.y_true, "y_pred": c.y_pred,
        "sensitive_features": c.groups, "positive": c.positive,
    })).collect::<Vec<_>>() });
    let answer = reference(&input);
    let expected = answer["fairness"].as_array().expect("list");
    assert_eq!(expected.len(), cases.len());

    for (case, fl) in cases.iter().zip(expected) {
        assert_eq!(fl["name"], case.name);
        let ours = fairness_report(&case.y_true, &case.y_pred, &case.groups, case.positive)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let at = |field: &str| format!("{} {field}", case.name);

        let fl_groups = fl["groups"].as_array().expect("groups");
        assert_eq!(ours.groups.len(), fl_groups.len(), "{}", at("groups"));
        for (row, fl_row) in ours.groups.iter().zip(fl_groups) {
            assert_eq!(fl_row["group"], row.group.as_str(), "{}", at("group order"));
            let at = |field: &str| format!("{} group {} {field}", case.name, row.group);
            assert_eq!(fl_row["count"], row.count, "{}", at("count"));
            assert_close(
                &at("selection_rate"),
                row.selection_rate,
                number(&fl_row["selection_rate"], &at("selection_rate")),
            );
            // An undefined rate is None here and 0 in fairlearn.
            for (field, rate, defined) in [
                (
                    "true_positive_rate",
                    row.true_positive_rate,
                    row.positives > 0,
                ),
                (
                    "false_positive_rate",
                    row.false_positive_rate,
                    row.count > row.positives,
                ),
            ] {
                assert_eq!(rate.is_some(), defined, "{}", at(field));
                assert_close(
                    &at(field),
                    rate.unwrap_or(0.0),
                    number(&fl_row[field], &at(field)),
                );
            }
        }

        for (field, value) in [
            (
                "demographic_parity_difference",
                ours.demographic_parity_difference,
            ),
            ("equalized_odds_difference", ours.equalized_odds_difference),
        ] {
            assert_close(&at(field), value, number(&fl[field], &at(field)));
        }
        assert_close_option(
            &at("demographic_parity_ratio"),
            ours.demographic_parity_ratio,
            &fl["demographic_parity_ratio"],
        );

        // Equalized odds ratio: the smaller defined component ratio. This
        // is fairlearn's answer except when only the TPR ratio is 0/0,
        // where fairlearn's `min` returns NaN.
        let (tpr_ratio, fpr_ratio) = (
            fl["true_positive_rate_ratio"].as_f64(),
            fl["false_positive_rate_ratio"].as_f64(),
        );
        let expected_eo_ratio = match (tpr_ratio, fpr_ratio) {
            (Some(t), Some(f)) => Some(t.min(f)),
            (t, f) => t.or(f),
        };
        assert_close_option(
            &at("equalized_odds_ratio"),
            ours.equalized_odds_ratio,
            &json!(expected_eo_ratio),
        );
        if tpr_ratio.is_some() {
            assert_close_option(
                &at("equalized_odds_ratio vs fairlearn"),
                ours.equalized_odds_ratio,
                &fl["equalized_odds_ratio"],
            );
        } else {
            assert_eq!(fl["equalized_odds_ratio"], Value::Null, "{}", at("NaN"));
        }
    }

    // The edge cases really were exercised.
    let island = &expected[1]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == "island")
        .expect("island group")["true_positive_rate"];
    assert_eq!(*island, 0.0);
    assert_eq!(expected[2]["demographic_parity_ratio"], Value::Null);
    assert_eq!(expected[3]["true_positive_rate_ratio"], Value::Null);
    assert!(expected[3]["false_positive_rate_ratio"].is_f64());
    assert_eq!(expected[4]["false_positive_rate_ratio"], Value::Null);
}
