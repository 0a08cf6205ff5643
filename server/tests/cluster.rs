//! The cluster server's local backend with real processes: `mlops
//! model-server` replicas and an `mlops router` per model, started from the
//! real binary, driven over MCP with the rmcp client.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlops_mcp_cluster::{ClusterServer, LocalBackend, LocalConfig, SERVER};
use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok, python_client};
use mlops_mcp_kit::{McpHttpServer, RunningMcpServer};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_models::{Algorithm, Model, TrainingSet};
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use serde_json::{Value, json};

struct Fixture {
    db: TestDatabase,
    root: tempfile::TempDir,
    tokens: TestTokens,
    server: RunningMcpServer,
    cluster: ClusterServer,
    http: reqwest::Client,
}

/// A small learnable problem: fraud is likelier for large amounts at night.
fn training_set(seed: u64) -> TrainingSet {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..600 {
        let amount = rng.f64() * 1000.0;
        let hour = f64::from(rng.u8(0..24));
        let risk = amount / 1000.0 + if hour < 6.0 { 0.5 } else { 0.0 };
        x.push(vec![amount, hour]);
        y.push(i64::from(risk + rng.f64() * 0.4 > 1.0));
    }
    TrainingSet {
        feature_names: vec!["amount".into(), "hour".into()],
        target: "is_fraud".into(),
        x,
        y,
    }
}

