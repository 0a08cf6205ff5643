//! The `local` backend: real processes on this machine. Each replica of a
//! model version is an `mlops model-server` process; each model has one
//! `mlops router` process in front. The backend reconciles the processes
//! towards the desired state in Postgres: it starts what is missing,
//! replaces what crashed, rolls restarts one replica at a time, stops what
//! is no longer wanted, pushes route tables to the routers, and keeps a
//! Prometheus file_sd file listing every router and model server.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use mlops_mcp_metrics::prometheus::{FileSd, ScrapeTarget};
use mlops_serving::router::{Fault, RouteTable, VersionRoute};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::backend::{BackendError, ClusterBackend, ReplicaStatus, RuntimeStatus, VersionStatus};
use crate::state::ModelState;

/// How long a process may take to print its `listening` line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping process gets to flush before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Where the local backend finds what it runs.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The `mlops` executable (its `model-server` and `router` subcommands).
    pub exe: PathBuf,
    /// The object-store location the processes read artifacts from and
    /// write prediction logs to, passed to them as `MLOPS_STORAGE_ROOT`.
    pub storage_root: String,
    /// Prometheus file_sd directory; `None` writes no targets.
    pub file_sd_dir: Option<PathBuf>,
}

/// One child process that announced `listening URL` on stdout.
struct Proc {
    child: Child,
    url: String,
}

