//! The validation agent as a real `mlops agent validation` process, over
//! real registry, storage, drift and quality MCP servers. Every check runs
//! on demo transactions written as real dataset versions, and on models
//! trained here with `mlops-models`, registered as the training agent does
//! and made champion as the deployment agent does.

mod system;
use system::{System, artifact_data, status_text};

use std::sync::Arc;
use std::time::Duration;

use mlops_agent_kit::a2a::{Task, TaskState};
use mlops_demo_data::{
    BIASED_FEATURES, DriftSpec, FEATURES, LABEL, MODEL_NAME, PROTECTED_ATTRIBUTE,
    TransactionsConfig, holdout_seed,
};
use mlops_mcp_kit::test_support::{call, ok};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_models::{Algorithm, TrainingSet};
use mlops_serving::prediction_log::{LoggedPrediction, PredictionLog};
use serde_json::{Map, Value, json};

const ROWS: usize = 4_000;
const TIMEOUT: Duration = Duration::from_secs(60);

fn config(seed: u64, rows: usize, bias: f64, drift: DriftSpec) -> TransactionsConfig {
    TransactionsConfig {
        seed,
        rows,
        bias,
        drift,
        ..TransactionsConfig::default()
    }
}

/// A dataset version written to the store.
#[derive(Clone)]
struct Stored {
    name: String,
    version: String,
    digest: String,
}

impl Stored {
    fn input(&self) -> Value {
        json!({ "dataset": self.name, "version": self.version })
    }
}

/// Generates `config`'s transactions and writes them as dataset `name`.
async fn store_dataset(store: &DatasetStore, name: &str, config: &TransactionsConfig) -> Stored {
    let batch = mlops_demo_data::generate(config).unwrap();
    let (manifest, _) = store.write(name, &batch, "data").await.unwrap();
    Stored {
        name: manifest.name,
        version: manifest.version,
        digest: manifest.digest,
    }
}

/// `config`'s transactions as `{column: number}` rows of `columns`.
fn rows(config: &TransactionsConfig, columns: &[&str]) -> Vec<Map<String, Value>> {
    let batch = mlops_demo_data::generate(config).unwrap();
    (0..batch.num_rows())
        .map(|i| mlops_demo_data::row_instance(&batch, i, columns).unwrap())
        .collect()
}

/// A logistic regression on `features` of `config`'s transactions.
fn trained(config: &TransactionsConfig, features: &[&str]) -> Vec<u8> {
    let mut columns = features.to_vec();
    columns.push(LABEL);
    let rows = rows(config, &columns);
    let set = TrainingSet {
        feature_names: features.iter().map(|f| (*f).to_owned()).collect(),
        target: LABEL.into(),
        x: rows
            .iter()
            .map(|r| features.iter().map(|f| r[*f].as_f64().unwrap()).collect())
            .collect(),
        y: rows.iter().map(|r| r[LABEL].as_i64().unwrap()).collect(),
    };
    mlops_models::train(&Algorithm::LogisticRegression { l2: 1.0 }, &set, 1)
        .unwrap()
        .to_bytes()
        .unwrap()
}

/// Writes the artifact of training job `job` and registers it as the next
/// version of the demo model, with the lineage the training agent records.
async fn register(
    sys: &System,
    store: &DatasetStore,
    job: &str,
    artifact: Vec<u8>,
    dataset: &Stored,
    features: &[&str],
) -> u64 {
    let key = format!("models/{job}/model.json");
    store
        .write_object(&ObjectKey::parse(&key).unwrap(), artifact.into())
        .await
        .unwrap();
    let registry = sys.mcp_as("training", "registry").await;
    ok(&call(&registry, "register_model", json!({ "name": MODEL_NAME })).await);
    let created = ok(&call(
        &registry,
        "create_model_version",
        json!({
            "model": MODEL_NAME,
            "params": {
                "dataset": dataset.name,
                "dataset_version": dataset.version,
                "target": LABEL,
                "features": features,
                "algorithm": "logistic_regression",
                "l2": 1.0,
            },
            "metrics": {},
            "dataset_version_digest": dataset.digest,
            "training_run_id": job,
            "artifact_uri": format!("storage://{key}"),
            "protected_attribute": PROTECTED_ATTRIBUTE,
        }),
    )
    .await);
    created["version"].as_u64().unwrap()
}

