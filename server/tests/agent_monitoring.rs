//! The monitoring agent as a real `mlops agent monitoring` process, with
//! real metrics, drift and cluster MCP servers, a real Prometheus, real
//! model servers and routers serving models trained on the demo data, and
//! real traffic through the routers.

mod system;
use system::{System, artifact_data, status_text};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mlops_agent_kit::a2a::{Task, TaskState};
use mlops_demo_data::{
    DriftSpec, FEATURES, LABEL, MODEL_NAME, TransactionsConfig, generate, holdout_seed,
    row_instance,
};
use mlops_mcp_kit::test_support::{call, ok};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_models::{Algorithm, TrainingSet};
use serde_json::{Value, json};

/// The tests below assert timings (a verdict within one window, a request
/// within two intervals) on a 2-core machine; each starts a dozen
/// processes, so they take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type McpClient = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// A trained model version on the object store, and the training dataset
/// it records as its drift reference.
struct SeededVersion {
    version: i32,
    artifact_uri: String,
    reference: Value,
}

/// Trains a logistic regression on `rows` demo transactions (seed `seed`),
/// writes the training data as dataset `transactions` and the model as an
/// artifact, as the data and training agents would have.
async fn seed_version(sys: &System, version: i32, seed: u64) -> SeededVersion {
    let batch = generate(&TransactionsConfig {
        seed,
        rows: 2_000,
        ..TransactionsConfig::default()
    })
    .unwrap();
    let store = DatasetStore::local(&sys.storage_root()).unwrap();
    let (manifest, _) = store.write("transactions", &batch, "data").await.unwrap();
    let mut x = Vec::with_capacity(batch.num_rows());
    let mut y = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let features = row_instance(&batch, row, FEATURES).unwrap();
        x.push(
            FEATURES
                .iter()
                .map(|f| features[*f].as_f64().unwrap())
                .collect(),
        );
        y.push(
            row_instance(&batch, row, &[LABEL]).unwrap()[LABEL]
                .as_i64()
                .unwrap(),
        );
    }
    let set = TrainingSet {
        feature_names: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        target: LABEL.into(),
        x,
        y,
    };
    let model =
        mlops_models::train(&Algorithm::LogisticRegression { l2: 1.0 }, &set, seed).unwrap();
    let key = format!("models/v{version}-{seed}/model.json");
    store
        .write_object(
            &ObjectKey::parse(&key).unwrap(),
            model.to_bytes().unwrap().into(),
        )
        .await
        .unwrap();
    SeededVersion {
        version,
        artifact_uri: format!("storage://{key}"),
        reference: json!({"dataset": manifest.name, "version": manifest.version}),
    }
}

/// Deploys `seeded` as the deployment agent would; returns the router URL.
async fn deploy(deployer: &McpClient, seeded: &SeededVersion) -> String {
    let result = ok(&call(
        deployer,
        "apply_deployment",
        json!({
            "model": MODEL_NAME,
            "version": seeded.version,
            "artifact_uri": seeded.artifact_uri,
            "reference": seeded.reference,
        }),
    )
    .await);
    result["runtime"]["endpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("no endpoint in {result}"))
        .to_owned()
}

/// Holdout transactions, as the demo traffic generator replays them, as
/// KServe instances.
fn holdout(rows: usize, drift: DriftSpec) -> Vec<Value> {
    let batch = generate(&TransactionsConfig {
        seed: holdout_seed(42),
        rows,
        drift,
        ..TransactionsConfig::default()
    })
    .unwrap();
    (0..batch.num_rows())
        .map(|row| Value::Object(row_instance(&batch, row, FEATURES).unwrap()))
        .collect()
}

/// Sends `instances` through the router, `per_request` at a time.
async fn send(endpoint: &str, instances: &[Value], per_request: usize) {
    let http = reqwest::Client::new();
    let url = format!("{endpoint}/v1/models/{MODEL_NAME}:predict");
    for chunk in instances.chunks(per_request) {
        let response = http
            .post(&url)
            .json(&json!({ "instances": chunk }))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}

/// Steady traffic, one instance per request, until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    fn start(endpoint: &str, workers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let rows = Arc::new(holdout(500, DriftSpec::none()));
        let url = format!("{endpoint}/v1/models/{MODEL_NAME}:predict");
        let handles = (0..workers)
            .map(|w| {
                let (stop, sent, rows, url) =
                    (stop.clone(), sent.clone(), rows.clone(), url.clone());
                tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    let mut i = w;
                    while !stop.load(Ordering::Relaxed) {
                        let row = &rows[i % rows.len()];
                        // Errors are the point of some tests; only count.
                        let _ = http
                            .post(&url)
                            .json(&json!({ "instances": [row] }))
                            .send()
                            .await;
                        sent.fetch_add(1, Ordering::Relaxed);
                        i += workers;
                        tokio::time::sleep(Duration::from_millis(40)).await;
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            sent,
            workers: handles,
        }
    }

    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            let _ = worker.await;
        }
        self.sent.load(Ordering::Relaxed)
    }
}

