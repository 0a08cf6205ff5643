use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Errors from setting up or running the embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no Postgres server binaries found (looked in {0}); install postgresql or set DATABASE_URL"
    )]
    BinariesMissing(String),
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
    #[error("Postgres did not become ready on port {port} within {secs}s; see {log}")]
    NotReady { port: u16, secs: u64, log: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A private Postgres cluster under a directory of ours.
///
/// Layout of `root`: `data/` (the cluster), `password` (the superuser's,
/// mode 0600), `port` (the port last used, reused when still free so the
/// URL stays stable across runs), and `socket/`.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    root: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    password: String,
    /// Some((uid, gid)) when we are root and must run the server as `postgres`.
    run_as: Option<(u32, u32)>,
}

pub const DATABASE_NAME: &str = "mlops";
const SUPERUSER: &str = "postgres";

impl EmbeddedCluster {
    /// Prepares the cluster under `root`: runs `initdb` the first time,
    /// picks a port. Does not start the server.
    pub fn prepare(root: &Path) -> Result<Self, ClusterError> {
        Self::prepare_with(root, Auth::Password)
    }

    fn prepare_with(root: &Path, auth: Auth) -> Result<Self, ClusterError> {
        let bin_dir = find_bin_dir()?;
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let data = root.join("data");
        let password_file = root.join("password");
        let socket = root.join("socket");
        std::fs::create_dir_all(&socket)?;
        if let Some((uid, gid)) = run_as {
            chown(&root, uid, gid)?;
            chown(&socket, uid, gid)?;
        }

        let password = if data.join("PG_VERSION").exists() {
            std::fs::read_to_string(&password_file)
                .map(|p| p.trim().to_owned())
                .unwrap_or_default()
        } else {
            let password = match auth {
                Auth::Password => random_secret(),
                Auth::Trust => String::new(),
            };
            init_cluster(&bin_dir, &root, &data, &password, run_as)?;
            write_private(&password_file, &password)?;
            password
        };

        let port = reuse_or_pick_port(&root.join("port"))?;
        Ok(EmbeddedCluster {
            root,
            bin_dir,
            port,
            password,
            run_as,
        })
    }

    /// The application database's URL of a cluster that is running (for
    /// operator commands beside `mlops up`): read from its files, without
    /// picking a port or touching anything.
    pub fn running_database_url(root: &Path) -> Result<String, ClusterError> {
        let read =
            |name: &str| std::fs::read_to_string(root.join(name)).map(|s| s.trim().to_owned());
        let port = read("port")?;
        let password = read("password").unwrap_or_default();
        Ok(if password.is_empty() {
            format!("postgres://{SUPERUSER}@127.0.0.1:{port}/{DATABASE_NAME}")
        } else {
            format!("postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/{DATABASE_NAME}")
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// URL of the application database.
    pub fn database_url(&self) -> String {
        self.url_for(DATABASE_NAME)
    }

    /// URL of the maintenance database, for creating others.
    pub fn admin_url(&self) -> String {
        self.url_for("postgres")
    }

    fn url_for(&self, db: &str) -> String {
        if self.password.is_empty() {
            format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
        } else {
            format!(
                "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
                self.password, self.port
            )
        }
    }

    /// The server command, ready for a supervisor to spawn. It runs in the
    /// foreground; SIGINT asks it for a fast shutdown.
    pub fn server_command(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("postgres"));
        cmd.arg("-D")
            .arg(self.root.join("data"))
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("port={}", self.port))
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.root.join("socket").display()
            ))
            .args(["-c", "max_connections=200", "-c", "fsync=on"]);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
            // Drop root's supplementary groups too.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setgroups(0, std::ptr::null()) != 0 {
                        // Already dropped by uid() on most systems; ignore.
                    }
                    Ok(())
                });
            }
        }
        cmd
    }

    /// Starts the server as a child of this process and waits until it
    /// accepts connections. The child dies with the thread that owns it
    /// (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
    pub fn start(&self) -> Result<RunningCluster, ClusterError> {
        let log = std::fs::File::create(self.log_path())?;
        if let Some((uid, gid)) = self.run_as {
            chown(&self.log_path(), uid, gid)?;
        }
        let mut cmd = self.server_command();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        unsafe {
            cmd.pre_exec(|| {
                // SIGQUIT: immediate shutdown, no orphaned backends.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
                Ok(())
            });
        }
        // PR_SET_PDEATHSIG fires when the *thread* that forked exits, so
        // fork from a thread that lives as long as the process.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("postgres-owner".into())
            .spawn(move || {
                let _ = tx.send(cmd.spawn());
                loop {
                    std::thread::park();
                }
            })?;
        let child = rx.recv().map_err(|_| ClusterError::Step {
            step: "spawn postgres",
            detail: "owner thread died".into(),
        })??;
        let mut running = RunningCluster {
            cluster: self.clone(),
            child: Some(child),
        };
        running.wait_ready(Duration::from_secs(60))?;
        Ok(running)
    }

    /// True once the server accepts logins (not just TCP connections: a
    /// server still starting up answers "the database system is starting up").
    pub fn accepts_connections(&self) -> bool {
        let tcp = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_millis(200),
        )
        .is_ok();
        tcp && Command::new(self.bin_dir.join("pg_isready"))
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-t",
                "2",
                "-d",
                "postgres",
                "-U",
                SUPERUSER,
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Creates the application database if it does not exist yet.
    pub async fn ensure_database(&self) -> Result<(), sqlx::Error> {
        ensure_database(&self.admin_url(), DATABASE_NAME).await
    }

    /// Like [`prepare`](Self::prepare) but with trust authentication: for
    /// throwaway test clusters only.
    pub fn prepare_for_tests(root: &Path) -> Result<Self, ClusterError> {
        Self::prepare_with(root, Auth::Trust)
    }
}

