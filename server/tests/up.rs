//! `mlops up` as a user runs it: real processes, real Postgres, Ctrl-C.

mod supervised;

use std::process::Command;
use std::time::{Duration, Instant};

use mlops_service_auth::{JwksSource, TokenVerifier};

use supervised::{
    MLOPS, alive, interrupt_and_wait, operator_token, service_url, services, start, start_with,
};

/// The key id the control plane at `url` publishes.
async fn signing_kid(url: &str) -> serde_json::Value {
    let jwks: serde_json::Value = reqwest::get(format!("{url}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"][0]["kid"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_starts_postgres_and_the_token_service_and_ctrl_c_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    let up = start(&data_dir);
    let list = services(&data_dir);
    let kinds: Vec<&str> = list.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "postgres",
            "prometheus",
            "idp",
            "control-plane",
            "mcp",
            "mcp",
            "mcp",
            "mcp",
            "mcp",
            "mcp",
            "mcp",
            "agent",
            "agent",
            "agent",
            "agent",
            "agent",
            "agent",
            "agent"
        ],
        "{list:?}"
    );
    let names: Vec<&str> = list[4..11]
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "mcp-registry",
            "mcp-storage",
            "mcp-quality",
            "mcp-drift",
            "mcp-trainer",
            "mcp-cluster",
            "mcp-metrics"
        ]
    );
    let agents: Vec<&str> = list[11..]
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        agents,
        [
            "agent-data",
            "agent-training",
            "agent-validation",
            "agent-deployment",
            "agent-monitoring",
            "agent-cost",
            "agent-orchestrator"
        ]
    );
    // Each agent serves its card, and the registry file lists them all.
    let registry = std::fs::read_to_string(data_dir.join("agents.yaml")).unwrap();
    for agent in &list[11..] {
        let url = agent["url"].as_str().unwrap();
        assert!(registry.contains(url), "{registry}");
        let card: serde_json::Value = reqwest::get(format!("{url}/.well-known/agent-card.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            format!("agent-{}", card["name"].as_str().unwrap()),
            agent["name"].as_str().unwrap()
        );
    }
    let pids: Vec<u32> = list
        .iter()
        .map(|s| s["pid"].as_u64().unwrap() as u32)
        .collect();
    assert!(pids.iter().all(|p| alive(*p)));
    assert_eq!(list[3]["url"], up.url.as_str());
    // J0: the console sends a visitor to sign in at the dev IdP.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let home = no_redirects.get(&up.url).send().await.unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/auth/login?next=%2F");
    let login = no_redirects
        .get(format!("{}/auth/login", up.url))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    assert!(
        login.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(list[2]["url"].as_str().unwrap()),
        "to the dev IdP"
    );

    // `mlops status --services` prints the same list.
    let status = Command::new(MLOPS)
        .args(["status", "--services", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(
        table.contains("control-plane") && table.contains(&up.url),
        "{table}"
    );

    // A token minted by the operator command verifies against the running
    // control plane's JWKS, through the same verifier agents use.
    let token = Command::new(MLOPS)
        .args([
            "token",
            "--audience",
            "registry",
            "--scope",
            "registry:read",
            "--ttl",
            "5m",
            "--data-dir",
        ])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let verifier = TokenVerifier::new(
        &up.url,
        "registry",
        JwksSource::Url(format!("{}/.well-known/jwks.json", up.url)),
    );
    let claims = verifier.verify(&token).await.unwrap();
    assert!(claims.has_scope("registry:read"));
    // The registry MCP server is up behind the same token service.
    let registry_token = Command::new(MLOPS)
        .args([
            "token",
            "--audience",
            "registry",
            "--scope",
            "registry:read",
            "--data-dir",
        ])
        .arg(&data_dir)
        .output()
        .unwrap();
    let registry_token = String::from_utf8(registry_token.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let mcp_url = list[4]["url"].as_str().unwrap().to_owned();
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            mcp_url,
        )
        .auth_header(registry_token);
    let client = rmcp::ServiceExt::serve(
        (),
        rmcp::transport::StreamableHttpClientTransport::from_config(config),
    )
    .await
    .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "register_model"),
        "{tools:?}"
    );
    drop(client);

    let kid_before = signing_kid(&up.url).await;

    // A crashed child is restarted, and services.json follows its new pid.
    let control_plane = pids[2];
    unsafe {
        libc::kill(control_plane as i32, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let restarted = loop {
        let now = services(&data_dir);
        let pid = now[2]["pid"].as_u64().unwrap() as u32;
        if pid != control_plane
            && reqwest::get(format!("{}/readyz", up.url))
                .await
                .is_ok_and(|r| r.status().is_success())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the control plane was not restarted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut pids = pids;
    pids[2] = restarted;

    interrupt_and_wait(up);
    std::thread::sleep(Duration::from_millis(200));
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} outlived mlops up");
    }
    assert!(!data_dir.join("services.json").exists());

    // A second run reuses the cluster and the signing key.
    let up = start(&data_dir);
    let kid_after = signing_kid(&up.url).await;
    assert_eq!(kid_before, kid_after, "the signing key survives restarts");
    let pids: Vec<u32> = services(&data_dir)
        .iter()
        .map(|s| s["pid"].as_u64().unwrap() as u32)
        .collect();
    interrupt_and_wait(up);
    std::thread::sleep(Duration::from_millis(200));
    assert!(pids.iter().all(|p| !alive(*p)));
}

/// The demo as a user first sees it: within a minute of the ready line
/// there are live predictions, per-version metrics in Prometheus and drift
/// reports from the monitoring agent's schedule.
#[tokio::test(flavor = "multi_thread")]
async fn up_seeds_the_demo_and_shows_live_numbers_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let up = start_with(&data_dir, true);
    let ready = Instant::now();

    let seeded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("demo.json")).unwrap())
            .unwrap();
    assert_eq!(seeded["model"], "fraud-detector");
    let traffic = service_url(&data_dir, "traffic");
    let prometheus = service_url(&data_dir, "prometheus");
    let drift_url = services(&data_dir)
        .iter()
        .find(|s| s["name"] == "mcp-drift")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let drift_token = operator_token(&data_dir, "drift", "drift:read");
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            drift_url,
        )
        .auth_header(drift_token);
    let drift = rmcp::ServiceExt::serve(
        (),
        rmcp::transport::StreamableHttpClientTransport::from_config(config),
    )
    .await
    .unwrap();

    let (mut predictions, mut per_version, mut reports) = (0.0, 0.0, 0usize);
    while ready.elapsed() < Duration::from_secs(60) {
        let state: serde_json::Value = reqwest::get(format!("{traffic}/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        predictions = state["ok"].as_f64().unwrap_or(0.0);
        let query: serde_json::Value = reqwest::get(format!(
            "{prometheus}/api/v1/query?query=sum%20by%20(version)(mlops_router_requests_total%7Bmodel%3D%22fraud-detector%22%7D)"
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        per_version = query["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["metric"]["version"] == seeded["champion"].to_string().as_str())
            .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
            .sum();
        let listed = drift
            .call_tool(
                rmcp::model::CallToolRequestParams::new("list_reports").with_arguments(
                    serde_json::json!({"model": "fraud-detector"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        reports = listed
            .structured_content
            .as_ref()
            .and_then(|c| c["reports"].as_array().map(Vec::len))
            .unwrap_or(0);
        if predictions > 0.0 && per_version > 0.0 && reports > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(predictions > 0.0, "no live predictions within 60 s");
    assert!(
        per_version > 0.0,
        "no per-version router metrics within 60 s"
    );
    assert!(reports > 0, "no drift report within 60 s");
    drop(drift);

    // The demo's controls: drift in the traffic, and the faulty version
    // as a canary, which then fails on a share of real requests.
    let demo = |args: &[&str]| {
        let out = Command::new(MLOPS)
            .arg("demo")
            .args(args)
            .arg("--data-dir")
            .arg(&data_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mlops demo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(demo(&["drift", "on"]).contains("\"drift\":true"));
    let errors_before = traffic_errors(&traffic).await;
    let said = demo(&["faulty-canary", "--weight", "30"]);
    assert!(said.contains(&format!("v{}", seeded["faulty"])), "{said}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while traffic_errors(&traffic).await <= errors_before {
        assert!(
            Instant::now() < deadline,
            "the faulty canary never failed a request"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    interrupt_and_wait(up);
}

async fn traffic_errors(traffic: &str) -> f64 {
    let state: serde_json::Value = reqwest::get(format!("{traffic}/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    state["errors"].as_f64().unwrap_or(0.0)
}

#[test]
fn a_second_supervisor_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path());
    let second = Command::new(MLOPS)
        .args(["up", "--no-demo", "--data-dir"])
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already using"));
    interrupt_and_wait(up);
}

#[test]
fn help_shows_examples() {
    let out = Command::new(MLOPS).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["up", "serve", "agent", "mcp", "migrate", "token", "status"] {
        assert!(help.contains(sub), "{help}");
    }
    assert!(help.contains("Examples:"));
}
