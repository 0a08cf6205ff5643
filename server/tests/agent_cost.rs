//! The cost agent as a real `mlops agent cost` process, over real trainer,
//! metrics (with a real Prometheus), storage and cluster MCP servers.
//! Training jobs run for real on demo transactions, so the throughput the
//! agent measures and the spend it reports come from real job records.

mod system;
use system::{System, artifact_data, status_text};

use std::time::{Duration, Instant};

use mlops_agent_kit::a2a::{Task, TaskState};
use mlops_demo_data::{FEATURES, LABEL, MODEL_NAME, TransactionsConfig};
use mlops_mcp_kit::test_support::{call, ok};
use mlops_mcp_storage::DatasetStore;
use serde_json::{Value, json};

const DATASET: &str = "transactions";
const ROWS: usize = 3_000;

async fn run(sys: &System, skill: &str, input: Value) -> Task {
    sys.run_skill("cost", skill, input, Duration::from_secs(60))
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
        sys.log("cost")
    );
    artifact_data(&task, artifact).unwrap_or_else(|| panic!("{skill}: no {artifact} artifact"))
}

/// Runs a skill whose input must be refused; returns the status text.
async fn run_rejected(sys: &System, skill: &str, input: Value) -> String {
    let task = run(sys, skill, input.clone()).await;
    assert_eq!(
        task.status.state,
        TaskState::Rejected,
        "{skill} {input}: {}",
        status_text(&task)
    );
    status_text(&task)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// Writes demo transactions as dataset [`DATASET`]; returns its version.
async fn seed_dataset(sys: &System) -> String {
    let store = DatasetStore::local(&sys.storage_root()).unwrap();
    let batch = mlops_demo_data::generate(&TransactionsConfig {
        seed: 11,
        rows: ROWS,
        ..Default::default()
    })
    .unwrap();
    let (manifest, _) = store.write(DATASET, &batch, "data").await.unwrap();
    manifest.version
}

/// Submits a training job as the training agent would and waits for it to
/// succeed; returns its job id.
async fn train(
    sys: &System,
    version: &str,
    algorithm: &str,
    hyperparameters: Value,
    seed: u64,
) -> String {
    let trainer = sys.mcp_as("training", "trainer").await;
    let queued = ok(&call(
        &trainer,
        "submit_training_job",
        json!({
            "dataset": DATASET,
            "version": version,
            "target": LABEL,
            "features": FEATURES,
            "algorithm": algorithm,
            "hyperparameters": hyperparameters,
            "seed": seed,
        }),
    )
    .await);
    let job_id = queued["job_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let status = ok(&call(&trainer, "get_job_status", json!({"job_id": job_id})).await);
        match status["state"].as_str().unwrap() {
            "succeeded" => return job_id,
            "failed" => panic!("job {job_id} failed: {status}"),
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "job {job_id} not done: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The trainer's record of every job, by id, with rows from its metrics.
async fn job_records(sys: &System) -> Vec<(Value, u64)> {
    let trainer = sys.mcp_as("cost", "trainer").await;
    let jobs = ok(&call(&trainer, "list_jobs", json!({"limit": 200})).await);
    let mut records = Vec::new();
    for job in jobs["jobs"].as_array().unwrap() {
        let metrics = ok(&call(
            &trainer,
            "get_job_metrics",
            json!({"job_id": job["job_id"]}),
        )
        .await);
        let rows = metrics["metrics"]["train_rows"].as_u64().unwrap()
            + metrics["metrics"]["validation_rows"].as_u64().unwrap();
        records.push((job.clone(), rows));
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_from_measured_throughput_and_reports_spend_of_real_runs() {
    let sys = System::builder()
        .mcp(&["storage", "trainer", "metrics", "cluster"])
        .prometheus()
        .agents(&["cost"])
        .start()
        .await;
    let lr_estimate = json!({
        "dataset_rows": ROWS * 10,
        "features": FEATURES,
        "algorithm": "logistic_regression",
    });

    // No history yet: the conservative default, and the output says so.
    let before = run_ok(
        &sys,
        "estimate-training-cost",
        "training-cost-estimate",
        lr_estimate.clone(),
    )
    .await;
    assert_eq!(before["throughput_source"], "default", "{before}");
    assert!(
        before["throughput_note"]
            .as_str()
            .unwrap()
            .contains("default")
    );
    assert!(before["measured_jobs"].as_array().unwrap().is_empty());

    // Real training runs: two logistic regressions and a small forest.
    let version = seed_dataset(&sys).await;
    let lr1 = train(&sys, &version, "logistic_regression", json!({}), 1).await;
    let lr2 = train(&sys, &version, "logistic_regression", json!({"l2": 0.1}), 2).await;
    let rf = train(
        &sys,
        &version,
        "random_forest",
        json!({"n_trees": 8, "max_depth": 4}),
        3,
    )
    .await;
    let records = job_records(&sys).await;
    assert_eq!(records.len(), 3);

    // Measured: the pooled work of the two LR jobs over their durations.
    let estimate = run_ok(
        &sys,
        "estimate-training-cost",
        "training-cost-estimate",
        lr_estimate,
    )
    .await;
    assert_eq!(estimate["throughput_source"], "measured", "{estimate}");
    let mut measured_ids: Vec<&str> = estimate["measured_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    measured_ids.sort();
    let mut lr_ids = vec![lr1.as_str(), lr2.as_str()];
    lr_ids.sort();
    assert_eq!(
        measured_ids, lr_ids,
        "only the LR jobs measure LR throughput"
    );
    let (work, seconds) = records
        .iter()
        .filter(|(job, _)| job["algorithm"]["algorithm"] == "logistic_regression")
        .fold((0.0, 0.0), |(w, s), (job, rows)| {
            assert_eq!(*rows, ROWS as u64);
            (
                w + (*rows * FEATURES.len() as u64) as f64,
                s + job["duration_seconds"].as_f64().unwrap(),
            )
        });
    let throughput = estimate["throughput_work_units_per_second"]
        .as_f64()
        .unwrap();
    assert!(
        close(throughput, work / seconds),
        "{throughput} vs {}",
        work / seconds
    );
    // Ten times the rows of the measured jobs: ten times their mean duration.
    let estimated_seconds = estimate["estimated_seconds"].as_f64().unwrap();
    assert!(close(estimated_seconds, 10.0 * seconds / 2.0), "{estimate}");
    assert!(
        estimated_seconds > 0.0 && estimated_seconds < 600.0,
        "{estimate}"
    );
    // 30k rows × 7 columns × 8 bytes × 5 ≈ 8 MiB: the cheapest type fits.
    assert_eq!(estimate["memory"]["memory_mb_required"].as_f64(), Some(9.0));
    assert_eq!(estimate["recommended_instance"]["name"], "cpu-small");
    assert!(close(
        estimate["estimated_cost_usd"].as_f64().unwrap(),
        estimated_seconds / 3600.0 * 0.085
    ));

    // The forest is measured on its own job, with its hyperparameters'
    // complexity (8 trees × depth 4 × 0.7 of the features).
    let forest = run_ok(
        &sys,
        "estimate-training-cost",
        "training-cost-estimate",
        json!({"dataset_rows": ROWS, "dataset_columns": FEATURES.len(), "algorithm": "random_forest",
               "hyperparameters": {"n_trees": 8, "max_depth": 4}, "instance_type": "mem-large"}),
    )
    .await;
    assert_eq!(forest["throughput_source"], "measured");
    assert_eq!(forest["measured_jobs"][0]["job_id"], rf.as_str());
    assert!(close(
        forest["complexity"].as_f64().unwrap(),
        8.0 * 4.0 * 0.7
    ));
    let rf_duration = records
        .iter()
        .find(|(job, _)| job["job_id"] == rf.as_str())
        .map(|(job, _)| job["duration_seconds"].as_f64().unwrap())
        .unwrap();
    // The same size and hyperparameters as the measured job: its duration.
    assert!(
        close(forest["estimated_seconds"].as_f64().unwrap(), rf_duration),
        "{forest}"
    );
    assert_eq!(forest["priced_instance"]["name"], "mem-large");

    // A real deployment of the first model, scraped by Prometheus.
    let cluster = sys.mcp_as("deployment", "cluster").await;
    ok(&call(
        &cluster,
        "apply_deployment",
        json!({"model": MODEL_NAME, "version": 1, "artifact_uri": format!("storage://models/{lr1}/model.json")}),
    )
    .await);
    let metrics = sys.mcp_as("monitoring", "metrics").await;
    let started = Instant::now();
    loop {
        let up = ok(&call(
            &metrics,
            "query_instant",
            // `increase` needs two samples of the CPU counter.
            json!({"query": "count_over_time(process_cpu_seconds_total{component=\"model-server\"}[10m]) >= 2"}),
        )
        .await);
        if up["series_total"].as_f64().unwrap_or(0.0) > 0.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never scraped twice: {up}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let report = run_ok(
        &sys,
        "report-spend",
        "spend-report",
        json!({"window_seconds": 3600}),
    )
    .await;
    // Training: every run, its duration × the training instance's price.
    let price = report["training"]["instance_type"]["price_per_hour_usd"]
        .as_f64()
        .unwrap();
    assert_eq!(report["training"]["instance_type"]["name"], "cpu-medium");
    let runs = report["training"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{report}");
    let mut expected_total = 0.0;
    for (job, _) in &records {
        let run = runs.iter().find(|r| r["job_id"] == job["job_id"]).unwrap();
        let duration = job["duration_seconds"].as_f64().unwrap();
        assert!(
            close(run["billed_seconds"].as_f64().unwrap(), duration),
            "{run} vs {job}"
        );
        let cost = duration / 3600.0 * price;
        assert!(close(run["cost_usd"].as_f64().unwrap(), cost), "{run}");
        expected_total += cost;
    }
    assert!(close(
        report["training"]["total_usd"].as_f64().unwrap(),
        expected_total
    ));
    assert!(close(
        report["totals"]["training_usd"].as_f64().unwrap(),
        expected_total
    ));

    // Serving: the model server Prometheus scraped, priced from the CPU
    // seconds it reports (`process_cpu_seconds_total`).
    let serving = &report["serving"];
    let cpu_price = serving["cpu_second_price_usd"].as_f64().unwrap();
    assert!(close(cpu_price, 0.085 / 2.0 / 3600.0));
    let v1 = serving["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["component"] == "model-server" && d["version"] == "1")
        .cloned()
        .unwrap_or_else(|| panic!("v1's model server is priced: {serving}"));
    assert!(v1["cpu_seconds"].as_f64().unwrap() >= 0.0, "{v1}");
    assert!(close(
        v1["cost_usd"].as_f64().unwrap(),
        v1["cpu_seconds"].as_f64().unwrap() * cpu_price
    ));

    // Another model has no deployments, and the filter reaches Prometheus.
    let other = run_ok(
        &sys,
        "report-spend",
        "spend-report",
        json!({"window_seconds": 3600, "model": "other-model"}),
    )
    .await;
    assert_eq!(other["serving"]["status"], "no_deployments", "{other}");
    assert_eq!(other["serving"]["total_usd"].as_f64(), Some(0.0));

    // Bad input is refused before any work, naming the field.
    let reason = run_rejected(
        &sys,
        "report-spend",
        json!({"window_seconds": 3600, "from": "2026-01-01T00:00:00Z"}),
    )
    .await;
    assert!(reason.contains("`window_seconds`"), "{reason}");
    let reason = run_rejected(
        &sys,
        "estimate-training-cost",
        json!({"dataset_rows": 0, "dataset_columns": 7, "algorithm": "logistic_regression"}),
    )
    .await;
    assert!(reason.contains("`dataset_rows`"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommends_the_cheapest_fit_and_a_larger_one_after_oom() {
    // A configured price table: the agent prices from config, not the web.
    let sys = System::builder()
        .agents(&["cost"])
        .agent_config(
            "cost",
            "instance_types:\n\
             - {name: small, vcpus: 2, memory_mb: 4096, price_per_hour_usd: 0.10}\n\
             - {name: wide, vcpus: 16, memory_mb: 8192, price_per_hour_usd: 0.60}\n\
             - {name: medium, vcpus: 4, memory_mb: 8192, price_per_hour_usd: 0.20}\n\
             - {name: big, vcpus: 8, memory_mb: 32768, price_per_hour_usd: 0.50}\n\
             training_instance_type: medium\n\
             memory_headroom: 1.5\n",
        )
        .start()
        .await;

    // 2000 MiB × 1.5 = 3000 MiB: the cheapest with that much is `small`.
    let cheapest = run_ok(
        &sys,
        "recommend-instance-type",
        "instance-recommendation",
        json!({"memory_mb_required": 2000}),
    )
    .await;
    assert_eq!(cheapest["instance_type"]["name"], "small", "{cheapest}");
    assert_eq!(cheapest["memory_mb_with_headroom"].as_f64(), Some(3000.0));
    // 3000 × 1.5 = 4500 MiB: `medium` (8 GiB, $0.20) beats `wide` ($0.60).
    let bigger = run_ok(
        &sys,
        "recommend-instance-type",
        "instance-recommendation",
        json!({"memory_mb_required": 3000}),
    )
    .await;
    assert_eq!(bigger["instance_type"]["name"], "medium");
    // After running out of memory on `medium`: strictly more memory than it.
    let after_oom = run_ok(
        &sys,
        "recommend-instance-type",
        "instance-recommendation",
        json!({"memory_mb_required": 100, "current_instance_type": "medium"}),
    )
    .await;
    assert_eq!(after_oom["instance_type"]["name"], "big", "{after_oom}");
    assert!(after_oom["instance_type"]["memory_mb"].as_f64().unwrap() > 8192.0);
    assert!(after_oom["reason"].as_str().unwrap().contains("medium"));

    // Nothing larger than the largest: a failure that says why.
    let task = run(
        &sys,
        "recommend-instance-type",
        json!({"memory_mb_required": 100, "current_instance_type": "big"}),
    )
    .await;
    assert_eq!(
        task.status.state,
        TaskState::Failed,
        "{}",
        status_text(&task)
    );
    assert!(
        status_text(&task).contains("no instance type"),
        "{}",
        status_text(&task)
    );
    assert!(artifact_data(&task, "evidence").is_some());

    // Bad input: rejected, naming the field.
    let reason = run_rejected(
        &sys,
        "recommend-instance-type",
        json!({"memory_mb_required": 100, "current_instance_type": "cpu-small"}),
    )
    .await;
    assert!(reason.contains("`current_instance_type`"), "{reason}");
    let reason = run_rejected(&sys, "recommend-instance-type", json!({"memory_mb": 100})).await;
    assert!(reason.contains("memory_mb"), "{reason}");

    // Through the official Python a2a-sdk client.
    let result = sys
        .python_skill(
            "cost",
            "recommend-instance-type",
            json!({"memory_mb_required": 5000, "vcpus": 8}),
        )
        .await;
    assert_eq!(result["state"], "TASK_STATE_COMPLETED", "{result}");
    let recommendation = &result["artifacts"]["instance-recommendation"];
    assert_eq!(recommendation["instance_type"]["name"], "big", "{result}");
    assert_eq!(recommendation["instance_type"]["vcpus"].as_f64(), Some(8.0));
    assert!(
        result["progress"]
            .as_array()
            .unwrap()
            .iter()
            .any(|line| line
                .as_str()
                .unwrap_or_default()
                .contains("recommend-instance-type")),
        "{result}"
    );
}
