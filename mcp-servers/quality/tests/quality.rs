//! The quality server over real HTTP with the rmcp client: a real dataset
//! written through `DatasetStore` into a real directory, real Postgres for
//! suites, results and the audit trail.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok, python_client};
use mlops_mcp_kit::{McpHttpServer, RunningMcpServer};
use mlops_mcp_quality::{QualityServer, SERVER};
use mlops_mcp_storage::DatasetStore;
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use rmcp::RoleClient;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use rmcp::service::RunningService;
use serde_json::{Value, json};

const TOOLS: [&str; 5] = [
    "get_suite",
    "get_validation_result",
    "list_suites",
    "put_suite",
    "run_checkpoint",
];

struct Fixture {
    db: TestDatabase,
    _root: tempfile::TempDir,
    tokens: TestTokens,
    server: RunningMcpServer,
    /// The content hash of the `transactions` dataset.
    version: String,
}

impl Fixture {
    async fn start() -> Self {
        let db = fresh_database().await;
        let root = tempfile::tempdir().unwrap();
        let datasets = DatasetStore::local(root.path()).unwrap();
        let (manifest, created) = datasets
            .write("transactions", &transactions(), "data")
            .await
            .unwrap();
        assert!(created);
        let tokens = TestTokens::new(SERVER);
        let quality = QualityServer::new(datasets, db.pool.clone());
        let server = McpHttpServer::new(SERVER, tokens.verifier(), quality.kit().metrics())
            .readiness_database(db.pool.clone())
            .bind("127.0.0.1:0".parse().unwrap(), move || quality.clone())
            .await
            .unwrap();
        Fixture {
            db,
            _root: root,
            tokens,
            server,
            version: manifest.version,
        }
    }

    async fn client_for(&self, agent: &str) -> RunningService<RoleClient, ()> {
        client(&self.server.mcp_url(), &self.tokens.for_agent(agent)).await
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    async fn audit_rows(&self) -> Vec<(String, String, String)> {
        sqlx::query_as("SELECT caller, tool, status FROM mcp.tool_calls ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

/// Six transactions: a null and a negative amount, a duplicate id, an
/// unknown country; the newest one an hour old.
fn transactions() -> RecordBatch {
    let now = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("tx_id", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 5]))),
        (
            "amount",
            Arc::new(Float64Array::from(vec![
                Some(12.5),
                Some(830.0),
                None,
                Some(-4.0),
                Some(99.0),
                Some(7.25),
            ])),
        ),
        (
            "country",
            Arc::new(StringArray::from(vec![
                Some("DE"),
                Some("FR"),
                Some("DE"),
                None,
                Some("XX"),
                Some("FR"),
            ])),
        ),
        (
            "is_fraud",
            Arc::new(BooleanArray::from(vec![
                false, true, false, false, false, true,
            ])),
        ),
        (
            "ts",
            Arc::new(
                TimestampMillisecondArray::from(vec![
                    now - 72 * hour,
                    now - 5 * hour,
                    now - hour,
                    now - 2 * hour,
                    now - 30 * hour,
                    now - 3 * hour,
                ])
                .with_timezone("UTC"),
            ),
        ),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

fn suite_v1() -> Value {
    json!([
        {"type": "column_exists", "column": "tx_id", "data_type": "Int64"},
        {"type": "column_exists", "column": "ts", "data_type": "timestamp"},
        {"type": "not_null_fraction", "column": "amount", "min": 0.8},
        {"type": "values_in_set", "column": "country", "values": ["DE", "FR"], "mostly": 0.8},
        {"type": "row_count_between", "min": 1, "max": 1000},
        {"type": "freshness", "column": "ts", "max_age_seconds": 86400}
    ])
}

fn suite_v2() -> Value {
    let mut suite = suite_v1();
    let items = suite.as_array_mut().unwrap();
    items.push(json!({"type": "values_between", "column": "amount", "min": 0, "max": 10000}));
    items.push(json!({"type": "values_unique", "column": "tx_id"}));
    // Cannot be evaluated: a failure with an error, not a tool error.
    items.push(json!({"type": "values_between", "column": "country", "min": 0}));
    items.push(json!({"type": "not_null_fraction", "column": "merchant", "min": 1}));
    suite
}

fn result_for<'a>(result: &'a Value, label_type: &str, column: &str) -> &'a Value {
    result["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["expectation"]["type"] == label_type && r["expectation"]["column"] == column)
        .unwrap_or_else(|| panic!("no {label_type}({column}) in {result}"))
}

#[tokio::test]
async fn suites_are_versioned_and_checkpoints_report_observed_values() {
    let f = Fixture::start().await;
    let data = f.client_for("data").await;

    let tools = data.list_all_tools().await.unwrap();
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, TOOLS);
    let put = tools.iter().find(|t| t.name == "put_suite").unwrap();
    let schema = serde_json::to_string(&put.input_schema).unwrap();
    assert!(
        schema.contains("values_between") && schema.contains("max_age_seconds"),
        "the schema comes from the expectation type: {schema}"
    );