/// The demo model's datasets and versions: v1 (champion) and v2 are sound
/// logistic regressions; v3 knows only two weak features; v4 learned the
/// biased labels through `age_band_code`.
struct Demo {
    holdout: Stored,
    clean_current: Stored,
    drifted_current: Stored,
}

async fn start() -> System {
    System::builder()
        .mcp(&["registry", "storage", "drift", "quality"])
        .agents(&["validation"])
        .start()
        .await
}

async fn seed(sys: &System) -> Demo {
    let store = DatasetStore::local(&sys.storage_root()).unwrap();
    let train_config = config(1, ROWS, 0.0, DriftSpec::none());
    let biased_config = config(1, ROWS, 1.0, DriftSpec::none());
    let train = store_dataset(&store, "transactions-train", &train_config).await;
    let biased = store_dataset(&store, "transactions-biased-train", &biased_config).await;
    let holdout = store_dataset(
        &store,
        "transactions-holdout",
        &config(holdout_seed(1), ROWS, 0.0, DriftSpec::none()),
    )
    .await;
    let clean_current = store_dataset(
        &store,
        "transactions-current",
        &config(98, 1_000, 0.0, DriftSpec::none()),
    )
    .await;
    let drifted_current = store_dataset(
        &store,
        "transactions-drifted",
        &config(99, 1_000, 0.0, DriftSpec::demo()),
    )
    .await;

    let sound = trained(&train_config, FEATURES);
    let second_sample = trained(&config(7, ROWS, 0.0, DriftSpec::none()), FEATURES);
    let weak = trained(&train_config, &["hour", "txn_count_24h"]);
    let learned_bias = trained(&biased_config, BIASED_FEATURES);
    assert_eq!(
        register(sys, &store, "job-1", sound, &train, FEATURES).await,
        1
    );
    assert_eq!(
        register(sys, &store, "job-2", second_sample, &train, FEATURES).await,
        2
    );
    assert_eq!(
        register(
            sys,
            &store,
            "job-3",
            weak,
            &train,
            &["hour", "txn_count_24h"]
        )
        .await,
        3
    );
    assert_eq!(
        register(sys, &store, "job-4", learned_bias, &biased, BIASED_FEATURES).await,
        4
    );
    let deployment = sys.mcp_as("deployment", "registry").await;
    ok(&call(
        &deployment,
        "set_alias",
        json!({ "model": MODEL_NAME, "alias": "champion", "version": 1 }),
    )
    .await);
    Demo {
        holdout,
        clean_current,
        drifted_current,
    }
}

async fn run(sys: &System, skill: &str, input: Value) -> Task {
    sys.run_skill("validation", skill, input, TIMEOUT).await
}

/// Runs a skill that must complete; returns its one artifact's data.
async fn completed(sys: &System, skill: &str, input: Value, artifact: &str) -> Value {
    let task = run(sys, skill, input).await;
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{skill}: {}\n{}",
        status_text(&task),
        sys.log("validation")
    );
    let names: Vec<Option<&str>> = task
        .artifacts
        .iter()
        .flatten()
        .map(|a| a.name.as_deref())
        .collect();
    assert_eq!(names, vec![Some(artifact)], "{skill} returns one artifact");
    integers(artifact_data(&task, artifact).unwrap())
}

/// A2A data parts travel as protobuf Structs, whose numbers are doubles:
/// whole numbers come back as `4000.0`. This turns them back into integers
/// so counts compare as counts.
fn integers(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => json!(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integers).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, integers(v))).collect())
        }
        other => other,
    }
}

