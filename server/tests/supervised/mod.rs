//! `mlops up` as a user starts it, for tests that need the whole system.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const MLOPS: &str = env!("CARGO_BIN_EXE_mlops");

pub struct Up {
    pub child: std::process::Child,
    pub url: String,
}

/// A supervisor left running by a failed assertion is stopped, not leaked.
impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGINT);
            }
            let _ = self.child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start(data_dir: &std::path::Path) -> Up {
    start_with(data_dir, false)
}

/// `demo`: seed fraud-detector and run the traffic generator, as the
/// README's run command does.
pub fn start_with(data_dir: &std::path::Path, demo: bool) -> Up {
    let mut command = Command::new(MLOPS);
    command.arg("up");
    if !demo {
        command.arg("--no-demo");
    }
    let mut up = Up {
        child: command
            .args(["--port", &free_port().to_string(), "--data-dir"])
            .arg(data_dir)
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
        url: String::new(),
    };
    let stdout = up.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Seeding trains two models on a 2-core machine: give it time.
    let deadline = Instant::now() + Duration::from_secs(if demo { 420 } else { 120 });
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("mlops up printed no ready line in time");
        if let Some(rest) = line.strip_prefix("✔ mlops is ready at ") {
            up.url = rest.split_whitespace().next().unwrap().to_owned();
            return up;
        }
    }
}

pub fn interrupt_and_wait(mut up: Up) {
    unsafe {
        libc::kill(up.child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = up.child.try_wait().unwrap() {
            assert!(status.success(), "mlops up exited with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("mlops up did not stop within 30s of Ctrl-C");
}

pub fn alive(pid: u32) -> bool {
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

pub fn services(data_dir: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(data_dir.join("services.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A token from `mlops token` for one MCP server.
pub fn operator_token(data_dir: &std::path::Path, audience: &str, scope: &str) -> String {
    let out = Command::new(MLOPS)
        .args([
            "token",
            "--audience",
            audience,
            "--scope",
            scope,
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn service_url(data_dir: &std::path::Path, kind: &str) -> String {
    services(data_dir)
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in services.json"))["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The control plane's signing key in `data_dir` (what it signs tokens
/// and approvals with).
pub fn signing_key(data_dir: &std::path::Path) -> mlops_service_auth::SigningKey {
    mlops_service_auth::SigningKey::load_or_create(
        &data_dir.join("keys").join("service-signing-key.pem"),
    )
    .unwrap()
}

/// An A2A client for one of `mlops up`'s agents, presenting service tokens
/// for `subject` minted with the control plane's key.
pub async fn agent_client(
    data_dir: &std::path::Path,
    issuer: &str,
    agent: &str,
    subject: &str,
    policy: mlops_agent_kit::client::RetryPolicy,
) -> mlops_agent_kit::client::AgentClient {
    let url = services(data_dir)
        .iter()
        .find(|s| s["name"] == format!("agent-{agent}").as_str())
        .unwrap_or_else(|| panic!("{agent} runs"))["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let card = mlops_agent_kit::a2a_client::agent_card::AgentCardResolver::new(None)
        .resolve(&url)
        .await
        .unwrap();
    let tokens = std::sync::Arc::new(mlops_agent_kit::client::MintingTokenSource::new(
        signing_key(data_dir),
        issuer,
        subject,
        vec![mlops_service_auth::Scope::parse("a2a:invoke").unwrap()],
    ));
    mlops_agent_kit::client::AgentClient::from_card(agent, card, tokens, policy)
        .await
        .unwrap()
}

/// Waits until the demo's traffic has flowed for a while, and the routers
/// have flushed it to their prediction logs (every 2 s).
pub async fn wait_for_demo_traffic(data_dir: &std::path::Path) {
    let traffic = service_url(data_dir, "traffic");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let state: serde_json::Value = reqwest::get(format!("{traffic}/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["ok"].as_f64().unwrap_or(0.0) >= 50.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no demo traffic: {state}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
}

/// The URL of the embedded cluster `mlops up` runs in `data_dir`.
pub fn database_url(data_dir: &std::path::Path) -> String {
    mlops::supervisor::embedded_database_url(data_dir).unwrap()
}
