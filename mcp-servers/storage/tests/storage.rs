//! The storage server over real HTTP with the rmcp client: a real directory,
//! real Parquet, real Postgres for the audit trail.

use base64::Engine;
use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok, python_client};
use mlops_mcp_kit::{McpHttpServer, RunningMcpServer};
use mlops_mcp_storage::{SERVER, StorageServer};
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};

struct Fixture {
    db: TestDatabase,
    root: tempfile::TempDir,
    tokens: TestTokens,
    server: RunningMcpServer,
}

impl Fixture {
    async fn start() -> Self {
        let db = fresh_database().await;
        let root = tempfile::tempdir().unwrap();
        let tokens = TestTokens::new(SERVER);
        let storage = StorageServer::local(root.path(), db.pool.clone()).unwrap();
        let server = McpHttpServer::new(SERVER, tokens.verifier(), storage.kit().metrics())
            .readiness_database(db.pool.clone())
            .bind("127.0.0.1:0".parse().unwrap(), move || storage.clone())
            .await
            .unwrap();
        Fixture {
            db,
            root,
            tokens,
            server,
        }
    }

    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.path().to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(
                        path.strip_prefix(self.root.path())
                            .unwrap()
                            .display()
                            .to_string(),
                    );
                }
            }
        }
        out.sort();
        out
    }
}

fn rows() -> Value {
    json!([
        {"tx_id": 1, "amount": 12.5, "country": "DE", "is_fraud": false},
        {"tx_id": 2, "amount": 830.0, "country": "FR", "is_fraud": true},
        {"tx_id": 3, "amount": 7.25, "country": "DE", "is_fraud": false}
    ])
}

#[tokio::test]
async fn datasets_are_parquet_with_a_manifest_and_a_content_hash_version() {
    let f = Fixture::start().await;
    let data = client(&f.server.mcp_url(), &f.tokens.for_agent("data")).await;

    let first = ok(&call(
        &data,
        "put_dataset",
        json!({"name": "transactions", "rows": rows()}),
    )
    .await);
    assert_eq!(first["created"], true);
    let manifest = &first["manifest"];
    let version = manifest["version"].as_str().unwrap().to_owned();
    assert_eq!(version.len(), 64);
    assert_eq!(manifest["digest"], format!("sha256:{version}"));
    assert_eq!(manifest["rows"], 3);
    let columns: Vec<(String, String)> = manifest["columns"]
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
    assert!(
        columns.contains(&("amount".into(), "Float64".into())),
        "{columns:?}"
    );
    assert!(
        columns.contains(&("is_fraud".into(), "Boolean".into())),
        "{columns:?}"
    );

    // The file on disk is real Parquet, and its sha256 is the manifest's.
    let file = &manifest["files"][0];
    let bytes = std::fs::read(f.root.path().join(file["path"].as_str().unwrap())).unwrap();
    let digest = aws_lc_rs_hex(&bytes);
    assert_eq!(file["sha256"], digest);
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches[0].num_rows(), 3);

    // Same content, same version, nothing rewritten.
    let again = ok(&call(
        &data,
        "put_dataset",
        json!({"name": "transactions", "rows": rows()}),
    )
    .await);
    assert_eq!(again["created"], false);
    assert_eq!(again["manifest"]["version"], version.as_str());
    // Different content, different version.
    let mut changed = rows();
    changed[0]["amount"] = json!(13.0);
    let other = ok(&call(
        &data,
        "put_dataset",
        json!({"name": "transactions", "rows": changed}),
    )
    .await);
    assert_ne!(other["manifest"]["version"], version.as_str());

    // Read back as a tool and as a resource.
    let validation = client(&f.server.mcp_url(), &f.tokens.for_agent("validation")).await;
    let got = ok(&call(
        &validation,
        "get_dataset_manifest",
        json!({"name": "transactions", "version": format!("sha256:{version}")}),
    )
    .await);
    assert_eq!(got["rows"], 3);
    let resource = validation
        .read_resource(ReadResourceRequestParams::new(format!(
            "dataset://transactions/{version}"
        )))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &resource.contents[0] else {
        panic!("text")
    };
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["version"],
        version.as_str()
    );
}

