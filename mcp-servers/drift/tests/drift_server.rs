//! The drift server over real HTTP with the rmcp client, on real Postgres
//! and a real storage directory.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use bytes::Bytes;
use mlops_mcp_drift::{DriftServer, SERVER};
use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok, python_client};
use mlops_mcp_kit::{McpHttpServer, RunningMcpServer};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use parquet::arrow::ArrowWriter;
use rmcp::RoleClient;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use rmcp::service::RunningService;
use serde_json::{Value, json};

const TOOLS: [&str; 6] = [
    "get_report",
    "list_reports",
    "prediction_distribution",
    "run_drift_report",
    "run_fairness_report",
    "run_model_performance_report",
];

struct Fixture {
    db: TestDatabase,
    _root: tempfile::TempDir,
    datasets: DatasetStore,
    tokens: TestTokens,
    server: RunningMcpServer,
}

impl Fixture {
    async fn start() -> Self {
        let db = fresh_database().await;
        let root = tempfile::tempdir().unwrap();
        let datasets = DatasetStore::local(root.path()).unwrap();
        let tokens = TestTokens::new(SERVER);
        let drift = DriftServer::new(datasets.clone(), db.pool.clone());
        let server = McpHttpServer::new(SERVER, tokens.verifier(), drift.kit().metrics())
            .readiness_database(db.pool.clone())
            .bind("127.0.0.1:0".parse().unwrap(), move || drift.clone())
            .await
            .unwrap();
        Fixture {
            db,
            _root: root,
            datasets,
            tokens,
            server,
        }
    }

    async fn client(&self, agent: &str) -> RunningService<RoleClient, ()> {
        client(&self.server.mcp_url(), &self.tokens.for_agent(agent)).await
    }

    /// Writes a dataset version and returns its version hash.
    async fn dataset(&self, name: &str, batch: &RecordBatch) -> String {
        self.datasets
            .write(name, batch, "test")
            .await
            .unwrap()
            .0
            .version
    }