/// Creates database `name` on the server at `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound; `name` is ours, quoted anyway.
        sqlx::query(&format!(
            "CREATE DATABASE \"{}\"",
            name.replace('"', "\"\"")
        ))
        .execute(&mut conn)
        .await?;
    }
    conn.close().await
}

#[derive(Clone, Copy)]
enum Auth {
    Password,
    Trust,
}

/// A cluster started by [`EmbeddedCluster::start`]; stopped on drop.
pub struct RunningCluster {
    cluster: EmbeddedCluster,
    child: Option<Child>,
}

impl RunningCluster {
    pub fn cluster(&self) -> &EmbeddedCluster {
        &self.cluster
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), ClusterError> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let tail = std::fs::read_to_string(self.cluster.log_path()).unwrap_or_default();
                return Err(ClusterError::Step {
                    step: "start postgres",
                    detail: format!("exited with {status}: {}", last_lines(&tail, 8)),
                });
            }
            if self.cluster.accepts_connections() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ClusterError::NotReady {
            port: self.cluster.port,
            secs: timeout.as_secs(),
            log: self.cluster.log_path().display().to_string(),
        })
    }

    /// Fast shutdown: SIGINT, then wait for the server to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RunningCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes sure the Postgres server binaries are on this machine, installing
/// Debian's `postgresql` package when they are missing and we are root.
pub fn ensure_server_installed() -> Result<(), ClusterError> {
    if find_bin_dir().is_ok() {
        return Ok(());
    }
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !Path::new("/usr/bin/apt-get").exists() {
        return find_bin_dir().map(|_| ());
    }
    eprintln!("▸ postgres server binaries missing; installing Debian's postgresql package");
    let quiet = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
    };
    let _ = quiet(&["update", "-qq"]);
    let status = quiet(&[
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "postgresql",
    ])?;
    if !status.success() {
        return Err(ClusterError::Step {
            step: "apt-get install postgresql",
            detail: format!("exited with {status}"),
        });
    }
    find_bin_dir().map(|_| ())
}

fn find_bin_dir() -> Result<PathBuf, ClusterError> {
    if let Some(dir) = std::env::var_os("MLOPS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(base)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("postgres").exists().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        ClusterError::BinariesMissing(format!("{}/*/bin, $MLOPS_PG_BIN", base.display()))
    })
}

fn postgres_user() -> Result<(u32, u32), ClusterError> {
    let name = std::ffi::CString::new(SUPERUSER).expect("static name has no NUL");
    // getpwnam is not thread-safe in theory; we call it once at start-up.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(ClusterError::Step {
            step: "find the postgres OS user",
            detail:
                "running as root needs a `postgres` user to own the cluster (initdb refuses root)"
                    .into(),
        });
    }
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok((uid, gid))
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), ClusterError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(ClusterError::Io)
}

fn init_cluster(
    bin_dir: &Path,
    root: &Path,
    data: &Path,
    password: &str,
    run_as: Option<(u32, u32)>,
) -> Result<(), ClusterError> {
    let mut cmd = Command::new(bin_dir.join("initdb"));
    cmd.arg("-D").arg(data).args([
        "-U",
        SUPERUSER,
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-instructions",
    ]);
    let pwfile = root.join(".initdb-password");
    if password.is_empty() {
        cmd.args(["-A", "trust"]);
    } else {
        write_private(&pwfile, password)?;
        if let Some((uid, gid)) = run_as {
            chown(&pwfile, uid, gid)?;
        }
        cmd.args(["-A", "scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()));
    }
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
    let output = cmd.stdin(Stdio::null()).output();
    let _ = std::fs::remove_file(&pwfile);
    let output = output?;
    if !output.status.success() {
        return Err(ClusterError::Step {
            step: "initdb",
            detail: last_lines(&String::from_utf8_lossy(&output.stderr), 8),
        });
    }
    Ok(())
}

fn reuse_or_pick_port(port_file: &Path) -> Result<u16, ClusterError> {
    if let Some(port) = std::fs::read_to_string(port_file)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        && TcpListener::bind(("127.0.0.1", port)).is_ok()
    {
        return Ok(port);
    }
    let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
    std::fs::write(port_file, port.to_string())?;
    Ok(port)
}

fn write_private(path: &Path, contents: &str) -> Result<(), ClusterError> {
    std::fs::write(path, contents)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn random_secret() -> String {
    let mut rng = fastrand::Rng::new();
    (0..32).map(|_| rng.alphanumeric()).collect()
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