/// Runs a skill that must be rejected; returns its status text.
async fn rejected(sys: &System, skill: &str, input: Value) -> String {
    let task = run(sys, skill, input.clone()).await;
    assert_eq!(
        task.status.state,
        TaskState::Rejected,
        "{skill} {input}: {}",
        status_text(&task)
    );
    status_text(&task)
}

fn number(value: &Value, path: &str) -> f64 {
    value
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} is not a number in {value:#}"))
}

/// The check of `kind` on `metric`.
fn check<'a>(report: &'a Value, kind: &str, metric: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == kind && c["metric"] == metric)
        .unwrap_or_else(|| panic!("no {kind} check on {metric} in {report:#}"))
}

#[tokio::test]
async fn sound_candidates_pass_quality_and_the_full_report_while_a_weak_one_fails() {
    let sys = start().await;
    let demo = seed(&sys).await;

    let quality = completed(
        &sys,
        "validate-model-quality",
        json!({"model": MODEL_NAME, "version": 2, "holdout": demo.holdout.input()}),
        "model-quality",
    )
    .await;
    assert_eq!(quality["passed"], true, "{quality:#}");
    assert_eq!(quality["thresholds_from"], "config");
    assert_eq!(quality["holdout"]["rows"], ROWS);
    assert_eq!(quality["holdout"]["rows_scored"], ROWS);
    let auc = number(&quality, "/metrics/roc_auc");
    assert!((0.8..0.95).contains(&auc), "holdout AUC {auc}");
    let minimum = check(&quality, "minimum", "roc_auc");
    assert_eq!(minimum["outcome"], "pass");
    assert_eq!(minimum["threshold"], 0.75);
    assert!((number(minimum, "/delta") - (auc - 0.75)).abs() < 1e-9);
    assert_eq!(check(&quality, "minimum", "f1")["outcome"], "pass");
    // The champion was scored on the same holdout.
    assert_eq!(quality["champion"]["version"], 1);
    let regression = check(&quality, "no_regression", "roc_auc");
    assert_eq!(regression["outcome"], "pass", "{regression:#}");
    let champion_auc = number(&quality, "/champion/metrics/roc_auc");
    assert_eq!(number(regression, "/champion"), champion_auc);
    assert!((number(regression, "/delta") - (auc - champion_auc)).abs() < 1e-9);
    assert_eq!(regression["tolerance"], 0.02);

    // Failing checks complete the task with the numbers; the orchestrator decides.
    let weak = completed(
        &sys,
        "validate-model-quality",
        json!({
            "model": MODEL_NAME, "version": 3, "holdout": demo.holdout.input(),
            "thresholds": {"roc_auc": 0.8}, "regression_tolerance": 0.05,
        }),
        "model-quality",
    )
    .await;
    assert_eq!(weak["passed"], false, "{weak:#}");
    assert_eq!(weak["thresholds_from"], "request");
    let minimum = check(&weak, "minimum", "roc_auc");
    assert_eq!(minimum["outcome"], "fail");
    assert_eq!(minimum["threshold"], 0.8);
    assert!(number(minimum, "/candidate") < 0.75, "{minimum:#}");
    assert!(
        weak["checks"].as_array().unwrap().len() == 2,
        "the request's minimums replace the defaults: {weak:#}"
    );
    let regression = check(&weak, "no_regression", "roc_auc");
    assert_eq!(regression["outcome"], "fail");
    assert!(number(regression, "/delta") < -0.05, "{regression:#}");
    assert_eq!(regression["champion"], champion_auc);

    let report = completed(
        &sys,
        "generate-validation-report",
        json!({
            "model": MODEL_NAME, "version": 2, "holdout": demo.holdout.input(),
            "current": demo.clean_current.input(),
        }),
        "validation-report",
    )
    .await;
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["failed_checks"], json!([]));
    assert_eq!(report["quality"]["passed"], true);
    assert_eq!(number(&report, "/quality/metrics/roc_auc"), auc);
    let fairness = &report["fairness"];
    assert_eq!(fairness["passed"], true, "{fairness:#}");
    assert_eq!(fairness["protected_attribute"], PROTECTED_ATTRIBUTE);
    assert_eq!(fairness["attribute_from"], "version");
    assert_eq!(fairness["groups"].as_array().unwrap().len(), 3);
    assert!(number(fairness, "/demographic_parity_difference") <= 0.1);
    let drift = &report["drift"];
    assert_eq!(drift["passed"], true, "{drift:#}");
    assert_eq!(drift["current"]["dataset"], demo.clean_current.name);
    assert_eq!(drift["number_of_features"], FEATURES.len());
    assert!(
        drift["report_uri"]
            .as_str()
            .unwrap()
            .starts_with("reports://")
    );

    // Without current data the report skips drift.
    let report = completed(
        &sys,
        "generate-validation-report",
        json!({"model": MODEL_NAME, "version": 3, "holdout": demo.holdout.input()}),
        "validation-report",
    )
    .await;
    assert_eq!(report["passed"], false);
    assert_eq!(report["failed_checks"], json!(["model-quality"]));
    assert_eq!(report["drift"], Value::Null);
}