    async fn audit_rows(&self) -> Vec<(String, String, String)> {
        sqlx::query_as("SELECT caller, tool, status FROM mcp.tool_calls ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }

    async fn stored_reports(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM drift.reports")
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }
}

/// A seeded stream of standard normals (LCG + Box–Muller).
struct Normals(u64);

impl Normals {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

/// Transactions: `shift` moves the amount and the country mix.
fn transactions(rows: usize, seed: u64, shift: f64) -> Vec<(&'static str, ArrayRef)> {
    let mut normals = Normals(seed);
    let countries = ["DE", "FR", "IT", "ES"];
    let amount: Vec<f64> = (0..rows)
        .map(|_| 50.0 + 10.0 * (normals.next() + shift))
        .collect();
    let country: Vec<&str> = (0..rows)
        .map(|i| {
            if shift > 0.0 && i % 3 == 0 {
                "ES"
            } else {
                countries[i % 4]
            }
        })
        .collect();
    let age: Vec<i64> = (0..rows).map(|i| 18 + (i as i64 * 5) % 63).collect();
    let is_new: Vec<bool> = (0..rows).map(|i| i % 5 == 0).collect();
    let channel: Vec<i64> = (0..rows).map(|i| (i % 3) as i64).collect();
    vec![
        ("amount", Arc::new(Float64Array::from(amount))),
        ("country", Arc::new(StringArray::from(country))),
        ("age", Arc::new(Int64Array::from(age))),
        ("is_new", Arc::new(BooleanArray::from(is_new))),
        ("channel", Arc::new(Int64Array::from(channel))),
    ]
}

fn parquet_bytes(batch: &RecordBatch) -> Bytes {
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    Bytes::from(buf)
}

/// A prediction-log segment as the traffic router writes it.
async fn write_segment(
    f: &Fixture,
    key: &str,
    start_ms: i64,
    step_ms: i64,
    rows: usize,
    seed: u64,
) {
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (
            "_ts_ms",
            Arc::new(Int64Array::from(
                (0..rows as i64)
                    .map(|i| start_ms + i * step_ms)
                    .collect::<Vec<_>>(),
            )),
        ),
        ("_version", Arc::new(StringArray::from(vec!["2"; rows]))),
        ("_output", Arc::new(Float64Array::from(vec![0.25; rows]))),
        ("_latency_ms", Arc::new(Float64Array::from(vec![3.5; rows]))),
    ];
    columns.extend(transactions(rows, seed, 1.0));
    let bytes = parquet_bytes(&batch(columns));
    f.datasets
        .write_object(&ObjectKey::parse(key).unwrap(), bytes)
        .await
        .unwrap();
}

fn column<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["result"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {report}"))
}

#[tokio::test]
async fn drift_reports_are_computed_persisted_and_read_back() {
    let f = Fixture::start().await;
    let reference = f
        .dataset("transactions", &batch(transactions(600, 1, 0.0)))
        .await;
    let current = f
        .dataset("transactions", &batch(transactions(500, 2, 1.0)))
        .await;
    let validation = f.client("validation").await;

    let tools = validation.list_all_tools().await.unwrap();
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, TOOLS);
    let run = tools.iter().find(|t| t.name == "run_drift_report").unwrap();
    let schema = serde_json::to_string(&run.input_schema).unwrap();
    assert!(
        schema.contains("per_column_stattest") && schema.contains("jensenshannon"),
        "{schema}"
    );

    let out = ok(&call(
        &validation,
        "run_drift_report",
        json!({
            "model": "fraud-detector",
            "reference": {"dataset": "transactions", "version": reference},
            "current": {"dataset": "transactions", "version": format!("sha256:{current}")},
        }),
    )
    .await);
    let report = &out["report"];
    assert_eq!(report["result"]["number_of_columns"], 5);
    // Evidently's choices for a 600-row reference.
    let amount = column(report, "amount");
    assert_eq!(amount["stattest"], "ks");
    assert_eq!(amount["column_type"], "numerical");
    assert_eq!(amount["drift_detected"], true);
    assert_eq!(amount["threshold"], 0.05);
    assert_eq!(amount["histogram"]["kind"], "bins");
    assert_eq!(amount["histogram"]["edges"].as_array().unwrap().len(), 11);
    assert_eq!(column(report, "age")["stattest"], "ks");
    assert_eq!(column(report, "age")["drift_detected"], false);
    assert_eq!(column(report, "country")["stattest"], "chisquare");
    assert_eq!(column(report, "country")["drift_detected"], true);
    assert_eq!(column(report, "is_new")["stattest"], "z");
    assert_eq!(column(report, "channel")["stattest"], "chisquare");
    assert_eq!(column(report, "channel")["column_type"], "categorical");
    assert_eq!(out["summary"]["number_of_drifted_columns"], 2);
    assert_eq!(out["summary"]["dataset_drift"], false);
    assert_eq!(
        out["summary"]["drifted_columns"],
        json!(["amount", "country"])
    );

    // One explicit test and a lower drift share flip the verdict.
    let explicit = ok(&call(
        &validation,
        "run_drift_report",
        json!({
            "model": "fraud-detector",
            "reference": {"dataset": "transactions", "version": reference},
            "current": {"dataset": "transactions", "version": current},
            "columns": ["amount", "country"],
            "per_column_stattest": {"amount": "wasserstein", "country": "psi"},
            "per_column_stattest_threshold": {"country": 0.5},
            "drift_share": 0.4,
        }),
    )
    .await);
    let amount = column(&explicit["report"], "amount");
    assert_eq!(amount["stattest"], "wasserstein");
    assert_eq!(amount["selected_by"], "per_column");
    assert_eq!(column(&explicit["report"], "country")["threshold"], 0.5);
    assert_eq!(explicit["summary"]["dataset_drift"], true);

    // Persisted: listed, readable by tool and as a resource, in the table.
    let id = out["id"].as_str().unwrap();
    let listed = ok(&call(
        &validation,
        "list_reports",
        json!({"model": "fraud-detector"}),
    )
    .await);
    let ids: Vec<&str> = listed["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [explicit["id"].as_str().unwrap(), id], "newest first");
    let none = ok(&call(&validation, "list_reports", json!({"kind": "fairness"})).await);
    assert_eq!(none["reports"], json!([]));
    let got = ok(&call(&validation, "get_report", json!({"id": id})).await);
    assert_eq!(got["report"], out["report"]);
    assert_eq!(got["created_by"], "validation");

    let resource = validation
        .read_resource(ReadResourceRequestParams::new(format!("reports://{id}")))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &resource.contents[0] else {
        panic!("a text resource")
    };
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["report"]["result"]["number_of_drifted_columns"], 2);
    let resources = validation.list_all_resources().await.unwrap();
    assert_eq!(resources.len(), 2);

    let (kind, model, rows): (String, Option<String>, i64) = sqlx::query_as(
        "SELECT kind, model, jsonb_array_length(report->'result'->'columns')::bigint
         FROM drift.reports WHERE id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&f.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), model.as_deref(), rows),
        ("drift", Some("fraud-detector"), 5)
    );
    assert!(f.audit_rows().await.contains(&(
        "validation".into(),
        "run_drift_report".into(),
        "ok".into()
    )));
}

