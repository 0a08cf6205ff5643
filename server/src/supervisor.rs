//! `mlops up`: the whole system as supervised child processes.
//!
//! Each service is a child in its own process group, so Ctrl-C reaches only
//! this supervisor, which then stops the children in reverse start order.
//! A child that crashes is restarted with exponential backoff. Every line a
//! child prints is prefixed with its name. If the supervisor itself is
//! killed, each child gets a signal from the kernel (PR_SET_PDEATHSIG), so
//! nothing is left behind.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mlops_agent_kit::McpEndpoints;
use mlops_postgres::EmbeddedCluster;
use mlops_service_auth::ClientSecrets;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use crate::cli::{DataArgs, UpArgs};
use crate::control_plane::shutdown_signal;
use crate::services::{self, ServiceKind, ServiceRecord};

/// How to tell that a child is ready.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// The port accepts TCP connections.
    Tcp(u16),
    /// GET on this URL answers 2xx.
    Http(String),
}

/// One supervised service.
pub struct ChildSpec {
    pub name: String,
    pub kind: ServiceKind,
    pub url: String,
    pub command: std::process::Command,
    pub readiness: Readiness,
    /// Signal for a clean stop (SIGINT is Postgres' fast shutdown).
    pub stop_signal: i32,
}

struct RunningChild {
    name: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts, restarts and stops children; keeps `services.json` current.
pub struct Supervisor {
    data_dir: PathBuf,
    children: Vec<RunningChild>,
    records: Arc<Mutex<Vec<ServiceRecord>>>,
    publish: Arc<std::sync::atomic::AtomicBool>,
}

const READY_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_GRACE: Duration = Duration::from_secs(15);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that stayed up this long gets its backoff reset.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

impl Supervisor {
    pub fn new(data_dir: &Path) -> Self {
        Supervisor {
            data_dir: data_dir.to_owned(),
            children: Vec::new(),
            records: Arc::default(),
            publish: Arc::default(),
        }
    }

