//! The official Python A2A SDK talks to a kit-built agent over both bindings.

mod common;

use common::{AgentProcess, TestIssuer, python};
use mlops_postgres::test_support::fresh_database;

fn run_python_client(url: &str, token: &str, binding: &str) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/a2a_sdk_client.py"
    );
    let output = std::process::Command::new(python())
        .args([script, url, token, binding])
        .output()
        .expect("running the Python SDK client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python a2a-sdk over {binding} failed:\n{stdout}\n{stderr}"
    );
    for check in [
        "card",
        "SendMessage",
        "SendStreamingMessage order",
        "input-required round trip",
        "GetTask",
        "CancelTask",
    ] {
        assert!(
            stdout.contains(&format!("ok {binding}: {check}")),
            "missing check {check}:\n{stdout}"
        );
    }
}

#[tokio::test]
async fn python_sdk_over_jsonrpc_and_http_json() {
    let db = fresh_database().await;
    let issuer = TestIssuer::new();
    let agent = AgentProcess::spawn(&issuer, Some(&db.url));
    let token = issuer.token("echo");
    let url = agent.url.clone();
    let t = token.clone();
    tokio::task::spawn_blocking(move || run_python_client(&url, &t, "JSONRPC"))
        .await
        .unwrap();
    let url = agent.url.clone();
    tokio::task::spawn_blocking(move || run_python_client(&url, &token, "HTTP+JSON"))
        .await
        .unwrap();
}
