//! One model-server process: loads one model version's artifact from the
//! object store and answers KServe v1 predictions, with `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_metrics::Registry;
use mlops_models::Model;
use tower_http::limit::RequestBodyLimitLayer;

use crate::kserve::{
    ApiError, MAX_BODY_BYTES, ModelMetadata, PredictResponse, Prediction, model_of_predict_path,
    rows_of,
};

#[derive(Debug, thiserror::Error)]
pub enum ModelServerError {
    #[error("cannot read the artifact {key}: {message}")]
    Artifact { key: String, message: String },
    #[error("the artifact {key} is not a model: {source}")]
    Model {
        key: String,
        source: mlops_models::ModelError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What one model-server process serves.
#[derive(Debug, Clone)]
pub struct ModelServerConfig {
    pub model: String,
    pub version: String,
    /// Object key of the artifact, e.g. `models/<job>/model.json`.
    pub artifact_key: String,
}

struct Served {
    config: ModelServerConfig,
    model: Model,
    metrics: Registry,
}

/// Loads the artifact; fails before listening if it is missing or corrupt,
/// so a bad deployment never reports ready.
pub async fn load(
    store: &DatasetStore,
    config: ModelServerConfig,
) -> Result<Router, ModelServerError> {
    let key = ObjectKey::parse(&config.artifact_key).map_err(|e| ModelServerError::Artifact {
        key: config.artifact_key.clone(),
        message: e.to_string(),
    })?;
    let bytes = store
        .read_object(&key)
        .await
        .map_err(|e| ModelServerError::Artifact {
            key: config.artifact_key.clone(),
            message: e.to_string(),
        })?;
    let model = Model::from_bytes(&bytes).map_err(|source| ModelServerError::Model {
        key: config.artifact_key.clone(),
        source,
    })?;
    let metrics = Registry::with_constant_labels(&[
        ("model", config.model.as_str()),
        ("version", config.version.as_str()),
    ]);
    tracing::info!(
        model = %config.model,
        version = %config.version,
        algorithm = model.algorithm(),
        features = model.feature_names().len(),
        "model loaded"
    );
    let served = Arc::new(Served {
        config,
        model,
        metrics,
    });
    Ok(Router::new()
        // One path: `GET /v1/models/NAME` describes, `POST /v1/models/NAME:predict`
        // scores (the colon is part of the segment).
        .route("/v1/models/{name}", get(metadata).post(predict))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/metrics", get(render_metrics))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .with_state(served))
}

/// Binds and serves until `shutdown` resolves; prints nothing itself.
pub async fn serve(
    router: Router,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ModelServerError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ModelServerError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ModelServerError::Bind { addr, source })?;
    on_bound(bound);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ModelServerError::Bind { addr, source })
}

async fn metadata(
    State(served): State<Arc<Served>>,
    Path(name): Path<String>,
) -> Result<axum::Json<ModelMetadata>, ApiError> {
    if name != served.config.model {
        return Err(ApiError::not_found(format!(
            "this server serves {:?}, not {name:?}",
            served.config.model
        )));
    }
    Ok(axum::Json(ModelMetadata {
        name: served.config.model.clone(),
        version: served.config.version.clone(),
        ready: true,
        feature_names: served.model.feature_names().to_vec(),
    }))
}

async fn predict(
    State(served): State<Arc<Served>>,
    Path(target): Path<String>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let answer = predict_inner(&served, &target, body).await;
    let code = match &answer {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status,
    };
    let code_label = code.as_u16().to_string();
    served.metrics.count(
        "mlops_model_server_requests_total",
        "Prediction requests by HTTP status.",
        &[("code", &code_label)],
        1,
    );
    served.metrics.observe(
        "mlops_model_server_request_duration_seconds",
        "Prediction request duration.",
        &[],
        started.elapsed().as_secs_f64(),
    );
    match answer {
        Ok(response) => {
            served.metrics.count(
                "mlops_model_server_predictions_total",
                "Instances scored.",
                &[],
                response.predictions.len() as u64,
            );
            axum::Json(response).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn predict_inner(
    served: &Arc<Served>,
    target: &str,
    body: Bytes,
) -> Result<PredictResponse, ApiError> {
    let name = model_of_predict_path(target).ok_or_else(|| {
        ApiError::not_found(format!("no route {target:?}; POST /v1/models/NAME:predict"))
    })?;
    if name != served.config.model {
        return Err(ApiError::not_found(format!(
            "this server serves {:?}, not {name:?}",
            served.config.model
        )));
    }
    let rows = rows_of(&body, served.model.feature_names())?;
    if let Some(fault) = served.model.serving_fault() {
        // The demo's faulty version: slow on every request, failing on a
        // share of them, as a broken release would be.
        tokio::time::sleep(std::time::Duration::from_millis(fault.added_latency_ms)).await;
        if fastrand::f64() < fault.error_share {
            return Err(ApiError::internal(
                "the model failed on this input (this version is faulty)",
            ));
        }
    }
    // Scoring is CPU work; keep it off the reactor threads.
    let worker = served.clone();
    let scores = tokio::task::spawn_blocking(move || worker.model.predict_proba(&rows))
        .await
        .map_err(|e| ApiError::internal(format!("scoring stopped: {e}")))?
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(PredictResponse {
        predictions: scores
            .into_iter()
            .map(|score| Prediction {
                score,
                label: i64::from(score >= 0.5),
            })
            .collect(),
        model_version: Some(served.config.version.clone()),
    })
}

async fn render_metrics(State(served): State<Arc<Served>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        served.metrics.render(),
    )
}
