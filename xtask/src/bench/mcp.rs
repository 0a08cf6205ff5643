//! MCP `tools/call` throughput and latency: a kit-built echo server (the
//! `mlops-mcp-kit` example `echo_mcp_server`) beside the official Python SDK's
//! `MCPServer` with the same tool, measured in the same run.
//!
//! Both servers run stateless with JSON responses, and are measured on the
//! two wires a client can use with them:
//!
//! - 2025-11-25: what rmcp's `serve()` and the Python `ClientSession` with
//!   `initialize()` end up on (both servers answer an `initialize` proposing
//!   2026-07-28 with 2025-11-25), so what our agents and interop tests send.
//!   A stateless server issues no session id, so after the handshake each
//!   call is a plain POST. Neither server needs the handshake before a
//!   stateless call, so the load skips it (and checks every answer).
//! - 2026-07-28: no handshake at all; each call carries its protocol version,
//!   client info and capabilities in `params._meta`, and the `Mcp-Method` and
//!   `Mcp-Name` routing headers, which both servers insist on.
//!
//! Besides rps and latency, each scenario records the CPU time the server
//! process spent per call (from `/proc/PID/task/*/schedstat`): the box is
//! shared, and CPU per call does not depend on what else is running.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mlops_service_auth::{Scope, SigningKey, TokenRequest};

const ISSUER: &str = "http://bench.control-plane";
/// The example server's name, and so its tokens' audience.
const AUDIENCE: &str = "echo";
/// The scope the example server's policy requires for `echo`.
const ECHO_SCOPE: &str = "bench:echo";

/// Rounds per scenario: this runs on shared virtual machines, so each figure
/// is the median over rounds rather than one sample.
const ROUNDS: usize = 3;

/// How a call is put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// Protocol 2025-11-25, the newest with an `initialize` handshake.
    Handshake,
    /// Protocol 2026-07-28: every request self-contained.
    SelfContained,
}

impl Wire {
    fn version(self) -> &'static str {
        match self {
            Wire::Handshake => "2025-11-25",
            Wire::SelfContained => "2026-07-28",
        }
    }
}

/// What the load generator sends.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// `tools/call` of `echo` on this wire.
    Echo(Wire),
    /// `GET /healthz` on our server: axum and hyper with no auth and no MCP,
    /// the floor for any HTTP call on this machine with this load generator.
    Healthz,
}

/// Kills the child when the benchmark is done with it.
struct Server {
    name: &'static str,
    child: Child,
    base_url: String,
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
    /// CPU time of the server process per call, all its threads.
    server_cpu_us: Option<f64>,
    /// CPU time of the load generator per call.
    client_cpu_us: Option<f64>,
}

struct Row {
    wire: Wire,
    concurrency: usize,
    ours: Figures,
    anchor: Figures,
}

/// Runs the MCP scenarios; returns the report's section.
pub fn run(quick: bool) -> anyhow::Result<String> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: building the echo MCP server (release)");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "mlops-mcp-kit",
            "--example",
            "echo_mcp_server",
        ])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let server_bin = target
        .join("release")
        .join("examples")
        .join("echo_mcp_server");
    let python = crate::venv::ensure()?;

    let scratch = tempfile::Builder::new()
        .prefix("mlops-bench-mcp-")
        .tempdir()?;
    let key = SigningKey::generate()?;
    let jwks_file = scratch.path().join("jwks.json");
    std::fs::write(&jwks_file, serde_json::to_vec(&key.jwks())?)?;
    let token = key
        .mint(
            ISSUER,
            &TokenRequest::new(
                "bench",
                AUDIENCE,
                vec![Scope::parse(ECHO_SCOPE)?],
                Duration::from_secs(3600),
            )?,
        )?
        .0;

    // The load generator gets one thread (and so about one core); the server
    // under test gets the other.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let (n1, n32, py_n1, py_n32) = if quick {
        (2000, 4000, 300, 600)
    } else {
        (20000, 40000, 2000, 3000)
    };
    let load_before = load_average();
    let mut rows = Vec::new();
    for wire in [Wire::Handshake, Wire::SelfContained] {
        for (concurrency, ours_n, anchor_n) in [(1usize, n1, py_n1), (32, n32, py_n32)] {
            let anchor = {
                let server = spawn_python(&python)?;
                let figures = runtime.block_on(measure(
                    &server,
                    None,
                    Load::Echo(wire),
                    concurrency,
                    anchor_n,
                ))?;
                eprintln!(
                    "bench: {} {} c={concurrency}: {figures:?}",
                    server.name,
                    wire.version()
                );
                figures
            };
            let server = spawn_ours(&server_bin, &jwks_file)?;
            runtime.block_on(refuses_without_token(&server.base_url, wire))?;
            let ours = runtime.block_on(measure(
                &server,
                Some(&token),
                Load::Echo(wire),
                concurrency,
                ours_n,
            ))?;
            eprintln!(
                "bench: {} {} c={concurrency}: {ours:?}",
                server.name,
                wire.version()
            );
            rows.push(Row {
                wire,
                concurrency,
                ours,
                anchor,
            });
        }
    }
    let mut floor = Vec::new();
    for (concurrency, n) in [(1usize, n1), (32, n32)] {
        let server = spawn_ours(&server_bin, &jwks_file)?;
        let figures = runtime.block_on(measure(&server, None, Load::Healthz, concurrency, n))?;
        eprintln!(
            "bench: {} GET /healthz c={concurrency}: {figures:?}",
            server.name
        );
        floor.push((concurrency, figures));
    }
    let load_after = load_average();
    Ok(section(&rows, &floor, load_before, load_after))
}