#[tokio::test]
async fn a_prediction_log_window_is_compared_with_the_reference() {
    let f = Fixture::start().await;
    let reference = f
        .dataset("transactions", &batch(transactions(2000, 3, 0.0)))
        .await;
    // 2026-11-20T00:00:00Z = 1795132800000 ms.
    let day = 86_400_000i64;
    let start = 1_795_132_800_000i64;
    // Outside the window: the day before.
    write_segment(
        &f,
        "prediction-logs/fraud-detector/2026-11-19/1795046400000-r0.parquet",
        start - day,
        1000,
        100,
        4,
    )
    .await;
    write_segment(
        &f,
        "prediction-logs/fraud-detector/2026-11-20/1795132800000-r0.parquet",
        start,
        1000,
        300,
        5,
    )
    .await;
    // Half of this one is after `until` (12:00 on the 21st).
    write_segment(
        &f,
        "prediction-logs/fraud-detector/2026-11-21/1795219200000-r0.parquet",
        start + day,
        day / 300,
        300,
        6,
    )
    .await;
    f.datasets
        .write_object(
            &ObjectKey::parse("prediction-logs/fraud-detector/2026-11-21/README.txt").unwrap(),
            Bytes::from_static(b"not a segment"),
        )
        .await
        .unwrap();

    let monitoring = f.client("monitoring").await;
    let out = ok(&call(
        &monitoring,
        "run_drift_report",
        json!({
            "reference": {"dataset": "transactions", "version": reference},
            "current": {"prediction_log": {
                "model": "fraud-detector",
                "since": "2026-11-20T00:00:00Z",
                "until": "2026-11-21T12:00:00Z",
            }},
        }),
    )
    .await);
    let report = &out["report"];
    assert_eq!(out["model"], "fraud-detector", "the log's model by default");
    assert_eq!(report["current"]["prediction_log"]["rows"], 450);
    assert_eq!(report["current"]["prediction_log"]["segments"], 2);
    assert_eq!(report["result"]["current_rows"], 450);
    let compared: Vec<&str> = report["result"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert_eq!(compared, ["amount", "country", "age", "is_new", "channel"]);
    assert_eq!(report["result"]["skipped_columns"], json!([]));
    // A 2000-row reference: Wasserstein and Jensen–Shannon by default.
    assert_eq!(column(report, "amount")["stattest"], "wasserstein");
    assert_eq!(column(report, "amount")["drift_detected"], true);
    assert_eq!(column(report, "country")["stattest"], "jensenshannon");

    // The scores served in the same window, binned per version.
    let viewer = f.client("control-plane").await;
    let out = ok(&call(
        &viewer,
        "prediction_distribution",
        json!({"model": "fraud-detector", "since": "2026-11-20T00:00:00Z", "until": "2026-11-21T12:00:00Z", "bins": 4}),
    )
    .await);
    let d = &out["distribution"];
    assert_eq!(d["rows"], 450);
    assert_eq!(d["edges"], json!([0.0, 0.25, 0.5, 0.75, 1.0]));
    assert_eq!(d["versions"][0]["version"], "2");
    assert_eq!(
        d["versions"][0]["counts"],
        json!([0, 450, 0, 0]),
        "0.25 opens the second bin"
    );
    assert_eq!(d["versions"][0]["mean"], 0.25);

    // An empty window is a not-found, not an empty report.
    let err = error_message(
        &call(
            &monitoring,
            "run_drift_report",
            json!({
                "reference": {"dataset": "transactions", "version": reference},
                "current": {"prediction_log": {"model": "fraud-detector", "since": "2026-10-01T00:00:00Z", "until": "2026-10-02T00:00:00Z"}},
            }),
        )
        .await,
    );
    assert!(err.contains("no rows"), "{err}");
}

#[tokio::test]
async fn performance_and_fairness_reports_are_computed_and_stored() {
    let f = Fixture::start().await;
    let scored = batch(vec![
        (
            "label",
            Arc::new(Int64Array::from(vec![1, 1, 0, 0, 1, 0, 1, 0])),
        ),
        (
            "pred",
            Arc::new(Int64Array::from(vec![1, 0, 0, 1, 1, 0, 1, 0])),
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![
                0.9, 0.4, 0.2, 0.6, 0.8, 0.1, 0.7, 0.3,
            ])),
        ),
        (
            "group",
            Arc::new(StringArray::from(vec![
                "a", "a", "a", "a", "b", "b", "b", "b",
            ])),
        ),
        (
            "y",
            Arc::new(Float64Array::from(vec![
                1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0,
            ])),
        ),
        (
            "y_hat",
            Arc::new(Float64Array::from(vec![
                1.0, 2.0, 3.0, 5.0, 5.0, 6.0, 7.0, 7.0,
            ])),
        ),
    ]);
    let version = f.dataset("scored", &scored).await;
    let validation = f.client("validation").await;

    let out = ok(&call(
        &validation,
        "run_model_performance_report",
        json!({"model": "fraud-detector", "dataset": "scored", "version": version, "task": "classification",
               "target_column": "label", "prediction_column": "pred", "score_column": "score"}),
    )
    .await);
    let metrics = &out["report"]["metrics"];
    assert_eq!(metrics["accuracy"], 0.75);
    assert_eq!(metrics["precision"], 0.75);
    assert_eq!(metrics["recall"], 0.75);
    assert_eq!(metrics["roc_auc"], 0.9375);
    assert_eq!(out["summary"]["samples"], 8);

    let out = ok(&call(
        &validation,
        "run_model_performance_report",
        json!({"dataset": "scored", "version": version, "task": "regression",
               "target_column": "y", "prediction_column": "y_hat"}),
    )
    .await);
    let metrics = &out["report"]["metrics"];
    assert_eq!(metrics["mean_absolute_error"], 0.25);
    assert_eq!(metrics["root_mean_squared_error"], 0.5);
    assert!((metrics["r2"].as_f64().unwrap() - (1.0 - 2.0 / 42.0)).abs() < 1e-12);

    let out = ok(&call(
        &validation,
        "run_fairness_report",
        json!({"model": "fraud-detector", "dataset": "scored", "version": version,
               "target_column": "label", "prediction_column": "pred", "sensitive_column": "group"}),
    )
    .await);
    assert_eq!(out["summary"]["demographic_parity_difference"], 0.0);
    assert_eq!(out["summary"]["equalized_odds_difference"], 0.5);
    assert_eq!(out["summary"]["groups"], 2);

    let listed = ok(&call(
        &validation,
        "list_reports",
        json!({"model": "fraud-detector"}),
    )
    .await);
    let kinds: Vec<&str> = listed["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["fairness", "performance"]);
    assert_eq!(f.stored_reports().await, 3);
}