    let first = ok(&call(
        &data,
        "put_suite",
        json!({"name": "transactions-basic", "expectations": suite_v1()}),
    )
    .await);
    assert_eq!(first["created"], true);
    assert_eq!(first["suite"]["version"], 1);
    // An identical re-put is a no-op that names the same version.
    let again = ok(&call(
        &data,
        "put_suite",
        json!({"name": "transactions-basic", "expectations": suite_v1()}),
    )
    .await);
    assert_eq!(
        (again["created"].clone(), again["suite"]["version"].clone()),
        (json!(false), json!(1))
    );
    let second = ok(&call(
        &data,
        "put_suite",
        json!({"name": "transactions-basic", "expectations": suite_v2()}),
    )
    .await);
    assert_eq!(second["suite"]["version"], 2);
    assert_eq!(f.count("quality.suites").await, 2);

    // The latest version runs by default.
    let result = ok(&call(
        &data,
        "run_checkpoint",
        json!({"dataset": "transactions", "version": f.version, "suite": "transactions-basic"}),
    )
    .await);
    assert_eq!(
        result["suite"],
        json!({"name": "transactions-basic", "version": 2})
    );
    assert_eq!(result["dataset"]["digest"], format!("sha256:{}", f.version));
    assert_eq!(result["dataset"]["rows"], 6);
    assert_eq!(result["success"], false);
    assert_eq!(result["statistics"]["evaluated_expectations"], 10);
    assert_eq!(result["statistics"]["successful_expectations"], 6);
    assert_eq!(result["run_by"], "data");

