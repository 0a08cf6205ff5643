//! A Prometheus child process that this process owns, for tests and tools
//! that are not under a supervisor.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{FileSd, PrometheusConfig, ensure_installed};

/// How long a fresh Prometheus may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Prometheus; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct RunningPrometheus {
    child: Child,
    config: PrometheusConfig,
    log_path: PathBuf,
}

impl RunningPrometheus {
    /// Writes `config`, starts `binary` with it (stdout and stderr to
    /// `data_dir/prometheus.log`) and waits until it is ready.
    pub async fn start(binary: &Path, config: PrometheusConfig) -> anyhow::Result<Self> {
        config.write()?;
        let log_path = config.data_dir.join("prometheus.log");
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = config
            .command(binary)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut running = RunningPrometheus {
            child,
            config,
            log_path,
        };
        let url = running.url();
        let deadline = Instant::now() + READY_TIMEOUT;
        let http = reqwest::Client::new();
        loop {
            if let Some(status) = running.child.try_wait()? {
                bail!(
                    "prometheus exited with {status} before it was ready:\n{}",
                    running.log_tail()
                );
            }
            if ready(&http, &url).await {
                tracing::info!(url = %url, pid = running.child.id(), "prometheus ready");
                return Ok(running);
            }
            if Instant::now() > deadline {
                bail!(
                    "prometheus at {url} was not ready within {} s:\n{}",
                    READY_TIMEOUT.as_secs(),
                    running.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The base URL of its HTTP API.
    pub fn url(&self) -> String {
        self.config.url()
    }

    pub fn config(&self) -> &PrometheusConfig {
        &self.config
    }

    /// The target files of its `mlops` scrape job.
    pub fn file_sd(&self) -> anyhow::Result<FileSd> {
        FileSd::new(&self.config.sd_dir)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for RunningPrometheus {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM lets it close the TSDB cleanly; SIGKILL if it lingers.
            if let Ok(pid) = i32::try_from(self.child.id()) {
                // SAFETY: kill(2) on our own child's pid, which we have not reaped.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

async fn ready(http: &reqwest::Client, url: &str) -> bool {
    http.get(format!("{url}/-/ready"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Waits until the Prometheus at `url` answers `/-/ready`, for a supervisor
/// that started it with [`PrometheusConfig::command`].
pub async fn wait_ready(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    while !ready(&http, url).await {
        if Instant::now() > deadline {
            bail!(
                "prometheus at {url} was not ready within {} s",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A Prometheus for a test: installed if missing, data in `dir`, on a free
/// loopback port, with [`PrometheusConfig::for_tests`] (1 s scrapes, fast
/// alert rules). Register targets with [`RunningPrometheus::file_sd`].
pub async fn start_for_tests(dir: &Path) -> anyhow::Result<RunningPrometheus> {
    let binary = tokio::task::spawn_blocking(ensure_installed)
        .await
        .context("the install task")??;
    // The port is free when we look and taken when Prometheus binds; another
    // process can slip in between, so a bind failure gets a new port.
    let mut last_error = None;
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = PrometheusConfig::for_tests(dir, SocketAddr::from(([127, 0, 0, 1], port)));
        match RunningPrometheus::start(&binary, config).await {
            Ok(running) => return Ok(running),
            Err(error) if error.to_string().contains("address already in use") => {
                last_error = Some(error);
            }
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no free port for prometheus")))
}
