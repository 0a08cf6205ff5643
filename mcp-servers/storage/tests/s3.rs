//! The storage server on S3: its tools over real HTTP against
//! `s3://bucket/prefix`, served by moto's S3 server (an emulator of the S3
//! HTTP API from PyPI's `moto[server]`, run from the test venv). moto
//! exercises our S3 code path (request signing, listing, prefixes, errors)
//! end to end; it is not AWS itself.
//!
//! The store is configured exactly as in production, from `AWS_*`
//! environment variables, so this binary holds one test: it sets them
//! before anything else runs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::TryStreamExt;
use mlops_mcp_kit::McpHttpServer;
use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok, python};
use mlops_mcp_storage::{DatasetStore, MAX_UPLOAD_BYTES, SERVER, StorageServer};
use mlops_postgres::test_support::fresh_database;
use object_store::ObjectStoreExt;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};

const BUCKET: &str = "mlops-test";
const PREFIX: &str = "team-a/objects";

/// moto's S3 server as a child process, stopped when dropped.
struct MotoS3 {
    child: Child,
    endpoint: String,
}

impl MotoS3 {
    fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/moto_s3_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting moto (pip install moto[server] into the test venv)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading moto's first line");
        let endpoint = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| {
                panic!("moto did not start (is moto[server] in the test venv?): {line:?}")
            })
            .to_owned();
        MotoS3 { child, endpoint }
    }
}

impl Drop for MotoS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rows() -> Value {
    json!([
        {"tx_id": 1, "amount": 12.5, "country": "DE", "is_fraud": false},
        {"tx_id": 2, "amount": 830.0, "country": "FR", "is_fraud": true},
        {"tx_id": 3, "amount": 7.25, "country": "DE", "is_fraud": false}
    ])
}

