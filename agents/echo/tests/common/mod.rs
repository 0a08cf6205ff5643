//! Helpers shared by the echo agent's integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mlops_agent_kit::{AgentServer, RunningAgent, StoreChoice};
use mlops_service_auth::{JwksSource, Scope, SigningKey, TokenRequest, TokenVerifier};

pub const ISSUER: &str = "http://control-plane.test";

/// Stands in for the control plane's token service in tests of one agent:
/// a real key, real JWKS, real tokens.
pub struct TestIssuer {
    pub key: SigningKey,
    pub jwks_file: tempfile::NamedTempFile,
}

impl TestIssuer {
    pub fn new() -> Self {
        let key = SigningKey::generate().unwrap();
        let jwks_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(jwks_file.path(), serde_json::to_vec(&key.jwks()).unwrap()).unwrap();
        TestIssuer { key, jwks_file }
    }

    pub fn token(&self, audience: &str) -> String {
        let request = TokenRequest::new(
            "tester",
            audience,
            vec![Scope::parse("a2a:invoke").unwrap()],
            Duration::from_secs(600),
        )
        .unwrap();
        self.key.mint(ISSUER, &request).unwrap().0
    }

    pub fn verifier(&self) -> Arc<TokenVerifier> {
        Arc::new(TokenVerifier::new(
            ISSUER,
            "echo",
            JwksSource::Static(self.key.jwks()),
        ))
    }
}

/// The echo agent served in this process.
pub async fn start_in_process(issuer: &TestIssuer, store: StoreChoice) -> RunningAgent {
    AgentServer::new(
        mlops_agent_echo::definition(),
        mlops_agent_echo::EchoExecutor::default(),
        issuer.verifier(),
    )
    .store(store)
    .bind("127.0.0.1:0".parse().unwrap())
    .await
    .unwrap()
}

/// The echo agent as its own OS process; killed on drop.
pub struct AgentProcess {
    pub child: Child,
    pub url: String,
}

impl AgentProcess {
    pub fn spawn(issuer: &TestIssuer, database_url: Option<&str>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlops-echo-agent"));
        cmd.args(["--listen", "127.0.0.1:0", "--issuer", ISSUER, "--jwks-file"])
            .arg(issuer.jwks_file.path())
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        let mut child = cmd.spawn().expect("spawning the echo agent");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line from the agent: {line:?}"))
            .to_owned();
        AgentProcess { child, url }
    }

    /// SIGKILL: the harshest restart, nothing flushed on the way out.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs a raw JSON-RPC body; returns the HTTP status and the parsed body.
pub async fn jsonrpc_raw(
    base: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/a2a/jsonrpc"))
        .header("content-type", "application/json")
        .header("A2A-Version", "1.0")
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}

/// A `SendMessage` call for the echo skill.
pub fn send_message_body(text: &str, message_id: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {
            "message": {
                "messageId": message_id,
                "role": "ROLE_USER",
                "parts": [{"data": {"text": text}}]
            }
        }
    })
    .to_string()
}

/// The venv Python with a2a-sdk, installed by `cargo xtask test`.
pub fn python() -> String {
    if let Ok(p) = std::env::var("MLOPS_PYTHON") {
        return p;
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let default = format!("{home}/.cache/mlops/venv/bin/python");
    assert!(
        std::path::Path::new(&default).exists(),
        "the interop tests need the official Python SDKs: run `cargo xtask test` (it installs them), or set MLOPS_PYTHON"
    );
    default
}
