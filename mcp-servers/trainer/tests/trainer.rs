//! The trainer over real HTTP with the rmcp client: real Postgres, a real
//! storage directory with a real Parquet dataset, real training.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok, python_client};
use mlops_mcp_kit::{McpHttpServer, RunningMcpServer};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_trainer::{RunnerConfig, RunnerHandle, SERVER, TrainerServer, TrainerSettings};
use mlops_models::{Algorithm, Model, TrainingSet, stratified_split, train};
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use rmcp::RoleClient;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use rmcp::service::RunningService;
use serde_json::{Value, json};

const ROWS: usize = 2500;

struct Fixture {
    db: TestDatabase,
    root: tempfile::TempDir,
    tokens: TestTokens,
    server: RunningMcpServer,
    trainer: TrainerServer,
    runner: Option<RunnerHandle>,
    dataset_version: String,
    data: Transactions,
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with(TrainerSettings::default(), true).await
    }

    async fn start_with(settings: TrainerSettings, run_jobs: bool) -> Self {
        let db = fresh_database().await;
        let root = tempfile::tempdir().unwrap();
        let datasets = DatasetStore::local(root.path()).unwrap();
        let data = Transactions::generate(ROWS, 20261123);
        let (manifest, created) = datasets
            .write("transactions", &data.batch(), "test")
            .await
            .unwrap();
        assert!(created);
        let tokens = TestTokens::new(SERVER);
        let trainer = TrainerServer::new(datasets, db.pool.clone()).with_settings(settings);
        let runner = run_jobs.then(|| trainer.spawn_runner());
        let factory = trainer.clone();
        let server = McpHttpServer::new(SERVER, tokens.verifier(), trainer.kit().metrics())
            .readiness_database(db.pool.clone())
            .bind("127.0.0.1:0".parse().unwrap(), move || factory.clone())
            .await
            .unwrap();
        Fixture {
            db,
            root,
            tokens,
            server,
            trainer,
            runner,
            dataset_version: manifest.version,
            data,
        }
    }

    async fn agent(&self, agent: &str) -> RunningService<RoleClient, ()> {
        client(&self.server.mcp_url(), &self.tokens.for_agent(agent)).await
    }

    fn job_args(&self, algorithm: &str, hyperparameters: Value, seed: u64) -> Value {
        json!({
            "dataset": "transactions",
            "version": self.dataset_version,
            "target": "is_fraud",
            "exclude": ["tx_id"],
            "algorithm": algorithm,
            "hyperparameters": hyperparameters,
            "seed": seed,
        })
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }
}

/// A seeded fraud problem with a learnable signal: fraud is likelier for
/// large amounts, fast repeat spending, foreign cards and night hours.
struct Transactions {
    tx_id: Vec<i64>,
    amount: Vec<f64>,
    velocity: Vec<f64>,
    hour: Vec<i64>,
    is_foreign: Vec<bool>,
    merchant: Vec<&'static str>,
    is_fraud: Vec<bool>,
}

impl Transactions {
    fn generate(rows: usize, seed: u64) -> Self {
        let mut state = seed;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut t = Transactions {
            tx_id: Vec::new(),
            amount: Vec::new(),
            velocity: Vec::new(),
            hour: Vec::new(),
            is_foreign: Vec::new(),
            merchant: Vec::new(),
            is_fraud: Vec::new(),
        };
        for i in 0..rows {
            let amount = (uniform() * 6.0).exp();
            let velocity = uniform() * 10.0;
            let hour = (uniform() * 24.0) as i64;
            let foreign = uniform() < 0.2;
            let night = !(6..22).contains(&hour);
            let score = 0.6 * amount.ln()
                + 0.35 * velocity
                + if foreign { 1.5 } else { 0.0 }
                + if night { 1.0 } else { 0.0 }
                + (uniform() - 0.5) * 2.5;
            t.tx_id.push(i as i64);
            t.amount.push(amount);
            t.velocity.push(velocity);
            t.hour.push(hour);
            t.is_foreign.push(foreign);
            t.merchant.push(["grocery", "travel", "online"][i % 3]);
            t.is_fraud.push(score > 5.0);
        }
        t
    }