    let range = result_for(&result, "values_between", "amount");
    assert_eq!(range["success"], false);
    assert_eq!(
        range["observed"]["non_null_count"], 5,
        "nulls are not counted"
    );
    assert_eq!(range["observed"]["unexpected_count"], 1);
    assert_eq!(range["observed"]["unexpected_examples"], json!([-4]));
    assert_eq!(range["observed"]["observed_max"], json!(830));
    let unique = result_for(&result, "values_unique", "tx_id");
    assert_eq!(unique["observed"]["unexpected_examples"], json!(["5"]));
    let set = result_for(&result, "values_in_set", "country");
    assert_eq!(
        set["success"], true,
        "4 of 5 non-null countries, mostly 0.8"
    );
    assert_eq!(set["observed"]["unexpected_examples"], json!(["XX"]));
    let fresh = result_for(&result, "freshness", "ts");
    assert_eq!(fresh["success"], true);
    let age = fresh["observed"]["age_seconds"].as_f64().unwrap();
    assert!(
        (3000.0..7200.0).contains(&age),
        "newest is an hour old: {age}"
    );
    let ts_type = result_for(&result, "column_exists", "ts");
    assert_eq!(ts_type["observed"]["data_type"], "Timestamp(ms, \"UTC\")");
    let text_range = result_for(&result, "values_between", "country");
    assert_eq!(text_range["success"], false);
    assert!(text_range["error"].as_str().unwrap().contains("numeric"));
    let missing = result_for(&result, "not_null_fraction", "merchant");
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("no column \"merchant\"")
    );

    // An older suite version can still run, and says so.
    let v1 = ok(&call(
        &data,
        "run_checkpoint",
        json!({"dataset": "transactions", "version": format!("sha256:{}", f.version),
               "suite": "transactions-basic", "suite_version": 1}),
    )
    .await);
    assert_eq!(v1["suite"]["version"], 1);
    assert_eq!(v1["success"], true);
    assert_eq!(v1["statistics"]["successful_expectations"], 6);

    // Results are recorded and read back, by another agent too.
    let validation = f.client_for("validation").await;
    let id = result["id"].as_str().unwrap();
    let read = ok(&call(&validation, "get_validation_result", json!({"id": id})).await);
    assert_eq!(read["results"], result["results"]);
    assert_eq!(read["statistics"], result["statistics"]);
    assert_eq!(read["created_at"], result["created_at"]);
    let stored: (String, i32, bool) = sqlx::query_as(
        "SELECT dataset_digest, suite_version, success FROM quality.validation_results WHERE id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&f.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, (format!("sha256:{}", f.version), 2, false));

    let suite = ok(&call(
        &validation,
        "get_suite",
        json!({"name": "transactions-basic", "version": 1}),
    )
    .await);
    assert_eq!(suite["expectations"], suite_v1());
    let listed = ok(&call(&validation, "list_suites", json!({})).await);
    assert_eq!(listed["suites"][0]["latest_version"], 2);
    assert_eq!(listed["suites"][0]["expectations"], 10);

    for (uri, version) in [
        ("expectations://transactions-basic", 2),
        ("expectations://transactions-basic/versions/1", 1),
    ] {
        let resource = validation
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap();
        let ResourceContents::TextResourceContents { text, .. } = &resource.contents[0] else {
            panic!("text resource")
        };
        let body: Value = serde_json::from_str(text).unwrap();
        assert_eq!(body["version"], version, "{uri}");
    }
    let missing = validation
        .read_resource(ReadResourceRequestParams::new(
            "expectations://no-such-suite",
        ))
        .await;
    assert!(missing.is_err());
}

#[tokio::test]
async fn bad_input_gets_a_clear_tool_error_and_changes_nothing() {
    let f = Fixture::start().await;
    let data = f.client_for("data").await;
    ok(&call(
        &data,
        "put_suite",
        json!({"name": "transactions-basic", "expectations": suite_v1()}),
    )
    .await);
    let unknown_version = "0".repeat(64);
    let cases = [
        // Malformed suites.
        (
            "put_suite",
            json!({"name": "transactions-basic", "expectations": [{"type": "values_between", "column": "amount", "min": 10, "max": 1}]}),
            "expectations[0] (values_between): min 10 is greater than max 1",
        ),
        (
            "put_suite",
            json!({"name": "transactions-basic", "expectations": [{"type": "column_exists", "column": "a"}, {"type": "values_near", "column": "a"}]}),
            "expectations[1] (values_near) is malformed: unknown variant `values_near`",
        ),
        (
            "put_suite",
            json!({"name": "transactions-basic", "expectations": [{"type": "values_unique", "column": "a", "strict": true}]}),
            "unknown field `strict`",
        ),
        (
            "put_suite",
            json!({"name": "transactions-basic", "expectations": [{"type": "not_null_fraction", "column": "a", "min": 95}]}),
            "min 95 must be a fraction between 0 and 1",
        ),
        (
            "put_suite",
            json!({"name": "transactions-basic", "expectations": [{"type": "values_in_set", "column": "a", "values": []}]}),
            "values must not be empty",
        ),
        (
            "put_suite",
            json!({"name": "transactions-basic", "expectations": [{"type": "column_exists", "column": "a", "data_type": "varchar"}]}),
            "data_type \"varchar\" is not a known type",
        ),
        (
            "put_suite",
            json!({"name": "transactions-basic", "expectations": []}),
            "1-200 expectations",
        ),
        (
            "put_suite",
            json!({"name": "Bad Suite", "expectations": suite_v1()}),
            "suite name",
        ),
        (
            "put_suite",
            json!({"name": "transactions-basic", "expectations": "all of them"}),
            "invalid arguments for put_suite",
        ),
        // Unknown or malformed references.
        (
            "run_checkpoint",
            json!({"dataset": "transactions", "version": unknown_version, "suite": "transactions-basic"}),
            "dataset \"transactions\" has no version",
        ),
        (
            "run_checkpoint",
            json!({"dataset": "no-such-dataset", "version": f.version, "suite": "transactions-basic"}),
            "dataset \"no-such-dataset\" has no version",
        ),
        (
            "run_checkpoint",
            json!({"dataset": "transactions", "version": "latest", "suite": "transactions-basic"}),
            "sha256 content hash",
        ),
        (
            "run_checkpoint",
            json!({"dataset": "transactions", "version": f.version, "suite": "no-such-suite"}),
            "no suite \"no-such-suite\"",
        ),
        (
            "run_checkpoint",
            json!({"dataset": "transactions", "version": f.version, "suite": "transactions-basic", "suite_version": 9}),
            "has no version 9; its latest is 1",
        ),
        (
            "get_validation_result",
            json!({"id": "not-a-uuid"}),
            "is not a UUID",
        ),
        (
            "get_validation_result",
            json!({"id": "0190b0d6-0000-7000-8000-000000000000"}),
            "no validation result",
        ),
        (
            "get_suite",
            json!({"name": "transactions-basic", "version": 0}),
            "positive integer",
        ),
    ];
    for (tool, args, expected) in cases {
        let message = error_message(&call(&data, tool, args.clone()).await);
        assert!(
            message.contains(expected),
            "{tool} {args}: {message:?} should mention {expected:?}"
        );
    }
    assert_eq!(
        f.count("quality.suites").await,
        1,
        "no suite version was added"
    );
    assert_eq!(
        f.count("quality.validation_results").await,
        0,
        "no result was recorded"
    );
    let suite = ok(&call(&data, "get_suite", json!({"name": "transactions-basic"})).await);
    assert_eq!(suite["version"], 1);
    assert_eq!(suite["expectations"], suite_v1());
}

