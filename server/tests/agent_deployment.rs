//! The deployment agent as a real `mlops agent deployment` process, over
//! real registry and cluster MCP servers. The cluster's local backend runs
//! real `mlops model-server` and `mlops router` processes serving models
//! trained here on the demo transactions, so every split is checked with
//! real predictions through the model's router.

mod system;
use system::{System, artifact_data, status_text};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlops_agent_kit::a2a::{Task, TaskState};
use mlops_demo_data::{FEATURES, LABEL, MODEL_NAME, TransactionsConfig, holdout_seed};
use mlops_mcp_kit::test_support::{call, ok};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_models::{Algorithm, TrainingSet};
use serde_json::{Value, json};

const DATASET: &str = "transactions";
const TRAINING_SEED: u64 = 7;

/// What the seeding left behind.
struct Demo {
    /// The training dataset's version (its sha256).
    dataset_version: String,
    /// Holdout rows as KServe instances (`{feature: value}`).
    instances: Vec<Value>,
}

async fn start() -> System {
    System::builder()
        .mcp(&["registry", "cluster"])
        .agents(&["deployment"])
        .agent_config(
            "deployment",
            "grace_period_seconds: 2\npoll_interval_ms: 200\nprogress_interval_seconds: 1\n",
        )
        .start()
        .await
}

/// The features and labels of `rows` demo transactions generated from
/// `seed`; with `store`, the batch is also written as dataset [`DATASET`],
/// whose (version, digest) comes back.
async fn transactions(
    seed: u64,
    rows: usize,
    store: Option<&DatasetStore>,
) -> (
    Vec<serde_json::Map<String, Value>>,
    Vec<i64>,
    Option<(String, String)>,
) {
    let batch = mlops_demo_data::generate(&TransactionsConfig {
        seed,
        rows,
        ..Default::default()
    })
    .unwrap();
    let features = (0..batch.num_rows())
        .map(|i| mlops_demo_data::row_instance(&batch, i, FEATURES).unwrap())
        .collect();
    let labels = (0..batch.num_rows())
        .map(|i| {
            mlops_demo_data::row_instance(&batch, i, &[LABEL]).unwrap()[LABEL]
                .as_i64()
                .unwrap()
        })
        .collect();
    let written = match store {
        Some(store) => {
            let (manifest, _) = store.write(DATASET, &batch, "data").await.unwrap();
            Some((manifest.version, manifest.digest))
        }
        None => None,
    };
    (features, labels, written)
}

/// Trains `versions` logistic regressions (different regularisation) on
/// demo transactions, writes the artifacts into the object store, and
/// registers them with lineage, as the training agent would.
async fn seed(sys: &System, versions: u32) -> Demo {
    let store = DatasetStore::local(&sys.storage_root()).unwrap();
    let (features, labels, written) = transactions(TRAINING_SEED, 2_000, Some(&store)).await;
    let (dataset_version, dataset_digest) = written.unwrap();
    let training = TrainingSet {
        feature_names: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        target: LABEL.into(),
        x: features
            .iter()
            .map(|row| FEATURES.iter().map(|f| row[*f].as_f64().unwrap()).collect())
            .collect(),
        y: labels,
    };

    let registry = sys.mcp_as("training", "registry").await;
    ok(&call(
        &registry,
        "register_model",
        json!({"name": MODEL_NAME, "description": "card fraud"}),
    )
    .await);
    for v in 1..=versions {
        let l2 = [1.0, 0.1, 10.0][(v as usize - 1) % 3];
        let mut model = mlops_models::train(
            &Algorithm::LogisticRegression { l2 },
            &training,
            TRAINING_SEED + u64::from(v),
        )
        .unwrap();
        model.set_dataset(DATASET, dataset_version.clone());
        let key = format!("models/run-{v}/model.json");
        store
            .write_object(
                &ObjectKey::parse(&key).unwrap(),
                model.to_bytes().unwrap().into(),
            )
            .await
            .unwrap();
        let created = ok(&call(
            &registry,
            "create_model_version",
            json!({
                "model": MODEL_NAME,
                "params": {"dataset": DATASET, "dataset_version": dataset_version, "algorithm": "logistic_regression", "l2": l2},
                "dataset_version_digest": dataset_digest,
                "training_run_id": format!("run-{v}"),
                "artifact_uri": format!("storage://{key}"),
                "protected_attribute": "age_band",
            }),
        )
        .await);
        assert_eq!(created["version"], v);
    }

    let (holdout, _, _) = transactions(holdout_seed(TRAINING_SEED), 50, None).await;
    Demo {
        dataset_version,
        instances: holdout.into_iter().map(Value::Object).collect(),
    }
}

