//! The command line. Each subcommand parses its flags into a config and
//! calls the library; nothing here decides behaviour.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mlops_service_auth::{Scope, SigningKey, TokenRequest};

use crate::{control_plane, services, supervisor, telemetry};

pub use crate::mcp::MCP_SERVERS;

const EXAMPLES: &str = "\
Examples:
  mlops up                                   start everything with embedded defaults
  mlops up --data-dir /srv/mlops --port 9000
  mlops status --services                    list what `up` is running
  mlops token --audience data --scope a2a:invoke --ttl 15m
  mlops migrate                              apply database migrations
  DATABASE_URL=postgres://… mlops serve --listen 0.0.0.0:8080";

/// The agentic MLOps control plane.
#[derive(Parser)]
#[command(name = "mlops", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole system locally as supervised child processes.
    #[command(after_help = "Example:\n  mlops up --data-dir ./.mlops")]
    Up(UpArgs),
    /// Run the control plane (token service, API, dashboard).
    #[command(after_help = "Example:\n  mlops serve --listen 127.0.0.1:8080 --data-dir ./.mlops")]
    Serve(ServeArgs),
    /// Run one agent by name.
    #[command(after_help = "Example:\n  mlops agent data --listen 127.0.0.1:7101")]
    Agent(NamedArgs),
    /// Run one MCP server by name (streamable HTTP at /mcp, or stdio).
    #[command(
        after_help = "Examples:\n  mlops mcp registry --listen 127.0.0.1:7201\n  DATABASE_URL=postgres://… mlops mcp registry --stdio"
    )]
    Mcp(McpArgs),
    /// Apply database migrations (to DATABASE_URL, or the embedded cluster).
    #[command(after_help = "Example:\n  mlops migrate --data-dir ./.mlops")]
    Migrate(DataArgs),
    /// Mint a short-lived service token with the control plane's key.
    #[command(
        after_help = "Example:\n  mlops token --audience registry --scope registry:read --ttl 10m"
    )]
    Token(TokenArgs),
    /// Serve one model version over the KServe v1 protocol (started by the
    /// cluster server's local backend).
    #[command(
        name = "model-server",
        after_help = "Example:\n  mlops model-server --model fraud-detector --version 1 --artifact models/<job>/model.json"
    )]
    ModelServer(ModelServerArgs),
    /// Route one model's predictions across its versions by weight (started
    /// by the cluster server's local backend).
    #[command(
        after_help = "Example:\n  MLOPS_ROUTER_ADMIN_TOKEN=… mlops router --model fraud-detector"
    )]
    Router(RouterArgs),
    /// Replay the demo's holdout rows through a model's router, with live
    /// controls (inject drift, rate) on its own HTTP port (started by
    /// `mlops up` for the demo).
    #[command(
        after_help = "Example:\n  MLOPS_TRAFFIC_ADMIN_TOKEN=… mlops traffic --router-url http://127.0.0.1:9100 --listen 127.0.0.1:9300"
    )]
    Traffic(TrafficArgs),
    /// The demo's controls, for a running `mlops up`: drift in the traffic,
    /// and the faulty candidate as a canary.
    #[command(
        after_help = "Examples:\n  mlops demo drift on\n  mlops demo faulty-canary --weight 20"
    )]
    Demo(DemoArgs),
    /// Show what `mlops up` is running, or (with an API token) workflows.
    #[command(
        after_help = "Examples:\n  mlops status --services\n  mlops status --token $MLOPS_TOKEN\n  mlops status WORKFLOW --token $MLOPS_TOKEN"
    )]
    Status(StatusArgs),
    /// Start a deploy workflow through the control plane, and follow it.
    #[command(
        after_help = "Example:\n  mlops deploy fraud-detector --version 2 --strategy canary --token $MLOPS_TOKEN"
    )]
    Deploy(crate::api_client::DeployArgs),
    /// List the open approval gates.
    #[command(after_help = "Example:\n  mlops approvals --token $MLOPS_TOKEN")]
    Approvals(crate::api_client::ListArgs),
    /// Approve a workflow's gate (role and four-eyes rules apply).
    #[command(after_help = "Example:\n  mlops approve WORKFLOW --comment 'metrics look good'")]
    Approve(crate::api_client::DecideArgs),
    /// Reject a workflow's gate.
    #[command(after_help = "Example:\n  mlops reject WORKFLOW --comment 'p99 too high'")]
    Reject(crate::api_client::DecideArgs),
    /// Cancel a running workflow.
    #[command(after_help = "Example:\n  mlops cancel WORKFLOW --token $MLOPS_TOKEN")]
    Cancel(crate::api_client::WorkflowArgs),
    /// The audit log: `verify` checks its hash chain.
    #[command(after_help = "Example:\n  mlops audit verify --data-dir ./.mlops")]
    Audit(AuditArgs),
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the chain; exit non-zero at the first broken link.
    Verify(DataArgs),
}