#[tokio::test]
async fn the_access_matrix_is_enforced_and_refusals_are_audited() {
    let f = Fixture::start().await;
    let data = f.client_for("data").await;
    ok(&call(
        &data,
        "put_suite",
        json!({"name": "transactions-basic", "expectations": suite_v1()}),
    )
    .await);
    let args =
        json!({"dataset": "transactions", "version": f.version, "suite": "transactions-basic"});
    for agent in ["deployment", "training"] {
        let other = f.client_for(agent).await;
        let message = error_message(&call(&other, "run_checkpoint", args.clone()).await);
        assert!(message.contains("quality:run"), "{agent}: {message}");
    }
    let deployment = f.client_for("deployment").await;
    let refused = deployment
        .read_resource(ReadResourceRequestParams::new(
            "expectations://transactions-basic",
        ))
        .await;
    assert!(refused.is_err(), "reading suites needs quality:run too");

    let rows = f.audit_rows().await;
    for agent in ["deployment", "training"] {
        assert!(
            rows.contains(&(agent.into(), "run_checkpoint".into(), "refused".into())),
            "refusal of {agent} not audited: {rows:?}"
        );
    }
    assert!(rows.contains(&("data".into(), "put_suite".into(), "ok".into())));
    assert_eq!(f.count("quality.validation_results").await, 0);
}

#[tokio::test]
async fn the_official_python_mcp_client_runs_a_checkpoint() {
    let f = Fixture::start().await;
    let data = f.client_for("data").await;
    ok(&call(
        &data,
        "put_suite",
        json!({"name": "transactions-basic", "expectations": suite_v1()}),
    )
    .await);
    let stdout = python_client(
        &f.server.mcp_url(),
        &f.tokens.for_agent("validation"),
        "run_checkpoint",
        json!({"dataset": "transactions", "version": f.version, "suite": "transactions-basic"}),
        &TOOLS,
    )
    .await;
    assert!(stdout.contains("ok tools: 5"), "{stdout}");
    assert!(stdout.contains(r#""success": true"#), "{stdout}");
    let recorded: (String, bool) =
        sqlx::query_as("SELECT run_by, success FROM quality.validation_results")
            .fetch_one(&f.db.pool)
            .await
            .unwrap();
    assert_eq!(recorded, ("validation".to_owned(), true));
}
