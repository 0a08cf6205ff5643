//! SSE fan-out: 1,000 concurrent clients on `GET /api/events` of one
//! `mlops serve`, while events are committed through the orchestrator's
//! push webhook. Reported: the delay from sending an event to its delivery
//! at every client (p50, p99; it includes the webhook's HTTP round trip and
//! the commit, so it bounds commit → delivery from above), and the
//! server's peak RSS. The anchor, in the same run on the same cluster: a
//! bare `LISTEN`/`NOTIFY` round trip to one listener, the floor under any
//! delivery that rides on Postgres notifications.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use tokio::sync::Mutex;

pub(super) struct Process(pub(super) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn push_body(task: &str, seq: i64) -> String {
    serde_json::json!({
        "statusUpdate": {
            "taskId": task,
            "contextId": "bench",
            "status": {"state": "TASK_STATE_WORKING"},
            "metadata": {"graphDelta": {
                "type": "node-progress", "node": "n", "seq": seq,
                "eventId": format!("{task}:{seq}"), "text": format!("event {seq}"),
            }},
        }
    })
    .to_string()
}

pub fn run(quick: bool) -> anyhow::Result<String> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: building mlops (release)");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "mlops",
            "--bin",
            "mlops",
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

    let scratch = tempfile::Builder::new()
        .prefix("mlops-bench-sse-")
        .tempdir()?;
    let cluster = mlops_postgres::EmbeddedCluster::prepare_for_tests(&scratch.path().join("pg"))?;
    let pg = cluster.start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let admin = pg.cluster().admin_url();
    runtime.block_on(mlops_postgres::ensure_database(&admin, "bench"))?;
    let pg_url = mlops_postgres::test_support::database_url_on(&admin, "bench");

    let base = format!("http://127.0.0.1:{}", free_port()?);
    let serve = Process(
        Command::new(&mlops)
            .args([
                "serve",
                "--listen",
                base.trim_start_matches("http://"),
                "--data-dir",
            ])
            .arg(scratch.path().join("data"))
            .env("MLOPS_PUBLIC_URL", &base)
            .env("DATABASE_URL", &pg_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting mlops serve")?,
    );
    let pid = serve.0.id();
    // The goal is stated for 1,000 clients; quick mode sends fewer events.
    let clients = 1000;
    let events = if quick { 30 } else { 100 };
    let result = runtime.block_on(measure(&base, &pg_url, clients, events, pid));
    drop(serve);
    drop(pg);
    let m = result?;
    if m.samples == 0 || m.single_n == 0 {
        bail!("no SSE client received an event; nothing to report");
    }
    eprintln!(
        "bench: sse {} clients: p50 {:.1} ms, p99 {:.1} ms, peak RSS {:.0} MB; notify p50 {:.2} ms",
        m.clients, m.p50, m.p99, m.peak_rss, m.notify_p50
    );
    let p99_ok = if m.p99 < 100.0 { "met" } else { "**missed**" };
    let rss_ok = if m.peak_rss < 200.0 {
        "met"
    } else {
        "**missed**"
    };
    Ok(format!(
        "## SSE fan-out: {clients} concurrent clients on `/api/events` (measured {date}{mode})\n\n\
One `mlops serve` (release build); {events} events committed through the orchestrator's push webhook, 100 ms apart; every client receives every event. The delay runs from the bench sending the event to each client reading it, so it includes the webhook's HTTP round trip and the commit: an upper bound of commit → delivery. Clients and server share the machine's 2 cores.\n\n\
| what | p50 | p99 | samples |\n|---|---|---|---|\n\
| anchor: bare `LISTEN`/`NOTIFY`, one listener, same cluster | {np50:.2} ms | {np99:.2} ms | {nn} |\n\
| 1 SSE client | {s1p50:.1} ms | {s1p99:.1} ms | {s1n} |\n\
| {clients} SSE clients | {p50:.1} ms | {p99:.1} ms | {n} |\n\n\
Server memory: {idle:.0} MB RSS before the clients connect, {held:.0} MB with {clients} connected, {peak:.0} MB peak (VmHWM). Events delivered: {delivered} of {expected}.\n\n\
### Goals\n\n- p99 commit → delivery under 100 ms with 1,000 clients: {p99_ok} ({p99:.1} ms).\n- Server RSS under 200 MB: {rss_ok} ({peak:.0} MB peak).\n",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        mode = if quick { ", quick mode" } else { "" },
        np50 = m.notify_p50,
        np99 = m.notify_p99,
        nn = m.notify_n,
        s1p50 = m.single_p50,
        s1p99 = m.single_p99,
        s1n = m.single_n,
        p50 = m.p50,
        p99 = m.p99,
        n = m.samples,
        idle = m.idle_rss,
        held = m.held_rss,
        peak = m.peak_rss,
        delivered = m.samples,
        expected = m.clients * events,
    ))
}

struct Measured {
    clients: usize,
    p50: f64,
    p99: f64,
    samples: usize,
    single_p50: f64,
    single_p99: f64,
    single_n: usize,
    notify_p50: f64,
    notify_p99: f64,
    notify_n: usize,
    idle_rss: f64,
    held_rss: f64,
    peak_rss: f64,
}

pub(super) async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The anchor: NOTIFY committed → received by one LISTEN connection.
async fn notify_round_trips(pg_url: &str, n: usize) -> anyhow::Result<Vec<f64>> {
    let pool = sqlx::PgPool::connect(pg_url).await?;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
    listener.listen("bench_anchor").await?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let sent = Instant::now();
        sqlx::query("SELECT pg_notify('bench_anchor', $1)")
            .bind(i.to_string())
            .execute(&pool)
            .await?;
        listener.recv().await?;
        out.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(out)
}

/// Opens `clients` SSE streams; each records (seq, received at).
async fn open_clients(
    base: &str,
    token: &str,
    clients: usize,
) -> anyhow::Result<Arc<Mutex<Vec<(i64, Instant)>>>> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    for _ in 0..clients {
        let response = http
            .get(format!("{base}/api/events"))
            .bearer_auth(token)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("SSE connect: {}", response.status());
        }
        let sink = received.clone();
        tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                let at = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let frame: String = buffer.drain(..end + 2).collect();
                    // Heartbeats are comments and carry no data line.
                    let seq = frame
                        .lines()
                        .find_map(|l| l.strip_prefix("data:"))
                        .and_then(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
                        .and_then(|event| event["body"]["seq"].as_i64());
                    if let Some(seq) = seq {
                        sink.lock().await.push((seq, at));
                    }
                }
            }
        });
    }
    Ok(received)
}

