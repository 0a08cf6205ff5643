//! The generated problem as scikit-learn and fairlearn see it: models
//! trained on the training seed and scored on the holdout seed reach an
//! AUC of 0.85–0.95, the fraud rate is 8–12%, and `bias` shows up as a
//! large fairness gap only in a model trained on biased labels.
//!
//! Needs a Python with pandas, scikit-learn and fairlearn: `MLOPS_PYTHON`,
//! or the venv that `cargo xtask test` sets up.

use std::process::Command;

use mlops_demo_data::{
    BIASED_FEATURES, DriftSpec, FEATURES, TransactionsConfig, generate, holdout_seed, to_csv,
};
use serde_json::Value;

fn python() -> String {
    if let Ok(p) = std::env::var("MLOPS_PYTHON") {
        return p;
    }
    let default = format!(
        "{}/.cache/mlops/venv/bin/python",
        std::env::var("HOME").unwrap_or_default()
    );
    assert!(
        std::path::Path::new(&default).exists(),
        "this test needs scikit-learn and fairlearn: run `cargo xtask test`, or set MLOPS_PYTHON"
    );
    default
}

fn write(dir: &std::path::Path, name: &str, config: TransactionsConfig) {
    let csv = to_csv(&generate(&config).unwrap()).unwrap();
    std::fs::write(dir.join(format!("{name}.csv")), csv).unwrap();
}

fn number(v: &Value, path: &[&str]) -> f64 {
    let mut at = v;
    for key in path {
        at = &at[*key];
    }
    at.as_f64()
        .unwrap_or_else(|| panic!("{} missing in {v}", path.join(".")))
}

#[test]
fn reference_models_find_the_signal_and_the_bias() {
    let dir = tempfile::tempdir().unwrap();
    let training = TransactionsConfig {
        seed: 1,
        rows: 20_000,
        ..TransactionsConfig::default()
    };
    let holdout = TransactionsConfig {
        seed: holdout_seed(1),
        ..training.clone()
    };
    write(dir.path(), "train", training.clone());
    write(dir.path(), "holdout", holdout.clone());
    write(
        dir.path(),
        "holdout_drifted",
        TransactionsConfig {
            drift: DriftSpec::demo(),
            ..holdout.clone()
        },
    );
    write(
        dir.path(),
        "train_biased",
        TransactionsConfig {
            bias: 1.0,
            ..training
        },
    );
    write(
        dir.path(),
        "holdout_biased",
        TransactionsConfig {
            bias: 1.0,
            ..holdout
        },
    );

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/fraud_models.py"
    );
    let output = Command::new(python())
        .arg(script)
        .arg(dir.path())
        .env("FEATURES", serde_json::to_string(FEATURES).unwrap())
        .env(
            "BIASED_FEATURES",
            serde_json::to_string(BIASED_FEATURES).unwrap(),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();
    eprintln!("{results:#}");

    for split in ["train", "holdout"] {
        let rate = number(&results, &["fraud_rate", split]);
        assert!((0.08..=0.12).contains(&rate), "{split} fraud rate {rate}");
    }
    let biased_rate = number(&results, &["fraud_rate", "train_biased"]);
    assert!(
        (0.08..=0.13).contains(&biased_rate),
        "biased fraud rate {biased_rate}"
    );
    for model in ["logistic", "boosted"] {
        let auc = number(&results, &[model, "auc_holdout"]);
        assert!((0.85..=0.95).contains(&auc), "{model} holdout AUC {auc}");
        // Covariate shift costs a little, but the signal still holds.
        let drifted = number(&results, &[model, "auc_drifted"]);
        assert!(
            (0.8..auc).contains(&drifted),
            "{model} drifted AUC {drifted}"
        );
    }

    let gap = |which: &str, metric: &str| number(&results, &[which, metric]);
    assert!(gap("fairness_unbiased", "demographic_parity_difference") < 0.02);
    assert!(gap("fairness_unbiased", "equalized_odds_difference") < 0.06);
    assert!(gap("fairness_biased", "demographic_parity_difference") > 0.08);
    assert!(gap("fairness_biased", "equalized_odds_difference") > 0.15);
}
