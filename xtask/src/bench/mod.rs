//! `cargo xtask bench`: every benchmark beside its anchor, measured in the
//! same run on the same machine, written to `docs/benchmarks.md`.
//!
//! - [`a2a`]: the echo agent's SendMessage against the official Python SDK.
//! - [`mcp`]: an MCP `tools/call` on a kit-built server against the official
//!   Python SDK.
//! - [`drift`]: the drift report against Evidently 0.7's `DataDriftPreset`.
//! - [`orchestrator`]: deploy workflows with instant agents against the
//!   Postgres ceiling (`pgbench -N`).
//! - [`sse`]: SSE fan-out to 1,000 clients against a bare LISTEN/NOTIFY.

mod a2a;
mod drift;
mod mcp;
mod orchestrator;
mod sse;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The benchmarks `--only` can pick.
pub const SECTIONS: &[&str] = &["a2a", "mcp", "drift", "orchestrator", "sse"];

pub fn run(quick: bool, only: &[String]) -> anyhow::Result<()> {
    if let Some(unknown) = only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        anyhow::bail!(
            "unknown benchmark {unknown:?}; choose from {}",
            SECTIONS.join(", ")
        );
    }
    let wanted = |name: &str| only.is_empty() || only.iter().any(|s| s == name);
    let mut sections = Vec::new();
    if wanted("a2a") {
        sections.push(a2a::run(quick)?);
    }
    if wanted("mcp") {
        sections.push(mcp::run(quick)?);
    }
    if wanted("drift") {
        sections.push(drift::run(quick)?);
    }
    if wanted("orchestrator") {
        sections.push(orchestrator::run(quick)?);
    }
    if wanted("sse") {
        sections.push(sse::run(quick)?);
    }
    let path = crate::workspace_root().join("docs").join("benchmarks.md");
    std::fs::create_dir_all(path.parent().expect("docs/ has a parent"))?;
    std::fs::write(&path, report(quick, only, &sections))?;
    eprintln!("bench: wrote {}", path.display());
    Ok(())
}

fn report(quick: bool, only: &[String], sections: &[String]) -> String {
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mut md = String::from("# Benchmarks\n\n");
    md.push_str("Written by `cargo xtask bench`; every figure beside its anchor, measured in the same run on the same machine.\n\n");
    md.push_str(&format!(
        "Run: {} · {cores} cores · {rustc}{}{}\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if quick {
            " · quick mode (fewer requests)"
        } else {
            ""
        },
        if only.is_empty() {
            String::new()
        } else {
            format!(" · only {}", only.join(", "))
        }
    ));
    for section in sections {
        md.push_str(section);
        md.push('\n');
    }
    md
}

/// Starts `xtask/bench/<script>` under the venv's `python` with a free port
/// as its argument, and waits until the port accepts connections.
pub(crate) fn spawn_python_anchor(
    python: &Path,
    script: &str,
    what: &str,
) -> anyhow::Result<(Child, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = Command::new(python)
        .arg(
            crate::workspace_root()
                .join("xtask")
                .join("bench")
                .join(script),
        )
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawning {what}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((child, port))
}