impl Proc {
    async fn spawn(mut command: std::process::Command, what: &str) -> Result<Proc, BackendError> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
        unsafe {
            command.pre_exec(|| {
                // If the cluster server dies, its processes die with it; a
                // restarted cluster server starts them afresh.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut command = Command::from(command);
        command.kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| BackendError(format!("cannot start {what}: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BackendError(format!("{what} has no stdout")))?;
        let mut lines = BufReader::new(stdout).lines();
        let announced = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("listening ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await;
        let url = match announced {
            Ok(Some(url)) => url,
            Ok(None) => {
                let status = child.wait().await.ok();
                return Err(BackendError(format!(
                    "{what} exited before it was ready ({})",
                    status.map_or("unknown status".into(), |s| s.to_string())
                )));
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(BackendError(format!(
                    "{what} was not ready within {}s",
                    START_TIMEOUT.as_secs()
                )));
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Proc { child, url })
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, then SIGKILL after the grace period.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: plain syscall on our own child's pid.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
            if tokio::time::timeout(STOP_GRACE, self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

struct Replica {
    proc: Proc,
    epoch: i32,
}

#[derive(Default)]
struct LocalModel {
    router: Option<Proc>,
    admin_token: String,
    versions: BTreeMap<i32, Vec<Replica>>,
    pushed: Option<RouteTable>,
}

pub struct LocalBackend {
    config: LocalConfig,
    pool: PgPool,
    http: reqwest::Client,
    models: std::sync::Mutex<HashMap<String, Arc<Mutex<LocalModel>>>>,
}

impl LocalBackend {
    pub fn new(config: LocalConfig, pool: PgPool) -> Self {
        LocalBackend {
            config,
            pool,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            models: Default::default(),
        }
    }

    fn entry(&self, model: &str) -> Arc<Mutex<LocalModel>> {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        models
            .entry(model.to_owned())
            .or_insert_with(|| {
                Arc::new(Mutex::new(LocalModel {
                    admin_token: random_token(),
                    ..Default::default()
                }))
            })
            .clone()
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(&self.config.exe);
        command
            .args(args)
            .env("MLOPS_STORAGE_ROOT", &self.config.storage_root);
        command
    }

    async fn start_router(&self, model: &str, token: &str) -> Result<Proc, BackendError> {
        let port: Option<i32> =
            sqlx::query_scalar("SELECT local_router_port FROM cluster.models WHERE model = $1")
                .bind(model)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| BackendError(format!("reading the router port: {e}")))?
                .flatten();
        let start = |listen: String| {
            let mut command = self.command(&["router", "--model", model, "--listen", &listen]);
            command.env("MLOPS_ROUTER_ADMIN_TOKEN", token);
            Proc::spawn(command, "router")
        };
        let proc = match port {
            Some(port) => match start(format!("127.0.0.1:{port}")).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(%model, port, error = %e, "router's port is taken; choosing another");
                    start("127.0.0.1:0".into()).await?
                }
            },
            None => start("127.0.0.1:0".into()).await?,
        };
        let bound = reqwest::Url::parse(&proc.url)
            .ok()
            .and_then(|u| u.port())
            .map(i32::from);
        if bound != port {
            sqlx::query("UPDATE cluster.models SET local_router_port = $2 WHERE model = $1")
                .bind(model)
                .bind(bound)
                .execute(&self.pool)
                .await
                .map_err(|e| BackendError(format!("recording the router port: {e}")))?;
        }
        tracing::info!(%model, url = %proc.url, "router started");
        Ok(proc)
    }

    async fn start_replica(
        &self,
        model: &str,
        version: i32,
        artifact_key: &str,
    ) -> Result<Proc, BackendError> {
        let v = version.to_string();
        let command = self.command(&[
            "model-server",
            "--model",
            model,
            "--version",
            &v,
            "--artifact",
            artifact_key,
            "--listen",
            "127.0.0.1:0",
        ]);
        let proc = Proc::spawn(command, &format!("model server {model} v{version}")).await?;
        tracing::info!(%model, version, url = %proc.url, "model server started");
        Ok(proc)
    }

    async fn push_routes(
        &self,
        m: &mut LocalModel,
        desired: &ModelState,
    ) -> Result<(), BackendError> {
        let Some(router) = &m.router else {
            return Ok(());
        };
        let table = RouteTable {
            generation: desired.generation.max(0) as u64,
            versions: desired
                .deployments
                .iter()
                .map(|d| VersionRoute {
                    version: d.version.to_string(),
                    weight: d.weight.max(0) as u32,
                    endpoints: m
                        .versions
                        .get(&d.version)
                        .map(|reps| reps.iter().map(|r| r.proc.url.clone()).collect())
                        .unwrap_or_default(),
                    fault: Fault {
                        error_share: d.error_share,
                        added_latency_ms: d.added_latency_ms.max(0) as u64,
                    },
                })
                .collect(),
        };
        if m.pushed.as_ref() == Some(&table) {
            return Ok(());
        }
        let response = self
            .http
            .put(format!("{}/admin/routes", router.url))
            .bearer_auth(&m.admin_token)
            .json(&table)
            .send()
            .await
            .map_err(|e| BackendError(format!("pushing routes to {}: {e}", router.url)))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(BackendError(format!(
                "the router refused the route table ({status}): {body}"
            )));
        }
        m.pushed = Some(table);
        Ok(())
    }

    /// One Prometheus target file per model: its router and every replica.
    fn write_targets(&self, model: &str, m: &LocalModel) {
        let Some(dir) = &self.config.file_sd_dir else {
            return;
        };
        let host_port = |url: &str| {
            reqwest::Url::parse(url)
                .ok()
                .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port()?)))
        };
        let mut targets = Vec::new();
        if let Some(address) = m.router.as_ref().and_then(|r| host_port(&r.url)) {
            targets.push(
                ScrapeTarget::new(address)
                    .label("component", "router")
                    .label("model", model),
            );
        }
        for (version, reps) in &m.versions {
            for address in reps.iter().filter_map(|r| host_port(&r.proc.url)) {
                targets.push(
                    ScrapeTarget::new(address)
                        .label("component", "model-server")
                        .label("model", model)
                        .label("version", version.to_string()),
                );
            }
        }
        let name = format!("cluster-{model}");
        let written = FileSd::new(dir).and_then(|sd| {
            if targets.is_empty() {
                sd.remove_targets(&name)
            } else {
                sd.write_targets(&name, &targets).map(|_| ())
            }
        });
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write the Prometheus targets file");
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The admin token only has to be unguessable by other local users.
    for b in &mut bytes {
        *b = fastrand::u8(..);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait::async_trait]
impl ClusterBackend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn reconcile(&self, desired: &ModelState) -> Result<(), BackendError> {
        let model = desired.model.as_str();
        let entry = self.entry(model);
        let mut m = entry.lock().await;
        let m = &mut *m;

        if !m.router.as_mut().is_some_and(Proc::alive) {
            m.router = Some(self.start_router(model, &m.admin_token).await?);
            m.pushed = None;
        }
        let mut first_error = None;
        for d in &desired.deployments {
            let reps = m.versions.entry(d.version).or_default();
            let before = reps.len();
            reps.retain_mut(|r| r.proc.alive());
            if reps.len() < before {
                tracing::warn!(%model, version = d.version, lost = before - reps.len(), "model server exited; replacing it");
            }
            // Rolling restart: one new replica up, then one old one down.
            while let Some(old) = m
                .versions
                .get(&d.version)
                .and_then(|reps| reps.iter().position(|r| r.epoch < d.restart_epoch))
            {
                let fresh = match self.start_replica(model, d.version, &d.artifact_key).await {
                    Ok(p) => p,
                    Err(e) => {
                        first_error.get_or_insert(e);
                        break;
                    }
                };
                let reps = m.versions.entry(d.version).or_default();
                reps.push(Replica {
                    proc: fresh,
                    epoch: d.restart_epoch,
                });
                let retired = reps.remove(old);
                self.push_routes(m, desired).await?;
                retired.proc.stop().await;
            }
            loop {
                let have = m.versions.get(&d.version).map_or(0, Vec::len);
                if have >= d.replicas.max(0) as usize {
                    break;
                }
                match self.start_replica(model, d.version, &d.artifact_key).await {
                    Ok(p) => m.versions.entry(d.version).or_default().push(Replica {
                        proc: p,
                        epoch: d.restart_epoch,
                    }),
                    Err(e) => {
                        first_error.get_or_insert(e);
                        break;
                    }
                }
            }
            let reps = m.versions.entry(d.version).or_default();
            let extra: Vec<Replica> = if reps.len() > d.replicas.max(0) as usize {
                reps.split_off(d.replicas.max(0) as usize)
            } else {
                Vec::new()
            };
            if !extra.is_empty() {
                self.push_routes(m, desired).await?;
                for r in extra {
                    r.proc.stop().await;
                }
            }
        }
        let gone: Vec<i32> = m
            .versions
            .keys()
            .filter(|v| desired.deployment(**v).is_none())
            .copied()
            .collect();
        self.push_routes(m, desired).await?;
        for v in gone {
            for r in m.versions.remove(&v).unwrap_or_default() {
                r.proc.stop().await;
            }
        }
        self.write_targets(model, m);
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn remove(&self, model: &str) -> Result<(), BackendError> {
        let entry = {
            let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
            models.remove(model)
        };
        if let Some(entry) = entry {
            let mut m = entry.lock().await;
            for (_, reps) in std::mem::take(&mut m.versions) {
                for r in reps {
                    r.proc.stop().await;
                }
            }
            if let Some(router) = m.router.take() {
                router.stop().await;
            }
            self.write_targets(model, &m);
        }
        Ok(())
    }

    async fn status(&self, model: &str) -> RuntimeStatus {
        let entry = {
            let models = self.models.lock().unwrap_or_else(|p| p.into_inner());
            models.get(model).cloned()
        };
        let Some(entry) = entry else {
            return RuntimeStatus::default();
        };
        let mut m = entry.lock().await;
        let router_url = m
            .router
            .as_mut()
            .and_then(|r| r.alive().then(|| r.url.clone()));
        let versions = m
            .versions
            .iter_mut()
            .map(|(version, reps)| VersionStatus {
                version: *version,
                replicas: reps
                    .iter_mut()
                    .map(|r| ReplicaStatus {
                        ready: r.proc.alive(),
                        url: r.proc.url.clone(),
                        pid: r.proc.pid(),
                        restart_epoch: r.epoch,
                    })
                    .collect(),
            })
            .collect();
        RuntimeStatus {
            backend: "local".into(),
            endpoint: router_url,
            versions,
        }
    }

    async fn models(&self) -> Vec<String> {
        let models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        models.keys().cloned().collect()
    }
}