/// Sends `events` events (seq numbers from `first`) and returns the delays.
async fn send_and_collect(
    base: &str,
    push_token: &str,
    task: &str,
    first: i64,
    events: usize,
    clients: usize,
    received: &Arc<Mutex<Vec<(i64, Instant)>>>,
) -> anyhow::Result<Vec<f64>> {
    let http = reqwest::Client::new();
    let mut sent_at = std::collections::HashMap::new();
    for i in 0..events as i64 {
        let seq = first + i;
        let at = Instant::now();
        let r = http
            .post(format!("{base}/api/hooks/orchestrator"))
            .header("A2A-Notification-Token", push_token)
            .header("content-type", "application/json")
            .body(push_body(task, seq))
            .send()
            .await?;
        if r.status().as_u16() != 204 {
            bail!("push: {}", r.status());
        }
        sent_at.insert(seq, at);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected = events * clients;
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.lock().await.len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = received.lock().await;
    Ok(got
        .iter()
        .filter_map(|(seq, at)| {
            sent_at
                .get(seq)
                .map(|s| at.duration_since(*s).as_secs_f64() * 1000.0)
        })
        .collect())
}

async fn measure(
    base: &str,
    pg_url: &str,
    clients: usize,
    events: usize,
    pid: u32,
) -> anyhow::Result<Measured> {
    wait_ready(&format!("{base}/readyz")).await?;
    // A user and a read token, and a workflow with a push token, as the
    // control plane would have created them.
    let pool = sqlx::PgPool::connect(pg_url).await?;
    let token = "mlp_bench-read-token-0123456789abcdefghijklmnopqrstuvwxyz";
    let push_token = "bench-push-token";
    sqlx::query("INSERT INTO control.users (subject, roles) VALUES ('bench', '{viewer}')")
        .execute(&pool)
        .await?;
    sqlx::query(
        "INSERT INTO control.api_tokens (id, subject, name, token_hash, scopes, expires_at)
         VALUES ($1, 'bench', 'bench', sha256($2::bytea), '{read}', now() + interval '1 day')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(token.as_bytes())
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO control.workflow_requests (id, push_token_hash, goal, requested_by)
         VALUES ($1, sha256($2::bytea), '{\"goal\": \"deploy\", \"model\": \"bench\", \"version\": 1}', 'bench')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(push_token.as_bytes())
    .execute(&pool)
    .await?;
    let task = "bench-workflow";

    let mut anchor = notify_round_trips(pg_url, 200).await?;
    anchor.sort_by(f64::total_cmp);

    // One client first.
    let single = open_clients(base, token, 1).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut one = send_and_collect(base, push_token, task, 1, 20, 1, &single).await?;
    one.sort_by(f64::total_cmp);

    let idle_rss = rss_mb(pid);
    let many = open_clients(base, token, clients).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held_rss = rss_mb(pid);
    let mut delays = send_and_collect(base, push_token, task, 1000, events, clients, &many).await?;
    delays.sort_by(f64::total_cmp);
    Ok(Measured {
        clients,
        p50: percentile(&delays, 0.50),
        p99: percentile(&delays, 0.99),
        samples: delays.len(),
        single_p50: percentile(&one, 0.5),
        single_p99: percentile(&one, 0.99),
        single_n: one.len(),
        notify_p50: percentile(&anchor, 0.5),
        notify_p99: percentile(&anchor, 0.99),
        notify_n: anchor.len(),
        idle_rss,
        held_rss,
        peak_rss: peak_rss_mb(pid),
    })
}