#[tokio::test]
async fn a_version_that_learned_the_bias_fails_fairness_with_its_numbers() {
    let sys = start().await;
    let demo = seed(&sys).await;

    // Through the official Python a2a-sdk client.
    let result = sys
        .python_skill(
            "validation",
            "check-model-fairness",
            json!({"model": MODEL_NAME, "version": 4, "holdout": demo.holdout.input()}),
        )
        .await;
    assert_eq!(result["state"], "TASK_STATE_COMPLETED", "{result:#}");
    let fairness = &integers(result["artifacts"]["model-fairness"].clone());
    assert_eq!(fairness["passed"], false, "{fairness:#}");
    assert_eq!(fairness["protected_attribute"], PROTECTED_ATTRIBUTE);
    let groups = fairness["groups"].as_array().unwrap();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["18-29", "30-49", "50+"]);
    let rate = |group: &Value| number(group, "/selection_rate");
    assert!(
        rate(&groups[0]) > rate(&groups[1]) && rate(&groups[0]) > rate(&groups[2]),
        "the young are flagged most: {groups:#?}"
    );
    let eod = number(fairness, "/equalized_odds_difference");
    assert!(eod > 0.1, "{fairness:#}");
    let failed: Vec<&Value> = fairness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .collect();
    assert!(
        failed
            .iter()
            .any(|c| c["metric"] == "equalized_odds_difference"
                && c["value"].as_f64() == Some(eod)
                && c["threshold"].as_f64() == Some(0.1)),
        "{fairness:#}"
    );
    assert!(
        result["status_text"]
            .as_str()
            .unwrap()
            .contains("failed fairness by age_band"),
        "{result:#}"
    );
    let progress = result["progress"].to_string();
    assert!(progress.contains("storage/download_object"), "{progress}");

    // The sound version on the same holdout passes, and looser limits
    // from the request let the biased one through.
    let sound = completed(
        &sys,
        "check-model-fairness",
        json!({"model": MODEL_NAME, "version": 1, "holdout": demo.holdout.input()}),
        "model-fairness",
    )
    .await;
    assert_eq!(sound["passed"], true, "{sound:#}");
    let loose = completed(
        &sys,
        "check-model-fairness",
        json!({
            "model": MODEL_NAME, "version": 4, "holdout": demo.holdout.input(),
            "thresholds": {"demographic_parity_difference": 0.9, "equalized_odds_difference": 0.9},
        }),
        "model-fairness",
    )
    .await;
    assert_eq!(loose["passed"], true, "{loose:#}");
    assert_eq!(number(&loose, "/equalized_odds_difference"), eod);

    let report = completed(
        &sys,
        "generate-validation-report",
        json!({"model": MODEL_NAME, "version": 4, "holdout": demo.holdout.input()}),
        "validation-report",
    )
    .await;
    assert_eq!(report["passed"], false);
    assert!(
        report["failed_checks"]
            .as_array()
            .unwrap()
            .contains(&json!("model-fairness")),
        "{report:#}"
    );
}

