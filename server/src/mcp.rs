//! `mlops mcp NAME`: runs one MCP server, over streamable HTTP or stdio.

use std::sync::Arc;

use anyhow::{Context, bail};
use mlops_mcp_kit::{McpHttpServer, serve_stdio};
use mlops_mcp_storage::DatasetStore;
use mlops_metrics::Registry;
use mlops_service_auth::{JwksSource, TokenVerifier};
use rmcp::ServerHandler;
use sqlx::PgPool;

use crate::cli::{ClusterBackendKind, McpArgs};
use crate::control_plane::shutdown_signal;

/// Every MCP server this build has; `mlops up` starts each of them.
pub const MCP_SERVERS: &[&str] = &[
    mlops_mcp_registry::SERVER,
    mlops_mcp_storage::SERVER,
    mlops_mcp_quality::SERVER,
    mlops_mcp_drift::SERVER,
    mlops_mcp_trainer::SERVER,
    mlops_mcp_cluster::SERVER,
    mlops_mcp_metrics::SERVER,
];

pub async fn run(args: McpArgs) -> anyhow::Result<()> {
    if !MCP_SERVERS.contains(&args.name.as_str()) {
        bail!(
            "unknown MCP server {:?}; available: {}",
            args.name,
            MCP_SERVERS.join(", ")
        );
    }
    let database_url = args.database_url.as_deref().context(
        "set DATABASE_URL (or --database-url): MCP servers audit every call in Postgres",
    )?;
    let pool = mlops_postgres::connect(database_url, 16)
        .await
        .context("connecting to Postgres")?;
    mlops_postgres::migrate(&pool)
        .await
        .context("applying migrations")?;

    match args.name.as_str() {
        mlops_mcp_storage::SERVER => {
            let location = storage_root(&args)?;
            let server = mlops_mcp_storage::StorageServer::open(&location, pool.clone())
                .with_context(|| format!("opening the object store {location}"))?;
            server
                .datasets()
                .check()
                .await
                .with_context(|| format!("reaching the object store {location}"))?;
            let metrics = server.kit().metrics();
            serve(&args, server, metrics, pool).await
        }
        mlops_mcp_quality::SERVER => {
            let server =
                mlops_mcp_quality::QualityServer::new(datasets(&args).await?, pool.clone());
            let metrics = server.kit().metrics();
            serve(&args, server, metrics, pool).await
        }
        mlops_mcp_drift::SERVER => {
            let server = mlops_mcp_drift::DriftServer::new(datasets(&args).await?, pool.clone());
            let metrics = server.kit().metrics();
            serve(&args, server, metrics, pool).await
        }
        mlops_mcp_trainer::SERVER => {
            let server =
                mlops_mcp_trainer::TrainerServer::new(datasets(&args).await?, pool.clone());
            // Claims queued jobs (several replicas share one queue) and
            // fails jobs orphaned by a dead process.
            let runner = server.spawn_runner();
            let metrics = server.kit().metrics();
            let result = serve(&args, server, metrics, pool).await;
            runner.shutdown().await;
            result
        }
        mlops_mcp_metrics::SERVER => {
            let prometheus = args.prometheus_url.clone().context(
                "set MLOPS_PROMETHEUS_URL (or --prometheus-url): the Prometheus to query",
            )?;
            let server = mlops_mcp_metrics::MetricsServer::new(prometheus, pool.clone());
            let metrics = server.kit().metrics();
            serve(&args, server, metrics, pool).await
        }
        mlops_mcp_cluster::SERVER => {
            let datasets = datasets(&args).await?;
            let backend = cluster_backend(&args, &pool).await?;
            let server = mlops_mcp_cluster::ClusterServer::new(backend, datasets, pool.clone());
            // Brings back every deployment after a restart, and replaces
            // crashed replicas while running.
            let reconciler = server.spawn_reconciler();
            let metrics = server.kit().metrics();
            let result = serve(&args, server, metrics, pool).await;
            reconciler.abort();
            result
        }
        _ => {
            let server = mlops_mcp_registry::RegistryServer::new(pool.clone());
            let metrics = server.kit().metrics();
            serve(&args, server, metrics, pool).await
        }
    }
}