    /// Spawns `spec` and waits until it is ready.
    pub async fn start(&mut self, spec: ChildSpec) -> anyhow::Result<()> {
        let started = Instant::now();
        progress(&spec.name, "starting");
        let (stop_tx, stop_rx) = watch::channel(false);
        let readiness = spec.readiness.clone();
        let name = spec.name.clone();
        let (first_pid_tx, first_pid_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(supervise(
            spec,
            stop_rx,
            first_pid_tx,
            self.records.clone(),
            self.publish.clone(),
            self.data_dir.clone(),
        ));
        self.children.push(RunningChild {
            name: name.clone(),
            stop: stop_tx,
            task,
        });
        first_pid_rx
            .await
            .map_err(|_| anyhow::anyhow!("{name} could not be started; see the lines above"))??;
        wait_ready(&name, &readiness, started).await?;
        progress(
            &name,
            &format!("ready in {:.1}s", started.elapsed().as_secs_f64()),
        );
        Ok(())
    }

    /// From now on every change of pid rewrites `services.json`.
    pub fn publish(&self) -> anyhow::Result<Vec<ServiceRecord>> {
        self.publish
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let list = self
            .records
            .lock()
            .expect("records lock is never poisoned")
            .clone();
        services::write(&self.data_dir, &list).context("writing services.json")?;
        Ok(list)
    }

    /// Stops every child, last started first.
    pub async fn stop_all(&mut self) {
        while let Some(child) = self.children.pop() {
            progress(&child.name, "stopping");
            let _ = child.stop.send(true);
            let _ = child.task.await;
        }
        let _ = std::fs::remove_file(services::services_path(&self.data_dir));
    }
}

fn progress(name: &str, what: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("\x1b[1m▸ {name}\x1b[0m {what}");
    } else {
        eprintln!("▸ {name} {what}");
    }
}

async fn wait_ready(name: &str, readiness: &Readiness, started: Instant) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building an HTTP client")?;
    let mut next_note = Duration::from_secs(5);
    loop {
        let ready = match readiness {
            Readiness::Tcp(port) => tokio::net::TcpStream::connect(("127.0.0.1", *port))
                .await
                .is_ok(),
            Readiness::Http(url) => http
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
        };
        if ready {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited > READY_TIMEOUT {
            bail!("{name} was not ready after {}s", READY_TIMEOUT.as_secs());
        }
        if waited > next_note {
            progress(name, &format!("still starting ({}s)…", waited.as_secs()));
            next_note += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One child's life: spawn, relay output, restart with backoff, stop.
async fn supervise(
    mut spec: ChildSpec,
    mut stop: watch::Receiver<bool>,
    first_pid: tokio::sync::oneshot::Sender<anyhow::Result<u32>>,
    records: Arc<Mutex<Vec<ServiceRecord>>>,
    publish: Arc<std::sync::atomic::AtomicBool>,
    data_dir: PathBuf,
) {
    let mut first_pid = Some(first_pid);
    let mut backoff = Duration::from_millis(500);
    let death_signal = spec.stop_signal;
    spec.command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    unsafe {
        spec.command.pre_exec(move || {
            // If the supervisor dies, the kernel stops the child too.
            libc::prctl(libc::PR_SET_PDEATHSIG, death_signal);
            Ok(())
        });
    }
    let mut command = tokio::process::Command::from(spec.command);
    loop {
        let spawned_at = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let error = anyhow::anyhow!("cannot spawn {}: {e}", spec.name);
                match first_pid.take() {
                    Some(tx) => {
                        let _ = tx.send(Err(error));
                        return;
                    }
                    None => {
                        tracing::error!(service = %spec.name, %error, "restart failed");
                        if wait_or_stop(&mut stop, backoff).await {
                            return;
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
        };
        let pid = child.id().unwrap_or_default();
        relay_output(&spec.name, child.stdout.take(), child.stderr.take());
        record(
            &records,
            &publish,
            &data_dir,
            ServiceRecord {
                name: spec.name.clone(),
                kind: spec.kind,
                url: spec.url.clone(),
                pid,
            },
        );
        if let Some(tx) = first_pid.take() {
            let _ = tx.send(Ok(pid));
        }

        enum Outcome {
            Exited(String),
            StopRequested,
        }
        let outcome = tokio::select! {
            status = child.wait() => {
                Outcome::Exited(status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()))
            }
            _ = stopped(&mut stop) => Outcome::StopRequested,
        };
        match outcome {
            Outcome::Exited(status) => {
                if *stop.borrow() {
                    return;
                }
                if spawned_at.elapsed() > HEALTHY_RUN {
                    backoff = Duration::from_millis(500);
                }
                progress(
                    &spec.name,
                    &format!(
                        "exited ({status}); restarting in {:.1}s",
                        backoff.as_secs_f64()
                    ),
                );
                if wait_or_stop(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Outcome::StopRequested => {
                signal_group(pid, spec.stop_signal);
                if tokio::time::timeout(STOP_GRACE, child.wait())
                    .await
                    .is_err()
                {
                    progress(&spec.name, "did not stop in time; killing");
                    signal_group(pid, libc::SIGKILL);
                    let _ = child.wait().await;
                }
                return;
            }
        }
    }
}

/// Resolves once a stop has been requested.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps for `delay`; true if a stop was requested meanwhile.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = stopped(stop) => {}
    }
    *stop.borrow()
}

fn signal_group(pid: u32, signal: i32) {
    if pid == 0 {
        return;
    }
    // The child leads its own process group; signal the whole group.
    unsafe {
        libc::kill(-(pid as i32), signal);
    }
}

fn record(
    records: &Mutex<Vec<ServiceRecord>>,
    publish: &std::sync::atomic::AtomicBool,
    data_dir: &Path,
    entry: ServiceRecord,
) {
    let mut list = records.lock().expect("records lock is never poisoned");
    match list.iter_mut().find(|r| r.name == entry.name) {
        Some(existing) => *existing = entry,
        None => list.push(entry),
    }
    if publish.load(std::sync::atomic::Ordering::SeqCst)
        && let Err(e) = services::write(data_dir, &list)
    {
        tracing::warn!(error = %e, "could not update services.json");
    }
}

fn relay_output(
    name: &str,
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
) {
    let prefix = format!("{name:>14} │");
    if let Some(out) = stdout {
        let prefix = prefix.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("{prefix} {line}");
            }
        });
    }
    if let Some(err) = stderr {
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{prefix} {line}");
            }
        });
    }
}