/// Every key in the whole bucket, not just under our prefix.
async fn bucket_keys(bucket: &DatasetStore) -> Vec<String> {
    let mut keys: Vec<String> = bucket
        .objects()
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_storage_server_works_on_an_s3_bucket_under_a_prefix() {
    let moto = MotoS3::start();
    // SAFETY: this binary has exactly this one test, and nothing in it has
    // started a thread yet, so no other thread can read the environment
    // while it is written.
    unsafe {
        std::env::set_var("AWS_ENDPOINT", &moto.endpoint);
        std::env::set_var("AWS_ALLOW_HTTP", "true");
        std::env::set_var("AWS_REGION", "us-east-1");
        // moto accepts any credentials; real ones must never be needed here.
        std::env::set_var("AWS_ACCESS_KEY_ID", "moto-test-key");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "moto-test-secret");
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_BUCKET");
    }

    // object_store cannot create buckets; S3's CreateBucket is a PUT on
    // the bucket's path.
    let created = reqwest::Client::new()
        .put(format!("{}/{BUCKET}", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");

    // A bucket that does not exist is caught by the start-up check.
    let missing = DatasetStore::open("s3://no-such-bucket").unwrap();
    assert!(missing.check().await.is_err());
    let whole_bucket = DatasetStore::open(&format!("s3://{BUCKET}")).unwrap();
    whole_bucket.check().await.unwrap();
    assert!(bucket_keys(&whole_bucket).await.is_empty());
    // The prefix obeys the key rules: it cannot climb out of itself.
    let escape = DatasetStore::open(&format!("s3://{BUCKET}/../other"))
        .err()
        .expect("a '..' prefix is refused")
        .to_string();
    assert!(escape.contains("'..'"), "{escape}");

    let location = format!("s3://{BUCKET}/{PREFIX}");
    let db = fresh_database().await;
    let tokens = TestTokens::new(SERVER);
    let storage = StorageServer::open(&location, db.pool.clone()).unwrap();
    storage.datasets().check().await.unwrap();
    let server = McpHttpServer::new(SERVER, tokens.verifier(), storage.kit().metrics())
        .readiness_database(db.pool.clone())
        .bind("127.0.0.1:0".parse().unwrap(), move || storage.clone())
        .await
        .unwrap();
    let data = client(&server.mcp_url(), &tokens.for_agent("data")).await;

    // upload → download, byte for byte.
    let csv = "tx_id,amount,country\n1,12.5,DE\n2,830.0,FR\n3,4.0,DE\n";
    let uploaded = ok(&call(
        &data,
        "upload_object",
        json!({"key": "uploads/tx.csv", "text": csv}),
    )
    .await);
    assert_eq!(uploaded["bytes"], csv.len());
    let down = ok(&call(&data, "download_object", json!({"key": "uploads/tx.csv"})).await);
    assert_eq!(down["text"], csv);
    assert_eq!(
        STANDARD
            .decode(down["content_base64"].as_str().unwrap())
            .unwrap(),
        csv.as_bytes()
    );
    assert_eq!(down["sha256"], uploaded["sha256"]);

    // put_dataset from rows and from the uploaded CSV.
    let put = ok(&call(
        &data,
        "put_dataset",
        json!({"name": "transactions", "rows": rows()}),
    )
    .await);
    assert_eq!(put["created"], true);
    let manifest = put["manifest"].clone();
    let version = manifest["version"].as_str().unwrap().to_owned();
    assert_eq!(manifest["rows"], 3);
    let again = ok(&call(
        &data,
        "put_dataset",
        json!({"name": "transactions", "rows": rows()}),
    )
    .await);
    assert_eq!(
        again["created"], false,
        "same content, same version on S3 too"
    );
    assert_eq!(again["manifest"]["version"], version.as_str());
    let from_csv = ok(&call(
        &data,
        "put_dataset",
        json!({"name": "uploaded", "source_key": "uploads/tx.csv"}),
    )
    .await);
    assert_eq!(from_csv["manifest"]["rows"], 3);

    // The keys the tools show are relative to the prefix, as on disk.
    let listed = ok(&call(&data, "list_objects", json!({})).await);
    let keys: Vec<&str> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(keys.contains(&"uploads/tx.csv"), "{keys:?}");
    assert!(
        keys.contains(&format!("datasets/transactions/{version}/manifest.json").as_str()),
        "{keys:?}"
    );
    let under = ok(&call(
        &data,
        "list_objects",
        json!({"prefix": "datasets/transactions"}),
    )
    .await);
    assert_eq!(under["objects"].as_array().unwrap().len(), 2, "{under}");

    // In the bucket itself everything sits under the prefix.
    let in_bucket = bucket_keys(&whole_bucket).await;
    assert_eq!(in_bucket.len(), 5, "{in_bucket:?}");
    assert!(
        in_bucket
            .iter()
            .all(|k| k.starts_with(&format!("{PREFIX}/"))),
        "{in_bucket:?}"
    );

    // get_dataset_manifest, as a tool and as a resource.
    let validation = client(&server.mcp_url(), &tokens.for_agent("validation")).await;
    let got = ok(&call(
        &validation,
        "get_dataset_manifest",
        json!({"name": "transactions", "version": format!("sha256:{version}")}),
    )
    .await);
    assert_eq!(got, manifest);
    let resource = validation
        .read_resource(ReadResourceRequestParams::new(format!(
            "dataset://transactions/{version}"
        )))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &resource.contents[0] else {
        panic!("a text resource")
    };
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), manifest);

    // Another process opening the same location reads the dataset back
    // through DatasetStore::read, sha256-checked.
    let reader = DatasetStore::open(&location).unwrap();
    let dataset = reader.read("transactions", &version).await.unwrap();
    assert_eq!(dataset.batch.num_rows(), 3);
    assert_eq!(
        serde_json::to_value(&dataset.manifest).unwrap(),
        manifest,
        "the manifest read back is the one written"
    );
    let amounts = dataset
        .batch
        .column_by_name("amount")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap();
    assert_eq!(amounts.values().to_vec(), [12.5, 830.0, 7.25]);
    let parquet_key = format!(
        "{PREFIX}/{}",
        manifest["files"][0]["path"].as_str().unwrap()
    );
    let parquet = whole_bucket
        .objects()
        .get(&parquet_key.as_str().into())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(manifest["files"][0]["sha256"], sha256_hex(&parquet));

    // Traversal and size limits hold on S3, and refusals write nothing.
    let big = STANDARD.encode(vec![7u8; 2 * 1024 * 1024]);
    ok(&call(
        &data,
        "upload_object",
        json!({"key": "big.bin", "content_base64": big}),
    )
    .await);
    let before = bucket_keys(&whole_bucket).await;
    // As text, so the request stays under the HTTP body limit and the
    // tool's own limit is what refuses it.
    let too_big = "x".repeat(MAX_UPLOAD_BYTES + 1);
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
            json!({"key": "/abs.txt", "text": "x"}),
            "relative",
        ),
        (
            "download_object",
            json!({"key": "../team-b/secret.txt"}),
            "'..'",
        ),
        ("list_objects", json!({"prefix": "../"}), "'..'"),
        (
            "put_dataset",
            json!({"name": "t", "source_key": "../x.csv"}),
            "'..'",
        ),
        (
            "upload_object",
            json!({"key": "huge.bin", "text": too_big}),
            "limited to",
        ),
        (
            "download_object",
            json!({"key": "big.bin"}),
            "more than max_bytes",
        ),
        (
            "download_object",
            json!({"key": "big.bin", "max_bytes": 100_000_000}),
            "between 1 and",
        ),
        ("download_object", json!({"key": "nope.txt"}), "no object"),
        (
            "get_dataset_manifest",
            json!({"name": "transactions", "version": "b".repeat(64)}),
            "has no version",
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
        bucket_keys(&whole_bucket).await,
        before,
        "refusals wrote nothing"
    );
    let big_down = ok(&call(
        &data,
        "download_object",
        json!({"key": "big.bin", "max_bytes": 3 * 1024 * 1024}),
    )
    .await);
    assert_eq!(big_down["bytes"], 2 * 1024 * 1024);

    // A file changed behind the manifest's back is caught on read.
    whole_bucket
        .objects()
        .put(
            &parquet_key.as_str().into(),
            b"not the parquet".to_vec().into(),
        )
        .await
        .unwrap();
    let corrupt = reader.read("transactions", &version).await.unwrap_err();
    assert!(
        corrupt.to_string().contains("does not match its manifest"),
        "{corrupt}"
    );

    server.shutdown().await;
    drop(moto);
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
