//! The data agent as a real `mlops agent data` process, with the real
//! storage and quality MCP servers and the token service: ingest (demo
//! generator and uploaded objects), validation with evidence, versions with
//! lineage, refusals, and the access matrix.

mod system;

use std::collections::HashSet;
use std::time::Duration;

use mlops_agent_kit::a2a::{Task, TaskState};
use mlops_demo_data::{TransactionsConfig, generate, to_csv};
use mlops_mcp_kit::test_support::{call, error_message, ok};
use mlops_mcp_storage::DatasetStore;
use serde_json::{Value, json};
use system::{System, artifact_data, status_text};

const LONG: Duration = Duration::from_secs(60);

async fn start(mcp: &[&str]) -> System {
    System::builder().mcp(mcp).agents(&["data"]).start().await
}

/// A CSV text as a header and rows of fields (the test data has no quoted
/// fields).
fn parse_csv(csv: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
    let header = lines
        .next()
        .expect("a header")
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// The transaction ids of a stored dataset version, in order, read straight
/// from the object store.
async fn stored_ids(sys: &System, dataset: &Value) -> Vec<String> {
    let store = DatasetStore::local(&sys.storage_root()).unwrap();
    let data = store
        .read(
            dataset["name"].as_str().unwrap(),
            dataset["version"].as_str().unwrap(),
        )
        .await
        .unwrap();
    let (header, rows) = parse_csv(&to_csv(&data.batch).unwrap());
    let id = column(&header, "transaction_id");
    rows.into_iter().map(|r| r[id].clone()).collect()
}

fn completed(task: &Task, name: &str) -> Value {
    assert_eq!(
        task.status.state,
        TaskState::Completed,
        "{}",
        status_text(task)
    );
    artifact(task, name).unwrap_or_else(|| panic!("no {name} artifact"))
}

/// An artifact's data, with whole numbers as integers again (the wire's
/// `Struct` carries only doubles).
fn artifact(task: &Task, name: &str) -> Option<Value> {
    artifact_data(task, name).map(mlops_agent_kit::whole_numbers_as_integers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_ingest_windows_dedupes_splits_and_validates() {
    let sys = start(&["storage", "quality"]).await;
    let (seed, rows) = (42, 3000);
    let (from, to) = ("2026-01-05T06:00:00Z", "2026-01-06T18:00:00Z");
    let task = sys
        .run_skill(
            "data",
            "ingest-data",
            json!({
                "source": { "kind": "demo", "seed": seed, "rows": rows },
                "dataset": "transactions",
                "time_window": { "column": "event_time", "from": from, "to": to },
                "dedupe_on": ["amount", "merchant_category"],
                "holdout_fraction": 0.2,
                "split_seed": 7
            }),
            LONG,
        )
        .await;
    let out = completed(&task, "ingest");

    // What the generator produced, windowed and de-duplicated here.
    let generated = generate(&TransactionsConfig {
        seed,
        rows,
        ..TransactionsConfig::default()
    })
    .unwrap();
    let (header, all) = parse_csv(&to_csv(&generated).unwrap());
    assert_eq!(all.len(), rows);
    let (time, amount, category, id) = (
        column(&header, "event_time"),
        column(&header, "amount"),
        column(&header, "merchant_category"),
        column(&header, "transaction_id"),
    );
    let from_t = chrono::DateTime::parse_from_rfc3339(from).unwrap();
    let to_t = chrono::DateTime::parse_from_rfc3339(to).unwrap();
    let in_window: Vec<&Vec<String>> = all
        .iter()
        .filter(|r| {
            let t = chrono::DateTime::parse_from_rfc3339(&r[time]).unwrap();
            t >= from_t && t < to_t
        })
        .collect();
    let mut seen = HashSet::new();
    let expected_ids: Vec<String> = in_window
        .iter()
        .filter(|r| seen.insert((r[amount].clone(), r[category].clone())))
        .map(|r| r[id].clone())
        .collect();
    let outside = rows - in_window.len();
    let duplicates = in_window.len() - expected_ids.len();
    assert!(
        outside > 0 && duplicates > 0,
        "the test must exercise both steps"
    );

    let stats = &out["stats"];
    assert_eq!(stats["rows_in"], rows);
    assert_eq!(stats["outside_window"], outside);
    assert_eq!(stats["duplicates_dropped"], duplicates);
    assert_eq!(stats["coercion_failures"], 0);
    assert_eq!(stats["rows_out"], expected_ids.len());
    let holdout_rows = (expected_ids.len() as f64 * 0.2).round() as u64;
    assert_eq!(stats["holdout_rows"], holdout_rows);
    assert_eq!(
        stats["train_rows"],
        expected_ids.len() as u64 - holdout_rows
    );
    assert_eq!(stats["type_changes"], json!([]));

    let dataset = &out["dataset"];
    assert_eq!(dataset["name"], "transactions");
    assert_eq!(dataset["rows"], expected_ids.len());
    assert_eq!(dataset["created"], true);
    assert_eq!(
        dataset["digest"],
        format!("sha256:{}", dataset["version"].as_str().unwrap())
    );
    assert_eq!(out["train"]["name"], "transactions-train");
    assert_eq!(out["holdout"]["name"], "transactions-holdout");
    assert_eq!(out["holdout"]["rows"], holdout_rows);

    // The stored rows are exactly the expected ones, and the split parts
    // partition them, each in the original order.
    let main_ids = stored_ids(&sys, dataset).await;
    assert_eq!(main_ids, expected_ids);
    let train_ids = stored_ids(&sys, &out["train"]).await;
    let holdout_ids = stored_ids(&sys, &out["holdout"]).await;
    let train_set: HashSet<&String> = train_ids.iter().collect();
    let holdout_set: HashSet<&String> = holdout_ids.iter().collect();
    assert!(train_set.is_disjoint(&holdout_set));
    assert_eq!(train_set.len() + holdout_set.len(), main_ids.len());
    let in_order = |part: &HashSet<&String>| -> Vec<String> {
        main_ids
            .iter()
            .filter(|i| part.contains(i))
            .cloned()
            .collect()
    };
    assert_eq!(in_order(&train_set), train_ids);
    assert_eq!(in_order(&holdout_set), holdout_ids);

    // The same request again gives the same content hashes, so the split
    // is deterministic; nothing new is written.
    let again = sys
        .run_skill(
            "data",
            "ingest-data",
            json!({
                "source": { "kind": "demo", "seed": seed, "rows": rows },
                "dataset": "transactions",
                "time_window": { "column": "event_time", "from": from, "to": to },
                "dedupe_on": ["amount", "merchant_category"],
                "holdout_fraction": 0.2,
                "split_seed": 7
            }),
            LONG,
        )
        .await;
    let again = completed(&again, "ingest");
    for part in ["dataset", "train", "holdout"] {
        assert_eq!(again[part]["version"], out[part]["version"], "{part}");
        assert_eq!(again[part]["created"], false, "{part}");
    }

    // The versioned manifest, checked against the store, with lineage.
    let task = sys
        .run_skill(
            "data",
            "version-dataset",
            json!({ "dataset": "transactions-holdout", "version": out["holdout"]["digest"] }),
            LONG,
        )
        .await;
    let version = completed(&task, "dataset-version");
    assert_eq!(version["version"], out["holdout"]["version"]);
    assert_eq!(version["sha256"], out["holdout"]["digest"]);
    assert_eq!(version["rows"], holdout_rows);
    assert_eq!(version["created_by"], "data");
    assert!(version["schema"].as_array().unwrap().len() == 13);
    let lineage = &version["lineage"];
    assert_eq!(lineage["digest"], out["holdout"]["digest"]);
    assert_eq!(
        lineage["uri"],
        format!(
            "dataset://transactions-holdout/{}",
            out["holdout"]["version"].as_str().unwrap()
        )
    );
    let record = &lineage["record"];
    assert_eq!(record["source"]["kind"], "demo");
    assert_eq!(record["source"]["seed"], seed);
    assert_eq!(record["parent"]["version"], dataset["version"]);
    assert_eq!(record["steps"]["split"]["part"], "holdout");
    assert_eq!(
        record["steps"]["dedupe_on"],
        json!(["amount", "merchant_category"])
    );

    // The default suite does not exist yet: the agent creates it, and the
    // clean demo data passes every expectation.
    let task = sys
        .run_skill(
            "data",
            "validate-data",
            json!({ "dataset": "transactions-train", "version": out["train"]["version"] }),
            LONG,
        )
        .await;
    let report = completed(&task, "validation");
    assert_eq!(report["passed"], true);
    assert_eq!(report["suite_created"], true);
    assert_eq!(report["suite"]["name"], "fraud-transactions");
    assert_eq!(report["dataset"]["digest"], out["train"]["digest"]);
    assert_eq!(report["failed"], json!([]));
    let results = report["results"].as_array().unwrap();
    assert!(results.len() > 30, "{}", results.len());
    assert!(results.iter().all(|r| r["success"] == true));
    let kinds: HashSet<&str> = results
        .iter()
        .map(|r| r["expectation"]["type"].as_str().unwrap())
        .collect();
    for kind in [
        "column_exists",
        "not_null_fraction",
        "values_between",
        "values_in_set",
        "values_unique",
        "row_count_between",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_object_ingest_coerces_dedupes_and_round_trips_parquet() {
    let sys = start(&["storage", "quality"]).await;
    let storage = sys.mcp_as("data", "storage").await;
    let csv = "id,amount,qty,flag,seen_at\n\
               r1,10.5,1,true,2026-01-05T10:00:00Z\n\
               r2,7.25,2,false,2026-01-05T11:00:00Z\n\
               r1,10.5,1,true,2026-01-05T10:00:00Z\n\
               r3,oops,3,true,2026-01-05T12:00:00Z\n\
               r4,3.0,4.5,false,2026-01-05T13:00:00Z\n\
               r5,,5,true,2026-01-05T14:00:00Z\n\
               r2,7.25,2,false,2026-01-05T11:00:00Z\n\
               r6,1e2,6,yes,2026-01-05T15:00:00Z\n";
    ok(&call(
        &storage,
        "upload_object",
        json!({ "key": "uploads/orders.csv", "text": csv }),
    )
    .await);
    let request = |dataset: &str, share: Option<f64>| {
        let mut input = json!({
            "source": { "kind": "object", "key": "uploads/orders.csv", "format": "csv" },
            "dataset": dataset,
            "coerce": { "amount": "float", "qty": "int", "flag": "bool", "seen_at": "timestamp" },
            "dedupe_on": ["id"]
        });
        if let Some(share) = share {
            input["max_coercion_failure_share"] = json!(share);
        }
        input
    };

    // Two of eight rows fail coercion: above the default 5 %, the ingest
    // fails with the evidence and writes nothing.
    let task = sys
        .run_skill("data", "ingest-data", request("orders-strict", None), LONG)
        .await;
    assert_eq!(
        task.status.state,
        TaskState::Failed,
        "{}",
        status_text(&task)
    );
    assert!(
        status_text(&task).contains("failed coercion"),
        "{}",
        status_text(&task)
    );
    let evidence = artifact(&task, "evidence").expect("evidence");
    assert_eq!(evidence["coercion_failures"], 2);
    assert!(!sys.storage_root().join("datasets/orders-strict").exists());

    let task = sys
        .run_skill("data", "ingest-data", request("orders", Some(0.3)), LONG)
        .await;
    let out = completed(&task, "ingest");
    let stats = &out["stats"];
    assert_eq!(stats["rows_in"], 8);
    assert_eq!(stats["coercion_failures"], 2, "{stats}");
    assert_eq!(stats["duplicates_dropped"], 2, "{stats}");
    assert_eq!(stats["outside_window"], 0);
    assert_eq!(stats["rows_out"], 4);
    let by_column = |name: &str| {
        stats["coercion"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["column"] == name)
            .unwrap_or_else(|| panic!("no coercion report for {name}"))
            .clone()
    };
    let amount = by_column("amount");
    assert_eq!(
        (amount["failed"].clone(), amount["converted"].clone()),
        (json!(1), json!(6))
    );
    assert_eq!(amount["examples"], json!(["oops"]));
    assert_eq!(amount["from"], "Utf8");
    let qty = by_column("qty");
    assert_eq!(qty["failed"], 1);
    assert_eq!(qty["examples"], json!(["4.5"]));
    assert_eq!(by_column("flag")["failed"], 0);
    assert_eq!(by_column("seen_at")["failed"], 0);

    let dataset = &out["dataset"];
    assert_eq!(dataset["rows"], 4);
    let types: Vec<(String, String)> = dataset["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["data_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(types[0], ("id".into(), "Utf8".into()));
    assert_eq!(types[1], ("amount".into(), "Float64".into()));
    assert_eq!(types[2], ("qty".into(), "Int64".into()));
    assert_eq!(types[3], ("flag".into(), "Boolean".into()));
    assert!(types[4].1.starts_with("Timestamp"), "{types:?}");
    let store = DatasetStore::local(&sys.storage_root()).unwrap();
    let stored = store
        .read("orders", dataset["version"].as_str().unwrap())
        .await
        .unwrap();
    let (_, rows) = parse_csv(&to_csv(&stored.batch).unwrap());
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, vec!["r1", "r2", "r5", "r6"]);
    let amounts: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        amounts,
        vec!["10.5", "7.25", "", "100.0"],
        "r5's amount stays null"
    );
    let flags: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(flags, vec!["true", "false", "true", "true"]);

    // The stored Parquet file, ingested as a Parquet object, comes back as
    // the very same content hash.
    let parquet_key = dataset["files"][0]["path"].as_str().unwrap().to_owned();
    let task = sys
        .run_skill(
            "data",
            "ingest-data",
            json!({
                "source": { "kind": "object", "key": parquet_key, "format": "parquet" },
                "dataset": "orders-copy"
            }),
            LONG,
        )
        .await;
    let copy = completed(&task, "ingest");
    assert_eq!(copy["dataset"]["version"], dataset["version"]);
    assert_eq!(copy["stats"]["rows_in"], 4);

    // An object registered as a version directly: CSV read by the storage
    // server, Parquet through the agent.
    let task = sys
        .run_skill(
            "data",
            "version-dataset",
            json!({ "dataset": "orders-raw", "from_object": "uploads/orders.csv" }),
            LONG,
        )
        .await;
    let raw = completed(&task, "dataset-version");
    assert_eq!(raw["rows"], 8);
    assert_eq!(raw["registered"], true);
    assert_eq!(
        raw["lineage"]["record"]["source"]["key"],
        "uploads/orders.csv"
    );
    let task = sys
        .run_skill(
            "data",
            "version-dataset",
            json!({ "dataset": "orders-registered", "from_object": parquet_key }),
            LONG,
        )
        .await;
    let registered = completed(&task, "dataset-version");
    assert_eq!(registered["version"], dataset["version"]);
    assert_eq!(registered["rows"], 4);
    assert_eq!(
        registered["lineage"]["record"]["source"]["format"],
        "parquet"
    );

    // A version that is not there fails, naming it.
    let missing = "ab".repeat(32);
    let task = sys
        .run_skill(
            "data",
            "version-dataset",
            json!({ "dataset": "orders", "version": missing }),
            LONG,
        )
        .await;
    assert_eq!(task.status.state, TaskState::Failed);
    assert!(
        status_text(&task).contains(&missing),
        "{}",
        status_text(&task)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_fails_with_evidence_on_broken_values() {
    let sys = start(&["storage", "quality"]).await;
    let storage = sys.mcp_as("data", "storage").await;
    // Demo rows with ten negative amounts and five missing ones.
    let generated = generate(&TransactionsConfig {
        seed: 5,
        rows: 500,
        ..TransactionsConfig::default()
    })
    .unwrap();
    let (header, mut rows) = parse_csv(&to_csv(&generated).unwrap());
    let amount = column(&header, "amount");
    for row in &mut rows[..10] {
        row[amount] = format!("-{}", row[amount]);
    }
    for row in &mut rows[10..15] {
        row[amount].clear();
    }
    let mut csv = header.join(",");
    for row in &rows {
        csv.push('\n');
        csv.push_str(&row.join(","));
    }
    ok(&call(
        &storage,
        "upload_object",
        json!({ "key": "uploads/broken.csv", "text": csv }),
    )
    .await);
    let put = ok(&call(
        &storage,
        "put_dataset",
        json!({ "name": "broken", "source_key": "uploads/broken.csv" }),
    )
    .await);
    let version = put["manifest"]["version"].as_str().unwrap().to_owned();

    // Through the official Python a2a-sdk client.
    let result = sys
        .python_skill(
            "data",
            "validate-data",
            json!({ "dataset": "broken", "version": version }),
        )
        .await;
    assert_eq!(result["state"], "TASK_STATE_FAILED", "{result}");
    let status = result["status_text"].as_str().unwrap();
    assert!(status.contains("values_between(amount)"), "{status}");
    assert!(status.contains("not_null_fraction(amount)"), "{status}");
    let progress: Vec<&str> = result["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        progress
            .iter()
            .any(|l| l.contains("creating suite fraud-transactions")),
        "{progress:?}"
    );
    assert!(
        progress
            .iter()
            .any(|l| l.contains("called quality/run_checkpoint")),
        "{progress:?}"
    );
    let evidence = &result["artifacts"]["evidence"];
    assert_eq!(evidence["passed"], false);
    let failed = evidence["failed"].as_array().unwrap();
    let labels: Vec<String> = failed
        .iter()
        .map(|f| {
            format!(
                "{}({})",
                f["expectation"]["type"].as_str().unwrap(),
                f["expectation"]["column"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        labels,
        vec!["not_null_fraction(amount)", "values_between(amount)"],
        "{evidence}"
    );
    let range = &failed[1]["observed"];
    assert_eq!(range["unexpected_count"].as_f64(), Some(10.0), "{range}");
    assert_eq!(range["null_count"].as_f64(), Some(5.0), "{range}");
    let nulls = &failed[0]["observed"];
    assert_eq!(
        nulls["non_null_fraction"].as_f64(),
        Some(495.0 / 500.0),
        "{nulls}"
    );
    // The evidence carries every result, not only the failures.
    assert!(evidence["results"].as_array().unwrap().len() > failed.len());

    // A suite that does not exist (and is not the default) is not invented.
    let task = sys
        .run_skill(
            "data",
            "validate-data",
            json!({ "dataset": "broken", "version": version, "suite": "no-such-suite" }),
            LONG,
        )
        .await;
    assert_eq!(task.status.state, TaskState::Failed);
    assert!(
        status_text(&task).contains("no-such-suite"),
        "{}",
        status_text(&task)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_naming_the_field() {
    let sys = start(&["storage", "quality"]).await;
    let demo = json!({ "kind": "demo", "seed": 1, "rows": 200 });
    let cases = [
        (
            "ingest-data",
            json!({ "source": demo, "dataset": "d", "holdout_fraction": 2 }),
            "holdout_fraction",
        ),
        ("ingest-data", json!({ "source": demo }), "dataset"),
        (
            "ingest-data",
            json!({ "source": { "kind": "demo", "seed": 1, "rows": 10, "bias": 7 }, "dataset": "d" }),
            "source.bias",
        ),
        (
            "ingest-data",
            json!({ "source": demo, "dataset": "d", "time_window": { "column": "event_time", "from": "noon" } }),
            "time_window.from",
        ),
        // Known only once the rows are loaded; still nothing is written.
        (
            "ingest-data",
            json!({ "source": demo, "dataset": "d", "coerce": { "nope": "int" } }),
            "coerce.nope",
        ),
        (
            "validate-data",
            json!({ "dataset": "d", "version": "v1" }),
            "version",
        ),
        ("version-dataset", json!({ "dataset": "d" }), "version"),
    ];
    for (skill, input, field) in cases {
        let task = sys.run_skill("data", skill, input.clone(), LONG).await;
        assert_eq!(
            task.status.state,
            TaskState::Rejected,
            "{skill} {input}: {}",
            status_text(&task)
        );
        let text = status_text(&task);
        assert!(
            text.contains(&format!("`{field}`")),
            "{skill} {input}: {text:?} should name {field}"
        );
    }
    assert!(
        !sys.storage_root().join("datasets").exists(),
        "a refused request writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_agent_cannot_reach_the_registry() {
    let sys = start(&["registry", "storage", "quality"]).await;

    // The token service refuses to mint a registry token for data.
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", sys.issuer))
        .basic_auth("data", Some(sys.secrets.secret_for("data")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&audience=registry")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target", "{body}");
    // …while storage is granted with read and write, and quality with run.
    for (audience, scope) in [
        ("storage", "storage:read storage:write"),
        ("quality", "quality:run"),
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/oauth/token", sys.issuer))
            .basic_auth("data", Some(sys.secrets.secret_for("data")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=client_credentials&audience={audience}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["scope"], scope);
    }

    // A registry token minted for data with the matrix's (empty) scopes is
    // refused by the registry server on every tool, reads and writes alike.
    let registry = mlops_mcp_kit::test_support::client(
        &sys.mcp["registry"],
        &sys.mcp_token("data", "registry"),
    )
    .await;
    for (tool, args) in [
        ("list_models", json!({})),
        (
            "register_model",
            json!({ "name": "fraud-detector", "description": "should not exist" }),
        ),
    ] {
        let message = error_message(&call(&registry, tool, args).await);
        assert!(
            message.contains("data may not call") && message.contains("registry:"),
            "{tool}: {message}"
        );
    }
    // Its data tokens do work where the matrix allows.
    let storage = sys.mcp_as("data", "storage").await;
    ok(&call(&storage, "list_objects", json!({})).await);

    // The agent itself still works with the registry server around.
    let task = sys
        .run_skill(
            "data",
            "ingest-data",
            json!({ "source": { "kind": "demo", "seed": 3, "rows": 200 }, "dataset": "small" }),
            LONG,
        )
        .await;
    assert_eq!(completed(&task, "ingest")["dataset"]["rows"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_seeding_request_fits_and_validates() {
    // What `mlops up` asks for: the agent's default row limit and the
    // storage server's upload limit must both hold it.
    let sys = start(&["storage", "quality"]).await;
    let task = sys
        .run_skill(
            "data",
            "ingest-data",
            json!({
                "source": { "kind": "demo", "seed": 42, "rows": 20_000 },
                "dataset": "transactions",
                "dedupe_on": ["transaction_id"],
                "holdout_fraction": 0.2,
                "split_seed": 42
            }),
            LONG,
        )
        .await;
    let out = completed(&task, "ingest");
    assert_eq!(out["stats"]["rows_out"], 20_000);
    assert_eq!(out["stats"]["duplicates_dropped"], 0);
    assert_eq!(out["train"]["rows"], 16_000);
    assert_eq!(out["holdout"]["rows"], 4_000);
    let task = sys
        .run_skill(
            "data",
            "validate-data",
            json!({ "dataset": out["train"]["name"], "version": out["train"]["version"] }),
            LONG,
        )
        .await;
    assert_eq!(completed(&task, "validation")["passed"], true);
}