/// Logs `rows` as the router would have served them `minutes_ago`.
async fn log_traffic(sys: &System, rows: &[Map<String, Value>], minutes_ago: i64) {
    let store = DatasetStore::local(&sys.storage_root()).unwrap();
    let log = PredictionLog::new(MODEL_NAME, store);
    let names: Arc<[String]> = FEATURES.iter().map(|f| (*f).to_owned()).collect();
    let version: Arc<str> = Arc::from("2");
    let start = chrono::Utc::now().timestamp_millis() - minutes_ago * 60_000;
    log.append(rows.iter().enumerate().map(|(i, row)| LoggedPrediction {
        ts_ms: start + i as i64 * 10,
        version: version.clone(),
        output: 0.1,
        latency_ms: 2.0,
        feature_names: names.clone(),
        features: FEATURES.iter().map(|f| row[*f].as_f64().unwrap()).collect(),
    }));
    assert_eq!(log.flush().await.unwrap(), rows.len());
}

#[tokio::test]
async fn drifted_traffic_or_data_fails_the_drift_check() {
    let sys = start().await;
    let demo = seed(&sys).await;
    let drifted = rows(&config(99, 1_000, 0.0, DriftSpec::demo()), FEATURES);
    log_traffic(&sys, &drifted, 5).await;

    let window = completed(
        &sys,
        "check-data-drift",
        json!({"model": MODEL_NAME, "version": 2, "window_minutes": 30}),
        "data-drift",
    )
    .await;
    assert_eq!(window["passed"], false, "{window:#}");
    assert_eq!(window["drifted"], true);
    assert_eq!(window["current"]["rows"], 1_000);
    assert_eq!(window["current"]["window"]["minutes"], 30);
    assert_eq!(window["reference"]["dataset"], "transactions-train");
    assert_eq!(window["reference"]["rows"], ROWS);
    assert_eq!(window["drift_share"], 0.3);
    assert!(
        number(&window, "/share_of_drifted_features") >= 0.3,
        "{window:#}"
    );
    let features = window["features"].as_array().unwrap();
    assert_eq!(features.len(), FEATURES.len());
    for name in ["amount", "distance_from_home_km"] {
        let feature = features.iter().find(|f| f["feature"] == name).unwrap();
        assert_eq!(feature["drifted"], true, "{feature:#}");
        assert_eq!(feature["stattest"], "wasserstein");
        assert!(
            number(feature, "/score") >= number(feature, "/threshold"),
            "{feature:#}"
        );
    }
    // The drift server stored the report.
    let drift = sys.mcp_as("validation", "drift").await;
    let id = window["report_id"].as_str().unwrap();
    let stored = ok(&call(&drift, "get_report", json!({"id": id})).await);
    assert_eq!(stored["summary"]["dataset_drift"], true, "{stored:#}");

    // A window before the traffic holds nothing to compare: the check cannot run.
    let task = run(
        &sys,
        "check-data-drift",
        json!({"model": MODEL_NAME, "version": 2, "window_minutes": 1}),
    )
    .await;
    assert_eq!(
        task.status.state,
        TaskState::Failed,
        "{}",
        status_text(&task)
    );
    assert!(
        status_text(&task).contains("no rows"),
        "{}",
        status_text(&task)
    );

    let dataset = completed(
        &sys,
        "check-data-drift",
        json!({"model": MODEL_NAME, "version": 2, "current": demo.drifted_current.input()}),
        "data-drift",
    )
    .await;
    assert_eq!(dataset["passed"], false, "{dataset:#}");
    assert_eq!(dataset["current"]["dataset"], "transactions-drifted");

    let clean = completed(
        &sys,
        "check-data-drift",
        json!({"model": MODEL_NAME, "version": 2, "current": demo.clean_current.input()}),
        "data-drift",
    )
    .await;
    assert_eq!(clean["passed"], true, "{clean:#}");
    assert_eq!(clean["number_of_drifted_features"], 0);

    let report = completed(
        &sys,
        "generate-validation-report",
        json!({
            "model": MODEL_NAME, "version": 2, "holdout": demo.holdout.input(),
            "window_minutes": 30,
        }),
        "validation-report",
    )
    .await;
    assert_eq!(report["passed"], false);
    assert_eq!(report["failed_checks"], json!(["data-drift"]), "{report:#}");
    assert_eq!(report["quality"]["passed"], true);
}

