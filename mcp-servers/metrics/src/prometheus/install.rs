//! Finding the `prometheus` binary, and installing Debian's package when
//! there is none.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, bail};

/// Names a `prometheus` binary to use instead of searching PATH.
pub const BINARY_ENV: &str = "MLOPS_PROMETHEUS_BIN";

/// Where Debian's `prometheus` package puts the server.
const DEBIAN_BINARY: &str = "/usr/bin/prometheus";

/// Installs Debian's package with no recommends (node-exporter is not
/// wanted) and without starting the system-wide service it ships.
///
/// The package's postinst runs `invoke-rc.d prometheus start` (and
/// `deb-systemd-invoke start` where systemd runs) and fails the install
/// if that fails. We want neither a failure nor a second Prometheus on
/// :9090 owned by nobody, so unless the machine already has one (Docker
/// images do), a `policy-rc.d` that denies every start (exit 101, the
/// documented "action forbidden" answer of invoke-rc.d's policy layer) is
/// in place for the length of the install and removed after. If the
/// install fails on stale package lists, they are refreshed once.
const INSTALL_SCRIPT: &str = r#"set -e
export DEBIAN_FRONTEND=noninteractive
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# mlops: installing packages must not start services\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  guard=/usr/sbin/policy-rc.d
fi
trap 'if [ -n "$guard" ]; then rm -f "$guard"; fi' EXIT
install() {
  apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus
}
if ! install; then
  apt-get update -o DPkg::Lock::Timeout=300
  install
fi
"#;

/// One install at a time per process: tests start several Prometheus at once.
static INSTALLING: Mutex<()> = Mutex::new(());

/// The `prometheus` binary to run: `$MLOPS_PROMETHEUS_BIN`, else the first
/// on PATH, else Debian's `/usr/bin/prometheus`; `None` if there is none.
pub fn find_installed() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        return is_executable(&path).then_some(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .chain([PathBuf::from(DEBIAN_BINARY)])
        .find(|candidate| is_executable(candidate))
}

/// The `prometheus` binary, installing Debian's package first if there is
/// none: directly as root, else through `sudo -n` (never prompting).
/// Blocks for as long as apt takes; call it from `spawn_blocking` in async code.
pub fn ensure_installed() -> anyhow::Result<PathBuf> {
    if let Some(path) = find_installed() {
        return Ok(path);
    }
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        bail!(
            "{BINARY_ENV}={} is not an executable file",
            Path::new(&path).display()
        );
    }
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    // Another thread may have installed it while this one waited.
    if let Some(path) = find_installed() {
        return Ok(path);
    }
    if !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "prometheus is not installed and this system has no apt-get: install Prometheus 2.x and put it on PATH, or set {BINARY_ENV}"
        );
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    tracing::info!(root, "prometheus not found; installing Debian's package");
    let mut command = if root {
        Command::new("sh")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("-n").arg("sh");
        sudo
    };
    let output = command
        .arg("-c")
        .arg(INSTALL_SCRIPT)
        .output()
        .context("running apt-get to install prometheus")?;
    if !output.status.success() {
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let hint = if root {
            ""
        } else {
            " (not root, and `sudo -n` needs passwordless sudo: run `sudo apt-get install prometheus` once)"
        };
        bail!(
            "installing Debian's prometheus package failed with {}{hint}:\n{}",
            output.status,
            tail.join("\n")
        );
    }
    find_installed().context("apt-get installed prometheus, but there is no prometheus binary on PATH or at /usr/bin/prometheus")
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
