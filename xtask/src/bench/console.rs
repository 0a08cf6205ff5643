//! The console: the hydrate bundle's size, and server-side rendering time
//! to first byte for a workflow page with a 30-node graph. The anchor, in
//! the same run against the same server: the same workflow as JSON from
//! `GET /api/workflows/{id}`, the data the page renders from.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::sse::{Process, free_port, percentile, wait_ready};

const NODES: usize = 30;

pub fn run(quick: bool) -> anyhow::Result<String> {
    let site = crate::site::build()?;
    let (raw, gz) = crate::site::wasm_sizes(&site)?;
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
    let mlops = crate::site::target_dir().join("release").join("mlops");

    let scratch = tempfile::Builder::new()
        .prefix("mlops-bench-console-")
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
            .arg("--site-root")
            .arg(&site)
            .env("MLOPS_PUBLIC_URL", &base)
            .env("DATABASE_URL", &pg_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting mlops serve")?,
    );
    let requests = if quick { 50 } else { 300 };
    let result = runtime.block_on(measure(&base, &pg_url, requests));
    drop(serve);
    drop(pg);
    let m = result?;
    eprintln!(
        "bench: console wasm {} KB ({} KB gz); page TTFB p50 {:.1} ms p99 {:.1} ms; API p50 {:.1} ms",
        raw / 1024,
        gz / 1024,
        m.page_p50,
        m.page_p99,
        m.api_p50
    );
    let size_ok = if gz <= 400 * 1024 {
        "met"
    } else {
        "**missed**"
    };
    let ttfb_ok = if m.page_p50 < 20.0 {
        "met"
    } else {
        "**missed**"
    };
    Ok(format!(
        "## Console: bundle size and server rendering (measured {date}{mode})\n\n\
The hydrate bundle as `cargo xtask site` builds it (`wasm-release` profile, `wasm-bindgen --target web`, `wasm-opt -Oz`); the server sends the gzipped file.\n\n\
| file | raw | gzipped |\n|---|---|---|\n| `pkg/mlops_bg.wasm` | {raw_kb:.0} KB | {gz_kb:.0} KB |\n\n\
Time to first byte of `GET /workflows/{{id}}` for a workflow with a {NODES}-node, 38-edge graph and an open gate, {requests} sequential requests with an API token, one `mlops serve` (release build) on the machine's 2 cores. The page renders after its data is loaded (`SsrMode::Async`), so its first byte carries the whole graph. The anchor is the same workflow as JSON from the API, which the page's server function calls in process.\n\n\
| what | p50 | p99 | bytes |\n|---|---|---|---|\n\
| anchor: `GET /api/workflows/{{id}}` (JSON) | {ap50:.1} ms | {ap99:.1} ms | {abytes} |\n\
| `GET /workflows/{{id}}` (SSR HTML, TTFB) | {pp50:.1} ms | {pp99:.1} ms | {pbytes} |\n\
| `GET /workflows/{{id}}` (SSR HTML, whole body) | {fp50:.1} ms | {fp99:.1} ms | |\n\n\
### Goals\n\n- Hydrate WASM at most 400 KB gzipped: {size_ok} ({gz_kb:.0} KB).\n- SSR TTFB p50 under 20 ms for the 30-node workflow page: {ttfb_ok} ({pp50:.1} ms).\n",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        mode = if quick { ", quick mode" } else { "" },
        raw_kb = raw as f64 / 1024.0,
        gz_kb = gz as f64 / 1024.0,
        ap50 = m.api_p50,
        ap99 = m.api_p99,
        abytes = m.api_bytes,
        pp50 = m.page_p50,
        pp99 = m.page_p99,
        pbytes = m.page_bytes,
        fp50 = m.full_p50,
        fp99 = m.full_p99,
    ))
}

struct Measured {
    api_p50: f64,
    api_p99: f64,
    api_bytes: usize,
    page_p50: f64,
    page_p99: f64,
    page_bytes: usize,
    full_p50: f64,
    full_p99: f64,
}

