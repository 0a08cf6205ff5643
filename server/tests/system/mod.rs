//! The real system for integration tests: `mlops serve` (the token
//! service), MCP servers and agents, each its own `mlops` process on a free
//! loopback port, over one fresh database and object store.
//!
//! Use: `System::builder().mcp(&["storage", "quality"]).agents(&["data"]).start().await`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlops_agent_kit::a2a::{
    GetTaskRequest, Message, Part, Role, SendMessageConfiguration, SendMessageRequest,
    SendMessageResponse, Task, TaskState,
};
use mlops_agent_kit::client::{AgentClient, MintingTokenSource, RetryPolicy};
use mlops_mcp_kit::test_support::client as mcp_client;
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use mlops_service_auth::access::mcp_scopes;
use mlops_service_auth::{ClientSecrets, Scope, SigningKey, TokenRequest};
use serde_json::Value;

pub struct SystemBuilder {
    mcp: Vec<String>,
    agents: Vec<String>,
    configs: BTreeMap<String, String>,
    prometheus: bool,
    registry_extra: Vec<(String, String)>,
}

impl SystemBuilder {
    pub fn mcp(mut self, servers: &[&str]) -> Self {
        self.mcp = servers.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn agents(mut self, agents: &[&str]) -> Self {
        self.agents = agents.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// `yaml` becomes the agent's `MLOPS_AGENT_CONFIG` file.
    pub fn agent_config(mut self, agent: &str, yaml: &str) -> Self {
        self.configs.insert(agent.to_owned(), yaml.to_owned());
        self
    }

    /// Starts a real Prometheus (the metrics server needs one, and the
    /// cluster server then writes its scrape targets for it).
    pub fn prometheus(mut self) -> Self {
        self.prometheus = true;
        self
    }

    /// Adds an entry to the agent registry file, e.g. an A2A server the
    /// test runs itself.
    pub fn registry_entry(mut self, name: &str, url: &str) -> Self {
        self.registry_extra.push((name.to_owned(), url.to_owned()));
        self
    }

    pub async fn start(self) -> System {
        System::start(self).await
    }
}

/// A running system. Dropping it stops every process.
pub struct System {
    pub db: TestDatabase,
    pub dir: tempfile::TempDir,
    pub issuer: String,
    pub key: SigningKey,
    pub secrets: ClientSecrets,
    /// MCP server name → its `/mcp` URL.
    pub mcp: BTreeMap<String, String>,
    /// Agent name → its base URL.
    pub agents: BTreeMap<String, String>,
    pub prometheus: Option<mlops_mcp_metrics::prometheus::RunningPrometheus>,
    children: Vec<(String, Child)>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl System {
    pub fn builder() -> SystemBuilder {
        SystemBuilder {
            mcp: Vec::new(),
            agents: Vec::new(),
            configs: BTreeMap::new(),
            prometheus: false,
            registry_extra: Vec::new(),
        }
    }

    async fn start(spec: SystemBuilder) -> System {
        let db = fresh_database().await;
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        std::fs::create_dir_all(dir.path().join("objects")).unwrap();
        let key =
            SigningKey::load_or_create(&dir.path().join("keys").join("service-signing-key.pem"))
                .unwrap();
        let secrets =
            ClientSecrets::load_or_create(&dir.path().join("keys").join("service-clients.key"))
                .unwrap();
        let prometheus = if spec.prometheus {
            Some(
                mlops_mcp_metrics::prometheus::start_for_tests(&dir.path().join("prometheus"))
                    .await
                    .expect("a real Prometheus"),
            )
        } else {
            None
        };
        let mut system = System {
            db,
            issuer: String::new(),
            key,
            secrets,
            mcp: BTreeMap::new(),
            agents: BTreeMap::new(),
            prometheus,
            children: Vec::new(),
            dir,
        };

        let port = free_port();
        system.issuer = format!("http://127.0.0.1:{port}");
        let mut serve = system.command("control-plane");
        serve
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(system.dir.path())
            .env("MLOPS_PUBLIC_URL", &system.issuer);
        let issuer = system.issuer.clone();
        system.spawn("control-plane", serve, &issuer).await;

        let mut mcp_urls = Vec::new();
        for name in &spec.mcp {
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            let mut command = system.command(name);
            command
                .args(["mcp", name, "--listen", &format!("127.0.0.1:{port}")])
                .env("MLOPS_ISSUER", &system.issuer)
                .env("MLOPS_STORAGE_ROOT", system.storage_root());
            if let Some(prometheus) = &system.prometheus {
                command
                    .env("MLOPS_PROMETHEUS_URL", prometheus.url())
                    .env("MLOPS_PROMETHEUS_SD_DIR", &prometheus.config().sd_dir);
            }
            system.spawn(&format!("mcp-{name}"), command, &base).await;
            system.mcp.insert(name.clone(), format!("{base}/mcp"));
            mcp_urls.push(format!("{name}={base}/mcp"));
        }

        // Ports first: the registry file lists every agent before any starts.
        let ports: Vec<(String, u16)> = spec
            .agents
            .iter()
            .map(|a| (a.clone(), free_port()))
            .collect();
        let mut registry = String::from("agents:\n");
        for (name, port) in &ports {
            registry.push_str(&format!(
                "  - name: {name}\n    url: http://127.0.0.1:{port}\n"
            ));
        }
        for (name, url) in &spec.registry_extra {
            registry.push_str(&format!("  - name: {name}\n    url: {url}\n"));
        }
        let registry_path = system.dir.path().join("agents.yaml");
        std::fs::write(&registry_path, registry).unwrap();

        for (name, port) in ports {
            let base = format!("http://127.0.0.1:{port}");
            let mut command = system.command(&name);
            command
                .args(["agent", &name, "--listen", &format!("127.0.0.1:{port}")])
                .env("MLOPS_ISSUER", &system.issuer)
                .env("MLOPS_CLIENT_SECRET", system.secrets.secret_for(&name))
                .env("MLOPS_MCP_URLS", mcp_urls.join(","))
                .env("MLOPS_AGENT_REGISTRY", &registry_path);
            if let Some(yaml) = spec.configs.get(&name) {
                let path = system.dir.path().join(format!("{name}.yaml"));
                std::fs::write(&path, yaml).unwrap();
                command.env("MLOPS_AGENT_CONFIG", path);
            }
            system.spawn(&name, command, &base).await;
            system.agents.insert(name, base);
        }
        system
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn storage_root(&self) -> PathBuf {
        self.dir.path().join("objects")
    }

    fn command(&self, _name: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mlops"));
        command
            .env("DATABASE_URL", &self.db.url)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        command
    }

    async fn spawn(&mut self, name: &str, mut command: Command, base: &str) {
        let log = self.dir.path().join("logs").join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        command.stdout(file.try_clone().unwrap()).stderr(file);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited with {status} at start:\n{}", tail(&log));
            }
            if let Ok(response) = http.get(format!("{base}/readyz")).send().await
                && response.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(90) {
                let _ = child.kill();
                panic!("{name} not ready after 90 s:\n{}", tail(&log));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.children.push((name.to_owned(), child));
    }

    /// The log of one process (`control-plane`, `mcp-storage`, `data`, …).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("logs").join(format!("{name}.log")))
            .unwrap_or_default()
    }

    /// A service token as the token service would mint it for `agent` to
    /// call MCP server `server` (the matrix's scopes).
    pub fn mcp_token(&self, agent: &str, server: &str) -> String {
        let scopes = mcp_scopes(agent, server)
            .iter()
            .map(|s| Scope::parse(s).unwrap())
            .collect();
        self.mint(agent, server, scopes)
    }

    pub fn mint(&self, subject: &str, audience: &str, scopes: Vec<Scope>) -> String {
        let request =
            TokenRequest::new(subject, audience, scopes, Duration::from_secs(900)).unwrap();
        self.key.mint(&self.issuer, &request).unwrap().0
    }

    /// An rmcp client to `server` presenting `agent`'s token.
    pub async fn mcp_as(
        &self,
        agent: &str,
        server: &str,
    ) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        mcp_client(&self.mcp[server], &self.mcp_token(agent, server)).await
    }

    /// An A2A client to `agent`, calling as the orchestrator would.
    pub async fn a2a(&self, agent: &str) -> AgentClient {
        let tokens = Arc::new(MintingTokenSource::new(
            self.key.clone(),
            &self.issuer,
            "orchestrator",
            vec![Scope::parse("a2a:invoke").unwrap()],
        ));
        let card = mlops_agent_kit::a2a_client::agent_card::AgentCardResolver::new(None)
            .resolve(&self.agents[agent])
            .await
            .unwrap_or_else(|e| panic!("fetching {agent}'s card: {e}"));
        AgentClient::from_card(agent, card, tokens, RetryPolicy::default())
            .await
            .unwrap()
    }

    /// Sends `skill` with `input` to `agent` and waits (up to `timeout`)
    /// for the task to end; returns the final task.
    pub async fn run_skill(
        &self,
        agent: &str,
        skill: &str,
        input: Value,
        timeout: Duration,
    ) -> Task {
        let client = self.a2a(agent).await;
        let task = send_skill(&client, skill, input).await;
        wait_terminal(&client, &task.id, timeout).await
    }
}

/// A message asking for `skill` with `input` as its data part.
pub fn skill_message(skill: &str, input: Value) -> Message {
    let mut message = Message::new(Role::User, vec![Part::data(input)]);
    message.metadata = Some(std::collections::HashMap::from([(
        "skill".to_owned(),
        Value::String(skill.to_owned()),
    )]));
    message
}

/// Starts `skill` without waiting for it to finish.
pub async fn send_skill(client: &AgentClient, skill: &str, input: Value) -> Task {
    let request = SendMessageRequest {
        message: skill_message(skill, input),
        configuration: Some(SendMessageConfiguration {
            accepted_output_modes: None,
            task_push_notification_config: None,
            history_length: None,
            return_immediately: Some(true),
        }),
        metadata: None,
        tenant: None,
    };
    match client.send(&request).await.expect("SendMessage") {
        SendMessageResponse::Task(task) => task,
        other => panic!("expected a task, got {other:?}"),
    }
}

/// Polls `GetTask` until the task ends or waits for input.
pub async fn wait_terminal(client: &AgentClient, task_id: &str, timeout: Duration) -> Task {
    let started = Instant::now();
    loop {
        let task = client
            .get(&GetTaskRequest {
                id: task_id.to_owned(),
                history_length: None,
                tenant: None,
            })
            .await
            .expect("GetTask");
        // Ended, or interrupted until someone answers.
        if task.status.state.is_terminal()
            || matches!(
                task.status.state,
                TaskState::InputRequired | TaskState::AuthRequired
            )
        {
            return task;
        }
        assert!(
            started.elapsed() < timeout,
            "task {task_id} still {:?} after {timeout:?}",
            task.status.state
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The text of a task's status message.
pub fn status_text(task: &Task) -> String {
    task.status
        .message
        .as_ref()
        .and_then(|m| m.text())
        .unwrap_or_default()
        .to_owned()
}

/// The JSON data part of the artifact named `name`.
pub fn artifact_data(task: &Task, name: &str) -> Option<Value> {
    task.artifacts
        .as_ref()?
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .and_then(|a| {
            a.parts.iter().find_map(|p| match &p.content {
                mlops_agent_kit::a2a::PartContent::Data(v) => Some(v.clone()),
                _ => None,
            })
        })
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl Drop for System {
    fn drop(&mut self) {
        // Agents and MCP servers first, the token service last.
        for (_, child) in self.children.iter_mut().rev() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        for (_, child) in self.children.iter_mut().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The venv Python with the official SDKs (`cargo xtask test` installs it).
pub fn python() -> String {
    mlops_mcp_kit::test_support::python()
}

impl System {
    /// Runs `skill` on `agent` through the official Python a2a-sdk client
    /// (streaming, JSON-RPC) and returns its `RESULT` object: `state`,
    /// `status_text`, `progress` (working lines) and `artifacts` by name.
    pub async fn python_skill(&self, agent: &str, skill: &str, input: Value) -> Value {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/a2a_skill_client.py"
        );
        let url = self.agents[agent].clone();
        let token = self.mint(
            "orchestrator",
            agent,
            vec![Scope::parse("a2a:invoke").unwrap()],
        );
        let (skill, input) = (skill.to_owned(), input.to_string());
        let output = tokio::task::spawn_blocking(move || {
            Command::new(python())
                .args([script, &url, &token, &skill, &input])
                .output()
                .expect("running the Python a2a-sdk client")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "python a2a-sdk client failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("no RESULT line in:\n{stdout}"));
        serde_json::from_str(line).unwrap()
    }
}