#[tokio::test]
async fn the_access_matrix_is_enforced_and_refusals_are_audited() {
    let f = Fixture::start().await;
    let version = f
        .dataset("transactions", &batch(transactions(100, 1, 0.0)))
        .await;
    let args = json!({
        "reference": {"dataset": "transactions", "version": version},
        "current": {"dataset": "transactions", "version": version},
    });

    let training = f.client("training").await;
    let err = error_message(&call(&training, "run_drift_report", args.clone()).await);
    assert!(err.contains("drift:run"), "{err}");
    let err = error_message(&call(&training, "list_reports", json!({})).await);
    assert!(err.contains("drift:read"), "{err}");

    // The control plane reads reports but does not run them.
    let control = f.client("control-plane").await;
    ok(&call(&control, "list_reports", json!({})).await);
    let err = error_message(&call(&control, "run_fairness_report", json!({})).await);
    assert!(err.contains("drift:run"), "{err}");

    let orchestrator = f.client("orchestrator").await;
    let err = error_message(&call(&orchestrator, "get_report", json!({"id": "x"})).await);
    assert!(err.contains("drift:read"), "{err}");
    assert!(
        orchestrator
            .read_resource(ReadResourceRequestParams::new(
                "reports://0190b5c8-0000-7000-8000-000000000000"
            ))
            .await
            .is_err(),
        "resources need drift:read too"
    );

    let rows = f.audit_rows().await;
    for (caller, tool) in [
        ("training", "run_drift_report"),
        ("training", "list_reports"),
        ("control-plane", "run_fairness_report"),
        ("orchestrator", "get_report"),
    ] {
        assert!(
            rows.contains(&(caller.into(), tool.into(), "refused".into())),
            "refusal of {tool} for {caller} not audited: {rows:?}"
        );
    }
    assert_eq!(f.stored_reports().await, 0);

    let monitoring = f.client("monitoring").await;
    ok(&call(&monitoring, "run_drift_report", args).await);
    assert_eq!(f.stored_reports().await, 1);
}

