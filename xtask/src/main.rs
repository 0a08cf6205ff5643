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
    /// Run every test (installs what it needs first).
    Test {
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
        Task::Test { cargo_args } => test(&cargo_args),
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
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
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

fn test(cargo_args: &[String]) -> anyhow::Result<ExitCode> {
    let python = venv::ensure()?;
    mlops_postgres::ensure_server_installed().context("installing Postgres")?;
    // Before the tests, so no test waits on apt in the middle of its run.
    mlops_mcp_metrics::prometheus::ensure_installed().context("installing Prometheus")?;
    ensure_dev_idp()?;
    // The console's tests load its pages in a browser: the bundle first.
    site::build()?;
    let dir = tempfile::Builder::new()
        .prefix("mlops-test-run-")
        .tempdir()?;
    eprintln!("xtask: starting the run's throwaway Postgres cluster");
    let cluster = mlops_postgres::EmbeddedCluster::prepare_for_tests(dir.path())
        .context("preparing the test cluster")?;
    let running = cluster.start().context("starting the test cluster")?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
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
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