/// Holds an exclusive lock on the data dir for as long as it lives, so two
/// supervisors never share one cluster.
struct DataDirLock {
    _file: std::fs::File,
}

fn lock_data_dir(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    use std::os::fd::AsRawFd;
    let path = data_dir.join("up.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        bail!(
            "another `mlops up` is already using {}; stop it first or pass another --data-dir",
            data_dir.display()
        );
    }
    Ok(DataDirLock { _file: file })
}

fn free_port_or(preferred: u16) -> anyhow::Result<u16> {
    if preferred != 0 && std::net::TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    dir.canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))
}

/// Starts the embedded cluster under the supervisor; returns the app database URL.
async fn start_embedded_postgres(sup: &mut Supervisor, data_dir: &Path) -> anyhow::Result<String> {
    let root = data_dir.join("postgres");
    let first_run = !root.join("data").join("PG_VERSION").exists();
    progress(
        "postgres",
        if first_run {
            "creating the cluster (initdb, first run only)"
        } else {
            "reusing the cluster"
        },
    );
    let cluster = tokio::task::spawn_blocking(move || {
        mlops_postgres::ensure_server_installed()?;
        EmbeddedCluster::prepare(&root)
    })
    .await
    .context("preparing Postgres")??;
    sup.start(ChildSpec {
        name: "postgres".into(),
        kind: ServiceKind::Postgres,
        url: format!(
            "postgres://127.0.0.1:{}/{}",
            cluster.port(),
            mlops_postgres::DATABASE_NAME
        ),
        command: cluster.server_command(),
        readiness: Readiness::Tcp(cluster.port()),
        stop_signal: libc::SIGINT,
    })
    .await?;
    // TCP accepts a moment before the server takes logins; retry briefly.
    let mut attempts = 0;
    loop {
        match cluster.ensure_database().await {
            Ok(()) => break,
            Err(e) if attempts < 50 => {
                attempts += 1;
                tracing::debug!(error = %e, "database not accepting logins yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e).context("creating the application database"),
        }
    }
    Ok(cluster.database_url())
}

/// Starts Prometheus (Debian's package, installed if missing) with a
/// scrape config that follows the file_sd targets the cluster server
/// writes; returns its URL.
async fn start_prometheus(sup: &mut Supervisor, data_dir: &Path) -> anyhow::Result<String> {
    use mlops_mcp_metrics::prometheus::{PrometheusConfig, ensure_installed};
    let binary = tokio::task::spawn_blocking(ensure_installed)
        .await
        .context("installing Prometheus")??;
    // Any free port (a system Prometheus may own 9090); services.json and
    // `mlops status --services` say where it is.
    let port = free_port_or(0)?;
    let config = PrometheusConfig::new(
        data_dir.join("prometheus"),
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    );
    config.write().context("writing the Prometheus config")?;
    let url = config.url();
    sup.start(ChildSpec {
        name: "prometheus".into(),
        kind: ServiceKind::Prometheus,
        url: url.clone(),
        command: config.command(&binary),
        readiness: Readiness::Http(format!("{url}/-/ready")),
        stop_signal: libc::SIGTERM,
    })
    .await?;
    Ok(url)
}

async fn apply_migrations(database_url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let pool = mlops_postgres::connect(database_url, 2)
        .await
        .context("connecting to Postgres")?;
    mlops_postgres::migrate(&pool)
        .await
        .context("applying migrations")?;
    pool.close().await;
    progress(
        "migrations",
        &format!("applied in {:.1}s", started.elapsed().as_secs_f64()),
    );
    Ok(())
}

/// `mlops up`.
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let data_dir = absolute(&args.data.data_dir)?;
    let _lock = lock_data_dir(&data_dir)?;
    eprintln!("mlops up: data in {}", data_dir.display());
    let mut sup = Supervisor::new(&data_dir);
    let result = start_everything(&mut sup, &args, &data_dir).await;
    match result {
        Ok(url) => {
            let list = sup.publish()?;
            println!(
                "✔ mlops is ready at {url}  ({} services; `mlops status --services`; Ctrl-C to stop)",
                list.len()
            );
            if args.control_config.is_none() {
                println!(
                    "  sign in as {} (password: {DEMO_PASSWORD})",
                    DEMO_USERS.join(", ")
                );
            }
            shutdown_signal().await;
            eprintln!("mlops up: stopping");
            sup.stop_all().await;
            eprintln!("mlops up: stopped");
            Ok(())
        }
        Err(e) => {
            sup.stop_all().await;
            Err(e)
        }
    }
}

async fn start_everything(
    sup: &mut Supervisor,
    args: &UpArgs,
    data_dir: &Path,
) -> anyhow::Result<String> {
    let database_url = match &args.data.database_url {
        Some(url) => url.clone(),
        None => start_embedded_postgres(sup, data_dir).await?,
    };
    apply_migrations(&database_url).await?;
    let prometheus_url = start_prometheus(sup, data_dir).await?;
    let storage_root = args
        .storage_root
        .clone()
        .unwrap_or_else(|| data_dir.join("objects").display().to_string());

    let port = free_port_or(args.port)?;
    let url = format!("http://127.0.0.1:{port}");
    // MCP ports are chosen first: the control plane reads its dashboards'
    // data from them, and they need the control plane's JWKS to start.
    let mut mcp_ports = Vec::new();
    let mut mcp_urls = McpEndpoints::default();
    for name in crate::mcp::MCP_SERVERS {
        let port = free_port_or(0)?;
        mcp_urls.insert(name, &format!("http://127.0.0.1:{port}/mcp"));
        mcp_ports.push((*name, port));
    }
    let control_config = match &args.control_config {
        Some(path) => path.clone(),
        None => start_dev_idp(sup, data_dir, &url, args.notify_webhook.clone()).await?,
    };
    let exe = std::env::current_exe().context("locating the mlops binary")?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", &database_url)
        .env("MLOPS_PUBLIC_URL", &url)
        .env("MLOPS_CONTROL_CONFIG", &control_config)
        .env("MLOPS_MCP_URLS", mcp_urls.render())
        .env("MLOPS_AGENT_REGISTRY", agent_registry_path(data_dir));
    sup.start(ChildSpec {
        name: "control-plane".into(),
        kind: ServiceKind::ControlPlane,
        url: url.clone(),
        command,
        readiness: Readiness::Http(format!("{url}/readyz")),
        stop_signal: libc::SIGTERM,
    })
    .await?;

    for (name, port) in mcp_ports {
        let base = format!("http://127.0.0.1:{port}");
        let exe = std::env::current_exe().context("locating the mlops binary")?;
        let mut command = std::process::Command::new(exe);
        command
            .args(["mcp", name, "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &database_url)
            .env("MLOPS_ISSUER", &url)
            .env("MLOPS_STORAGE_ROOT", &storage_root)
            .env(
                "MLOPS_PROMETHEUS_SD_DIR",
                data_dir.join("prometheus").join("sd"),
            )
            .env("MLOPS_PROMETHEUS_URL", &prometheus_url);
        sup.start(ChildSpec {
            name: format!("mcp-{name}"),
            kind: ServiceKind::Mcp,
            url: format!("{base}/mcp"),
            command,
            readiness: Readiness::Http(format!("{base}/readyz")),
            stop_signal: libc::SIGTERM,
        })
        .await?;
    }

    start_agents(sup, data_dir, &database_url, &url, &mcp_urls).await?;
    if !args.no_demo {
        start_demo(sup, data_dir, &url, &storage_root, &mcp_urls).await?;
    }
    Ok(url)
}

/// The users the dev IdP knows (JOURNEYS.md), and their password.
pub const DEMO_USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank"];
pub const DEMO_PASSWORD: &str = "demo";

/// Where the dev IdP's code lives: `e2e/idp` of this source tree, or
/// MLOPS_IDP_DIR.
fn idp_dir() -> PathBuf {
    std::env::var_os("MLOPS_IDP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/idp"))
}

/// Node and the IdP's npm packages, installed on first use.
fn ensure_idp_installed(dir: &Path) -> anyhow::Result<()> {
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("node") || !has("npm") {
        progress(
            "dev-idp",
            "installing Node.js from Debian (apt-get install nodejs npm)",
        );
        let ok = std::process::Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm"])
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(
            ok,
            "could not install Node.js; install nodejs and npm, or pass --control-config with an external issuer"
        );
    }
    if !dir.join("node_modules").join("oidc-provider").exists() {
        progress(
            "dev-idp",
            "installing its npm packages (npm ci, first run only)",
        );
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(ok, "npm ci failed in {}", dir.display());
    }
    Ok(())
}

/// Starts the dev OIDC provider and writes the control plane's config that
/// signs in through it. Returns that config's path.
async fn start_dev_idp(
    sup: &mut Supervisor,
    data_dir: &Path,
    control_url: &str,
    notify_webhook: Option<String>,
) -> anyhow::Result<PathBuf> {
    let dir = idp_dir();
    let install_dir = dir.clone();
    tokio::task::spawn_blocking(move || ensure_idp_installed(&install_dir)).await??;
    let secret_path = data_dir.join("keys").join("idp-client-secret");
    let secret = match std::fs::read_to_string(&secret_path) {
        Ok(secret) => secret.trim().to_owned(),
        Err(_) => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::create_dir_all(data_dir.join("keys"))?;
            let secret = uuid::Uuid::new_v4().simple().to_string();
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&secret_path)
                .and_then(|mut f| f.write_all(secret.as_bytes()))
                .with_context(|| format!("writing {}", secret_path.display()))?;
            secret
        }
    };
    let port = free_port_or(0)?;
    let issuer = format!("http://127.0.0.1:{port}");
    let mut command = std::process::Command::new("node");
    command
        .arg("server.mjs")
        .current_dir(&dir)
        .env("IDP_PORT", port.to_string())
        .env("IDP_ISSUER", &issuer)
        .env("IDP_CLIENT_ID", "mlops")
        .env("IDP_CLIENT_SECRET", &secret)
        .env("IDP_REDIRECT_URIS", format!("{control_url}/auth/callback"))
        .env("IDP_POST_LOGOUT_URIS", format!("{control_url}/"))
        .env("IDP_PASSWORD", DEMO_PASSWORD);
    sup.start(ChildSpec {
        name: "dev-idp".into(),
        kind: ServiceKind::Idp,
        url: issuer.clone(),
        command,
        readiness: Readiness::Http(format!("{issuer}/.well-known/openid-configuration")),
        stop_signal: libc::SIGTERM,
    })
    .await?;
    let config = crate::control_plane::config::ControlConfig {
        oidc: Some(crate::control_plane::config::OidcConfig {
            issuer,
            client_id: "mlops".into(),
            client_secret: secret,
            scopes: vec!["email".into(), "profile".into(), "groups".into()],
            roles_claim: "groups".into(),
            role_mapping: crate::control_plane::config::default_role_mapping(),
        }),
        notify_webhook,
        ..Default::default()
    };
    let path = data_dir.join("config").join("control-plane.yaml");
    std::fs::create_dir_all(data_dir.join("config"))?;
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    Ok(path)
}