    fn batch(&self) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("tx_id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, false),
            Field::new("velocity", DataType::Float64, false),
            Field::new("hour", DataType::Int64, false),
            Field::new("is_foreign", DataType::Boolean, false),
            Field::new("merchant", DataType::Utf8, false),
            Field::new("is_fraud", DataType::Boolean, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(self.tx_id.clone())),
                Arc::new(Float64Array::from(self.amount.clone())),
                Arc::new(Float64Array::from(self.velocity.clone())),
                Arc::new(Int64Array::from(self.hour.clone())),
                Arc::new(BooleanArray::from(self.is_foreign.clone())),
                Arc::new(StringArray::from(self.merchant.clone())),
                Arc::new(BooleanArray::from(self.is_fraud.clone())),
            ],
        )
        .unwrap()
    }

    /// The rows as the trainer sees them with `tx_id` excluded.
    fn training_set(&self) -> TrainingSet {
        TrainingSet {
            feature_names: ["amount", "velocity", "hour", "is_foreign"]
                .map(String::from)
                .to_vec(),
            target: "is_fraud".into(),
            x: (0..self.amount.len())
                .map(|i| {
                    vec![
                        self.amount[i],
                        self.velocity[i],
                        self.hour[i] as f64,
                        f64::from(u8::from(self.is_foreign[i])),
                    ]
                })
                .collect(),
            y: self.is_fraud.iter().map(|&f| i64::from(f)).collect(),
        }
    }
}

