//! Developer tasks.
//!
//! - `cargo xtask test`: the whole suite, with nothing set up beforehand. It
//!   installs the official Python SDKs in a venv, starts one throwaway
//!   Postgres cluster for the run, and runs every test against them.
//! - `cargo xtask bench`: every benchmark beside its anchor, written to
//!   `docs/benchmarks.md`.
//! - `cargo xtask site`: the console's browser bundle ([`site`]).
//! - `cargo xtask run`: the whole system, as a user runs it: the bundle, a
//!   release build, then `mlops up`.

mod bench;
mod site;
mod venv;

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Developer tasks for the mlops workspace")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every test (installs what it needs first): the workspace's
    /// tests, then the end-to-end journeys in a browser.
    Test {
        /// Only the end-to-end suite (builds what it needs first).
        #[arg(long, conflicts_with = "no_e2e")]
        e2e_only: bool,
        /// Skip the end-to-end suite.
        #[arg(long)]
        no_e2e: bool,
        /// Extra arguments for `cargo test`, after `--`.
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Build the console's browser bundle into <target>/site.
    Site,
    /// Build everything (release) and start the whole system with `mlops up`.
    Run {
        /// Arguments for `mlops up`, after `--`.
        #[arg(last = true)]
        up_args: Vec<String>,
    },
    /// Run the benchmarks and write docs/benchmarks.md.
    Bench {
        /// Fewer requests, for a quick look.
        #[arg(long)]
        quick: bool,
        /// Run only these benchmarks (comma-separated).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.task {
        Task::Test {
            e2e_only,
            no_e2e,
            cargo_args,
        } => test(&cargo_args, e2e_only, no_e2e),
        Task::Site => {
            site::build()?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Run { up_args } => run_system(&up_args),
        Task::Bench { quick, only } => {
            bench::run(quick, &only)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> std::path::PathBuf {
    // `cargo xtask` is `cargo run`, which names this package's directory at
    // run time; that wins over the path compiled in. With the build cache
    // shared between checkouts (CI's fresh clone and a working tree), cargo
    // may run an xtask binary another checkout built, and the compiled-in
    // path would then send every test to that other checkout.
    let xtask = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    xtask
        .parent()
        .expect("xtask sits inside the workspace")
        .to_owned()
}

/// Node.js and npm, from Debian when missing.
pub fn ensure_node() -> anyhow::Result<()> {
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_node {
        eprintln!("xtask: installing Node.js from Debian");
        let ok = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm",
            ])
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(ok, "apt-get install nodejs npm failed");
    }
    Ok(())
}

/// Node and the dev IdP's npm packages (e2e/idp), which the sign-in tests
/// and `mlops up` run.
fn ensure_dev_idp() -> anyhow::Result<()> {
    ensure_node()?;
    let idp = workspace_root().join("e2e").join("idp");
    if !idp.join("node_modules").join("oidc-provider").exists() {
        eprintln!("xtask: installing the dev IdP's npm packages");
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&idp)
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(ok, "npm ci in {} failed", idp.display());
    }
    Ok(())
}

/// Debian's Chromium and the browser scripts' npm packages (e2e/), which
/// the console's browser tests drive.
fn ensure_browser() -> anyhow::Result<()> {
    ensure_node()?;
    if !Path::new("/usr/bin/chromium").exists() {
        eprintln!("xtask: installing Chromium from Debian");
        let ok = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
            ])
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(ok, "apt-get install chromium failed");
    }
    let e2e = workspace_root().join("e2e");
    if !e2e.join("node_modules").join("playwright-core").exists()
        || !e2e.join("node_modules").join("axe-core").exists()
    {
        eprintln!("xtask: installing the browser scripts' npm packages");
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&e2e)
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(ok, "npm ci in {} failed", e2e.display());
    }
    Ok(())
}

fn test(cargo_args: &[String], e2e_only: bool, no_e2e: bool) -> anyhow::Result<ExitCode> {
    let python = venv::ensure()?;
    mlops_postgres::ensure_server_installed().context("installing Postgres")?;
    // Before the tests, so no test waits on apt in the middle of its run.
    mlops_mcp_metrics::prometheus::ensure_installed().context("installing Prometheus")?;
    ensure_dev_idp()?;
    if !no_e2e {
        ensure_browser()?;
    }
    // The console's pages load the bundle in the browser: build it first.
    site::build()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut ok = true;
    if e2e_only {
        // The same debug binary the workspace tests use: one build per profile.
        let status = Command::new(&cargo)
            .args(["build", "-p", "mlops", "--bin", "mlops"])
            .current_dir(workspace_root())
            .status()
            .context("building mlops")?;
        anyhow::ensure!(status.success(), "cargo build -p mlops failed");
    } else {
        let dir = tempfile::Builder::new()
            .prefix("mlops-test-run-")
            .tempdir()?;
        eprintln!("xtask: starting the run's throwaway Postgres cluster");
        let cluster = mlops_postgres::EmbeddedCluster::prepare_for_tests(dir.path())
            .context("preparing the test cluster")?;
        let running = cluster.start().context("starting the test cluster")?;
        let status = Command::new(&cargo)
            .args(["test", "--workspace", "--all-targets"])
            .args(cargo_args)
            .current_dir(workspace_root())
            .env("MLOPS_TEST_DATABASE_URL", running.cluster().admin_url())
            .env("MLOPS_PYTHON", &python)
            // The venv has Evidently too: the drift tests compare against it.
            .env("MLOPS_EVIDENTLY_PYTHON", &python)
            .status()
            .context("running cargo test")?;
        drop(running);
        ok &= status.success();
    }
    if !no_e2e {
        ok &= e2e(&python)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The end-to-end suite (`e2e/suite.mjs`): every journey in Debian's
/// Chromium against `mlops up`, run from the debug binary the workspace
/// tests built.
fn e2e(python: &Path) -> anyhow::Result<bool> {
    let mlops = site::target_dir().join("debug").join("mlops");
    anyhow::ensure!(mlops.exists(), "{} is not built", mlops.display());
    eprintln!("xtask: the end-to-end journeys (e2e/suite.mjs)");
    let started = std::time::Instant::now();
    let status = Command::new("node")
        .args(["--test-reporter=spec", "suite.mjs"])
        .current_dir(workspace_root().join("e2e"))
        .env("MLOPS_BIN", &mlops)
        .env("MLOPS_PYTHON", python)
        .status()
        .context("running node e2e/suite.mjs")?;
    eprintln!(
        "xtask: end-to-end suite {} in {:.0} s",
        if status.success() { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    Ok(status.success())
}

/// `cargo xtask run`: the bundle, the release build, then `mlops up` in
/// the foreground (Ctrl-C stops everything).
fn run_system(up_args: &[String]) -> anyhow::Result<ExitCode> {
    site::build()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "mlops", "--bin", "mlops"])
        .current_dir(workspace_root())
        .status()
        .context("building mlops")?;
    anyhow::ensure!(status.success(), "cargo build --release failed");
    let mlops = site::target_dir().join("release").join("mlops");
    let status = Command::new(&mlops)
        .arg("up")
        .args(up_args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("starting {}", mlops.display()))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