/// `local` runs model servers and routers here; `kubernetes` applies
/// Deployments, Services and HTTPRoutes when a kubeconfig (or an in-cluster
/// service account) is available, and otherwise only renders them.
async fn cluster_backend(
    args: &McpArgs,
    pool: &PgPool,
) -> anyhow::Result<Arc<dyn mlops_mcp_cluster::ClusterBackend>> {
    use mlops_mcp_cluster::{GatewayRef, KubernetesBackend, KubernetesConfig};
    match args.cluster_backend {
        ClusterBackendKind::Local => Ok(Arc::new(mlops_mcp_cluster::LocalBackend::new(
            mlops_mcp_cluster::LocalConfig {
                exe: std::env::current_exe().context("locating the mlops binary")?,
                storage_root: storage_root(args)?,
                file_sd_dir: args.prometheus_sd_dir.clone(),
            },
            pool.clone(),
        ))),
        ClusterBackendKind::Kubernetes => {
            let image = args
                .k8s_image
                .clone()
                .context("set MLOPS_K8S_IMAGE: the image the model-server pods run")?;
            let gateway = args
                .k8s_gateway
                .as_deref()
                .context("set MLOPS_K8S_GATEWAY: the Gateway the routes attach to")?;
            let (namespace, name) = match gateway.split_once('/') {
                Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
                None => (None, gateway.to_owned()),
            };
            let mut config = KubernetesConfig::new(
                image,
                GatewayRef {
                    name,
                    namespace,
                    section_name: None,
                },
            );
            config.namespace = args.k8s_namespace.clone();
            config.storage_claim = args.k8s_storage_claim.clone();
            let configured = std::env::var_os("KUBECONFIG").is_some()
                || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
                || std::env::var_os("HOME")
                    .is_some_and(|h| std::path::Path::new(&h).join(".kube/config").exists());
            let backend = if configured {
                KubernetesBackend::connect(config).await
            } else {
                tracing::warn!(
                    "no kubeconfig: the kubernetes backend renders manifests without applying them"
                );
                KubernetesBackend::render_only(config)
            }
            .map_err(|e| anyhow::anyhow!("kubernetes backend: {e}"))?;
            Ok(Arc::new(backend))
        }
    }
}

fn storage_root(args: &McpArgs) -> anyhow::Result<String> {
    args.storage_root.clone().context(
        "set MLOPS_STORAGE_ROOT (or --storage-root): a directory, file:///dir or s3://bucket[/prefix]",
    )
}

/// The shared object store, checked reachable before the server listens.
async fn datasets(args: &McpArgs) -> anyhow::Result<DatasetStore> {
    let location = storage_root(args)?;
    let store = DatasetStore::open(&location)
        .with_context(|| format!("opening the object store {location}"))?;
    store
        .check()
        .await
        .with_context(|| format!("reaching the object store {location}"))?;
    Ok(store)
}

async fn serve<S>(args: &McpArgs, handler: S, metrics: Registry, pool: PgPool) -> anyhow::Result<()>
where
    S: ServerHandler + Clone,
{
    if args.stdio {
        return serve_stdio(handler).await;
    }
    let issuer = args.issuer.clone().context(
        "set MLOPS_ISSUER (or --issuer) to the control plane's URL, which issues the tokens",
    )?;
    let jwks_url = args
        .jwks_url
        .clone()
        .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
    let verifier = Arc::new(TokenVerifier::new(
        issuer,
        args.name.clone(),
        JwksSource::Url(jwks_url),
    ));
    let running = McpHttpServer::new(&args.name, verifier, metrics)
        .readiness_database(pool)
        .bind(args.listen, move || handler.clone())
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    println!("listening {}", running.mcp_url());
    running.serve_until(shutdown_signal()).await;
    Ok(())
}
