//! The orchestrator's own cost: deploy workflows (canary 10 → 50 → 100,
//! five nodes, no gates) against agents that answer at once, so every
//! millisecond measured is planning, Postgres transactions, outbox events
//! and A2A round trips. The anchor is the Postgres ceiling on the same
//! cluster in the same run: `pgbench -N` (simple-update transactions).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mlops_service_auth::{ClientSecrets, Scope, SigningKey, TokenRequest};

/// A child process killed when the benchmark is done with it.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_ready(url: &str, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers_200(url) {
        if Instant::now() > deadline {
            bail!("{what} did not become ready at {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// A readiness probe that needs no async runtime: `GET` → `200`?
fn answers_200(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

struct Figures {
    workflows: usize,
    concurrency: usize,
    per_minute: f64,
    p50_ms: f64,
    p99_ms: f64,
    per_node_ms: f64,
}

const NODES: usize = 5;

pub fn run(quick: bool) -> anyhow::Result<String> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: building mlops and the instant release agent (release)");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "mlops",
            "--bin",
            "mlops",
            "-p",
            "mlops-agent-echo",
            "--bin",
            "mlops-instant-release-agent",
        ])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mlops = target.join("release").join("mlops");
    let instant = target.join("release").join("mlops-instant-release-agent");

    let scratch = tempfile::Builder::new()
        .prefix("mlops-bench-orch-")
        .tempdir()?;
    let cluster = mlops_postgres::EmbeddedCluster::prepare_for_tests(&scratch.path().join("pg"))?;
    let pg = cluster.start()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let admin = pg.cluster().admin_url();
    runtime.block_on(mlops_postgres::ensure_database(&admin, "bench"))?;
    runtime.block_on(mlops_postgres::ensure_database(&admin, "pgbench"))?;
    let pg_url = mlops_postgres::test_support::database_url_on(&admin, "bench");

    let data = scratch.path().join("data");
    let issuer = format!("http://127.0.0.1:{}", free_port()?);
    let _serve = Process(
        Command::new(&mlops)
            .args([
                "serve",
                "--listen",
                issuer.trim_start_matches("http://"),
                "--data-dir",
            ])
            .arg(&data)
            .env("MLOPS_PUBLIC_URL", &issuer)
            .env("DATABASE_URL", &pg_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting mlops serve")?,
    );
    wait_ready(&format!("{issuer}/healthz"), "the control plane")?;

    let agent_url = format!("http://127.0.0.1:{}", free_port()?);
    let _agent = Process(
        Command::new(&instant)
            .args([
                "--listen",
                agent_url.trim_start_matches("http://"),
                "--issuer",
                &issuer,
            ])
            .stdout(Stdio::null())
            .spawn()
            .context("starting the instant release agent")?,
    );
    wait_ready(&format!("{agent_url}/healthz"), "the instant release agent")?;

    let registry = scratch.path().join("agents.yaml");
    std::fs::write(
        &registry,
        format!("agents:\n  - name: deployment\n    url: {agent_url}\n"),
    )?;
    let policy = scratch.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "pre_deploy_gate: false\npromotion_gate: false\ncanary:\n  analysis_seconds: 1\n  min_analysis_seconds: 1\n",
    )?;
    let secrets = ClientSecrets::load_or_create(&data.join("keys").join("service-clients.key"))?;
    let orchestrator_url = format!("http://127.0.0.1:{}", free_port()?);
    let _orchestrator = Process(
        Command::new(&mlops)
            .args([
                "agent",
                "orchestrator",
                "--listen",
                orchestrator_url.trim_start_matches("http://"),
            ])
            .env("DATABASE_URL", &pg_url)
            .env("MLOPS_ISSUER", &issuer)
            .env("MLOPS_CLIENT_SECRET", secrets.secret_for("orchestrator"))
            .env("MLOPS_MCP_URLS", "")
            .env("MLOPS_AGENT_REGISTRY", &registry)
            .env("MLOPS_AGENT_CONFIG", &policy)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting the orchestrator")?,
    );
    wait_ready(&format!("{orchestrator_url}/readyz"), "the orchestrator")?;

    let key = SigningKey::load_or_create(&data.join("keys").join("service-signing-key.pem"))?;
    let token = key
        .mint(
            &issuer,
            &TokenRequest::new(
                "bench",
                "orchestrator",
                vec![Scope::parse("a2a:invoke")?],
                Duration::from_secs(3600),
            )?,
        )?
        .0;
    let rpc = format!("{orchestrator_url}/a2a/jsonrpc");
    let (n1, n8) = if quick { (10, 40) } else { (40, 160) };
    let mut rows = Vec::new();
    for (concurrency, n) in [(1, n1), (8, n8)] {
        let figures = runtime.block_on(load(&rpc, &token, concurrency, n))?;
        eprintln!(
            "bench: orchestrator c={concurrency}: {:.0} workflows/min, p50 {:.1} ms",
            figures.per_minute, figures.p50_ms
        );
        rows.push(figures);
    }
    let events_per_workflow: i64 = runtime.block_on(async {
        let pool = mlops_postgres::connect(&pg_url, 1).await?;
        let (events, workflows): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM orchestrator.events), (SELECT count(*) FROM orchestrator.workflows)",
        )
        .fetch_one(&pool)
        .await?;
        anyhow::Ok(events / workflows.max(1))
    })?;
    let tps = pgbench(&admin, quick)?;
    drop(pg);
    Ok(section(&rows, events_per_workflow, tps))
}