fn subset(all: &TrainingSet, rows: &[usize]) -> TrainingSet {
    TrainingSet {
        feature_names: all.feature_names.clone(),
        target: all.target.clone(),
        x: rows.iter().map(|&i| all.x[i].clone()).collect(),
        y: rows.iter().map(|&i| all.y[i]).collect(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Polls get_job_status until the job has finished.
async fn finished(client: &RunningService<RoleClient, ()>, job_id: &str) -> Value {
    let mut progress_seen = Vec::new();
    for _ in 0..1200 {
        let status = ok(&call(client, "get_job_status", json!({"job_id": job_id})).await);
        progress_seen.push(status["progress"].as_f64().unwrap());
        if status["state"] == "succeeded" || status["state"] == "failed" {
            assert!(
                progress_seen.windows(2).all(|w| w[0] <= w[1]),
                "progress never goes back: {progress_seen:?}"
            );
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {job_id} did not finish in 120 s");
}

async fn submit(client: &RunningService<RoleClient, ()>, args: Value) -> String {
    let submitted = ok(&call(client, "submit_training_job", args).await);
    assert_eq!(submitted["state"], "queued");
    submitted["job_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn both_algorithms_train_on_real_data_and_their_artifacts_match_a_fresh_fit() {
    let f = Fixture::start().await;
    let training = f.agent("training").await;
    let cases = [
        ("logistic_regression", json!({"l2": 0.5}), 11u64),
        ("random_forest", json!({"n_trees": 25, "max_depth": 5}), 12),
    ];
    for (algorithm, hyperparameters, seed) in cases {
        let submitted = ok(&call(
            &training,
            "submit_training_job",
            f.job_args(algorithm, hyperparameters.clone(), seed),
        )
        .await);
        assert_eq!(
            submitted["features"],
            json!(["amount", "velocity", "hour", "is_foreign"]),
            "numeric and boolean columns, minus the target and exclusions"
        );
        let job_id = submitted["job_id"].as_str().unwrap().to_owned();
        let status = finished(&training, &job_id).await;
        assert_eq!(status["state"], "succeeded", "{status}");
        assert_eq!(status["progress"], 1.0);
        assert!(status["started_at"].is_string() && status["finished_at"].is_string());
        assert!(status["duration_seconds"].as_f64().unwrap() >= 0.0);
        let uri = format!("storage://models/{job_id}/model.json");
        assert_eq!(status["artifact_uri"], uri.as_str());
        assert_eq!(
            status["dataset_digest"],
            format!("sha256:{}", f.dataset_version)
        );

        // Validation metrics are real and sane.
        let metrics = ok(&call(&training, "get_job_metrics", json!({"job_id": job_id})).await);
        let validation = &metrics["metrics"]["validation"];
        let auc = validation["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.8, "{algorithm}: validation auc {auc}");
        assert!(
            validation["accuracy"].as_f64().unwrap() > 0.7,
            "{validation}"
        );
        for name in ["precision", "recall", "f1", "log_loss"] {
            assert!(validation[name].as_f64().unwrap().is_finite(), "{name}");
        }
        assert_eq!(metrics["metrics"]["validation_rows"], 500);
        assert_eq!(metrics["metrics"]["train_rows"], 2000);

        // The artifact on disk is the model, with the sha the job recorded.
        let bytes =
            std::fs::read(f.root.path().join(format!("models/{job_id}/model.json"))).unwrap();
        assert_eq!(status["artifact_sha256"], sha256_hex(&bytes));
        let model = Model::from_bytes(&bytes).unwrap();
        assert_eq!(model.algorithm(), algorithm);
        assert_eq!(
            model.feature_names(),
            ["amount", "velocity", "hour", "is_foreign"]
        );
        assert_eq!(model.training().seed, seed);

        // A fresh in-process fit on the same split and seed is the same model.
        let all = f.data.training_set();
        let (train_rows, _) = stratified_split(&all.y, 0.2, seed);
        let spec = Algorithm::from_json(&{
            let mut spec = hyperparameters.as_object().unwrap().clone();
            spec.insert("algorithm".into(), json!(algorithm));
            Value::Object(spec)
        })
        .unwrap();
        let mut fresh = train(&spec, &subset(&all, &train_rows), seed).unwrap();
        fresh.set_dataset("transactions", f.dataset_version.clone());
        assert_eq!(
            sha256_hex(&fresh.to_bytes().unwrap()),
            status["artifact_sha256"].as_str().unwrap(),
            "{algorithm}: byte-identical to a fresh fit"
        );
        let (loaded, direct) = (
            model.predict_proba(&all.x).unwrap(),
            fresh.predict_proba(&all.x).unwrap(),
        );
        assert!(
            loaded
                .iter()
                .zip(&direct)
                .all(|(a, b)| (a - b).abs() < 1e-12)
        );
        assert_eq!(
            model.predict(&all.x).unwrap(),
            fresh.predict(&all.x).unwrap()
        );

        // Logs: in order, paged by seq, telling the story of the job.
        let logs = ok(&call(&training, "get_job_logs", json!({"job_id": job_id})).await);
        let lines: Vec<&str> = logs["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["line"].as_str().unwrap())
            .collect();
        assert!(lines[0].starts_with("queued by training"), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.contains("split 2500 rows")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("validation: roc_auc")),
            "{lines:?}"
        );
        assert!(lines.last().unwrap().contains(&uri), "{lines:?}");
        let seqs: Vec<i64> = logs["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
        let page = ok(&call(
            &training,
            "get_job_logs",
            json!({"job_id": job_id, "after_seq": 1, "limit": 2}),
        )
        .await);
        assert_eq!(page["lines"].as_array().unwrap().len(), 2);
        assert_eq!(page["lines"][0]["seq"], 2);
        assert_eq!(page["next_after_seq"], 3);
        assert_eq!(page["more"], seqs.len() > 3);
    }

    let listed = ok(&call(&training, "list_jobs", json!({"state": "succeeded"})).await);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_artifact() {
    let f = Fixture::start().await;
    let training = f.agent("training").await;
    let forest = json!({"n_trees": 10, "max_depth": 4});
    let first = submit(&training, f.job_args("random_forest", forest.clone(), 7)).await;
    let second = submit(&training, f.job_args("random_forest", forest.clone(), 7)).await;
    let other = submit(&training, f.job_args("random_forest", forest, 8)).await;
    let sha = |status: Value| {
        assert_eq!(status["state"], "succeeded", "{status}");
        status["artifact_sha256"].as_str().unwrap().to_owned()
    };
    let (a, b, c) = (
        sha(finished(&training, &first).await),
        sha(finished(&training, &second).await),
        sha(finished(&training, &other).await),
    );
    assert_eq!(a, b, "same data, algorithm and seed: same bytes");
    assert_ne!(a, c, "another seed: another split and forest");

    // The job as a resource carries its metrics too.
    let resource = training
        .read_resource(ReadResourceRequestParams::new(format!(
            "trainer://jobs/{first}"
        )))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &resource.contents[0] else {
        panic!("text")
    };
    let job: Value = serde_json::from_str(text).unwrap();
    assert_eq!(job["artifact_sha256"], a.as_str());
    assert!(job["metrics"]["validation"]["roc_auc"].as_f64().unwrap() > 0.8);
    let cost = f.agent("cost").await;
    assert!(
        cost.read_resource(ReadResourceRequestParams::new(format!(
            "trainer://jobs/{first}"
        )))
        .await
        .is_ok(),
        "trainer:read is enough for resources"
    );
    let data = f.agent("data").await;
    assert!(
        data.read_resource(ReadResourceRequestParams::new(format!(
            "trainer://jobs/{first}"
        )))
        .await
        .is_err(),
        "the data agent has no trainer scopes"
    );
}

#[tokio::test]
async fn a_search_runs_its_trials_and_names_the_best() {
    let f = Fixture::start().await;
    let training = f.agent("training").await;
    let report = ok(&call(
        &training,
        "run_hyperparameter_search",
        json!({
            "dataset": "transactions",
            "version": f.dataset_version,
            "target": "is_fraud",
            "exclude": ["tx_id"],
            "algorithm": "random_forest",
            "space": {"max_depth": [1, 5], "n_trees": [8]},
            "metric": "roc_auc",
            "seed": 3,
            "wait_seconds": 240,
        }),
    )
    .await);
    assert_eq!(report["state"], "succeeded", "{report}");
    assert_eq!(report["trials_total"], 2);
    let trials = report["trials"].as_array().unwrap();
    let values: Vec<f64> = trials
        .iter()
        .map(|t| t["value"].as_f64().unwrap())
        .collect();
    let best_index = if values[1] > values[0] { 1 } else { 0 };
    assert!(values[1] > values[0], "depth 5 beats a stump: {values:?}");
    let best = &report["best"];
    assert_eq!(best["trial_index"], best_index);
    assert_eq!(best["job_id"], trials[best_index]["job_id"]);
    assert_eq!(best["algorithm"]["max_depth"], 5);
    assert!(
        best["artifact_uri"]
            .as_str()
            .unwrap()
            .starts_with("storage://models/")
    );

    // The trials are ordinary jobs, listed under their search.
    let search_id = report["search_id"].as_str().unwrap();
    let listed = ok(&call(&training, "list_jobs", json!({"search_id": search_id})).await);
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 2);
    let again = ok(&call(
        &training,
        "get_hyperparameter_search",
        json!({"search_id": search_id}),
    )
    .await);
    assert_eq!(again["best"], report["best"]);

    // Random search: seeded draws from a log range.
    let random = ok(&call(
        &training,
        "run_hyperparameter_search",
        json!({
            "dataset": "transactions",
            "version": f.dataset_version,
            "target": "is_fraud",
            "exclude": ["tx_id"],
            "algorithm": "logistic_regression",
            "space": {"l2": {"min": 0.01, "max": 100.0, "log": true}},
            "strategy": "random",
            "trials": 3,
            "metric": "log_loss",
            "wait_seconds": 240,
        }),
    )
    .await);
    assert_eq!(random["state"], "succeeded", "{random}");
    assert_eq!(random["goal"], "minimize");
    let losses: Vec<f64> = random["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["value"].as_f64().unwrap())
        .collect();
    let lowest = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(random["best"]["value"].as_f64().unwrap(), lowest);
}

#[tokio::test]
async fn bad_input_is_a_clear_tool_error_and_creates_nothing() {
    let f = Fixture::start().await;
    let training = f.agent("training").await;
    let base = f.job_args("random_forest", json!({}), 1);
    let with = |changes: Value| {
        let mut args = base.clone();
        for (key, value) in changes.as_object().unwrap() {
            args[key] = value.clone();
        }
        args
    };
    let cases = [
        (with(json!({"dataset": "nope"})), "has no version"),
        (with(json!({"version": "0".repeat(64)})), "has no version"),
        (with(json!({"version": "latest"})), "version"),
        (
            with(json!({"algorithm": "xgboost"})),
            "unknown algorithm \"xgboost\"",
        ),
        (
            with(json!({"hyperparameters": {"n_trees": 0}})),
            "n_trees must be in 1..=500",
        ),
        (with(json!({"hyperparameters": {"depth": 3}})), "depth"),
        (
            with(json!({"hyperparameters": {"max_depth": "deep"}})),
            "max_depth",
        ),
        (with(json!({"target": "label"})), "no column \"label\""),
        (
            with(json!({"target": "merchant"})),
            "must be Boolean or an integer",
        ),
        (
            with(json!({"features": ["amount", "merchant"]})),
            "numeric or Boolean",
        ),
        (
            with(json!({"features": ["amount", "colour"]})),
            "no feature column \"colour\"",
        ),
        (
            with(json!({"validation_fraction": 0.9})),
            "validation_fraction",
        ),
        (with(json!({"seed": u64::MAX})), "seed"),
        (with(json!({"colour": "red"})), "colour"),
    ];
    for (args, expected) in cases {
        let message = error_message(&call(&training, "submit_training_job", args.clone()).await);
        assert!(
            message.contains(expected),
            "{args}: {message:?} should mention {expected:?}"
        );
    }
    let search = |space: Value, extra: Value| {
        let mut args = json!({
            "dataset": "transactions", "version": f.dataset_version, "target": "is_fraud",
            "algorithm": "random_forest", "space": space, "wait_seconds": 0,
        });
        for (key, value) in extra.as_object().unwrap() {
            args[key] = value.clone();
        }
        args
    };
    let search_cases = [
        (search(json!({"n_trees": [5, 0]}), json!({})), "trial 1"),
        (
            search(json!({"n_trees": {"min": 1, "max": 9}}), json!({})),
            "a grid needs a list",
        ),
        (
            search(json!({"n_trees": [5]}), json!({"metric": "auc"})),
            "metric \"auc\"",
        ),
        (
            search(json!({"n_trees": [5]}), json!({"strategy": "bayes"})),
            "strategy",
        ),
        (search(json!({}), json!({})), "empty"),
        (
            search(json!({"n_trees": [5]}), json!({"target": "label"})),
            "no column",
        ),
    ];
    for (args, expected) in search_cases {
        let message =
            error_message(&call(&training, "run_hyperparameter_search", args.clone()).await);
        assert!(
            message.contains(expected),
            "{args}: {message:?} should mention {expected:?}"
        );
    }
    assert_eq!(f.count("trainer.jobs").await, 0, "nothing was queued");
    assert_eq!(f.count("trainer.searches").await, 0);
    assert_eq!(f.count("trainer.job_logs").await, 0);
    assert!(
        !f.root.path().join("models").exists(),
        "no artifact written"
    );

    let missing =
        error_message(&call(&training, "get_job_status", json!({"job_id": uuid_like()})).await);
    assert!(missing.contains("no training job"), "{missing}");
    let malformed =
        error_message(&call(&training, "get_job_logs", json!({"job_id": "job-1"})).await);
    assert!(malformed.contains("not a UUID"), "{malformed}");
}

fn uuid_like() -> String {
    "0190d2f8-0000-7000-8000-000000000000".into()
}

#[tokio::test]
async fn a_job_on_unusable_labels_fails_and_says_why() {
    let f = Fixture::start().await;
    let training = f.agent("training").await;
    // tx_id is an integer column, so it passes the schema check as a
    // target, but its values are not 0/1: the job fails, with the reason.
    let job = submit(
        &training,
        json!({
            "dataset": "transactions", "version": f.dataset_version, "target": "tx_id",
            "algorithm": "logistic_regression",
        }),
    )
    .await;
    let status = finished(&training, &job).await;
    assert_eq!(status["state"], "failed");
    let error = status["error"].as_str().unwrap();
    assert!(error.contains("labels must be 0 or 1"), "{error}");
    assert!(status["artifact_uri"].is_null());
    let metrics = error_message(&call(&training, "get_job_metrics", json!({"job_id": job})).await);
    assert!(metrics.contains("failed"), "{metrics}");
    let logs = ok(&call(&training, "get_job_logs", json!({"job_id": job})).await);
    let last = logs["lines"].as_array().unwrap().last().unwrap()["line"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last.starts_with("failed:"), "{last}");
}

#[tokio::test]
async fn the_access_matrix_holds_and_refusals_are_audited() {
    let f = Fixture::start().await;
    let cost = f.agent("cost").await;
    let refused = error_message(
        &call(
            &cost,
            "submit_training_job",
            f.job_args("logistic_regression", json!({}), 1),
        )
        .await,
    );
    assert!(refused.contains("trainer:run"), "{refused}");
    let search_refused = error_message(&call(&cost, "run_hyperparameter_search", json!({})).await);
    assert!(search_refused.contains("trainer:run"), "{search_refused}");
    // Reading is what the cost agent may do.
    let listed = ok(&call(&cost, "list_jobs", json!({})).await);
    assert_eq!(listed["jobs"], json!([]));
    let deployment = f.agent("deployment").await;
    let no_read = error_message(&call(&deployment, "list_jobs", json!({})).await);
    assert!(no_read.contains("trainer:read"), "{no_read}");
    assert_eq!(f.count("trainer.jobs").await, 0);

    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT caller, tool, status FROM mcp.tool_calls WHERE server = 'trainer' ORDER BY id",
    )
    .fetch_all(&f.db.pool)
    .await
    .unwrap();
    let row = |caller: &str, tool: &str, status: &str| {
        (caller.to_owned(), tool.to_owned(), status.to_owned())
    };
    assert_eq!(
        rows,
        [
            row("cost", "submit_training_job", "refused"),
            row("cost", "run_hyperparameter_search", "refused"),
            row("cost", "list_jobs", "ok"),
            row("deployment", "list_jobs", "refused"),
        ]
    );
}

#[tokio::test]
async fn orphaned_running_jobs_fail_at_start_and_the_queue_is_bounded() {
    let settings = TrainerSettings {
        max_queued: 2,
        runner: RunnerConfig {
            lease: Duration::from_secs(30),
            ..RunnerConfig::default()
        },
        ..TrainerSettings::default()
    };
    let mut f = Fixture::start_with(settings, false).await;
    let training = f.agent("training").await;

    // The queue holds two jobs; a third is refused, and nothing is added.
    let first = submit(&training, f.job_args("logistic_regression", json!({}), 1)).await;
    let _second = submit(&training, f.job_args("logistic_regression", json!({}), 2)).await;
    let full = error_message(
        &call(
            &training,
            "submit_training_job",
            f.job_args("logistic_regression", json!({}), 3),
        )
        .await,
    );
    assert!(full.contains("queue is full"), "{full}");
    assert_eq!(f.count("trainer.jobs").await, 2);

    // A process died while running `first`: it is running, with a stale heartbeat.
    sqlx::query(
        "UPDATE trainer.jobs SET state = 'running', started_at = now() - interval '10 minutes',
                heartbeat_at = now() - interval '9 minutes', runner_id = gen_random_uuid()
         WHERE id = $1::uuid",
    )
    .bind(&first)
    .execute(&f.db.pool)
    .await
    .unwrap();

    f.runner = Some(f.trainer.spawn_runner());
    let orphan = finished(&training, &first).await;
    assert_eq!(orphan["state"], "failed");
    let error = orphan["error"].as_str().unwrap();
    assert!(error.contains("no heartbeat"), "{error}");
    assert!(orphan["artifact_uri"].is_null());
    // The queued job still runs to completion on the new runner.
    let second = finished(&training, &_second).await;
    assert_eq!(second["state"], "succeeded", "{second}");
    if let Some(runner) = f.runner.take() {
        runner.shutdown().await;
    }
}

#[tokio::test]
async fn the_official_python_sdk_lists_tools_and_submits_a_job() {
    let f = Fixture::start().await;
    let stdout = python_client(
        &f.server.mcp_url(),
        &f.tokens.for_agent("training"),
        "submit_training_job",
        f.job_args("logistic_regression", json!({"l2": 2.0}), 5),
        &[
            "submit_training_job",
            "get_job_status",
            "get_job_logs",
            "get_job_metrics",
            "list_jobs",
            "run_hyperparameter_search",
            "get_hyperparameter_search",
        ],
    )
    .await;
    let called = stdout
        .lines()
        .find_map(|line| line.strip_prefix("ok call: "))
        .unwrap_or_else(|| panic!("no call result in {stdout}"));
    let result: Value = serde_json::from_str(called).unwrap();
    let job_id = result["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{stdout}"));
    let training = f.agent("training").await;
    let status = finished(&training, job_id).await;
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(status["submitted_by"], "training");
}