async fn run(sys: &System, skill: &str, input: Value) -> Task {
    sys.run_skill("deployment", skill, input, Duration::from_secs(90))
        .await
}

/// Runs a skill that must complete; returns its artifact `artifact`.
async fn run_ok(sys: &System, skill: &str, artifact: &str, input: Value) -> Value {
    let task = run(sys, skill, input.clone()).await;
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{skill} {input}: {}\n{}",
        status_text(&task),
        sys.log("deployment")
    );
    let data =
        artifact_data(&task, artifact).unwrap_or_else(|| panic!("{skill}: no {artifact} artifact"));
    integers(data)
}

/// Artifacts travel as protobuf `Struct`s, where every number is a
/// double: 2 comes back as 2.0. This turns whole doubles back into
/// integers so results compare with `json!` literals.
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

/// Runs a skill that must fail; returns its status text.
async fn run_failed(sys: &System, skill: &str, input: Value) -> String {
    let task = run(sys, skill, input.clone()).await;
    assert_eq!(
        task.status.state,
        TaskState::Failed,
        "{skill} {input}: {}",
        status_text(&task)
    );
    status_text(&task)
}

fn changes(outcome: &Value) -> Vec<String> {
    serde_json::from_value(outcome["changes"].clone()).unwrap()
}

/// The cluster's view of the model (`desired` + `runtime`), or None.
async fn deployed(sys: &System) -> Option<Value> {
    let cluster = sys.mcp_as("monitoring", "cluster").await;
    let status = ok(&call(&cluster, "get_deployment_status", json!({})).await);
    status["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == MODEL_NAME)
        .cloned()
}

/// Version → weight as the cluster has it.
async fn cluster_split(sys: &System) -> BTreeMap<i64, i64> {
    deployed(sys)
        .await
        .map(|m| {
            m["desired"]["deployments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    (
                        d["version"].as_i64().unwrap(),
                        d["weight"].as_i64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Alias → version in the registry.
async fn aliases(sys: &System) -> BTreeMap<String, i64> {
    let registry = sys.mcp_as("validation", "registry").await;
    let list = ok(&call(&registry, "list_models", json!({})).await);
    list["models"][0]["aliases"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
        .collect()
}

/// Sends `n` real predictions through the router, 8 at a time; counts the
/// answers per serving version.
async fn served(endpoint: &str, instances: &[Value], n: usize) -> BTreeMap<String, usize> {
    let http = reqwest::Client::new();
    let url = format!("{endpoint}/v1/models/{MODEL_NAME}:predict");
    let counts = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let instances = Arc::new(instances.to_vec());
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (http, url, counts, next, instances) = (
            http.clone(),
            url.clone(),
            counts.clone(),
            next.clone(),
            instances.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let response = http
                    .post(&url)
                    .json(&json!({ "instances": [instances[i % instances.len()]] }))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                assert!(status.is_success(), "{status}: {answer}");
                let score = answer["predictions"][0]["score"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&score), "{answer}");
                let version = answer["model_version"].as_str().unwrap().to_owned();
                *counts.lock().unwrap().entry(version).or_insert(0) += 1;
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    counts.lock().unwrap().clone()
}

fn endpoint_of(outcome: &Value) -> String {
    outcome["serving"]["endpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("no endpoint in {outcome}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_weights_and_rollback_route_real_predictions() {
    let sys = start().await;
    let demo = seed(&sys, 2).await;

    // A first deploy: promoting v1 starts it with all traffic and makes it
    // champion; its training data is recorded as the drift reference.
    let first = run_ok(
        &sys,
        "promote-to-production",
        "promotion",
        json!({"model": MODEL_NAME, "version": 1}),
    )
    .await;
    assert_eq!(first["champion"], 1);
    assert_eq!(first["previous_champion"], Value::Null);
    assert_eq!(first["serving"]["split"], json!({"1": 100}));
    assert!(!changes(&first).is_empty());
    let endpoint = endpoint_of(&first);
    assert_eq!(aliases(&sys).await["champion"], 1);
    let v1 = deployed(&sys).await.unwrap()["desired"]["deployments"][0].clone();
    assert_eq!(
        v1["reference"],
        json!({"dataset": DATASET, "version": demo.dataset_version})
    );
    assert_eq!(
        served(&endpoint, &demo.instances, 50).await,
        BTreeMap::from([("1".to_owned(), 50)])
    );
    let again = run_ok(
        &sys,
        "promote-to-production",
        "promotion",
        json!({"model": MODEL_NAME, "version": 1}),
    )
    .await;
    assert_eq!(changes(&again), Vec::<String>::new(), "{again}");

    // A canary at 10%: about 40 of 400 real predictions come from v2.
    let canary = run_ok(
        &sys,
        "deploy-canary",
        "canary",
        json!({"model": MODEL_NAME, "version": 2, "weight": 10}),
    )
    .await;
    assert_eq!(canary["stable_version"], 1);
    assert_eq!(canary["candidate_version"], 2);
    assert_eq!(canary["serving"]["split"], json!({"1": 90, "2": 10}));
    assert_eq!(endpoint_of(&canary), endpoint, "one router per model");
    let counts = served(&endpoint, &demo.instances, 400).await;
    let from_v2 = counts.get("2").copied().unwrap_or(0);
    assert!(
        (24..=56).contains(&from_v2),
        "v2 served {from_v2} of 400: {counts:?}"
    );
    assert_eq!(counts.values().sum::<usize>(), 400);
    let registry = aliases(&sys).await;
    assert_eq!((registry["champion"], registry["challenger"]), (1, 2));
    let v2 = deployed(&sys).await.unwrap()["desired"]["deployments"][1].clone();
    assert_eq!(v2["reference"]["dataset"], DATASET);
    // The same canary again changes nothing.
    let again = run_ok(
        &sys,
        "deploy-canary",
        "canary",
        json!({"model": MODEL_NAME, "version": 2, "weight": 10}),
    )
    .await;
    assert_eq!(changes(&again), Vec::<String>::new(), "{again}");
    assert_eq!(
        cluster_split(&sys).await,
        BTreeMap::from([(1, 90), (2, 10)])
    );

    // Half the traffic.
    let half = run_ok(
        &sys,
        "set-traffic-weight",
        "traffic",
        json!({"model": MODEL_NAME, "version": 2, "weight": 50}),
    )
    .await;
    assert_eq!(half["serving"]["split"], json!({"1": 50, "2": 50}));
    let counts = served(&endpoint, &demo.instances, 200).await;
    let from_v2 = counts.get("2").copied().unwrap_or(0);
    assert!(
        (80..=120).contains(&from_v2),
        "v2 served {from_v2} of 200: {counts:?}"
    );
    let again = run_ok(
        &sys,
        "set-traffic-weight",
        "traffic",
        json!({"model": MODEL_NAME, "version": 2, "weight": 50}),
    )
    .await;
    assert_eq!(changes(&again), Vec::<String>::new(), "{again}");

    // Bad input is rejected before anything changes, naming the field.
    for (skill, input, field) in [
        (
            "deploy-canary",
            json!({"model": MODEL_NAME, "version": 2, "weight": 150}),
            "weight",
        ),
        (
            "set-traffic-weight",
            json!({"model": MODEL_NAME, "version": 2, "weight": -1}),
            "weight",
        ),
        (
            "deploy-canary",
            json!({"model": "Fraud Detector", "version": 2, "weight": 10}),
            "model",
        ),
        (
            "deploy-canary",
            json!({"model": MODEL_NAME, "version": 2, "weight": 10, "replicas": 40}),
            "replicas",
        ),
        (
            "deploy-canary",
            json!({"model": MODEL_NAME, "version": 2, "weight": 10, "strategy": "x"}),
            "strategy",
        ),
        (
            "promote-to-production",
            json!({"model": MODEL_NAME, "version": 2, "grace_period_seconds": 99999}),
            "grace_period_seconds",
        ),
        (
            "rollback-deployment",
            json!({"model": MODEL_NAME}),
            "version",
        ),
    ] {
        let task = run(&sys, skill, input.clone()).await;
        assert_eq!(
            task.status.state,
            TaskState::Rejected,
            "{skill} {input}: {}",
            status_text(&task)
        );
        assert!(
            status_text(&task).contains(field),
            "{skill} {input}: {}",
            status_text(&task)
        );
    }
    assert_eq!(
        cluster_split(&sys).await,
        BTreeMap::from([(1, 50), (2, 50)])
    );

    // Rollback: all traffic to v1, v2's deployment gone, v1 still champion.
    let rollback = run_ok(
        &sys,
        "rollback-deployment",
        "rollback",
        json!({"model": MODEL_NAME, "version": 2, "reason": "canary error rate above SLO"}),
    )
    .await;
    assert_eq!(rollback["stable_version"], 1);
    assert_eq!(rollback["reason"], "canary error rate above SLO");
    assert_eq!(rollback["serving"]["split"], json!({"1": 100}));
    assert_eq!(cluster_split(&sys).await, BTreeMap::from([(1, 100)]));
    assert_eq!(
        aliases(&sys).await,
        BTreeMap::from([("champion".to_owned(), 1)]),
        "champion stays, challenger is gone"
    );
    assert_eq!(
        served(&endpoint, &demo.instances, 100).await,
        BTreeMap::from([("1".to_owned(), 100)])
    );
    let again = run_ok(
        &sys,
        "rollback-deployment",
        "rollback",
        json!({"model": MODEL_NAME, "version": 2}),
    )
    .await;
    assert_eq!(changes(&again), Vec::<String>::new(), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_retires_the_old_champion_and_rollback_restores_it() {
    let sys = start().await;
    let demo = seed(&sys, 2).await;
    run_ok(
        &sys,
        "promote-to-production",
        "promotion",
        json!({"model": MODEL_NAME, "version": 1, "grace_period_seconds": 0}),
    )
    .await;
    run_ok(
        &sys,
        "deploy-canary",
        "canary",
        json!({"model": MODEL_NAME, "version": 2, "weight": 10}),
    )
    .await;

    // Promotion through the official Python a2a-sdk client: the grace
    // period streams progress, then v1's deployment is retired.
    let started = Instant::now();
    let result = sys
        .python_skill(
            "deployment",
            "promote-to-production",
            json!({"model": MODEL_NAME, "version": 2, "grace_period_seconds": 3}),
        )
        .await;
    assert_eq!(result["state"], "TASK_STATE_COMPLETED", "{result}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the grace period was kept"
    );
    let promotion = &integers(result["artifacts"]["promotion"].clone());
    assert_eq!(promotion["champion"], 2, "{result}");
    assert_eq!(promotion["previous_champion"], 1);
    assert_eq!(promotion["retired_versions"], json!([1]));
    let progress: Vec<&str> = result["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        progress
            .iter()
            .any(|p| p.contains("grace period: retiring v1 in")),
        "{progress:?}"
    );
    assert_eq!(cluster_split(&sys).await, BTreeMap::from([(2, 100)]));
    assert_eq!(
        aliases(&sys).await,
        BTreeMap::from([
            ("champion".to_owned(), 2),
            ("previous-champion".to_owned(), 1)
        ])
    );
    let endpoint = endpoint_of(promotion);
    assert_eq!(
        served(&endpoint, &demo.instances, 50).await,
        BTreeMap::from([("2".to_owned(), 50)])
    );
    let again = run_ok(
        &sys,
        "promote-to-production",
        "promotion",
        json!({"model": MODEL_NAME, "version": 2}),
    )
    .await;
    assert_eq!(changes(&again), Vec::<String>::new(), "{again}");
    assert_eq!(again["retired_versions"], json!([]));
    assert_eq!(again["previous_champion"], 1);

    // Rolling back the fresh champion: v1 comes back from its registry
    // artifact, takes all traffic and is champion again.
    let rollback = run_ok(
        &sys,
        "rollback-deployment",
        "rollback",
        json!({"model": MODEL_NAME, "version": 2, "reason": "regression"}),
    )
    .await;
    assert_eq!(rollback["stable_version"], 1);
    assert_eq!(cluster_split(&sys).await, BTreeMap::from([(1, 100)]));
    assert_eq!(
        aliases(&sys).await,
        BTreeMap::from([("champion".to_owned(), 1)])
    );
    assert_eq!(
        served(&endpoint_of(&rollback), &demo.instances, 50).await,
        BTreeMap::from([("1".to_owned(), 50)])
    );
    let again = run_ok(
        &sys,
        "rollback-deployment",
        "rollback",
        json!({"model": MODEL_NAME, "version": 2}),
    )
    .await;
    assert_eq!(changes(&again), Vec::<String>::new(), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_switches_and_unreleasable_versions_fail() {
    let sys = start().await;
    let demo = seed(&sys, 3).await;
    let training = sys.mcp_as("training", "registry").await;
    ok(&call(
        &training,
        "archive_version",
        json!({"model": MODEL_NAME, "version": 3}),
    )
    .await);

    // No champion yet: a canary has no stable version to stand beside.
    let message = run_failed(
        &sys,
        "deploy-canary",
        json!({"model": MODEL_NAME, "version": 2, "weight": 10}),
    )
    .await;
    assert!(
        message.contains("no champion") && message.contains("promote-to-production"),
        "{message}"
    );
    assert_eq!(deployed(&sys).await, None, "nothing was deployed");

    run_ok(
        &sys,
        "promote-to-production",
        "promotion",
        json!({"model": MODEL_NAME, "version": 1, "replicas": 2}),
    )
    .await;

    // Blue-green: green matches blue's two replicas and takes all traffic;
    // blue keeps running without traffic.
    let switch = run_ok(
        &sys,
        "deploy-blue-green",
        "blue-green",
        json!({"model": MODEL_NAME, "version": 2}),
    )
    .await;
    assert_eq!(
        (
            switch["blue_version"].clone(),
            switch["green_version"].clone()
        ),
        (json!(1), json!(2))
    );
    assert_eq!(switch["serving"]["split"], json!({"1": 0, "2": 100}));
    let versions = switch["serving"]["versions"].as_array().unwrap();
    assert!(
        versions
            .iter()
            .all(|v| v["replicas"] == 2 && v["ready_replicas"] == 2),
        "{versions:?}"
    );
    assert_eq!(
        served(&endpoint_of(&switch), &demo.instances, 50).await,
        BTreeMap::from([("2".to_owned(), 50)])
    );
    let again = run_ok(
        &sys,
        "deploy-blue-green",
        "blue-green",
        json!({"model": MODEL_NAME, "version": 2}),
    )
    .await;
    assert_eq!(changes(&again), Vec::<String>::new(), "{again}");

    // Versions that cannot be released fail with the reason.
    let archived = run_failed(
        &sys,
        "deploy-canary",
        json!({"model": MODEL_NAME, "version": 3, "weight": 10}),
    )
    .await;
    assert!(archived.contains("archived"), "{archived}");
    let missing = run_failed(
        &sys,
        "deploy-canary",
        json!({"model": MODEL_NAME, "version": 9, "weight": 10}),
    )
    .await;
    assert!(missing.contains("no version 9"), "{missing}");
    let undeployed = run_failed(
        &sys,
        "set-traffic-weight",
        json!({"model": MODEL_NAME, "version": 3, "weight": 20}),
    )
    .await;
    assert!(undeployed.contains("not deployed"), "{undeployed}");
    assert_eq!(
        cluster_split(&sys).await,
        BTreeMap::from([(1, 0), (2, 100)])
    );

    // Rolling back green is one switch: blue is still up.
    let rollback = run_ok(
        &sys,
        "rollback-deployment",
        "rollback",
        json!({"model": MODEL_NAME, "version": 2}),
    )
    .await;
    assert_eq!(rollback["serving"]["split"], json!({"1": 100}));
    assert_eq!(
        served(&endpoint_of(&rollback), &demo.instances, 50).await,
        BTreeMap::from([("1".to_owned(), 50)])
    );
    assert_eq!(
        aliases(&sys).await,
        BTreeMap::from([("champion".to_owned(), 1)])
    );
}