#[derive(Args, Clone)]
pub struct DataArgs {
    /// Where state lives: the embedded Postgres cluster, keys, services.json.
    #[arg(long, env = "MLOPS_DATA_DIR", default_value = ".mlops")]
    pub data_dir: PathBuf,
    /// Use this Postgres instead of the embedded cluster.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Port of the control plane; a free one is chosen if it is taken.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The object store every service shares: a directory, file:///dir or
    /// s3://bucket[/prefix] (default: <data-dir>/objects).
    #[arg(long, env = "MLOPS_STORAGE_ROOT")]
    pub storage_root: Option<String>,
    /// Skip the demo: no seeded `fraud-detector` models and no traffic
    /// generator, only the services.
    #[arg(long)]
    pub no_demo: bool,
    /// The control plane's settings (YAML), for an external OIDC issuer.
    /// Without it `up` starts the dev IdP (e2e/idp) and signs in through it.
    #[arg(long, env = "MLOPS_CONTROL_CONFIG")]
    pub control_config: Option<PathBuf>,
    /// Where gate and workflow notifications go (Slack-compatible JSON), in
    /// the settings `up` writes for the dev IdP (with --control-config, set
    /// `notify_webhook` there instead).
    #[arg(long, env = "MLOPS_NOTIFY_WEBHOOK", conflicts_with = "control_config")]
    pub notify_webhook: Option<String>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The URL users and services reach this control plane at; it is also
    /// the token issuer. Defaults to http://<listen>.
    #[arg(long, env = "MLOPS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The control plane's settings (YAML): sign-in, sessions, approvals,
    /// deploy bounds, notifications.
    #[arg(long, env = "MLOPS_CONTROL_CONFIG")]
    pub config: Option<PathBuf>,
    /// The agent registry file that names the orchestrator
    /// (default <data-dir>/agents.yaml).
    #[arg(long, env = "MLOPS_AGENT_REGISTRY")]
    pub agent_registry: Option<PathBuf>,
    /// The MCP servers the dashboards read from: `name=url,…`.
    #[arg(long, env = "MLOPS_MCP_URLS")]
    pub mcp_urls: Option<String>,
    /// Where the console's browser bundle is (`pkg/mlops.js`, …; built by
    /// `cargo xtask site`). Default: `site/` beside the binary's directory.
    /// Without it the pages still render, without live updates.
    #[arg(long, env = "MLOPS_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
}

#[derive(Args)]
pub struct NamedArgs {
    /// Which one to run.
    pub name: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The base URL others reach this agent at (advertised in its card).
    #[arg(long, env = "MLOPS_PUBLIC_URL")]
    pub public_url: Option<String>,
}