/// A 30-node plan-shaped graph: three parallel checks, then canary steps
/// with analyses, fanning out and in.
async fn seed(pool: &sqlx::PgPool, workflow: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO control.workflows (id, kind, model, version, goal, requested_by, state, summary)
         VALUES ($1, 'deploy', 'fraud-detector', 3, '{\"goal\":\"deploy\",\"model\":\"fraud-detector\",\"version\":3}', 'bench', 'working', 'canary at 50%')",
    )
    .bind(workflow)
    .execute(pool)
    .await?;
    let states = [
        "completed",
        "completed",
        "working",
        "pending",
        "input-required",
    ];
    for i in 0..NODES {
        sqlx::query(
            "INSERT INTO control.graph_nodes (workflow, node, title, kind, agent, skill, state, progress)
             VALUES ($1, $2, $3, 'task', 'monitoring', 'watch-canary', $4, $5)",
        )
        .bind(workflow)
        .bind(format!("n{i}"))
        .bind(format!("step {i}: analysis"))
        .bind(states[i % states.len()])
        .bind((i % 5 == 2).then(|| format!("sample {i}: continue")))
        .execute(pool)
        .await?;
    }
    let mut edges = 0;
    for i in 1..NODES {
        // Each node hangs off one or two earlier ones: 29 + 9 = 38 edges.
        let mut sources = vec![(i - 1) / 2];
        if i % 3 == 0 && i >= 2 {
            sources.push(i - 2);
        }
        sources.dedup();
        for s in sources {
            sqlx::query("INSERT INTO control.graph_edges (workflow, source, target) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(workflow)
                .bind(format!("n{s}"))
                .bind(format!("n{i}"))
                .execute(pool)
                .await?;
            edges += 1;
        }
    }
    anyhow::ensure!(edges >= 30, "the bench graph has only {edges} edges");
    sqlx::query(
        "INSERT INTO control.gates (workflow, gate, node, description, role, requested_by, evidence, expires_at)
         VALUES ($1, 'approve-promotion', 'n29', 'Promote fraud-detector v3', 'approver', 'bench', '{}', now() + interval '1 hour')",
    )
    .bind(workflow)
    .execute(pool)
    .await?;
    Ok(())
}

async fn measure(base: &str, pg_url: &str, requests: usize) -> anyhow::Result<Measured> {
    wait_ready(&format!("{base}/readyz")).await?;
    let pool = sqlx::PgPool::connect(pg_url).await?;
    let token = "mlp_bench-console-token-0123456789abcdefghijklmnopqrstuvwxyz";
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
    let workflow = "bench-console-workflow";
    seed(&pool, workflow).await?;

    let http = reqwest::Client::new();
    let api_url = format!("{base}/api/workflows/{workflow}");
    let page_url = format!("{base}/workflows/{workflow}");
    // Warm both paths (connections, caches, the first render).
    for _ in 0..10 {
        http.get(&api_url)
            .bearer_auth(token)
            .send()
            .await?
            .bytes()
            .await?;
        http.get(&page_url)
            .bearer_auth(token)
            .send()
            .await?
            .bytes()
            .await?;
    }
    let (mut api, mut page, mut full) = (Vec::new(), Vec::new(), Vec::new());
    let (mut api_bytes, mut page_bytes) = (0, 0);
    for _ in 0..requests {
        let started = Instant::now();
        let response = http.get(&api_url).bearer_auth(token).send().await?;
        if !response.status().is_success() {
            bail!("API answered {}", response.status());
        }
        api_bytes = response.bytes().await?.len();
        api.push(started.elapsed().as_secs_f64() * 1000.0);

        let started = Instant::now();
        let response = http.get(&page_url).bearer_auth(token).send().await?;
        page.push(started.elapsed().as_secs_f64() * 1000.0);
        if !response.status().is_success() {
            bail!("the workflow page answered {}", response.status());
        }
        let body = response.text().await?;
        full.push(started.elapsed().as_secs_f64() * 1000.0);
        if !body.contains("step 29: analysis") {
            bail!("the workflow page did not render the graph");
        }
        page_bytes = body.len();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for v in [&mut api, &mut page, &mut full] {
        v.sort_by(f64::total_cmp);
    }
    Ok(Measured {
        api_p50: percentile(&api, 0.5),
        api_p99: percentile(&api, 0.99),
        api_bytes,
        page_p50: percentile(&page, 0.5),
        page_p99: percentile(&page, 0.99),
        page_bytes,
        full_p50: percentile(&full, 0.5),
        full_p99: percentile(&full, 0.99),
    })
}