fn spawn_ours(bin: &Path, jwks: &Path) -> anyhow::Result<Server> {
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--issuer", ISSUER, "--jwks-file"])
        .arg(jwks)
        .env("RUST_LOG", "error")
        // One runtime worker: the Python anchor runs one event loop, and the
        // load generator needs the other core.
        .env("TOKIO_WORKER_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawning the echo MCP server")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("server stdout")?).read_line(&mut line)?;
    let mcp_url = line
        .trim()
        .strip_prefix("listening ")
        .context("the echo MCP server did not say where it listens")?;
    let base_url = mcp_url
        .strip_suffix("/mcp")
        .context("the echo MCP server's URL does not end in /mcp")?
        .to_owned();
    Ok(Server {
        name: "mlops echo (rmcp + kit)",
        child,
        base_url,
    })
}

fn spawn_python(python: &Path) -> anyhow::Result<Server> {
    let (child, port) =
        super::spawn_python_anchor(python, "python_mcp_server.py", "the Python MCP server")?;
    Ok(Server {
        name: "mcp (Python) MCPServer",
        child,
        base_url: format!("http://127.0.0.1:{port}"),
    })
}

/// The text call `i` of run `run` asks to have echoed: unique per call, so a
/// response can only pass if it answers that very call.
fn echo_text(run: &str, i: usize) -> String {
    format!("hello {run} {i}")
}

/// A `tools/call` of `echo` as `wire` wants it.
fn body(wire: Wire, i: usize, run: &str) -> String {
    let mut params = serde_json::json!({
        "name": "echo",
        "arguments": { "text": echo_text(run, i) },
    });
    if wire == Wire::SelfContained {
        params["_meta"] = serde_json::json!({
            "io.modelcontextprotocol/protocolVersion": wire.version(),
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "mlops-bench", "version": "1.0.0" },
        });
    }
    serde_json::json!({ "jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params })
        .to_string()
}

/// Whether `response` is the successful result of call `i`: the right id, no
/// tool error, and the echoed text as its first content block.
fn echoed(response: &[u8], i: usize, run: &str) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(response) else {
        return false;
    };
    let result = &value["result"];
    value["id"].as_u64() == Some(i as u64)
        && result["isError"].as_bool() != Some(true)
        && result["content"][0]["type"] == "text"
        && result["content"][0]["text"].as_str() == Some(echo_text(run, i).as_str())
}

