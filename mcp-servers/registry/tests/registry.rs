//! The registry server over real HTTP with the rmcp client, on real Postgres.

use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok, python_client};
use mlops_mcp_kit::{McpHttpServer, RunningMcpServer};
use mlops_mcp_registry::{RegistryServer, SERVER};
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use rmcp::RoleClient;
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams, ResourceContents};
use rmcp::service::RunningService;
use serde_json::{Value, json};

struct Fixture {
    db: TestDatabase,
    tokens: TestTokens,
    server: RunningMcpServer,
}

impl Fixture {
    async fn start() -> Self {
        let db = fresh_database().await;
        let tokens = TestTokens::new(SERVER);
        let registry = RegistryServer::new(db.pool.clone());
        let server = McpHttpServer::new(SERVER, tokens.verifier(), registry.kit().metrics())
            .readiness_database(db.pool.clone())
            .bind("127.0.0.1:0".parse().unwrap(), move || registry.clone())
            .await
            .unwrap();
        Fixture { db, tokens, server }
    }

    fn token_for(&self, agent: &str) -> String {
        self.tokens.for_agent(agent)
    }

    async fn client(&self, token: &str) -> RunningService<RoleClient, ()> {
        client(&self.server.mcp_url(), token).await
    }

    async fn audit_rows(&self) -> Vec<(String, String, String)> {
        sqlx::query_as("SELECT caller, tool, status FROM mcp.tool_calls ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn version_args(auc: f64, run: &str) -> Value {
    json!({
        "model": "fraud-detector",
        "params": {"algorithm": "logistic-regression", "c": 1.0},
        "metrics": {"auc": auc, "f1": auc - 0.1},
        "dataset_version_digest": digest('a'),
        "training_run_id": run,
        "artifact_uri": format!("storage://models/fraud-detector/{run}/model.json"),
        "code_digest": digest('c'),
        "protected_attribute": "customer_age_band",
    })
}

#[tokio::test]
async fn versions_aliases_and_lineage_round_trip() {
    let f = Fixture::start().await;
    let training = f.client(&f.token_for("training")).await;
    let deployment = f.client(&f.token_for("deployment")).await;

    let tools = training.list_all_tools().await.unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "archive_version",
            "create_model_version",
            "delete_alias",
            "get_lineage",
            "get_model_version",
            "list_models",
            "register_model",
            "search_versions",
            "set_alias"
        ]
    );
    let create = tools
        .iter()
        .find(|t| t.name == "create_model_version")
        .unwrap();
    let props = create.input_schema.get("properties").unwrap();
    assert!(
        props.get("dataset_version_digest").is_some(),
        "schema from the Rust type: {props}"
    );

    let registered = ok(&call(
        &training,
        "register_model",
        json!({"name": "fraud-detector", "description": "card fraud"}),
    )
    .await)
    .clone();
    assert_eq!(registered["created"], true);
    // Idempotent: a retried registration returns the model, unchanged.
    let again = ok(&call(
        &training,
        "register_model",
        json!({"name": "fraud-detector"}),
    )
    .await)
    .clone();
    assert_eq!(again["created"], false);
    assert_eq!(again["model"]["description"], "card fraud");

    let v1 = ok(&call(
        &training,
        "create_model_version",
        version_args(0.91, "run-1"),
    )
    .await)
    .clone();
    let v2 = ok(&call(
        &training,
        "create_model_version",
        version_args(0.94, "run-2"),
    )
    .await)
    .clone();
    assert_eq!(
        (v1["version"].as_i64(), v2["version"].as_i64()),
        (Some(1), Some(2))
    );

    let set = ok(&call(
        &deployment,
        "set_alias",
        json!({"model": "fraud-detector", "alias": "champion", "version": 1}),
    )
    .await)
    .clone();
    assert_eq!(set["previous_version"], Value::Null);
    let champion = ok(&call(
        &deployment,
        "get_model_version",
        json!({"model": "fraud-detector", "alias": "champion"}),
    )
    .await)
    .clone();
    assert_eq!(champion["version"], 1);
    assert_eq!(champion["aliases"], json!(["champion"]));
    let moved = ok(&call(
        &deployment,
        "set_alias",
        json!({"model": "fraud-detector", "alias": "champion", "version": 2}),
    )
    .await)
    .clone();
    assert_eq!(moved["previous_version"], 1);

