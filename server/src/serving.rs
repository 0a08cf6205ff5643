//! `mlops model-server` and `mlops router`: the serving processes. Each
//! prints `listening URL` once it accepts connections, which is how the
//! cluster server's local backend knows it is ready.

use anyhow::Context;
use mlops_mcp_storage::DatasetStore;
use mlops_serving::model_server::{self, ModelServerConfig};
use mlops_serving::prediction_log::PredictionLog;
use mlops_serving::router;
use tokio_util::sync::CancellationToken;

use crate::cli::{ModelServerArgs, RouterArgs};
use crate::control_plane::shutdown_signal;

pub async fn model_server(args: ModelServerArgs) -> anyhow::Result<()> {
    let store = DatasetStore::open(&args.storage_root)
        .with_context(|| format!("opening the object store {}", args.storage_root))?;
    let app = model_server::load(
        &store,
        ModelServerConfig {
            model: args.model,
            version: args.version,
            artifact_key: args.artifact,
        },
    )
    .await?;
    model_server::serve(
        app,
        args.listen,
        |addr| println!("listening http://{addr}"),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

pub async fn router(args: RouterArgs) -> anyhow::Result<()> {
    if args.admin_token.len() < 16 {
        anyhow::bail!("MLOPS_ROUTER_ADMIN_TOKEN must be at least 16 characters");
    }
    let store = DatasetStore::open(&args.storage_root)
        .with_context(|| format!("opening the object store {}", args.storage_root))?;
    let log = PredictionLog::new(&args.model, store);
    let app = router::app(&args.model, &args.admin_token, log.clone());
    let stop = CancellationToken::new();
    let flusher = tokio::spawn(log.run_flusher(stop.clone()));
    router::serve(
        app,
        args.listen,
        |addr| println!("listening http://{addr}"),
        shutdown_signal(),
    )
    .await
    .with_context(|| format!("serving on {}", args.listen))?;
    // Write what is buffered before exiting: the log must not lose rows on
    // a clean stop.
    stop.cancel();
    let _ = flusher.await;
    Ok(())
}