fn request(
    client: &reqwest::Client,
    base_url: &str,
    token: Option<&str>,
    load: Load,
    i: usize,
    run: &str,
) -> reqwest::RequestBuilder {
    let wire = match load {
        Load::Healthz => return client.get(format!("{base_url}/healthz")),
        Load::Echo(wire) => wire,
    };
    let mut req = client
        .post(format!("{base_url}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", wire.version())
        .body(body(wire, i, run));
    if wire == Wire::SelfContained {
        req = req
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req
}

/// Our server must turn away a call with no token: the figures are only
/// meaningful with auth on.
async fn refuses_without_token(base_url: &str, wire: Wire) -> anyhow::Result<()> {
    let status = request(
        &reqwest::Client::new(),
        base_url,
        None,
        Load::Echo(wire),
        0,
        "probe",
    )
    .send()
    .await?
    .status();
    if status != reqwest::StatusCode::UNAUTHORIZED {
        bail!("the echo MCP server answered a call without a token with {status}, not 401");
    }
    Ok(())
}

async fn measure(
    server: &Server,
    token: Option<&str>,
    load: Load,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<Figures> {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        rounds.push(
            load_round(
                &server.base_url,
                server.child.id(),
                token,
                load,
                concurrency,
                total,
            )
            .await?,
        );
    }
    let median = |f: fn(&Figures) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let median_of = |f: fn(&Figures) -> Option<f64>| {
        let mut v: Vec<f64> = rounds.iter().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        (v.len() == rounds.len()).then(|| v[v.len() / 2])
    };
    Ok(Figures {
        requests: rounds.iter().map(|r| r.requests).sum(),
        errors: rounds.iter().map(|r| r.errors).sum(),
        rps: median(|r| r.rps),
        p50_ms: median(|r| r.p50_ms),
        p99_ms: median(|r| r.p99_ms),
        server_cpu_us: median_of(|r| r.server_cpu_us),
        client_cpu_us: median_of(|r| r.client_cpu_us),
    })
}

/// `total` calls from `concurrency` workers over keep-alive connections,
/// after a warm-up at the same concurrency (so every connection is open
/// before the clock starts); latency per call, throughput overall, and the
/// CPU time the server (`pid`) and this process spent per call.
///
/// The requests are built before the clock starts and the responses checked
/// after it stops: the load generator shares a 2-core machine with the
/// server, so the less CPU it spends while timed, the more the figures say
/// about the server. Every response is still checked.
async fn load_round(
    base_url: &str,
    pid: u32,
    token: Option<&str>,
    load: Load,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .http1_only()
        .build()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let warm_up = (total / 10).max(50).max(concurrency * 4);
    let prepare = |ids: std::ops::Range<usize>| -> anyhow::Result<Calls> {
        let requests = ids
            .clone()
            .map(|i| {
                Ok(Some(
                    request(&client, base_url, token, load, i, &run).build()?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Calls {
            first_id: ids.start,
            requests: std::sync::Mutex::new(requests),
            next: AtomicUsize::new(0),
        })
    };
    // Call ids: the warm-up takes total.., the measured calls 0..total.
    let warm_up_calls = prepare(total..total + warm_up)?;
    let answers = Arc::new(warm_up_calls).run(&client, concurrency).await;
    let warm_up_errors = errors(load, &run, &answers);
    if warm_up_errors > 0 {
        bail!("{warm_up_errors} of {warm_up} warm-up calls to {base_url} ({load:?}) failed");
    }
    let calls = Arc::new(prepare(0..total)?);
    let server_cpu_before = cpu_time(&format!("/proc/{pid}"));
    let client_cpu_before = cpu_time("/proc/self");
    let started = Instant::now();
    let answers = calls.run(&client, concurrency).await;
    let elapsed = started.elapsed();
    let per_call = |before: Option<Duration>, after: Option<Duration>| {
        Some((after?.checked_sub(before?)?).as_secs_f64() * 1e6 / total as f64)
    };
    let server_cpu_us = per_call(server_cpu_before, cpu_time(&format!("/proc/{pid}")));
    let client_cpu_us = per_call(client_cpu_before, cpu_time("/proc/self"));
    let errors = errors(load, &run, &answers);
    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
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
        server_cpu_us,
        client_cpu_us,
    })
}

/// One round's requests, built ahead, taken in order by the workers.
struct Calls {
    /// The call id of `requests[0]`.
    first_id: usize,
    /// Each taken (set to `None`) by the worker that sends it. The workers
    /// share one thread, so the lock is never contended.
    requests: std::sync::Mutex<Vec<Option<reqwest::Request>>>,
    next: AtomicUsize,
}

/// What came back for one call; checked once the clock has stopped.
struct Answer {
    id: usize,
    latency: Duration,
    /// The body of a 2xx response; `None` for any other status or a failure.
    body: Option<Vec<u8>>,
}

impl Calls {
    fn take(&self) -> Option<(usize, reqwest::Request)> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let mut requests = self.requests.lock().ok()?;
        let request = requests.get_mut(index)?.take()?;
        Some((self.first_id + index, request))
    }

    /// Sends every request from `concurrency` workers.
    async fn run(self: Arc<Self>, client: &reqwest::Client, concurrency: usize) -> Vec<Answer> {
        let mut workers = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let (client, calls) = (client.clone(), self.clone());
            // Spawned on the current-thread runtime: concurrent, one thread.
            workers.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                while let Some((id, request)) = calls.take() {
                    let t0 = Instant::now();
                    let body = match client.execute(request).await {
                        Ok(response) if response.status().is_success() => {
                            response.bytes().await.ok().map(|b| b.to_vec())
                        }
                        Ok(_) | Err(_) => None,
                    };
                    answers.push(Answer {
                        id,
                        latency: t0.elapsed(),
                        body,
                    });
                }
                answers
            }));
        }
        let mut answers = Vec::new();
        for worker in workers {
            answers.extend(worker.await.expect("a load worker panicked"));
        }
        answers
    }
}

