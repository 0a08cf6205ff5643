//! The echo agent's SendMessage throughput and latency, each scenario
//! beside the official Python SDK's echo agent measured in the same run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mlops_service_auth::{Scope, SigningKey, TokenRequest};

const ISSUER: &str = "http://bench.control-plane";

/// Kills the child when the benchmark is done with it.
struct Server {
    name: String,
    child: Child,
    rpc_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
struct Figures {
    requests: usize,
    errors: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs the A2A scenarios; returns the report's section.
pub fn run(quick: bool) -> anyhow::Result<String> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: building the echo agent (release)");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "mlops-agent-echo",
            "--bin",
            "mlops-echo-agent",
        ])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let agent_bin = target.join("release").join("mlops-echo-agent");
    let python = crate::venv::ensure()?;

    let scratch = tempfile::Builder::new().prefix("mlops-bench-").tempdir()?;
    let key = SigningKey::generate()?;
    let jwks_file = scratch.path().join("jwks.json");
    std::fs::write(&jwks_file, serde_json::to_vec(&key.jwks())?)?;
    let token = key
        .mint(
            ISSUER,
            &TokenRequest::new(
                "bench",
                "echo",
                vec![Scope::parse("a2a:invoke")?],
                Duration::from_secs(3600),
            )?,
        )?
        .0;

    let cluster = mlops_postgres::EmbeddedCluster::prepare_for_tests(&scratch.path().join("pg"))?;
    let pg = cluster.start()?;
    // The load generator gets one thread (and so about one core); the server
    // under test gets the other.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(mlops_postgres::ensure_database(
        &pg.cluster().admin_url(),
        "bench",
    ))?;
    let pg_url = mlops_postgres::test_support::database_url_on(&pg.cluster().admin_url(), "bench");

    let (n1, n32, py_n1, py_n32) = if quick {
        (500, 4000, 300, 1000)
    } else {
        (5000, 20000, 1000, 3000)
    };
    let mut rows = Vec::new();
    for (concurrency, ours_n, anchor_n) in [(1usize, n1, py_n1), (32, n32, py_n32)] {
        let anchor = {
            let server = spawn_python(&python)?;
            let figures =
                runtime.block_on(measure(&server.rpc_url, None, concurrency, anchor_n))?;
            eprintln!("bench: {} c={concurrency}: {figures:?}", server.name);
            figures
        };
        for store in ["memory", "postgres"] {
            let server = spawn_agent(
                &agent_bin,
                &jwks_file,
                (store == "postgres").then_some(pg_url.as_str()),
            )?;
            let n = if store == "postgres" {
                ours_n / 4
            } else {
                ours_n
            };
            let figures =
                runtime.block_on(measure(&server.rpc_url, Some(&token), concurrency, n))?;
            eprintln!(
                "bench: {} ({store}) c={concurrency}: {figures:?}",
                server.name
            );
            rows.push((store, concurrency, figures, anchor.clone()));
        }
    }
    drop(pg);
    Ok(section(&rows))
}

fn spawn_agent(bin: &Path, jwks: &Path, database_url: Option<&str>) -> anyhow::Result<Server> {
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", "127.0.0.1:0", "--issuer", ISSUER, "--jwks-file"])
        .arg(jwks)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        // One runtime worker: the Python anchor runs one event loop, and the
        // load generator needs the other core.
        .env("TOKIO_WORKER_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let mut child = cmd.spawn().context("spawning the echo agent")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("agent stdout")?).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("listening ")
        .context("agent did not say where it listens")?;
    Ok(Server {
        name: "mlops echo agent".into(),
        rpc_url: format!("{base}/a2a/jsonrpc"),
        child,
    })
}

fn spawn_python(python: &Path) -> anyhow::Result<Server> {
    let (child, port) =
        super::spawn_python_anchor(python, "python_echo_agent.py", "the Python echo agent")?;
    Ok(Server {
        name: "a2a-sdk (Python) echo agent".into(),
        rpc_url: format!("http://127.0.0.1:{port}/"),
        child,
    })
}

pub(crate) fn body(i: usize, run: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{i},"method":"SendMessage","params":{{"message":{{"messageId":"{run}-{i}","role":"ROLE_USER","parts":[{{"text":"hello {i}"}}]}}}}}}"#
    )
}

/// Rounds per scenario: this runs on shared virtual machines, so each figure
/// is the median over rounds rather than one sample.
const ROUNDS: usize = 3;

