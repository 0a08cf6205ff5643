//! The training agent as a real process, with the real storage, trainer and
//! registry MCP servers: reproducible training with full lineage in the
//! registry, streamed progress on a long run, the out-of-memory path,
//! hyperparameter tuning, input rejection, experiment tracking, and the
//! access matrix (no alias rights at the registry).

mod system;

use std::time::{Duration, Instant};

use futures::StreamExt;
use mlops_agent_kit::a2a::{
    CancelTaskRequest, GetTaskRequest, SendMessageRequest, StreamResponse, TaskState,
};
use mlops_demo_data::{
    DriftSpec, FEATURES, LABEL, MODEL_NAME, PROTECTED_ATTRIBUTE, TransactionsConfig, generate,
};
use mlops_mcp_kit::test_support::{call, client, error_message, ok};
use mlops_mcp_storage::DatasetStore;
use serde_json::{Value, json};
use system::{System, artifact_data, send_skill, skill_message, status_text};

const DATASET: &str = "transactions";

// Artifacts travel as protobuf `Struct` values, where every number is a
// double, so numbers read from a task's artifacts are compared as f64.

async fn start() -> System {
    System::builder()
        .mcp(&["storage", "trainer", "registry"])
        .agents(&["training"])
        .start()
        .await
}

/// Writes a seeded demo dataset of `rows` rows; returns its manifest as JSON.
async fn seed_dataset(sys: &System, rows: usize) -> Value {
    let batch = generate(&TransactionsConfig {
        seed: 42,
        rows,
        drift: DriftSpec::none(),
        ..TransactionsConfig::default()
    })
    .expect("a valid demo config");
    let store = DatasetStore::local(&sys.storage_root()).expect("the object store");
    let (manifest, created) = store.write(DATASET, &batch, "test").await.expect("written");
    assert!(created);
    serde_json::to_value(manifest).unwrap()
}

fn train_input(manifest: &Value, algorithm: &str, hyperparameters: Value) -> Value {
    json!({
        "model": MODEL_NAME,
        "dataset": {"name": DATASET, "version": manifest["digest"]},
        "target": LABEL,
        "features": FEATURES,
        "algorithm": algorithm,
        "hyperparameters": hyperparameters,
        "seed": 42,
        "protected_attribute": PROTECTED_ATTRIBUTE,
        "resources": {"instance_type": "cpu-2x8", "memory_mb": 8192},
    })
}