#[tokio::test]
async fn bad_input_gets_a_clear_tool_error_and_changes_nothing() {
    let f = Fixture::start().await;
    let version = f
        .dataset("transactions", &batch(transactions(200, 1, 0.0)))
        .await;
    let scored = f
        .dataset(
            "scored",
            &batch(vec![
                ("label", Arc::new(Int64Array::from(vec![1, 0]))),
                ("pred", Arc::new(Int64Array::from(vec![1, 1]))),
                ("name", Arc::new(StringArray::from(vec!["x", "y"]))),
            ]),
        )
        .await;
    let validation = f.client("validation").await;
    let drift = |extra: Value| {
        let mut args = json!({
            "reference": {"dataset": "transactions", "version": version},
            "current": {"dataset": "transactions", "version": version},
        });
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };
    let missing = "0".repeat(64);
    let cases = [
        (
            "run_drift_report",
            drift(json!({"reference": {"dataset": "no-such-data", "version": missing}})),
            "has no version",
        ),
        (
            "run_drift_report",
            drift(json!({"reference": {"dataset": "transactions", "version": "v1"}})),
            "sha256",
        ),
        (
            "run_drift_report",
            drift(json!({"columns": ["amount", "nope"]})),
            "unknown column \"nope\"",
        ),
        (
            "run_drift_report",
            drift(json!({"stattest": "anderson"})),
            "anderson",
        ),
        (
            "run_drift_report",
            drift(json!({"stattest_threshold": -0.5})),
            "positive",
        ),
        (
            "run_drift_report",
            drift(json!({"stattest_threshold": 3.0})),
            "below 1",
        ),
        (
            "run_drift_report",
            drift(json!({"drift_share": 1.5})),
            "drift_share",
        ),
        (
            "run_drift_report",
            drift(json!({"stattest": "ks"})),
            "does not apply to categorical",
        ),
        (
            "run_drift_report",
            drift(json!({"per_column_stattest": {"ghost": "psi"}})),
            "\"ghost\"",
        ),
        (
            "run_drift_report",
            drift(
                json!({"current": {"dataset": "transactions", "version": version, "prediction_log": {"model": "m", "since": "2026-11-20T00:00:00Z"}}}),
            ),
            "either",
        ),
        (
            "run_drift_report",
            drift(
                json!({"current": {"prediction_log": {"model": "m", "since": "2026-11-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"}}}),
            ),
            "empty",
        ),
        (
            "run_drift_report",
            drift(json!({"model": "Not A Model"})),
            "model",
        ),
        (
            "run_drift_report",
            drift(json!({"colour": "red"})),
            "unknown field",
        ),
        ("get_report", json!({"id": "not-a-uuid"}), "not a UUID"),
        (
            "get_report",
            json!({"id": "0190b5c8-0000-7000-8000-000000000000"}),
            "no report",
        ),
        ("list_reports", json!({"limit": 0}), "between 1 and 200"),
        ("list_reports", json!({"kind": "weekly"}), "weekly"),
        ("list_reports", json!({"since": "last week"}), "RFC 3339"),
        (
            "prediction_distribution",
            json!({"model": "m", "since": "yesterday"}),
            "RFC 3339",
        ),
        (
            "prediction_distribution",
            json!({"model": "m", "since": "2026-11-20T00:00:00Z", "bins": 0}),
            "between 1 and 50",
        ),
        (
            "run_model_performance_report",
            json!({"dataset": "scored", "version": scored, "task": "classification", "target_column": "truth", "prediction_column": "pred"}),
            "unknown target_column \"truth\"",
        ),
        (
            "run_model_performance_report",
            json!({"dataset": "scored", "version": scored, "task": "classification", "target_column": "name", "prediction_column": "pred"}),
            "integers or booleans",
        ),
        (
            "run_model_performance_report",
            json!({"dataset": "scored", "version": scored, "task": "regression", "target_column": "label", "prediction_column": "pred", "positive_label": 1}),
            "classification only",
        ),
        (
            "run_model_performance_report",
            json!({"dataset": "scored", "version": scored, "task": "ranking", "target_column": "label", "prediction_column": "pred"}),
            "ranking",
        ),
        (
            "run_fairness_report",
            json!({"dataset": "scored", "version": scored, "target_column": "label", "prediction_column": "pred", "sensitive_column": "missing"}),
            "unknown sensitive_column",
        ),
    ];
    for (tool, args, expected) in cases {
        let message = error_message(&call(&validation, tool, args.clone()).await);
        assert!(
            message.contains(expected),
            "{tool} {args}: {message:?} should mention {expected:?}"
        );
    }
    assert_eq!(f.stored_reports().await, 0, "no bad call stored a report");
}