    let lineage = ok(&call(
        &training,
        "get_lineage",
        json!({"model": "fraud-detector", "version": 2}),
    )
    .await)
    .clone();
    assert_eq!(lineage["dataset_version_digest"], digest('a'));
    assert_eq!(lineage["training_run_id"], "run-2");
    assert_eq!(lineage["code_digest"], digest('c'));

    let best = ok(&call(
        &training,
        "search_versions",
        json!({"model": "fraud-detector", "metric": "auc", "min_value": 0.92}),
    )
    .await)
    .clone();
    let found: Vec<i64> = best["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(found, [2]);

    // v2 serves, so it cannot be archived; v1 can.
    let refused = error_message(
        &call(
            &training,
            "archive_version",
            json!({"model": "fraud-detector", "version": 2}),
        )
        .await,
    );
    assert!(refused.contains("champion"), "{refused}");
    let archived = ok(&call(
        &training,
        "archive_version",
        json!({"model": "fraud-detector", "version": 1}),
    )
    .await)
    .clone();
    assert_eq!(archived["status"], "archived");
    let err = error_message(
        &call(
            &deployment,
            "set_alias",
            json!({"model": "fraud-detector", "alias": "challenger", "version": 1}),
        )
        .await,
    );
    assert!(err.contains("archived"), "{err}");

    let listed = ok(&call(&deployment, "list_models", json!({})).await);
    assert_eq!(listed["models"][0]["aliases"], json!({"champion": 2}));
    assert_eq!(listed["models"][0]["latest_version"], 2);

    let resource = deployment
        .read_resource(ReadResourceRequestParams::new(
            "model://registry/fraud-detector/versions/2",
        ))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &resource.contents[0] else {
        panic!("text resource")
    };
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["training_run_id"],
        "run-2"
    );

    let prompt = deployment
        .get_prompt(
            GetPromptRequestParams::new("deployment-checklist").with_arguments(
                serde_json::from_value(json!({"model": "fraud-detector", "version": "2"})).unwrap(),
            ),
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&prompt.messages).unwrap();
    assert!(
        text.contains("run-2") && text.contains("customer_age_band"),
        "{text}"
    );

    // Every call is in the audit trail with its caller.
    let rows = f.audit_rows().await;
    assert!(rows.contains(&("deployment".into(), "set_alias".into(), "ok".into())));
    assert!(rows.contains(&("training".into(), "archive_version".into(), "error".into())));
}