/// Runs `skill` and returns the final task, asserting it completed. (Data
/// parts travel as protobuf values, so every number in an artifact reads
/// back as a float: compare with `as_f64`.)
async fn completed(sys: &System, skill: &str, input: Value, timeout: Duration) -> Task {
    let task = sys
        .run_skill("monitoring", skill, input.clone(), timeout)
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{skill} {input}: {}",
        status_text(&task)
    );
    task
}

/// Runs `skill` on input it must refuse, and returns the refusal.
async fn rejected(sys: &System, skill: &str, input: Value) -> String {
    let task = sys
        .run_skill("monitoring", skill, input.clone(), Duration::from_secs(30))
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Rejected,
        "{skill} {input}: {}",
        status_text(&task)
    );
    status_text(&task)
}

/// detect-drift, repeated until the window holds at least `rows`
/// predictions (the routers flush their logs every 2 s).
async fn drift_check(sys: &System, input: Value, rows: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let task = completed(sys, "detect-drift", input.clone(), Duration::from_secs(60)).await;
        let check = artifact_data(&task, "drift-check").expect("a drift-check artifact");
        eprintln!("{}", status_text(&task));
        if check["current_rows"].as_f64().unwrap_or(0.0) >= rows as f64 {
            return check;
        }
        assert!(
            Instant::now() < deadline,
            "the log never held {rows} rows: {check}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_drift_flags_drifted_traffic_and_not_clean_traffic() {
    let _turn = SERIAL.lock().await;
    let sys = System::builder()
        .mcp(&["drift", "cluster"])
        .agents(&["monitoring"])
        .agent_config("monitoring", "scheduler_enabled: false\n")
        .start()
        .await;
    let deployer = sys.mcp_as("deployment", "cluster").await;
    let v1 = seed_version(&sys, 1, 42).await;
    let endpoint = deploy(&deployer, &v1).await;

    // Clean holdout traffic against the training data: no drift.
    send(&endpoint, &holdout(1_500, DriftSpec::none()), 100).await;
    let clean = drift_check(
        &sys,
        json!({"model": MODEL_NAME, "window_minutes": 10}),
        1_500,
    )
    .await;
    assert_eq!(clean["status"], "no_drift", "{clean}");
    assert_eq!(clean["drifted"], false);
    assert_eq!(clean["reference_source"], "deployment v1");
    assert_eq!(clean["reference"], v1.reference);
    assert_eq!(clean["reference_rows"].as_f64(), Some(2_000.0));
    assert!(clean["report_id"].is_string(), "{clean}");
    let features = clean["features"].as_array().unwrap();
    assert_eq!(features.len(), FEATURES.len(), "{clean}");
    for feature in features {
        assert!(feature["score"].is_number(), "{feature}");
        assert!(feature["threshold"].as_f64().unwrap() > 0.0, "{feature}");
        assert!(feature["stattest"].is_string(), "{feature}");
    }

    // Then the demo's drift: amounts, distances and the merchant mix move.
    send(&endpoint, &holdout(3_000, DriftSpec::demo()), 100).await;
    let drifted = drift_check(
        &sys,
        json!({"model": MODEL_NAME, "window_minutes": 10}),
        4_500,
    )
    .await;
    assert_eq!(drifted["status"], "drifted", "{drifted}");
    assert_eq!(drifted["drifted"], true);
    let flagged: Vec<&str> = drifted["drifted_features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for shifted in ["amount", "distance_from_home_km"] {
        assert!(
            flagged.contains(&shifted),
            "{shifted} not flagged: {flagged:?}"
        );
    }
    for steady in ["hour", "account_age_days", "txn_count_24h"] {
        assert!(!flagged.contains(&steady), "{steady} flagged: {flagged:?}");
    }
    assert!(
        drifted["share_of_drifted_features"].as_f64().unwrap()
            >= drifted["drift_share"].as_f64().unwrap()
    );
    assert_ne!(
        drifted["report_id"], clean["report_id"],
        "each check is its own report"
    );

    // An explicit reference is used as given.
    let explicit = completed(
        &sys,
        "detect-drift",
        json!({"model": MODEL_NAME, "window_minutes": 10, "reference": v1.reference}),
        Duration::from_secs(60),
    )
    .await;
    let explicit = artifact_data(&explicit, "drift-check").unwrap();
    assert_eq!(explicit["reference_source"], "input");
    assert_eq!(explicit["status"], "drifted");

    // The official Python a2a-sdk client runs the same skill.
    let python = sys
        .python_skill("monitoring", "detect-drift", json!({"model": MODEL_NAME}))
        .await;
    assert_eq!(python["state"], "TASK_STATE_COMPLETED", "{python}");
    assert_eq!(
        python["artifacts"]["drift-check"]["status"], "drifted",
        "{python}"
    );
    let progress = python["progress"].as_array().unwrap();
    assert!(
        progress.iter().any(|p| p
            .as_str()
            .unwrap_or("")
            .contains("called drift/run_drift_report")),
        "every MCP call shows in the stream: {progress:?}"
    );

    // Bad input is refused before anything runs, naming the field.
    for (skill, input, field) in [
        (
            "detect-drift",
            json!({"model": MODEL_NAME, "window_minutes": 0}),
            "window_minutes",
        ),
        (
            "detect-drift",
            json!({"model": MODEL_NAME, "windw": 5}),
            "windw",
        ),
        ("detect-drift", json!({"model": "no-such-model"}), "model"),
        (
            "detect-drift",
            json!({"model": MODEL_NAME, "reference": {"dataset": "transactions", "version": "v1"}}),
            "reference.version",
        ),
        (
            "watch-canary",
            json!({"model": MODEL_NAME, "canary_version": 1, "window_seconds": 5}),
            "window_seconds",
        ),
        (
            "watch-canary",
            json!({"model": MODEL_NAME, "canary_version": 7, "window_seconds": 30}),
            "canary_version",
        ),
        (
            "monitor-model-performance",
            json!({"model": "Fraud Detector"}),
            "model",
        ),
        (
            "trigger-retraining-alert",
            json!({"model": MODEL_NAME, "reason": "   "}),
            "reason",
        ),
        (
            "trigger-retraining-alert",
            json!({"model": MODEL_NAME, "reason": "drift", "drift_report_id": "00000000-0000-4000-8000-000000000000"}),
            "drift_report_id",
        ),
    ] {
        let refusal = rejected(&sys, skill, input.clone()).await;
        assert!(refusal.contains(field), "{skill} {input}: {refusal}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_canary_fails_a_faulty_canary_within_one_window_and_passes_a_healthy_one() {
    let _turn = SERIAL.lock().await;
    let sys = System::builder()
        .prometheus()
        .mcp(&["metrics", "cluster"])
        .agents(&["monitoring"])
        .agent_config(
            "monitoring",
            "scheduler_enabled: false\ncanary_sample_seconds: 2\n",
        )
        .start()
        .await;
    let deployer = sys.mcp_as("deployment", "cluster").await;
    let v1 = seed_version(&sys, 1, 42).await;
    let v2 = seed_version(&sys, 2, 7).await;
    let endpoint = deploy(&deployer, &v1).await;
    deploy(&deployer, &v2).await;
    ok(&call(
        &deployer,
        "set_traffic_split",
        json!({"model": MODEL_NAME, "weights": {"1": 50, "2": 50}}),
    )
    .await);

    // Traffic until Prometheus has scraped both versions' numbers.
    let traffic = Traffic::start(&endpoint, 3);
    let deadline = Instant::now() + Duration::from_secs(40);
    let performance = loop {
        let task = completed(
            &sys,
            "monitor-model-performance",
            json!({"model": MODEL_NAME, "window_seconds": 20}),
            Duration::from_secs(30),
        )
        .await;
        let performance = artifact_data(&task, "model-performance").unwrap();
        let served = performance["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| {
                v["requests_per_second"].as_f64() > Some(0.0) && v["p95_latency_ms"].is_number()
            })
            .count();
        if served == 2 {
            break performance;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had both versions: {performance}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    for version in performance["versions"].as_array().unwrap() {
        assert_eq!(version["traffic_weight_percent"], 50.0, "{performance}");
        assert_eq!(version["error_rate"], 0.0, "{performance}");
    }

    // A healthy canary holds every threshold for the whole window.
    let healthy = completed(
        &sys,
        "watch-canary",
        json!({"model": MODEL_NAME, "canary_version": 2, "window_seconds": 12}),
        Duration::from_secs(60),
    )
    .await;
    let analysis = artifact_data(&healthy, "canary-analysis").unwrap();
    assert_eq!(analysis["verdict"], "successful", "{analysis}");
    assert_eq!(analysis["decided_by"]["rule"], "all_thresholds_met");
    assert_eq!(
        analysis["stable_version"].as_f64(),
        Some(1.0),
        "stable defaults to the heaviest other version"
    );
    assert_eq!(analysis["decided_early"], false);
    assert!(analysis["elapsed_seconds"].as_f64().unwrap() >= 12.0);
    let samples = analysis["samples"].as_array().unwrap();
    assert!(samples.len() >= 3, "sampled through the window: {analysis}");
    assert!(
        analysis["canary"]["requests"].as_f64().unwrap() >= 50.0,
        "{analysis}"
    );
    assert!(
        analysis["stable"]["requests"].as_f64().unwrap() >= 50.0,
        "{analysis}"
    );
    assert_eq!(analysis["thresholds"]["max_error_rate"], 0.05);

    // A faulty canary: half its requests fail and each is slower. The
    // verdict comes long before the 60 s window ends.
    ok(&call(
        &deployer,
        "inject_fault",
        json!({"model": MODEL_NAME, "version": 2, "error_share": 0.5, "added_latency_ms": 300}),
    )
    .await);
    // The watch counts from the counters Prometheus last scraped (every
    // 1 s here), as an analysis step started after the traffic change would.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = Instant::now();
    let faulty = completed(
        &sys,
        "watch-canary",
        json!({"model": MODEL_NAME, "canary_version": 2, "stable_version": 1, "window_seconds": 60, "max_error_rate": 0.05}),
        Duration::from_secs(90),
    )
    .await;
    let took = asked.elapsed();
    let analysis = artifact_data(&faulty, "canary-analysis").unwrap();
    assert_eq!(analysis["verdict"], "failed", "{analysis}");
    assert_eq!(
        analysis["decided_by"]["rule"], "max_error_rate",
        "{analysis}"
    );
    assert_eq!(analysis["decided_early"], true);
    assert!(took < Duration::from_secs(60), "took {took:?}: {analysis}");
    let canary = &analysis["canary"];
    assert!(canary["requests"].as_f64().unwrap() >= 50.0, "{analysis}");
    let rate = canary["error_rate"].as_f64().unwrap();
    assert!((0.25..0.75).contains(&rate), "{analysis}");
    assert!(
        canary["error_rate_lower_95"].as_f64().unwrap() > 0.05,
        "{analysis}"
    );
    assert!(
        canary["p50_latency_ms"].as_f64().unwrap()
            > analysis["stable"]["p50_latency_ms"].as_f64().unwrap(),
        "the added latency shows: {analysis}"
    );
    let last = analysis["samples"].as_array().unwrap().last().unwrap();
    assert!(
        last["outcome"].as_str().unwrap().starts_with("failed"),
        "{last}"
    );
    // The task completed: the verdict is a result, not a failure of the task.
    assert!(
        status_text(&faulty).contains("failed after"),
        "{}",
        status_text(&faulty)
    );

    // The performance view shows the broken canary, and Prometheus's rule fires.
    let deadline = Instant::now() + Duration::from_secs(30);
    let performance = loop {
        let task = completed(
            &sys,
            "monitor-model-performance",
            json!({"model": MODEL_NAME, "window_seconds": 10}),
            Duration::from_secs(30),
        )
        .await;
        let performance = artifact_data(&task, "model-performance").unwrap();
        let firing = performance["firing_alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "ModelVersionErrorRateHigh" && a["version"] == "2");
        if firing {
            break performance;
        }
        assert!(
            Instant::now() < deadline,
            "no error-rate alert for v2: {performance}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let version = |v: &str| {
        performance["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["version"] == v)
            .unwrap()
            .clone()
    };
    assert!(
        version("2")["error_rate"].as_f64().unwrap() > 0.2,
        "{performance}"
    );
    assert!(
        version("1")["error_rate"].as_f64().unwrap() < 0.05,
        "{performance}"
    );
    assert!(
        version("2")["p95_latency_ms"].as_f64().unwrap()
            > version("1")["p95_latency_ms"].as_f64().unwrap(),
        "{performance}"
    );
    let sent = traffic.stop().await;
    assert!(sent > 100, "{sent} requests");

    // Too little traffic for a verdict: inconclusive, still a result.
    ok(&call(
        &deployer,
        "inject_fault",
        json!({"model": MODEL_NAME, "version": 2, "error_share": 0.0, "added_latency_ms": 0}),
    )
    .await);
    let trickle = {
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                send(&endpoint, &holdout(1, DriftSpec::none()), 1).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let quiet = completed(
        &sys,
        "watch-canary",
        json!({"model": MODEL_NAME, "canary_version": 2, "window_seconds": 10, "min_requests": 50}),
        Duration::from_secs(60),
    )
    .await;
    trickle.await.unwrap();
    let analysis = artifact_data(&quiet, "canary-analysis").unwrap();
    assert_eq!(analysis["verdict"], "inconclusive", "{analysis}");
    assert_eq!(analysis["decided_by"]["rule"], "min_requests");
    assert!(
        analysis["canary"]["requests"].as_f64().unwrap() < 50.0,
        "{analysis}"
    );
}

/// What the stand-in orchestrator received.
async fn requests_in_ledger(sys: &System) -> Vec<(String, bool, String, Option<String>)> {
    sqlx::query_as(
        "SELECT message_id, open, state, orchestrator_task_id
           FROM agents.monitoring_retraining_requests WHERE model = $1 ORDER BY seq",
    )
    .bind(MODEL_NAME)
    .fetch_all(&sys.db.pool)
    .await
    .unwrap()
}

/// Waits until the monitoring agent's ledger holds `n` requests, each with
/// the orchestrator's task id.
async fn ledger_with(
    sys: &System,
    n: usize,
    timeout: Duration,
) -> Vec<(String, bool, String, Option<String>)> {
    let deadline = Instant::now() + timeout;
    loop {
        let ledger = requests_in_ledger(sys).await;
        if ledger.len() >= n && ledger.iter().all(|r| r.3.is_some()) {
            return ledger;
        }
        assert!(
            Instant::now() < deadline,
            "{n} requests not recorded in {timeout:?}: {ledger:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A task of the orchestrator once it has stopped working on it (the
/// request is recorded as soon as the orchestrator accepts it, before its
/// skill has run).
async fn orchestrator_task(sys: &System, task_id: &str) -> Task {
    let client = sys.a2a("orchestrator").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let task = client
            .get(&mlops_agent_kit::a2a::GetTaskRequest {
                id: task_id.to_owned(),
                history_length: None,
                tenant: None,
            })
            .await
            .unwrap();
        if !matches!(task.status.state, TaskState::Submitted | TaskState::Working)
            || Instant::now() > deadline
        {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_triggers_one_retraining_request_per_model_at_a_time() {
    let _turn = SERIAL.lock().await;
    const INTERVAL: Duration = Duration::from_secs(4);
    // The real orchestrator, found through the agent registry by its
    // `handle-retraining` skill.
    let sys = System::builder()
        .mcp(&["drift", "cluster"])
        // The orchestrator plans retraining from these agents' cards; the
        // request stops at its first gate, so they do no work here.
        .agents(&[
            "monitoring",
            "data",
            "training",
            "validation",
            "deployment",
            "orchestrator",
        ])
        .agent_config(
            "monitoring",
            &format!(
                "interval_seconds: {}\ndrift_window_minutes: 30\nmin_drift_rows: 200\n",
                INTERVAL.as_secs()
            ),
        )
        .start()
        .await;

    let deployer = sys.mcp_as("deployment", "cluster").await;
    let v1 = seed_version(&sys, 1, 42).await;
    let endpoint = deploy(&deployer, &v1).await;

    // Drifted traffic; the routers flush their logs every 2 s, so the
    // scheduler sees it within two rounds of that.
    send(&endpoint, &holdout(1_500, DriftSpec::demo()), 100).await;
    let sent_at = Instant::now();
    let ledger = ledger_with(&sys, 1, 2 * INTERVAL + Duration::from_secs(5)).await;
    assert!(sent_at.elapsed() <= 2 * INTERVAL + Duration::from_secs(5));
    assert_eq!(ledger[0].0, format!("monitoring:retrain:{MODEL_NAME}:1"));
    let first_task = ledger[0].3.clone().unwrap();

    // The orchestrator holds the request at a human gate, with the drift
    // report attached.
    let task = orchestrator_task(&sys, &first_task).await;
    assert_eq!(
        task.status.state,
        TaskState::InputRequired,
        "{}",
        status_text(&task)
    );
    assert!(
        status_text(&task).contains(MODEL_NAME),
        "{}",
        status_text(&task)
    );
    let request = artifact_data(&task, "retraining-request").expect("the request artifact");
    assert_eq!(request["model"], MODEL_NAME);
    assert_eq!(request["requested_by"], "monitoring");
    assert_eq!(request["request_id"], ledger[0].0.as_str());
    assert_eq!(request["drift_report_attached"], true);
    assert!(
        request["reason"].as_str().unwrap().contains("amount"),
        "{request}"
    );
    let report_id = request["drift_report_id"]
        .as_str()
        .expect("a drift report id")
        .to_owned();
    let report = artifact_data(&task, "drift-report").expect("the drift report rides along");
    assert_eq!(report["id"], report_id.as_str());
    assert_eq!(report["kind"], "drift");
    assert_eq!(
        report["report"]["reference"]["version"],
        v1.reference["version"]
    );
    assert!(
        report["report"]["current"]["prediction_log"].is_object(),
        "{report}"
    );

    // Several more rounds see the same drift; the open request stands.
    tokio::time::sleep(3 * INTERVAL).await;
    let ledger = requests_in_ledger(&sys).await;
    assert_eq!(ledger.len(), 1, "one open request per model: {ledger:?}");
    assert!(ledger[0].1, "open: {ledger:?}");
    assert_eq!(ledger[0].2, "TASK_STATE_INPUT_REQUIRED", "{ledger:?}");

    // Asked directly, the skill returns the open request instead of sending.
    let task = completed(
        &sys,
        "trigger-retraining-alert",
        json!({"model": MODEL_NAME, "reason": "on-call saw the drift chart", "drift_report_id": report_id}),
        Duration::from_secs(60),
    )
    .await;
    let request = artifact_data(&task, "retraining-request").unwrap();
    assert_eq!(request["sent"], false, "{request}");
    assert_eq!(request["request_id"], ledger[0].0.as_str());
    assert_eq!(request["orchestrator"], "orchestrator");
    assert_eq!(request["orchestrator_task_id"], first_task.as_str());
    assert_eq!(requests_in_ledger(&sys).await.len(), 1);

    // Once the orchestrator's task ends (here: canceled), the next round
    // asks again.
    sys.a2a("orchestrator")
        .await
        .cancel(&mlops_agent_kit::a2a::CancelTaskRequest {
            id: first_task.clone(),
            metadata: None,
            tenant: None,
        })
        .await
        .unwrap();
    let ledger = ledger_with(&sys, 2, 2 * INTERVAL + Duration::from_secs(5)).await;
    assert_eq!(ledger[1].0, format!("monitoring:retrain:{MODEL_NAME}:2"));
    assert_ne!(ledger[1].3.as_deref(), Some(first_task.as_str()));
    assert!(
        !ledger[0].1 && ledger[0].2 == "TASK_STATE_CANCELED",
        "{ledger:?}"
    );
    assert!(ledger[1].1, "{ledger:?}");
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(requests_in_ledger(&sys).await.len(), 2);

    let log = sys.log("monitoring");
    assert!(log.contains("drift scheduler round"), "rounds are logged");
    assert!(
        log.contains("retraining request already open"),
        "later rounds saw it open"
    );
}