async fn measure(
    url: &str,
    token: Option<&str>,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<Figures> {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        rounds.push(load(url, token, concurrency, total).await?);
    }
    let median = |f: fn(&Figures) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(Figures {
        requests: rounds.iter().map(|r| r.requests).sum(),
        errors: rounds.iter().map(|r| r.errors).sum(),
        rps: median(|r| r.rps),
        p50_ms: median(|r| r.p50_ms),
        p99_ms: median(|r| r.p99_ms),
    })
}

/// `total` SendMessage calls from `concurrency` workers over keep-alive
/// connections, after a warm-up; latency per call, throughput overall.
async fn load(
    url: &str,
    token: Option<&str>,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .http1_only()
        .build()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let url = url.to_owned();
    let token = token.map(str::to_owned);
    let call = move |i: usize| {
        let mut req = client
            .post(&url)
            .header("content-type", "application/json")
            .header("A2A-Version", "1.0")
            .body(body(i, &run));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        req
    };
    for i in 0..(total / 10).max(50) {
        let resp = call(total + 1 + i).send().await?;
        let text = resp.text().await?;
        if !text.contains("TASK_STATE_COMPLETED") {
            bail!("warm-up call did not complete a task: {text}");
        }
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = next.clone();
        let call = call.clone();
        workers.push(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t0 = Instant::now();
                let ok = match call(i).send().await {
                    Ok(resp) => resp
                        .text()
                        .await
                        .is_ok_and(|t| t.contains("TASK_STATE_COMPLETED")),
                    Err(_) => false,
                };
                latencies.push(t0.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        });
    }
    let results = futures_join_all(workers).await;
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = results
        .iter()
        .flat_map(|(l, _)| l.iter().copied())
        .collect();
    let errors = results.iter().map(|(_, e)| e).sum();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1e3
    };
    Ok(Figures {
        requests: latencies.len(),
        errors,
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Spawned on the current-thread runtime: concurrent, one thread.
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a load worker panicked"));
    }
    out
}

fn section(rows: &[(&str, usize, Figures, Figures)]) -> String {
    let mut md = String::new();
    md.push_str("## A2A `SendMessage`: echo agent vs the official Python SDK\n\n");
    md.push_str("Each call creates a task that goes submitted → working → artifact → completed and returns it. ");
    md.push_str("Ours runs with bearer-token auth on (ES256 JWT, verified and cached) and one runtime worker thread; the Python anchor (`a2a-sdk` 1.3, one uvicorn worker, in-memory store) has no auth. ");
    md.push_str(&format!("The load generator is a single-threaded Rust keep-alive HTTP/1.1 client on the same machine. Each figure is the median of {ROUNDS} rounds; `requests` counts all rounds.\n\n"));
    md.push_str("| agent | task store | concurrency | requests | errors | throughput (rps) | p50 (ms) | p99 (ms) | anchor rps | anchor p50 (ms) | anchor p99 (ms) | × anchor throughput |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (store, c, ours, anchor) in rows {
        md.push_str(&format!(
            "| mlops echo | {store} | {c} | {} | {} | {:.0} | {:.3} | {:.3} | {:.0} | {:.2} | {:.2} | {:.1}× |\n",
            ours.requests, ours.errors, ours.rps, ours.p50_ms, ours.p99_ms, anchor.rps, anchor.p50_ms, anchor.p99_ms,
            ours.rps / anchor.rps
        ));
    }
    let mem = |c: usize| rows.iter().find(|(s, cc, _, _)| *s == "memory" && *cc == c);
    md.push_str("\n### Goals\n\n");
    if let (Some((_, _, o1, a1)), Some((_, _, o32, a32))) = (mem(1), mem(32)) {
        md.push_str(&format!(
            "- ≥ 20× the anchor's throughput with the in-memory store: {:.1}× at c=1, {:.1}× at c=32 — {}.\n",
            o1.rps / a1.rps,
            o32.rps / a32.rps,
            if o1.rps / a1.rps >= 20.0 && o32.rps / a32.rps >= 20.0 { "met" } else { "not met" }
        ));
        md.push_str(&format!(
            "- p99 < 1 ms at c=1 (in-memory store): {:.3} ms — {}.\n",
            o1.p99_ms,
            if o1.p99_ms < 1.0 { "met" } else { "not met" }
        ));
    }
    md.push_str("\nThe Postgres rows run a quarter of the requests: each task is four committed transactions (create, working, artifact, completed), so they measure Postgres commit latency more than the agent.\n");
    md
}
