//! Runs the echo agent (tests and benchmarks only).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mlops_agent_kit::{AgentServer, StoreChoice};
use mlops_service_auth::{Jwks, JwksSource, TokenVerifier};

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Keep tasks in this Postgres database; in memory when absent.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Token issuer (the control plane's URL).
    #[arg(long)]
    issuer: String,
    /// Issuer JWKS URL.
    #[arg(long, conflicts_with = "jwks_file")]
    jwks_url: Option<String>,
    /// Issuer JWKS as a file (tests).
    #[arg(long)]
    jwks_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let source = match (&args.jwks_url, &args.jwks_file) {
        (Some(url), _) => JwksSource::Url(url.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            JwksSource::Static(
                serde_json::from_str::<Jwks>(&text).context("parsing the JWKS file")?,
            )
        }
        (None, None) => anyhow::bail!("give --jwks-url or --jwks-file"),
    };
    let verifier = Arc::new(TokenVerifier::new(args.issuer, "echo", source));
    let store = match &args.database_url {
        Some(url) => {
            let pool = mlops_postgres::connect(url, 16)
                .await
                .context("connecting to Postgres")?;
            mlops_postgres::migrate(&pool).await.context("migrating")?;
            StoreChoice::Postgres(pool)
        }
        None => StoreChoice::Memory,
    };
    let agent = AgentServer::new(
        mlops_agent_echo::definition(),
        mlops_agent_echo::EchoExecutor::default(),
        verifier,
    )
    .store(store)
    .bind(args.listen)
    .await
    .context("binding")?;
    // The one line a parent process reads to learn where we listen.
    println!("listening {}", agent.base_url());
    agent
        .serve_until(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler cannot fail at start-up");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await;
    Ok(())
}