fn trained(seed: u64) -> Model {
    mlops_models::train(
        &Algorithm::LogisticRegression { l2: 1.0 },
        &training_set(seed),
        seed,
    )
    .expect("training")
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with_targets(None).await
    }

    /// `file_sd_dir`: where the cluster writes Prometheus targets (a temp
    /// directory of its own when `None`).
    async fn start_with_targets(file_sd_dir: Option<std::path::PathBuf>) -> Self {
        let db = fresh_database().await;
        let root = tempfile::tempdir().unwrap();
        let store = DatasetStore::local(root.path()).unwrap();
        for (job, seed) in [("job-1", 1), ("job-2", 2)] {
            let key = ObjectKey::parse(&format!("models/{job}/model.json")).unwrap();
            let bytes = trained(seed).to_bytes().unwrap();
            store.write_object(&key, bytes.into()).await.unwrap();
        }
        let backend = LocalBackend::new(
            LocalConfig {
                exe: env!("CARGO_BIN_EXE_mlops").into(),
                storage_root: root.path().display().to_string(),
                file_sd_dir: Some(file_sd_dir.unwrap_or_else(|| root.path().join("sd"))),
            },
            db.pool.clone(),
        );
        let cluster = ClusterServer::new(Arc::new(backend), store, db.pool.clone());
        let tokens = TestTokens::new(SERVER);
        let handler = cluster.clone();
        let server = McpHttpServer::new(SERVER, tokens.verifier(), cluster.kit().metrics())
            .readiness_database(db.pool.clone())
            .bind("127.0.0.1:0".parse().unwrap(), move || handler.clone())
            .await
            .unwrap();
        Fixture {
            db,
            root,
            tokens,
            server,
            cluster,
            http: reqwest::Client::new(),
        }
    }

    async fn deployment_client(&self) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        client(&self.server.mcp_url(), &self.tokens.for_agent("deployment")).await
    }

    async fn predict(&self, endpoint: &str, instances: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{endpoint}/v1/models/fraud-detector:predict"))
            .json(&json!({ "instances": instances }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn endpoint_of(result: &Value) -> String {
    result["runtime"]["endpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("no endpoint in {result}"))
        .to_owned()
}

/// Sends `n` requests, `concurrency` at a time; counts answers per version.
async fn split_of(
    http: &reqwest::Client,
    endpoint: &str,
    n: usize,
    concurrency: usize,
) -> BTreeMap<String, usize> {
    let url = format!("{endpoint}/v1/models/fraud-detector:predict");
    let counts = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, url, counts, next) = (http.clone(), url.clone(), counts.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let answer: Value = http
                    .post(&url)
                    .json(&json!({"instances": [[120.0, 3]]}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let version = answer["model_version"]
                    .as_str()
                    .unwrap_or("error")
                    .to_owned();
                *counts.lock().unwrap().entry(version).or_insert(0) += 1;
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    counts.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_split_and_serve_real_predictions() {
    let f = Fixture::start().await;
    let deployer = f.deployment_client().await;

    let first = ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": "fraud-detector", "version": 1, "artifact_uri": "models/job-1/model.json", "replicas": 2}),
    )
    .await);
    let endpoint = endpoint_of(&first);
    assert_eq!(
        first["desired"]["deployments"][0]["weight"], 100,
        "the first version takes all traffic"
    );
    assert_eq!(
        first["runtime"]["versions"][0]["replicas"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The model server's answers equal the in-process model's.
    let rows = vec![vec![950.0, 2.0], vec![15.0, 14.0], vec![500.0, 5.0]];
    let (status, answer) = f.predict(&endpoint, json!(rows)).await;
    assert_eq!(status, 200, "{answer}");
    let expected = trained(1).predict_proba(&rows).unwrap();
    let served: Vec<f64> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["score"].as_f64().unwrap())
        .collect();
    assert_eq!(served, expected);
    let (status, answer) = f
        .predict(&endpoint, json!([{"hour": 2, "amount": 950.0}]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["predictions"][0]["score"].as_f64().unwrap(),
        expected[0]
    );

    // A canary at 10%: over 10,000 requests within ±2 points.
    ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": "fraud-detector", "version": 2, "artifact_uri": "models/job-2/model.json"}),
    )
    .await);
    ok(&call(
        &deployer,
        "set_traffic_split",
        json!({"model": "fraud-detector", "weights": {"1": 90, "2": 10}}),
    )
    .await);
    let counts = split_of(&f.http, &endpoint, 10_000, 16).await;
    let canary = counts.get("2").copied().unwrap_or(0) as f64 / 100.0;
    assert!(
        (8.0..=12.0).contains(&canary),
        "canary share {canary}% from {counts:?}"
    );
    assert_eq!(counts.get("error"), None, "{counts:?}");

    // A weight change applies within a second of the call: the tool answers
    // once the router has the new table, and every request after is v2.
    let asked_at = Instant::now();
    ok(&call(
        &deployer,
        "set_traffic_split",
        json!({"model": "fraud-detector", "weights": {"1": 0, "2": 100}}),
    )
    .await);
    let counts = split_of(&f.http, &endpoint, 1, 1).await;
    assert!(
        asked_at.elapsed() < Duration::from_secs(1),
        "took {:?}",
        asked_at.elapsed()
    );
    assert_eq!(counts.get("2"), Some(&1), "{counts:?}");
    let counts = split_of(&f.http, &endpoint, 200, 8).await;
    assert_eq!(counts.get("2"), Some(&200), "{counts:?}");

    // Injected faults: every v2 request fails, and the router says so.
    ok(&call(
        &deployer,
        "inject_fault",
        json!({"model": "fraud-detector", "version": 2, "error_share": 1.0}),
    )
    .await);
    let (status, answer) = f.predict(&endpoint, json!([[1.0, 1.0]])).await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("injected"));
    ok(&call(
        &deployer,
        "inject_fault",
        json!({"model": "fraud-detector", "version": 2, "error_share": 0.0}),
    )
    .await);

    // The router exports per-version metrics and writes Prometheus targets.
    let metrics = f
        .http
        .get(format!("{endpoint}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"mlops_router_requests_total{model="fraud-detector",version="2",code="500"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"mlops_router_traffic_weight{model="fraud-detector",version="2"} 100"#)
    );
    let targets: Value = serde_json::from_slice(
        &std::fs::read(f.root.path().join("sd/cluster-fraud-detector.json")).unwrap(),
    )
    .unwrap();
    let components: Vec<&str> = targets
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["labels"]["component"].as_str().unwrap())
        .collect();
    assert_eq!(
        components,
        ["router", "model-server", "model-server", "model-server"]
    );

    // The prediction log reaches the object store within its flush period.
    let logs = f.root.path().join("prediction-logs/fraud-detector");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logs.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(logs.exists(), "no prediction log segments");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_replicas_come_back_and_restarts_roll() {
    let f = Fixture::start().await;
    let deployer = f.deployment_client().await;
    let first = ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": "fraud-detector", "version": 1, "artifact_uri": "models/job-1/model.json"}),
    )
    .await);
    let endpoint = endpoint_of(&first);
    let pid = first["runtime"]["versions"][0]["replicas"][0]["pid"]
        .as_u64()
        .unwrap();
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    // The reconciler notices and starts a replacement. SIGKILL lands
    // asynchronously: a pass that runs before the process is gone sees it
    // alive, so passes repeat until the replacement shows.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        f.cluster.reconcile_all().await;
        let status = ok(&call(
            &deployer,
            "get_deployment_status",
            json!({"model": "fraud-detector"}),
        )
        .await);
        let replica = &status["models"][0]["runtime"]["versions"][0]["replicas"][0];
        if replica["pid"].as_u64().is_some_and(|p| p != pid) && replica["ready"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no ready replacement for the killed replica: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(f.predict(&endpoint, json!([[1.0, 1.0]])).await.0, 200);

    // A rolling restart replaces the replica and keeps the endpoint.
    let restarted = ok(&call(
        &deployer,
        "rollout_restart",
        json!({"model": "fraud-detector", "version": 1}),
    )
    .await);
    assert_eq!(
        restarted["runtime"]["versions"][0]["replicas"][0]["restart_epoch"],
        1
    );
    assert_eq!(endpoint_of(&restarted), endpoint);
    assert_eq!(f.predict(&endpoint, json!([[1.0, 1.0]])).await.0, 200);

    // Scaling, then deleting the last version stops everything.
    let scaled = ok(&call(
        &deployer,
        "scale_deployment",
        json!({"model": "fraud-detector", "version": 1, "replicas": 3}),
    )
    .await);
    assert_eq!(
        scaled["runtime"]["versions"][0]["replicas"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    ok(&call(
        &deployer,
        "delete_deployment",
        json!({"model": "fraud-detector", "version": 1}),
    )
    .await);
    assert!(
        f.http
            .get(format!("{endpoint}/healthz"))
            .send()
            .await
            .is_err(),
        "router stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing_and_the_matrix_holds() {
    let f = Fixture::start().await;
    let deployer = f.deployment_client().await;
    ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": "fraud-detector", "version": 1, "artifact_uri": "models/job-1/model.json"}),
    )
    .await);
    let before = ok(&call(
        &deployer,
        "get_deployment_status",
        json!({"model": "fraud-detector"}),
    )
    .await)["models"][0]["desired"]
        .clone();

    let cases = [
        (
            "set_traffic_split",
            json!({"model": "fraud-detector", "weights": {"1": 120, "2": -20}}),
            "outside 0..100",
        ),
        (
            "set_traffic_split",
            json!({"model": "fraud-detector", "weights": {"1": 60}}),
            "sum to 60",
        ),
        (
            "set_traffic_split",
            json!({"model": "fraud-detector", "weights": {"1": 50, "7": 50}}),
            "no deployed version 7",
        ),
        (
            "set_traffic_split",
            json!({"model": "no-such-model", "weights": {"1": 100}}),
            "has no deployment",
        ),
        (
            "apply_deployment",
            json!({"model": "fraud-detector", "version": 2, "artifact_uri": "models/missing/model.json"}),
            "no model artifact",
        ),
        (
            "apply_deployment",
            json!({"model": "fraud-detector", "version": 2, "artifact_uri": "../../etc/passwd"}),
            "'..'",
        ),
        (
            "apply_deployment",
            json!({"model": "Fraud Detector", "version": 2, "artifact_uri": "models/job-2/model.json"}),
            "model name",
        ),
        (
            "apply_deployment",
            json!({"model": "fraud-detector", "version": 2, "artifact_uri": "models/job-2/model.json", "replicas": 99}),
            "between 1 and 16",
        ),
        (
            "inject_fault",
            json!({"model": "fraud-detector", "version": 1, "error_share": 2.0}),
            "between 0 and 1",
        ),
        (
            "scale_deployment",
            json!({"model": "fraud-detector", "version": 1, "replicas": 0}),
            "shift it away",
        ),
        (
            "delete_deployment",
            json!({"model": "fraud-detector", "version": 9}),
            "no deployed version 9",
        ),
    ];
    for (tool, args, expected) in cases {
        let message = error_message(&call(&deployer, tool, args.clone()).await);
        assert!(message.contains(expected), "{tool} {args}: {message}");
    }
    // A file that is not a model is refused before anything changes.
    let store = DatasetStore::local(f.root.path()).unwrap();
    store
        .write_object(
            &ObjectKey::parse("models/junk/model.json").unwrap(),
            "{}".into(),
        )
        .await
        .unwrap();
    let message = error_message(
        &call(
            &deployer,
            "apply_deployment",
            json!({"model": "fraud-detector", "version": 2, "artifact_uri": "models/junk/model.json"}),
        )
        .await,
    );
    assert!(message.contains("not a model artifact"), "{message}");
    let after = ok(&call(
        &deployer,
        "get_deployment_status",
        json!({"model": "fraud-detector"}),
    )
    .await)["models"][0]["desired"]
        .clone();
    assert_eq!(before, after, "nothing changed");

    // Access matrix: training may not touch deployments; monitoring may
    // only read. Each refusal is audited.
    let training = client(&f.server.mcp_url(), &f.tokens.for_agent("training")).await;
    let message = error_message(
        &call(
            &training,
            "set_traffic_split",
            json!({"model": "fraud-detector", "weights": {"1": 100}}),
        )
        .await,
    );
    assert!(message.contains("cluster:write"), "{message}");
    let monitoring = client(&f.server.mcp_url(), &f.tokens.for_agent("monitoring")).await;
    ok(&call(&monitoring, "get_deployment_status", json!({})).await);
    let message = error_message(
        &call(
            &monitoring,
            "rollout_restart",
            json!({"model": "fraud-detector", "version": 1}),
        )
        .await,
    );
    assert!(message.contains("cluster:write"), "{message}");
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mcp.tool_calls WHERE server = 'cluster' AND status = 'refused'",
    )
    .fetch_one(&f.db.pool)
    .await
    .unwrap();
    assert_eq!(refused, 2);

    // The official Python MCP client lists the tools and reads the status.
    let stdout = python_client(
        &f.server.mcp_url(),
        &f.tokens.for_agent("deployment"),
        "get_deployment_status",
        json!({"model": "fraud-detector"}),
        &[
            "apply_deployment",
            "set_traffic_split",
            "get_deployment_status",
            "scale_deployment",
            "delete_deployment",
            "rollout_restart",
            "inject_fault",
        ],
    )
    .await;
    assert!(stdout.contains("fraud-detector"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_routers_and_canary_vs_stable_reads_them() {
    let scratch = tempfile::tempdir().unwrap();
    let prometheus = mlops_mcp_metrics::prometheus::start_for_tests(scratch.path())
        .await
        .expect("a real Prometheus");
    let f = Fixture::start_with_targets(Some(prometheus.config().sd_dir.clone())).await;
    let deployer = f.deployment_client().await;
    let first = ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": "fraud-detector", "version": 1, "artifact_uri": "storage://models/job-1/model.json"}),
    )
    .await);
    let endpoint = endpoint_of(&first);
    ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": "fraud-detector", "version": 2, "artifact_uri": "storage://models/job-2/model.json"}),
    )
    .await);
    ok(&call(
        &deployer,
        "set_traffic_split",
        json!({"model": "fraud-detector", "weights": {"1": 70, "2": 30}}),
    )
    .await);
    ok(&call(
        &deployer,
        "inject_fault",
        json!({"model": "fraud-detector", "version": 2, "error_share": 0.5, "added_latency_ms": 20}),
    )
    .await);

    // The metrics server over the same Prometheus, as the monitoring agent sees it.
    let metrics_tokens = TestTokens::new(mlops_mcp_metrics::SERVER);
    let metrics_server = mlops_mcp_metrics::MetricsServer::new(prometheus.url(), f.db.pool.clone());
    let handler = metrics_server.clone();
    let running = McpHttpServer::new(
        mlops_mcp_metrics::SERVER,
        metrics_tokens.verifier(),
        metrics_server.kit().metrics(),
    )
    .bind("127.0.0.1:0".parse().unwrap(), move || handler.clone())
    .await
    .unwrap();
    let monitoring = client(&running.mcp_url(), &metrics_tokens.for_agent("monitoring")).await;

    // Traffic for a few scrapes, then the comparison, polled until
    // Prometheus has two rate samples for both versions (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        split_of(&f.http, &endpoint, 300, 4).await;
        let result = call(
            &monitoring,
            "canary_vs_stable",
            json!({"model": "fraud-detector", "window": "30s"}),
        )
        .await;
        if result.is_error != Some(true) {
            let report = ok(&result);
            let served = report["versions"].as_array().map(|vs| {
                vs.iter()
                    .filter(|v| v["requests_per_second"].as_f64() > Some(0.0))
                    .count()
            });
            if served == Some(2) {
                break report;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had both versions: {result:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(report["stable_version"], "1", "{report}");
    let versions = report["versions"].as_array().unwrap();
    let by_version = |v: &str| versions.iter().find(|x| x["version"] == v).unwrap().clone();
    let (stable, canary) = (by_version("1"), by_version("2"));
    assert_eq!(stable["role"], "stable");
    assert_eq!(canary["role"], "canary");
    assert_eq!(canary["traffic_weight_percent"], 30.0);
    assert!(stable["error_rate"].as_f64().unwrap() < 0.05, "{stable}");
    let canary_errors = canary["error_rate"].as_f64().unwrap();
    assert!((0.25..0.75).contains(&canary_errors), "{canary}");
    assert!(
        canary["p50_seconds"].as_f64().unwrap() > stable["p50_seconds"].as_f64().unwrap(),
        "the canary's added latency shows: {report}"
    );
}