#[tokio::test]
async fn bad_input_is_rejected_naming_the_field_and_stores_nothing() {
    let sys = start().await;
    let demo = seed(&sys).await;
    let holdout = demo.holdout.input();

    let cases = [
        (
            "validate-model-quality",
            json!({"model": MODEL_NAME, "version": 2}),
            "`holdout`",
        ),
        (
            "validate-model-quality",
            json!({"model": MODEL_NAME, "version": 2, "holdout": holdout, "thresholds": {"auc": 0.7}}),
            "auc",
        ),
        (
            "validate-model-quality",
            json!({"model": MODEL_NAME, "version": 2, "holdout": holdout, "thresholds": {"f1": 1.5}}),
            "`thresholds.f1`",
        ),
        (
            "validate-model-quality",
            json!({"model": MODEL_NAME, "version": 0, "holdout": holdout}),
            "`version`",
        ),
        (
            "validate-model-quality",
            json!({"model": "no-such-model", "version": 1, "holdout": holdout}),
            "`model`",
        ),
        (
            "validate-model-quality",
            json!({"model": MODEL_NAME, "version": 99, "holdout": holdout}),
            "`version`",
        ),
        (
            "validate-model-quality",
            json!({"model": MODEL_NAME, "version": 2, "holdout": {"dataset": "transactions-holdout", "version": "0".repeat(64)}}),
            "`holdout`",
        ),
        (
            "validate-model-quality",
            json!({"model": MODEL_NAME, "version": 2, "holdout": demo.clean_current.input(), "bogus": 1}),
            "`bogus`",
        ),
        (
            "check-model-fairness",
            json!({"model": MODEL_NAME, "version": 2, "holdout": holdout, "protected_attribute": "merchant_category"}),
            "`protected_attribute`",
        ),
        (
            "check-data-drift",
            json!({"model": MODEL_NAME, "version": 2, "window_minutes": 30, "current": demo.drifted_current.input()}),
            "`current`",
        ),
        (
            "check-data-drift",
            json!({"model": MODEL_NAME, "version": 2}),
            "`window_minutes`",
        ),
        (
            "check-data-drift",
            json!({"model": MODEL_NAME, "version": 2, "current": {"dataset": "transactions-drifted", "version": "1".repeat(64)}}),
            "`current`",
        ),
        (
            "generate-validation-report",
            json!({"model": MODEL_NAME, "version": 2, "holdout": holdout, "window_minutes": 30, "drift_share": 0}),
            "`drift_share`",
        ),
    ];
    for (skill, input, field) in cases {
        let text = rejected(&sys, skill, input).await;
        assert!(
            text.contains(field),
            "{skill}: {text:?} should name {field}"
        );
    }

    // No rejected drift request left a report behind.
    let drift = sys.mcp_as("validation", "drift").await;
    let reports = ok(&call(&drift, "list_reports", json!({})).await);
    assert_eq!(reports["reports"], json!([]), "{reports:#}");
}