#[tokio::test]
async fn a_csv_object_becomes_a_dataset() {
    let f = Fixture::start().await;
    let data = client(&f.server.mcp_url(), &f.tokens.for_agent("data")).await;
    let csv = "tx_id,amount,country\n1,12.5,DE\n2,830.0,FR\n";
    let uploaded = ok(&call(
        &data,
        "upload_object",
        json!({"key": "uploads/tx.csv", "text": csv}),
    )
    .await);
    assert_eq!(uploaded["bytes"], csv.len());
    let put = ok(&call(
        &data,
        "put_dataset",
        json!({"name": "uploaded", "source_key": "uploads/tx.csv"}),
    )
    .await);
    assert_eq!(put["manifest"]["rows"], 2);

    let listed = ok(&call(
        &data,
        "list_objects",
        json!({"prefix": "datasets/uploaded"}),
    )
    .await);
    let keys: Vec<&str> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().any(|k| k.ends_with("manifest.json"))
            && keys.iter().any(|k| k.ends_with(".parquet"))
    );

    let down = ok(&call(&data, "download_object", json!({"key": "uploads/tx.csv"})).await);
    assert_eq!(down["text"], csv);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(down["content_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, csv.as_bytes());
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let f = Fixture::start().await;
    let data = client(&f.server.mcp_url(), &f.tokens.for_agent("data")).await;
    ok(&call(&data, "upload_object", json!({"key": "big.bin", "content_base64": base64::engine::general_purpose::STANDARD.encode(vec![7u8; 2 * 1024 * 1024])})).await);
    let before = f.files();

    let cases = [
        (
            "upload_object",
            json!({"key": "../escape.txt", "text": "x"}),
            "'..'",
        ),
        (
            "upload_object",
            json!({"key": "a/../../etc/passwd", "text": "x"}),
            "'..'",
        ),
        (
            "upload_object",
            json!({"key": "/etc/passwd", "text": "x"}),
            "relative",
        ),
        (
            "download_object",
            json!({"key": "big.bin"}),
            "more than max_bytes",
        ),
        (
            "download_object",
            json!({"key": "big.bin", "max_bytes": 100000000}),
            "between 1 and",
        ),
        ("download_object", json!({"key": "nope.txt"}), "no object"),
        (
            "get_dataset_manifest",
            json!({"name": "transactions", "version": "v1"}),
            "sha256",
        ),
        (
            "get_dataset_manifest",
            json!({"name": "unknown", "version": "a".repeat(64)}),
            "has no version",
        ),
        (
            "put_dataset",
            json!({"name": "Bad Name", "rows": rows()}),
            "dataset name",
        ),
        (
            "put_dataset",
            json!({"name": "t", "rows": []}),
            "at least one row",
        ),
        (
            "put_dataset",
            json!({"name": "t", "rows": rows(), "source_key": "uploads/x.csv"}),
            "exactly one",
        ),
        (
            "put_dataset",
            json!({"name": "t", "source_key": "missing.csv"}),
            "no object",
        ),
        (
            "upload_object",
            json!({"key": "x", "content_base64": "%%%"}),
            "not base64",
        ),
    ];
    for (tool, args, expected) in cases {
        let message = error_message(&call(&data, tool, args.clone()).await);
        assert!(
            message.contains(expected),
            "{tool} {args}: {message:?} should mention {expected:?}"
        );
    }
    assert_eq!(f.files(), before, "refused calls wrote nothing");
    assert!(!f.root.path().parent().unwrap().join("escape.txt").exists());
}

#[tokio::test]
async fn the_access_matrix_holds_and_refusals_are_audited() {
    let f = Fixture::start().await;
    let validation = client(&f.server.mcp_url(), &f.tokens.for_agent("validation")).await;
    let message = error_message(
        &call(
            &validation,
            "upload_object",
            json!({"key": "x.txt", "text": "x"}),
        )
        .await,
    );
    assert!(message.contains("storage:write"), "{message}");
    let deployment = client(&f.server.mcp_url(), &f.tokens.for_agent("deployment")).await;
    let message = error_message(&call(&deployment, "list_objects", json!({})).await);
    assert!(message.contains("storage:read"), "{message}");
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT caller, tool, status FROM mcp.tool_calls ORDER BY id")
            .fetch_all(&f.db.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            (
                "validation".to_owned(),
                "upload_object".to_owned(),
                "refused".to_owned()
            ),
            (
                "deployment".to_owned(),
                "list_objects".to_owned(),
                "refused".to_owned()
            )
        ]
    );
    assert!(f.files().is_empty());
}

#[tokio::test]
async fn the_official_python_mcp_client_writes_a_dataset() {
    let f = Fixture::start().await;
    let stdout = python_client(
        &f.server.mcp_url(),
        &f.tokens.for_agent("data"),
        "put_dataset",
        json!({"name": "from-python", "rows": rows()}),
        &[
            "upload_object",
            "download_object",
            "list_objects",
            "put_dataset",
            "get_dataset_manifest",
        ],
    )
    .await;
    assert!(stdout.contains("ok tools: 5"), "{stdout}");
    assert!(stdout.contains(r#""rows": 3"#), "{stdout}");
    assert!(
        f.files()
            .iter()
            .any(|p| p.starts_with("datasets/from-python/") && p.ends_with(".parquet"))
    );
}

fn aws_lc_rs_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_location_string_opens_a_local_directory_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    let store = mlops_mcp_storage::DatasetStore::open(plain.to_str().unwrap()).unwrap();
    store.check().await.unwrap();
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "amount",
        std::sync::Arc::new(arrow_array::Float64Array::from(vec![1.5, 2.5, 4.0]))
            as arrow_array::ArrayRef,
    )])
    .unwrap();
    let (manifest, created) = store.write("local", &batch, "test").await.unwrap();
    assert!(created);
    assert!(plain.join(&manifest.files[0].path).is_file());

    // file:///dir names the same directory: the data is there.
    let url = format!("file://{}", plain.display());
    let same = mlops_mcp_storage::DatasetStore::open(&url).unwrap();
    let read = same.read("local", &manifest.version).await.unwrap();
    assert_eq!(read.batch.num_rows(), 3);

    let refused = mlops_mcp_storage::DatasetStore::open("gs://bucket")
        .err()
        .expect("only s3:// and file:// URLs")
        .to_string();
    assert!(refused.contains("only s3:// and file://"), "{refused}");
}
