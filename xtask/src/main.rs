//! Developer tasks.
//!
//! - `cargo xtask test`: the whole suite, with nothing set up beforehand. It
//!   installs the official Python SDKs in a venv, starts one throwaway
//!   Postgres cluster for the run, and runs every test against them.
//! - `cargo xtask bench`: measures the echo agent beside the official Python
//!   SDK's echo agent in the same run and writes `docs/benchmarks.md`.

mod bench;
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

/// Node and the dev IdP's npm packages (e2e/idp), which the sign-in tests
/// and `mlops up` run.
fn ensure_dev_idp() -> anyhow::Result<()> {
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