/// A token as the token endpoint issues it to the training agent.
async fn endpoint_token(sys: &System, audience: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", sys.issuer))
        .basic_auth("training", Some(sys.secrets.secret_for("training")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&audience={audience}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_gives_same_metrics_and_the_registry_holds_full_lineage() {
    let sys = start().await;
    let manifest = seed_dataset(&sys, 3000).await;
    let input = train_input(&manifest, "logistic_regression", json!({"l2": 1.0}));

    // The first run through the official Python a2a-sdk client.
    let first = sys
        .python_skill("training", "train-model", input.clone())
        .await;
    assert_eq!(first["state"], "TASK_STATE_COMPLETED", "{first}");
    let progress: Vec<&str> = first["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        progress
            .iter()
            .any(|l| l.contains("submitted training job")),
        "{progress:?}"
    );
    assert!(
        progress.iter().any(|l| l.contains("the job needs about")),
        "{progress:?}"
    );
    let first = &first["artifacts"]["model-version"];
    assert_eq!(first["model"], MODEL_NAME);
    assert_eq!(first["version"].as_f64(), Some(1.0));

    // The second through the Rust A2A client.
    let task = sys
        .run_skill("training", "train-model", input, Duration::from_secs(90))
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{}",
        status_text(&task)
    );
    let second = artifact_data(&task, "model-version").expect("the model-version artifact");
    assert_eq!(second["version"].as_f64(), Some(2.0));

    // Same data, config and seed: the same metrics and config digest, from
    // a different run with a different artifact.
    let metrics = second["metrics"].as_object().unwrap();
    assert!(metrics["roc_auc"].as_f64().unwrap() > 0.6, "{metrics:?}");
    for (name, value) in metrics {
        assert_eq!(
            first["metrics"][name].as_f64(),
            value.as_f64(),
            "metric {name} differs between two runs with the same seed"
        );
    }
    assert_eq!(first["code_digest"], second["code_digest"]);
    assert_ne!(first["training_run_id"], second["training_run_id"]);
    assert_ne!(first["artifact_uri"], second["artifact_uri"]);
    assert_eq!(second["dataset"]["name"], DATASET);
    assert_eq!(second["dataset"]["version"], manifest["version"]);

    // The registry's record: every lineage field, and params that say where
    // the training data is.
    let registry = sys.mcp_as("training", "registry").await;
    let version = ok(&call(
        &registry,
        "get_model_version",
        json!({"model": MODEL_NAME, "version": 2}),
    )
    .await);
    assert_eq!(version["dataset_digest"], manifest["digest"]);
    assert_eq!(version["training_run_id"], second["training_run_id"]);
    assert_eq!(version["artifact_uri"], second["artifact_uri"]);
    assert_eq!(version["code_digest"], second["code_digest"]);
    assert_eq!(version["protected_attribute"], PROTECTED_ATTRIBUTE);
    for (name, value) in metrics {
        assert_eq!(
            version["metrics"][name].as_f64(),
            value.as_f64(),
            "registry metric {name}"
        );
    }
    assert_eq!(version["params"]["dataset"], DATASET);
    assert_eq!(version["params"]["target"], LABEL);
    assert_eq!(version["params"]["features"], json!(FEATURES));
    assert_eq!(version["params"]["algorithm"], "logistic_regression");
    assert_eq!(version["params"]["seed"], 42);
    assert_eq!(version["params"]["l2"], 1.0);
    let lineage = ok(&call(
        &registry,
        "get_lineage",
        json!({"model": MODEL_NAME, "version": 1}),
    )
    .await);
    assert_eq!(lineage["dataset_version_digest"], manifest["digest"]);
    assert_eq!(lineage["training_run_id"], first["training_run_id"]);
    assert_eq!(lineage["artifact_uri"], first["artifact_uri"]);
    assert_eq!(lineage["code_digest"], first["code_digest"]);
    assert!(
        lineage["code_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71),
        "{lineage}"
    );
    assert_eq!(lineage["params"]["dataset"], DATASET);

    // The run the version names is the trainer's record of this training.
    let trainer = sys.mcp_as("training", "trainer").await;
    let run = ok(&call(
        &trainer,
        "get_job_status",
        json!({"job_id": second["training_run_id"]}),
    )
    .await);
    assert_eq!(run["state"], "succeeded");
    assert_eq!(run["dataset_version"], manifest["version"]);
    assert_eq!(run["artifact_uri"], second["artifact_uri"]);
    assert_eq!(run["submitted_by"], "training");

    // The access matrix: the training agent's registry token, as the token
    // endpoint issues it, has no alias scope, and the registry refuses it.
    let token = endpoint_token(&sys, "registry").await;
    let scopes = token["scope"].as_str().unwrap();
    assert!(scopes.contains("registry:write"), "{scopes}");
    assert!(!scopes.contains("registry:alias"), "{scopes}");
    let as_training = client(
        &sys.mcp["registry"],
        token["access_token"].as_str().unwrap(),
    )
    .await;
    let refused = call(
        &as_training,
        "set_alias",
        json!({"model": MODEL_NAME, "alias": "champion", "version": 1}),
    )
    .await;
    let message = error_message(&refused);
    assert!(message.contains("registry:alias"), "{message}");
    let v1 = ok(&call(
        &as_training,
        "get_model_version",
        json!({"model": MODEL_NAME, "version": 1}),
    )
    .await);
    assert_eq!(v1["aliases"], json!([]), "no alias was set");

    // Experiment tracking: both runs, both versions, and the best by AUC.
    let task = sys
        .run_skill(
            "training",
            "track-experiment",
            json!({"model": MODEL_NAME, "metric": "roc_auc"}),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{}",
        status_text(&task)
    );
    let table = artifact_data(&task, "experiments").unwrap();
    assert_eq!(table["versions_listed"].as_f64(), Some(2.0));
    assert_eq!(table["runs_listed"].as_f64(), Some(2.0));
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{table}");
    for row in rows {
        assert_eq!(row["state"], "succeeded");
        assert_eq!(row["dataset"], DATASET);
        assert!(
            row["version"].is_number(),
            "every run here was registered: {row}"
        );
        assert_eq!(row["value"], row["metrics"]["roc_auc"]);
    }
    assert_eq!(table["best"]["value"], metrics["roc_auc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_streams_progress_at_least_every_two_seconds() {
    let sys = start().await;
    let manifest = seed_dataset(&sys, 4000).await;
    let input = train_input(
        &manifest,
        "random_forest",
        json!({"n_trees": 120, "max_depth": 10, "feature_fraction": 1.0}),
    );

    let client = sys.a2a("training").await;
    let request = SendMessageRequest {
        message: skill_message("train-model", input),
        configuration: None,
        metadata: None,
        tenant: None,
    };
    let mut stream = client.stream(&request).await.expect("SendStreamingMessage");
    // (agent timestamp, arrival, detail) of each progress update.
    let mut updates = Vec::new();
    let mut last_state = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(event) = tokio::time::timeout_at(deadline.into(), stream.next())
        .await
        .expect("the run ends")
    {
        let StreamResponse::StatusUpdate(update) = event.expect("a stream event") else {
            continue;
        };
        last_state = Some(update.status.state.clone());
        if update.status.state.is_terminal() {
            break;
        }
        if let Some(detail) = update.metadata.as_ref().and_then(|m| m.get("progress")) {
            updates.push((
                update
                    .status
                    .timestamp
                    .expect("status updates carry a time"),
                Instant::now(),
                detail.clone(),
            ));
        }
    }
    assert_eq!(last_state, Some(TaskState::Completed));

    let first = updates.first().expect("progress updates").clone();
    let last = updates.last().unwrap().clone();
    let span = (last.0 - first.0).to_std().unwrap();
    assert!(
        span > Duration::from_secs(2),
        "the run must be long enough to test streaming; it took {span:?}"
    );
    let widest = updates
        .windows(2)
        .filter_map(|pair| (pair[1].0 - pair[0].0).to_std().ok())
        .max()
        .unwrap_or_default();
    println!(
        "{} progress updates over {span:?}; the widest gap {widest:?}",
        updates.len()
    );
    for pair in updates.windows(2) {
        let gap = (pair[1].0 - pair[0].0).to_std().unwrap_or_default();
        assert!(
            gap <= Duration::from_secs(2),
            "progress went quiet for {gap:?} (agent clock) between {} and {}",
            pair[0].2,
            pair[1].2
        );
        // Arrival at the client: streamed as it happens, not batched at the
        // end (slack for a loaded machine).
        let arrival = pair[1].1 - pair[0].1;
        assert!(
            arrival <= Duration::from_millis(3500),
            "updates arrived {arrival:?} apart"
        );
    }
    // Mid-run updates carry the job's progress and its log.
    assert!(
        updates.iter().any(|(_, _, d)| d["state"] == "running"
            && d["progress"].as_f64().is_some_and(|p| p > 0.0 && p < 1.0)
            && d["last_log"].as_str().is_some_and(|l| l.contains("tree"))),
        "{:?}",
        updates.iter().map(|u| &u.2).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_and_too_little_memory_fails_before_submitting() {
    let sys = start().await;
    let manifest = seed_dataset(&sys, 2000).await;
    let good = train_input(&manifest, "random_forest", json!({"n_trees": 10}));
    let with = |patch: Value| {
        let mut input = good.clone();
        for (key, value) in patch.as_object().unwrap() {
            input[key] = value.clone();
        }
        input
    };
    let mut no_model = good.clone();
    no_model.as_object_mut().unwrap().remove("model");
    let cases = [
        ("train-model", no_model, "`model`"),
        (
            "train-model",
            with(json!({"algorithm": "svm"})),
            "`algorithm`",
        ),
        (
            "train-model",
            with(json!({"validation_fraction": 0.9})),
            "`validation_fraction`",
        ),
        (
            "train-model",
            with(json!({"features": ["amount", "velocity"]})),
            "`features`",
        ),
        (
            "train-model",
            with(json!({"hyperparameters": {"n_trees": 0}})),
            "`hyperparameters`",
        ),
        (
            "train-model",
            with(json!({"target": "merchant_category"})),
            "`target`",
        ),
        (
            "train-model",
            with(json!({"dataset": {"name": DATASET, "version": "f".repeat(64)}})),
            "`dataset`",
        ),
        (
            "hyperparameter-tune",
            {
                let mut input = good.clone();
                input.as_object_mut().unwrap().remove("hyperparameters");
                input["space"] = json!({"n_trees": [5, 0]});
                input
            },
            "`space.n_trees`",
        ),
        ("track-experiment", json!({"limit": 0}), "`limit`"),
    ];
    for (skill, input, field) in cases {
        let task = sys
            .run_skill("training", skill, input.clone(), Duration::from_secs(60))
            .await;
        assert_eq!(
            task.status.state,
            TaskState::Rejected,
            "{skill} {input}: {}",
            status_text(&task)
        );
        assert!(
            status_text(&task).contains(field),
            "{skill}: the rejection names {field}: {}",
            status_text(&task)
        );
    }

    // Too little memory: failed with evidence the orchestrator acts on.
    let task = sys
        .run_skill(
            "training",
            "train-model",
            with(json!({"resources": {"instance_type": "tiny", "memory_mb": 64}})),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Failed,
        "{}",
        status_text(&task)
    );
    assert!(
        status_text(&task).contains("out of memory"),
        "{}",
        status_text(&task)
    );
    let evidence = artifact_data(&task, "evidence").expect("evidence");
    assert_eq!(evidence["reason"], "out_of_memory");
    assert_eq!(evidence["memory_mb"].as_f64(), Some(64.0));
    assert!(
        evidence["required_mb"].as_f64().unwrap() > 64.0,
        "{evidence}"
    );
    assert_eq!(evidence["instance_type"], "tiny");

    // Nothing reached the trainer or the registry.
    let trainer = sys.mcp_as("training", "trainer").await;
    let jobs = ok(&call(&trainer, "list_jobs", json!({})).await);
    assert_eq!(jobs["jobs"], json!([]), "no job was submitted");
    let registry = sys.mcp_as("training", "registry").await;
    let models = ok(&call(&registry, "list_models", json!({})).await);
    assert_eq!(models["models"], json!([]));

    // The same request with enough memory trains.
    let task = sys
        .run_skill(
            "training",
            "train-model",
            with(json!({"resources": {"instance_type": "big", "memory_mb": 4096}})),
            Duration::from_secs(90),
        )
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{}",
        status_text(&task)
    );
    let output = artifact_data(&task, "model-version").unwrap();
    assert_eq!(output["memory"]["required_mb"], evidence["required_mb"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyperparameter_tune_registers_the_best_trial() {
    let sys = start().await;
    let manifest = seed_dataset(&sys, 2000).await;
    let mut input = train_input(&manifest, "random_forest", json!({}));
    let input = {
        let map = input.as_object_mut().unwrap();
        map.remove("hyperparameters");
        map.insert(
            "space".into(),
            json!({"max_depth": [1, 3, 6], "n_trees": [10]}),
        );
        map.insert("metric".into(), json!("roc_auc"));
        input
    };
    let task = sys
        .run_skill(
            "training",
            "hyperparameter-tune",
            input,
            Duration::from_secs(90),
        )
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{}",
        status_text(&task)
    );
    let result = artifact_data(&task, "tuning-result").unwrap();

    let trials = result["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3, "{result}");
    let values: Vec<f64> = trials
        .iter()
        .map(|t| {
            assert_eq!(t["state"], "succeeded", "{t}");
            t["value"].as_f64().unwrap()
        })
        .collect();
    let top = values.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(result["best"]["value"].as_f64(), Some(top));
    assert_eq!(result["goal"], "maximize");
    let best_run = result["best"]["training_run_id"].clone();
    assert_eq!(result["training_run_id"], best_run);
    assert_eq!(result["version"].as_f64(), Some(1.0));
    assert_eq!(result["metrics"]["roc_auc"].as_f64(), Some(top));

    // The registry holds the best trial with its lineage.
    let registry = sys.mcp_as("training", "registry").await;
    let version = ok(&call(
        &registry,
        "get_model_version",
        json!({"model": MODEL_NAME, "version": 1}),
    )
    .await);
    assert_eq!(version["training_run_id"], best_run);
    assert_eq!(version["dataset_digest"], manifest["digest"]);
    assert_eq!(version["params"]["dataset"], DATASET);
    assert_eq!(
        version["params"]["max_depth"].as_f64(),
        result["best"]["hyperparameters"]["max_depth"].as_f64()
    );
    assert_eq!(version["params"]["n_trees"], 10);
    assert_eq!(version["code_digest"], result["code_digest"]);
    assert_eq!(version["protected_attribute"], PROTECTED_ATTRIBUTE);
    let listed = ok(&call(&registry, "search_versions", json!({"model": MODEL_NAME})).await);
    assert_eq!(
        listed["versions"].as_array().unwrap().len(),
        1,
        "only the best trial is registered"
    );
}

/// Trainer tool calls made so far, from the MCP audit trail.
async fn trainer_calls(sys: &System, tool: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mcp.tool_calls WHERE server = 'trainer' AND tool = $1")
        .bind(tool)
        .fetch_one(&sys.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_stops_following_the_job_and_registers_nothing() {
    let sys = start().await;
    let manifest = seed_dataset(&sys, 3000).await;
    let input = train_input(
        &manifest,
        "random_forest",
        json!({"n_trees": 150, "max_depth": 10, "feature_fraction": 1.0}),
    );
    let client = sys.a2a("training").await;
    let task = send_skill(&client, "train-model", input).await;
    let get = GetTaskRequest {
        id: task.id.clone(),
        history_length: None,
        tenant: None,
    };
    // Wait until the job runs at the trainer.
    let trainer = sys.mcp_as("training", "trainer").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let job_id = loop {
        let jobs = ok(&call(&trainer, "list_jobs", json!({"state": "running"})).await);
        if let Some(job) = jobs["jobs"].as_array().and_then(|j| j.first()) {
            break job["job_id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let canceled = client
        .cancel(&CancelTaskRequest {
            id: task.id.clone(),
            metadata: None,
            tenant: None,
        })
        .await
        .expect("CancelTask");
    assert_eq!(canceled.status.state, TaskState::Canceled);
    // The trainer has no cancel tool: the agent stops polling, the job runs on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let polls = trainer_calls(&sys, "get_job_status").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        trainer_calls(&sys, "get_job_status").await,
        polls,
        "the agent kept polling a canceled task's job"
    );
    assert_eq!(
        client.get(&get).await.unwrap().status.state,
        TaskState::Canceled
    );

    // Once the job finishes on its own, nothing registers it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = ok(&call(&trainer, "get_job_status", json!({"job_id": job_id})).await);
        if job["state"] == "succeeded" || job["state"] == "failed" {
            break;
        }
        assert!(Instant::now() < deadline, "the job never finished");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let registry = sys.mcp_as("training", "registry").await;
    let models = ok(&call(&registry, "list_models", json!({})).await);
    assert_eq!(
        models["models"],
        json!([]),
        "a canceled training is not registered"
    );
}
