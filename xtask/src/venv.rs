//! The Python venv with the official SDKs, installed from PyPI on first use
//! and reinstalled whenever `xtask/requirements.txt` changes.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MLOPS_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("mlops")
}

/// Returns the venv's python, creating or refreshing the venv as needed.
pub fn ensure() -> anyhow::Result<PathBuf> {
    let requirements = crate::workspace_root()
        .join("xtask")
        .join("requirements.txt");
    let wanted =
        std::fs::read_to_string(&requirements).context("reading xtask/requirements.txt")?;
    let venv = cache_dir().join("venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join(".requirements");
    if python.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str())
    {
        return Ok(python);
    }
    eprintln!(
        "xtask: installing the official Python SDKs into {}",
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::create_dir_all(cache_dir())?;
    let interpreter = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .context("no python3 on PATH; the interop tests and benchmarks need it")?;
    run(Command::new(interpreter).args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    std::fs::write(&marker, wanted)?;
    Ok(python)
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