#[derive(Args)]
pub struct McpArgs {
    /// Which server: registry, storage, quality, drift, trainer, cluster or metrics.
    pub name: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Serve over stdin/stdout instead of HTTP (for a local MCP client).
    #[arg(long)]
    pub stdio: bool,
    /// The server's database.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Token issuer: the control plane's URL.
    #[arg(long, env = "MLOPS_ISSUER")]
    pub issuer: Option<String>,
    /// Where the issuer publishes its keys (default: <issuer>/.well-known/jwks.json).
    #[arg(long, env = "MLOPS_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// The object store (storage, quality, drift, trainer and cluster
    /// servers): a directory, file:///dir or s3://bucket[/prefix]; S3 is
    /// configured by the AWS_* variables.
    #[arg(long, env = "MLOPS_STORAGE_ROOT")]
    pub storage_root: Option<String>,
    /// Where the cluster server writes Prometheus file_sd targets.
    #[arg(long, env = "MLOPS_PROMETHEUS_SD_DIR")]
    pub prometheus_sd_dir: Option<PathBuf>,
    /// The Prometheus the metrics server queries.
    #[arg(long, env = "MLOPS_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// The cluster server's backend: `local` processes or `kubernetes`.
    #[arg(long, env = "MLOPS_CLUSTER_BACKEND", default_value = "local")]
    pub cluster_backend: ClusterBackendKind,
    /// kubernetes: the image whose `mlops model-server` the pods run.
    #[arg(long, env = "MLOPS_K8S_IMAGE")]
    pub k8s_image: Option<String>,
    /// kubernetes: the Gateway the HTTPRoutes attach to, `name` or `namespace/name`.
    #[arg(long, env = "MLOPS_K8S_GATEWAY")]
    pub k8s_gateway: Option<String>,
    /// kubernetes: the namespace for Deployments, Services and HTTPRoutes
    /// (default: the kubeconfig's).
    #[arg(long, env = "MLOPS_K8S_NAMESPACE")]
    pub k8s_namespace: Option<String>,
    /// kubernetes: the PersistentVolumeClaim holding the object store.
    #[arg(long, env = "MLOPS_K8S_STORAGE_CLAIM")]
    pub k8s_storage_claim: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterBackendKind {
    Local,
    Kubernetes,
}

#[derive(Args)]
pub struct ModelServerArgs {
    /// The model's name, as clients address it.
    #[arg(long)]
    pub model: String,
    /// The version being served.
    #[arg(long)]
    pub version: String,
    /// Object key of the artifact under the storage root.
    #[arg(long)]
    pub artifact: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The object store artifacts live in: a directory, file:///dir or
    /// s3://bucket[/prefix].
    #[arg(long, env = "MLOPS_STORAGE_ROOT")]
    pub storage_root: String,
}

#[derive(Args)]
pub struct RouterArgs {
    /// The model whose traffic this router splits.
    #[arg(long)]
    pub model: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The object store the prediction log is written to: a directory,
    /// file:///dir or s3://bucket[/prefix].
    #[arg(long, env = "MLOPS_STORAGE_ROOT")]
    pub storage_root: String,
    /// The bearer token `PUT /admin/routes` requires.
    #[arg(long, env = "MLOPS_ROUTER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
}

#[derive(Args)]
pub struct TrafficArgs {
    /// The model's router, e.g. http://127.0.0.1:9100.
    #[arg(long)]
    pub router_url: String,
    /// The model whose router is called.
    #[arg(long, default_value = mlops_demo_data::MODEL_NAME)]
    pub model: String,
    /// The demo data's training seed; rows come from its holdout seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Requests per second.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Instances per request.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Where the control API (`GET /state`, `PUT /controls`) listens.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The bearer token `PUT /controls` requires.
    #[arg(long, env = "MLOPS_TRAFFIC_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
}

#[derive(Args)]
pub struct DemoArgs {
    #[arg(long, env = "MLOPS_DATA_DIR", default_value = ".mlops", global = true)]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub action: DemoAction,
}

#[derive(Subcommand)]
pub enum DemoAction {
    /// Switch the traffic generator's drift on or off.
    Drift {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Start the demo's faulty version as a canary beside the champion,
    /// through the deployment agent.
    FaultyCanary {
        /// Percent of traffic the canary takes, 1-99.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=99))]
        weight: u8,
    },
}

#[derive(Args)]
pub struct TokenArgs {
    #[arg(long, env = "MLOPS_DATA_DIR", default_value = ".mlops")]
    pub data_dir: PathBuf,
    /// The service that will accept the token (e.g. `data`, `registry`).
    #[arg(long)]
    pub audience: String,
    /// Scopes to grant; repeat or separate with spaces.
    #[arg(long = "scope", num_args = 1.., value_delimiter = ' ')]
    pub scopes: Vec<String>,
    /// Lifetime, e.g. 90s, 15m, 1h (at most 24h).
    #[arg(long, default_value = "15m", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Who the token is for.
    #[arg(long, default_value = "operator")]
    pub subject: String,
    /// Issuer to write into the token; defaults to the control plane URL
    /// recorded by `mlops up`.
    #[arg(long)]
    pub issuer: Option<String>,
}

#[derive(Args)]
pub struct StatusArgs {
    /// List every running service (name, kind, URL, pid).
    #[arg(long)]
    pub services: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A workflow to show and follow (needs an API token).
    pub workflow: Option<String>,
    #[command(flatten)]
    pub api: crate::api_client::ApiArgs,
}

/// Parses `90s`, `15m`, `2h` or plain seconds.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration; use e.g. 90s, 15m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        other => return Err(format!("unknown unit {other:?}; use s, m or h")),
    };
    if secs == 0 {
        return Err("the ttl must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => {
            telemetry::init("info");
            supervisor::up(args).await
        }
        Command::Serve(args) => {
            telemetry::init("info,tower_http=warn");
            control_plane::serve(args).await
        }
        Command::Agent(args) => {
            telemetry::init("info,tower_http=warn");
            crate::agents::run(args).await
        }
        Command::Mcp(args) => {
            // Over stdio, stdout carries the protocol: logs stay on stderr.
            telemetry::init("info,tower_http=warn");
            crate::mcp::run(args).await
        }
        Command::Migrate(args) => {
            telemetry::init("info");
            supervisor::migrate_only(&args).await
        }
        Command::ModelServer(args) => {
            telemetry::init("info");
            crate::serving::model_server(args).await
        }
        Command::Router(args) => {
            telemetry::init("info");
            crate::serving::router(args).await
        }
        Command::Traffic(args) => {
            telemetry::init("info");
            crate::demo::traffic(args).await
        }
        Command::Demo(args) => crate::demo::control(args).await,
        Command::Token(args) => token(args),
        Command::Status(args) => {
            if !args.services && (args.workflow.is_some() || args.api.token.is_some()) {
                crate::api_client::status(args.workflow.as_deref(), &args.api, args.json).await
            } else {
                status(args)
            }
        }
        Command::Deploy(args) => crate::api_client::deploy(args).await,
        Command::Approvals(args) => crate::api_client::approvals(args).await,
        Command::Approve(args) => crate::api_client::decide(args, "approve").await,
        Command::Reject(args) => crate::api_client::decide(args, "reject").await,
        Command::Cancel(args) => crate::api_client::cancel(args).await,
        Command::Audit(args) => audit(args).await,
    }
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let key = SigningKey::load_or_create(&control_plane::signing_key_path(&args.data_dir))?;
    let issuer = match args.issuer {
        Some(issuer) => issuer,
        None => control_plane::recorded_issuer(&args.data_dir)?,
    };
    let scopes = args
        .scopes
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let request = TokenRequest::new(args.subject, args.audience, scopes, args.ttl)?;
    let (token, _) = key.mint(&issuer, &request)?;
    println!("{token}");
    Ok(())
}