#[tokio::test]
async fn the_official_python_sdk_runs_a_drift_report() {
    let f = Fixture::start().await;
    let reference = f
        .dataset("transactions", &batch(transactions(300, 1, 0.0)))
        .await;
    let current = f
        .dataset("transactions", &batch(transactions(300, 2, 1.0)))
        .await;
    let stdout = python_client(
        &f.server.mcp_url(),
        &f.tokens.for_agent("validation"),
        "run_drift_report",
        json!({
            "reference": {"dataset": "transactions", "version": reference},
            "current": {"dataset": "transactions", "version": current},
        }),
        &TOOLS,
    )
    .await;
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ok call: "))
        .unwrap_or_else(|| panic!("no result line in {stdout}"));
    let result: Value = serde_json::from_str(line).unwrap();
    assert_eq!(result["report"]["result"]["number_of_columns"], 5);
    assert!(result["uri"].as_str().unwrap().starts_with("reports://"));
    assert_eq!(f.stored_reports().await, 1);
}

#[tokio::test]
async fn http_requests_without_a_valid_drift_token_get_401() {
    let f = Fixture::start().await;
    let http = reqwest::Client::new();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
    for token in [
        None,
        Some("garbage".to_owned()),
        // A valid token for another server.
        Some(f.tokens.token("monitoring", "registry", vec![])),
    ] {
        let mut request = http
            .post(f.server.mcp_url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(t) = &token {
            request = request.bearer_auth(t);
        }
        assert_eq!(
            request.send().await.unwrap().status().as_u16(),
            401,
            "token {token:?}"
        );
    }
    let ready = http
        .get(format!("{}/readyz", f.server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}
