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
//! - [`console`]: the hydrate bundle's size, and SSR time to first byte of
//!   a 30-node workflow page against the same data as JSON.

mod a2a;
mod console;
mod drift;
mod mcp;
mod orchestrator;
mod sse;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The benchmarks `--only` can pick.
pub const SECTIONS: &[&str] = &["a2a", "mcp", "drift", "orchestrator", "sse", "console"];

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
        sections.push(("a2a", a2a::run(quick)?));
    }
    if wanted("mcp") {
        sections.push(("mcp", mcp::run(quick)?));
    }
    if wanted("drift") {
        sections.push(("drift", drift::run(quick)?));
    }
    if wanted("orchestrator") {
        sections.push(("orchestrator", orchestrator::run(quick)?));
    }
    if wanted("sse") {
        sections.push(("sse", sse::run(quick)?));
    }
    if wanted("console") {
        sections.push(("console", console::run(quick)?));
    }
    let path = crate::workspace_root().join("docs").join("benchmarks.md");
    std::fs::create_dir_all(path.parent().expect("docs/ has a parent"))?;
    // A partial run re-measures only its sections and keeps the others'
    // figures (each names the run that measured it).
    let previous = if only.is_empty() {
        None
    } else {
        std::fs::read_to_string(&path).ok()
    };
    let stamp = run_stamp(quick);
    let md = match previous {
        Some(previous) => splice(&previous, &stamp, &sections),
        None => report(&stamp, &sections),
    };
    std::fs::write(&path, md)?;
    eprintln!("bench: wrote {}", path.display());
    Ok(())
}

const HEADER: &str = "# Benchmarks\n\nWritten by `cargo xtask bench`; every figure beside its anchor, measured in the same run on the same machine. A partial run (`--only`) replaces its own sections and leaves the rest; each section names the run that measured it.\n\n";

fn begin_marker(name: &str) -> String {
    format!("<!-- bench:{name} -->")
}

fn end_marker(name: &str) -> String {
    format!("<!-- /bench:{name} -->")
}

/// One section as written: markers, the run that measured it, its text.
fn section_block(name: &str, stamp: &str, text: &str) -> String {
    format!(
        "{}\n{}\n\n_Run: {stamp}_\n{}\n",
        begin_marker(name),
        text.trim_end(),
        end_marker(name)
    )
}

fn report(stamp: &str, sections: &[(&str, String)]) -> String {
    let mut md = String::from(HEADER);
    for (name, text) in sections {
        md.push_str(&section_block(name, stamp, text));
        md.push('\n');
    }
    md
}

/// Replaces each named section of `previous` in place (or appends it), in
/// the order of [`SECTIONS`] for new ones.
fn splice(previous: &str, stamp: &str, sections: &[(&str, String)]) -> String {
    let mut md = previous.to_owned();
    for (name, text) in sections {
        let block = section_block(name, stamp, text);
        let (begin, end) = (begin_marker(name), end_marker(name));
        match (md.find(&begin), md.find(&end)) {
            (Some(b), Some(e)) if e > b => {
                let e = e + end.len();
                let e = if md[e..].starts_with('\n') { e + 1 } else { e };
                md.replace_range(b..e, &block);
            }
            _ => {
                if !md.ends_with("\n\n") {
                    md.push('\n');
                }
                md.push_str(&block);
                md.push('\n');
            }
        }
    }
    md
}

fn run_stamp(quick: bool) -> String {
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "{} · {cores} cores · {rustc}{}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if quick {
            " · quick mode (fewer requests)"
        } else {
            ""
        },
    )
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