async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let AuditCommand::Verify(data) = args.command;
    let url = match &data.database_url {
        Some(url) => url.clone(),
        None => supervisor::embedded_database_url(&data.data_dir)?,
    };
    let pool = mlops_postgres::connect(&url, 2).await?;
    let report = control_plane::audit::verify(&pool).await?;
    match report.first_broken {
        None => {
            println!("audit chain intact: {} rows", report.rows);
            Ok(())
        }
        Some(link) => {
            anyhow::bail!("audit chain broken at row {}: {}", link.id, link.reason)
        }
    }
}

fn status(args: StatusArgs) -> anyhow::Result<()> {
    let data_dir = &args.api.data_dir;
    let list = services::read(data_dir).map_err(|e| {
        anyhow::anyhow!(
            "no services.json in {} ({e}); is `mlops up` running with this --data-dir?",
            data_dir.display()
        )
    })?;
    let dead: Vec<&str> = list
        .iter()
        .filter(|s| !process_alive(s.pid))
        .map(|s| s.name.as_str())
        .collect();
    if !dead.is_empty() {
        eprintln!(
            "warning: not running: {} (services.json may be left from a supervisor that was killed)",
            dead.join(", ")
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if args.services {
        print!("{}", services::render_table(&list));
    } else {
        println!(
            "{} services running; `mlops status --services` lists them",
            list.len()
        );
    }
    Ok(())
}

fn process_alive(pid: u32) -> bool {
    // Signal 0 checks existence without delivering anything.
    pid != 0 && unsafe { libc::kill(pid as i32, 0) } == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_ttl("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_ttl("30").unwrap(), Duration::from_secs(30));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("5d").is_err());
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