/// How many answers are not what `load` should get back.
fn errors(load: Load, run: &str, answers: &[Answer]) -> usize {
    answers
        .iter()
        .filter(|a| {
            !a.body.as_deref().is_some_and(|body| match load {
                Load::Healthz => body == b"ok",
                Load::Echo(_) => echoed(body, a.id, run),
            })
        })
        .count()
}

/// CPU time a process has used so far, over all its live threads
/// (`/proc/PID/task/*/schedstat`, nanoseconds on CPU first); `None` where
/// the kernel does not say.
fn cpu_time(proc_dir: &str) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("{proc_dir}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// The one-minute load average, to show how busy the shared machine was.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn micros(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.0}"))
}

fn section(
    rows: &[Row],
    floor: &[(usize, Figures)],
    load_before: Option<f64>,
    load_after: Option<f64>,
) -> String {
    let mut md = String::new();
    md.push_str("## MCP `tools/call`: kit-built echo server vs the official Python SDK\n\n");
    md.push_str("Each call is a JSON-RPC `tools/call` of a one-tool server's `echo { text }`, which returns the text; the load generator checks every response carries its call's id and echoed text, and counts any other answer as an error. ");
    md.push_str("Both servers run stateless with JSON responses (one POST to `/mcp` per call, no session) and are measured on two wires: ");
    md.push_str("**2025-11-25**, what rmcp's `serve()` and the Python `ClientSession.initialize()` negotiate, so what our agents send (neither server needs the `initialize` handshake before a stateless call, and a stateless server issues no session id, so the load skips it); ");
    md.push_str("and **2026-07-28**, where every call carries its protocol version, client info and capabilities in `params._meta` plus the `Mcp-Method`/`Mcp-Name` headers both servers require.\n\n");
    md.push_str(&format!("Ours is the `mlops-mcp-kit` example `echo_mcp_server`, built like the real servers (rmcp 3.9 tool router, `ToolKit` with a one-tool policy requiring scope `{ECHO_SCOPE}`, `McpHttpServer`), with bearer-token auth on (ES256 JWT, verified and cached; a call without a token is checked to get 401 before measuring) and **no audit log** (`ToolKit::new(.., None)`: the real servers write an audit row to Postgres per call, which would measure Postgres commits), on one tokio worker thread (`TOKIO_WORKER_THREADS=1`). "));
    md.push_str("The anchor is the official Python SDK (`mcp` 2.3 `MCPServer`, `stateless_http=True`, `json_response=True`, one uvicorn worker, SDK logging at WARNING) with no auth. ");
    md.push_str(&format!("The load generator is a single-threaded Rust keep-alive HTTP/1.1 client on the same machine; a warm-up at the same concurrency opens every connection before the clock starts. Each figure is the median of {ROUNDS} rounds; `requests` counts all rounds. `CPU/call` is the CPU time the server process used per call (all threads, from `/proc/PID/task/*/schedstat`), which does not depend on what else the shared machine runs.\n\n"));
    md.push_str("| server | wire | concurrency | requests | errors | throughput (rps) | p50 (ms) | p99 (ms) | CPU/call (µs) | anchor requests | anchor errors | anchor rps | anchor p50 (ms) | anchor p99 (ms) | anchor CPU/call (µs) | × anchor throughput |\n");
    md.push_str(
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for Row {
        wire,
        concurrency,
        ours,
        anchor,
    } in rows
    {
        md.push_str(&format!(
            "| mlops echo | {} | {concurrency} | {} | {} | {:.0} | {:.3} | {:.3} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.1}× |\n",
            wire.version(),
            ours.requests,
            ours.errors,
            ours.rps,
            ours.p50_ms,
            ours.p99_ms,
            micros(ours.server_cpu_us),
            anchor.requests,
            anchor.errors,
            anchor.rps,
            anchor.p50_ms,
            anchor.p99_ms,
            micros(anchor.server_cpu_us),
            ours.rps / anchor.rps
        ));
    }

    md.push_str("\n### Goals\n\n");
    for wire in [Wire::Handshake, Wire::SelfContained] {
        let at = |c: usize| rows.iter().find(|r| r.wire == wire && r.concurrency == c);
        let (Some(r1), Some(r32)) = (at(1), at(32)) else {
            continue;
        };
        let (x1, x32) = (r1.ours.rps / r1.anchor.rps, r32.ours.rps / r32.anchor.rps);
        let clean = r1.ours.errors == 0 && r32.ours.errors == 0;
        md.push_str(&format!(
            "- ≥ 20× the anchor's throughput at c=1 and c=32 ({}): {x1:.1}× at c=1 ({:.0} vs {:.0} rps), {x32:.1}× at c=32 ({:.0} vs {:.0} rps){} — {}.\n",
            wire.version(),
            r1.ours.rps,
            r1.anchor.rps,
            r32.ours.rps,
            r32.anchor.rps,
            if clean { "" } else { ", with errors" },
            if x1 >= 20.0 && x32 >= 20.0 && clean { "met" } else { "not met" }
        ));
    }

    let cpu_ratios: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let (ours, anchor) = (r.ours.server_cpu_us?, r.anchor.server_cpu_us?);
            Some(format!(
                "{} c={}: {ours:.0} vs {anchor:.0} µs ({:.1}× less)",
                r.wire.version(),
                r.concurrency,
                anchor / ours
            ))
        })
        .collect();
    if !cpu_ratios.is_empty() {
        md.push_str(&format!(
            "- For reference, not the goal: server CPU per call, which other work on the machine skews far less than throughput: {}. With a core each for server and load generator and nothing else running, throughput at c=32 would approach this ratio.\n",
            cpu_ratios.join("; ")
        ));
    }

    md.push_str("\n### The floor on this machine\n\n");
    md.push_str("`GET /healthz` on the same server with the same load generator: axum and hyper with no auth, no body and no MCP, so no MCP server can answer faster here. The `20× anchor` column is the throughput the goal asks for on the 2025-11-25 wire. ");
    md.push_str("At c=1 each call is two wake-ups across cores (load generator → server → load generator), and on a virtual machine with idle cores a wake-up costs more than the work, so the c=1 figures, this floor included, swing with where the scheduler puts the two processes and with how busy the machine is.\n\n");
    md.push_str("| concurrency | throughput (rps) | p50 (ms) | p99 (ms) | server CPU/call (µs) | load generator CPU/call (µs) | 20× anchor (rps) |\n");
    md.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (concurrency, f) in floor {
        let goal = rows
            .iter()
            .find(|r| r.wire == Wire::Handshake && r.concurrency == *concurrency)
            .map_or_else(|| "n/a".into(), |r| format!("{:.0}", 20.0 * r.anchor.rps));
        md.push_str(&format!(
            "| {concurrency} | {:.0} | {:.3} | {:.3} | {} | {} | {goal} |\n",
            f.rps,
            f.p50_ms,
            f.p99_ms,
            micros(f.server_cpu_us),
            micros(f.client_cpu_us),
        ));
    }
    let client_cpu: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} c={}: {} µs",
                r.wire.version(),
                r.concurrency,
                micros(r.ours.client_cpu_us)
            )
        })
        .collect();
    md.push_str(&format!(
        "\nThe load generator's own CPU per call against ours: {}.\n",
        client_cpu.join(", ")
    ));
    let show = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |v| format!("{v:.1}"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    md.push_str(&format!(
        "\nOne-minute load average when this section started and ended: {} and {} on {cores} cores; the benchmark itself keeps about 2 busy, so more means other work competed with it.\n",
        show(load_before),
        show(load_after)
    ));
    md
}