#[tokio::test]
async fn the_access_matrix_is_enforced_and_refusals_are_audited() {
    let f = Fixture::start().await;
    let training = f.client(&f.token_for("training")).await;
    let deployment = f.client(&f.token_for("deployment")).await;
    let validation = f.client(&f.token_for("validation")).await;
    ok(&call(
        &training,
        "register_model",
        json!({"name": "fraud-detector"}),
    )
    .await);
    ok(&call(
        &training,
        "create_model_version",
        version_args(0.9, "run-1"),
    )
    .await);

    // training: writes versions, may not move aliases.
    let err = error_message(
        &call(
            &training,
            "set_alias",
            json!({"model": "fraud-detector", "alias": "champion", "version": 1}),
        )
        .await,
    );
    assert!(err.contains("registry:alias"), "{err}");
    // deployment: moves aliases, may not create versions.
    let err = error_message(
        &call(
            &deployment,
            "create_model_version",
            version_args(0.9, "run-2"),
        )
        .await,
    );
    assert!(err.contains("registry:write"), "{err}");
    // validation: reads only.
    ok(&call(
        &validation,
        "get_model_version",
        json!({"model": "fraud-detector", "version": 1}),
    )
    .await);
    let err = error_message(&call(&validation, "register_model", json!({"name": "other"})).await);
    assert!(err.contains("registry:write"), "{err}");

    let rows = f.audit_rows().await;
    for expected in [
        ("training", "set_alias"),
        ("deployment", "create_model_version"),
        ("validation", "register_model"),
    ] {
        assert!(
            rows.contains(&(expected.0.into(), expected.1.into(), "refused".into())),
            "refusal {expected:?} not audited: {rows:?}"
        );
    }
    // Nothing changed by the refused calls.
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM registry.versions")
        .fetch_one(&f.db.pool)
        .await
        .unwrap();
    let aliases: i64 = sqlx::query_scalar("SELECT count(*) FROM registry.aliases")
        .fetch_one(&f.db.pool)
        .await
        .unwrap();
    assert_eq!((versions, aliases), (1, 0));

    // An orchestrator token has no registry scopes at all.
    let orchestrator = f.client(&f.token_for("orchestrator")).await;
    let err = error_message(&call(&orchestrator, "list_models", json!({})).await);
    assert!(err.contains("registry:read"), "{err}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_tool_error_and_changes_nothing() {
    let f = Fixture::start().await;
    let training = f.client(&f.token_for("training")).await;
    ok(&call(
        &training,
        "register_model",
        json!({"name": "fraud-detector"}),
    )
    .await);

    let cases = [
        (
            "create_model_version",
            json!({"model": "no-such-model", "dataset_version_digest": digest('a'), "training_run_id": "r", "artifact_uri": "storage://m"}),
            "not registered",
        ),
        (
            "get_model_version",
            json!({"model": "fraud-detector", "version": 7}),
            "no version 7",
        ),
        (
            "register_model",
            json!({"name": "Bad Name"}),
            "must be 1-63 characters",
        ),
        (
            "create_model_version",
            json!({"model": "fraud-detector", "dataset_version_digest": "md5:x", "training_run_id": "r", "artifact_uri": "storage://m"}),
            "sha256",
        ),
        (
            "create_model_version",
            json!({"model": "fraud-detector", "dataset_version_digest": digest('a'), "training_run_id": "r", "artifact_uri": "http://evil"}),
            "artifact_uri",
        ),
        (
            "create_model_version",
            json!({"model": "fraud-detector", "dataset_version_digest": digest('a'), "training_run_id": "r", "artifact_uri": "storage://m", "colour": "red"}),
            "unknown field",
        ),
        (
            "get_model_version",
            json!({"model": "fraud-detector", "version": 1, "alias": "champion"}),
            "exactly one",
        ),
        (
            "search_versions",
            json!({"limit": 1000}),
            "between 1 and 100",
        ),
    ];
    for (tool, args, expected) in cases {
        let message = error_message(&call(&training, tool, args.clone()).await);
        assert!(
            message.contains(expected),
            "{tool} {args}: {message:?} should mention {expected:?}"
        );
    }
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM registry.versions")
        .fetch_one(&f.db.pool)
        .await
        .unwrap();
    assert_eq!(versions, 0);
}

#[tokio::test]
async fn http_requests_without_a_valid_token_get_401() {
    let f = Fixture::start().await;
    let http = reqwest_client();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
    for token in [
        None,
        Some("garbage".to_owned()),
        Some(f.tokens.token("training", "storage", vec![])),
    ] {
        let mut req = http
            .post(f.server.mcp_url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        assert_eq!(
            req.send().await.unwrap().status().as_u16(),
            401,
            "token {token:?}"
        );
    }
    let health = http
        .get(format!("{}/healthz", f.server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = http
        .get(format!("{}/readyz", f.server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[tokio::test]
async fn metrics_count_calls_by_tool_and_outcome() {
    let f = Fixture::start().await;
    let training = f.client(&f.token_for("training")).await;
    ok(&call(&training, "register_model", json!({"name": "m"})).await);
    error_message(
        &call(
            &training,
            "set_alias",
            json!({"model": "m", "alias": "champion", "version": 1}),
        )
        .await,
    );
    let text = reqwest_client()
        .get(format!("{}/metrics", f.server.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"mcp_tool_calls_total{server="registry",tool="register_model",status="ok"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"mcp_tool_calls_total{server="registry",tool="set_alias",status="refused"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_official_python_mcp_client_lists_tools_and_calls_one() {
    let f = Fixture::start().await;
    let stdout = python_client(
        &f.server.mcp_url(),
        &f.token_for("training"),
        "register_model",
        json!({"name": "from-python"}),
        &[
            "register_model",
            "create_model_version",
            "set_alias",
            "list_models",
            "get_lineage",
        ],
    )
    .await;
    assert!(stdout.contains("ok tools: 9"), "{stdout}");
    assert!(stdout.contains(r#""created": true"#), "{stdout}");
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM registry.models WHERE name = 'from-python')",
    )
    .fetch_one(&f.db.pool)
    .await
    .unwrap();
    assert!(
        exists,
        "the Python client's call really registered the model"
    );
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::new()
}
