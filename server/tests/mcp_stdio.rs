//! `mlops mcp registry --stdio` speaks MCP over stdin/stdout.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use mlops_postgres::test_support::fresh_database;

#[tokio::test]
async fn the_registry_answers_over_stdio() {
    let db = fresh_database().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(["mcp", "registry", "--stdio"])
        .env("DATABASE_URL", &db.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |line: &str| {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let mut read = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<serde_json::Value>(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };

    send(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"0"}}}"#,
    );
    let init = read();
    assert_eq!(
        init["result"]["serverInfo"]["name"], "mlops-registry",
        "{init}"
    );
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    send(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"register_model","arguments":{"name":"stdio-model"}}}"#,
    );
    let called = read();
    assert_eq!(
        called["result"]["structuredContent"]["created"], true,
        "{called}"
    );

    // The local caller is audited too.
    let caller: String =
        sqlx::query_scalar("SELECT caller FROM mcp.tool_calls WHERE tool = 'register_model'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(caller, "local:stdio");
    drop(stdin);
    let _ = child.wait();
}