/// Seeds the demo through the agents, then starts the traffic generator
/// against the champion's router.
async fn start_demo(
    sup: &mut Supervisor,
    data_dir: &Path,
    issuer: &str,
    storage_root: &str,
    mcp_urls: &McpEndpoints,
) -> anyhow::Result<()> {
    let seeded = crate::demo::seed(&crate::demo::DemoContext {
        data_dir,
        issuer,
        storage_root,
        mcp_urls,
    })
    .await
    .context("seeding the demo (start with --no-demo to skip it)")?;
    // The control API's token: the demo panel (in the control plane) reads
    // it from the data dir to switch drift on and off.
    let token_path = data_dir.join("keys").join("traffic-admin-token");
    let admin_token = match std::fs::read_to_string(&token_path) {
        Ok(token) => token.trim().to_owned(),
        Err(_) => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let token = uuid::Uuid::new_v4().simple().to_string();
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&token_path)
                .and_then(|mut f| f.write_all(token.as_bytes()))
                .with_context(|| format!("writing {}", token_path.display()))?;
            token
        }
    };
    let port = free_port_or(0)?;
    let base = format!("http://127.0.0.1:{port}");
    let exe = std::env::current_exe().context("locating the mlops binary")?;
    let mut command = std::process::Command::new(exe);
    command
        .args([
            "traffic",
            "--router-url",
            &seeded.router_url,
            "--model",
            &seeded.model,
        ])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("MLOPS_TRAFFIC_ADMIN_TOKEN", admin_token);
    sup.start(ChildSpec {
        name: "traffic".into(),
        kind: ServiceKind::Traffic,
        url: base.clone(),
        command,
        readiness: Readiness::Http(format!("{base}/healthz")),
        stop_signal: libc::SIGTERM,
    })
    .await
}