/// `pgbench -N` on the same cluster: the simple-update ceiling in tps.
fn pgbench(admin: &str, quick: bool) -> anyhow::Result<f64> {
    let url = mlops_postgres::test_support::database_url_on(admin, "pgbench");
    let bin = Path::new("/usr/lib/postgresql/15/bin/pgbench");
    let bin = if bin.exists() {
        bin.to_path_buf()
    } else {
        PathBuf::from("pgbench")
    };
    let init = Command::new(&bin)
        .args(["-i", "-q", "-s", "1", &url])
        .output()?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let seconds = if quick { "5" } else { "15" };
    let out = Command::new(&bin)
        .args(["-N", "-c", "8", "-j", "2", "-T", seconds, &url])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .with_context(|| format!("no tps in pgbench's output: {text}"))
}

async fn load(url: &str, token: &str, concurrency: usize, total: usize) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let call = |i: usize| {
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": i, "method": "SendMessage",
            "params": {"message": {
                "messageId": format!("{run}-{i}"), "role": "ROLE_USER",
                "parts": [{"data": {"goal": "deploy", "model": "bench-model", "version": 2, "analysis_seconds": 1}}],
                "metadata": {"skill": "orchestrate-ml-pipeline"},
            }},
        });
        client
            .post(url)
            .header("A2A-Version", "1.0")
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // Warm-up: one workflow end to end.
    let text = call(total + 1).await?.text().await?;
    if !text.contains("TASK_STATE_COMPLETED") {
        bail!("the warm-up workflow did not complete: {text}");
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let worker = || async {
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= total {
                return anyhow::Ok(mine);
            }
            let t = Instant::now();
            let text = call(i).await?.text().await?;
            if !text.contains("TASK_STATE_COMPLETED") {
                bail!("workflow {i} did not complete: {text}");
            }
            mine.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    };
    let mut latencies = Vec::new();
    for result in futures::future::join_all((0..concurrency).map(|_| worker())).await {
        latencies.extend(result?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    Ok(Figures {
        workflows: total,
        concurrency,
        per_minute: total as f64 / elapsed * 60.0,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        per_node_ms: at(0.5) / NODES as f64,
    })
}

fn section(rows: &[Figures], events_per_workflow: i64, pgbench_tps: f64) -> String {
    let mut md = String::from("## Orchestrator: deploy workflows with instant agents\n\n");
    md.push_str("A deploy workflow (canary 10 % → analysis → 50 % → analysis → promote: 5 nodes, no gates) against an agent whose release skills answer at once, so the time is the orchestrator's: planning from the card, one Postgres transaction per transition with its outbox event, lease renewals, and five A2A round trips. Anchor: `pgbench -N -c 8 -j 2` (simple-update transactions) on the same Postgres cluster in the same run.\n\n");
    md.push_str("| concurrency | workflows | workflows/min | p50 per workflow | p99 per workflow | overhead per node (p50) |\n|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} ms | {:.0} ms | {:.1} ms |\n",
            r.concurrency, r.workflows, r.per_minute, r.p50_ms, r.p99_ms, r.per_node_ms
        ));
    }
    let ceiling = pgbench_tps * 60.0 / events_per_workflow.max(1) as f64;
    md.push_str(&format!(
        "\nPostgres ceiling: pgbench -N {pgbench_tps:.0} tps. A workflow writes {events_per_workflow} outbox events (each in its own transaction, with the state change it announces), so Postgres alone would allow about {ceiling:.0} workflows/min.\n"
    ));
    md
}