/// Starts every specialist agent, after writing the agent registry file
/// (`agents.yaml`) that lists them all: the one place agent URLs live.
async fn start_agents(
    sup: &mut Supervisor,
    data_dir: &Path,
    database_url: &str,
    issuer: &str,
    mcp_urls: &McpEndpoints,
) -> anyhow::Result<()> {
    let secrets =
        ClientSecrets::load_or_create(&crate::control_plane::client_secrets_path(data_dir))?;
    let mut ports = Vec::new();
    let mut registry = String::from(
        "# Written by `mlops up`: the agents the orchestrator may discover.\nagents:\n",
    );
    for name in crate::agents::AGENTS {
        let port = free_port_or(0)?;
        registry.push_str(&format!(
            "  - name: {name}\n    url: http://127.0.0.1:{port}\n"
        ));
        ports.push((*name, port));
    }
    let registry_path = agent_registry_path(data_dir);
    std::fs::write(&registry_path, registry)
        .with_context(|| format!("writing {}", registry_path.display()))?;
    for (name, port) in ports {
        let base = format!("http://127.0.0.1:{port}");
        let exe = std::env::current_exe().context("locating the mlops binary")?;
        let mut command = std::process::Command::new(exe);
        command
            .args(["agent", name, "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("MLOPS_ISSUER", issuer)
            .env("MLOPS_CLIENT_SECRET", secrets.secret_for(name))
            .env("MLOPS_MCP_URLS", mcp_urls.render())
            .env("MLOPS_AGENT_REGISTRY", &registry_path);
        if let Some(config) = crate::demo::agent_config(name) {
            let path = data_dir.join("config").join(format!("{name}.yaml"));
            std::fs::create_dir_all(data_dir.join("config"))?;
            std::fs::write(&path, config)?;
            command.env("MLOPS_AGENT_CONFIG", path);
        }
        sup.start(ChildSpec {
            name: format!("agent-{name}"),
            kind: ServiceKind::Agent,
            url: base.clone(),
            command,
            readiness: Readiness::Http(format!("{base}/readyz")),
            stop_signal: libc::SIGTERM,
        })
        .await?;
    }
    Ok(())
}

/// The agent registry file `mlops up` writes.
pub fn agent_registry_path(data_dir: &Path) -> PathBuf {
    data_dir.join("agents.yaml")
}

/// `mlops migrate`: against DATABASE_URL, or the embedded cluster (started
/// just for this if `mlops up` is not running).
pub async fn migrate_only(args: &DataArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.database_url {
        return apply_migrations(url).await;
    }
    let data_dir = absolute(&args.data_dir)?;
    let _lock = lock_data_dir(&data_dir)
        .context("`mlops up` is running; it applies migrations at start")?;
    let root = data_dir.join("postgres");
    let cluster = tokio::task::spawn_blocking(move || {
        mlops_postgres::ensure_server_installed()?;
        EmbeddedCluster::prepare(&root)
    })
    .await
    .context("preparing Postgres")??;
    let running = tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || cluster.start()
    })
    .await
    .context("starting Postgres")??;
    cluster.ensure_database().await?;
    let result = apply_migrations(&cluster.database_url()).await;
    drop(running);
    result
}

/// The URL of the embedded cluster `mlops up` runs in `data_dir` (for
/// operator commands such as `mlops audit verify`).
pub fn embedded_database_url(data_dir: &Path) -> anyhow::Result<String> {
    let root = data_dir.join("postgres");
    anyhow::ensure!(
        root.join("data").join("PG_VERSION").exists(),
        "no embedded cluster in {}: pass --database-url, or run `mlops up` first",
        data_dir.display()
    );
    Ok(EmbeddedCluster::running_database_url(&root)?)
}
