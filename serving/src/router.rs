//! The traffic router: one per model. It splits KServe v1 predictions
//! across the model's versions by weight, injects faults per version when
//! told to, exports per-version request, error and latency metrics, and logs
//! every scored instance for drift analysis.
//!
//! The cluster server owns the route table (versions, weights, endpoints,
//! faults) and pushes it to `PUT /admin/routes` with the router's admin
//! token; a change applies to the next request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use mlops_metrics::Registry;
use serde::{Deserialize, Serialize};
use tower_http::limit::RequestBodyLimitLayer;

use crate::kserve::{
    ApiError, MAX_BODY_BYTES, ModelMetadata, PredictResponse, model_of_predict_path, rows_of,
};
use crate::prediction_log::{LoggedPrediction, PredictionLog};

/// How long the router waits for a model server.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// The most latency a fault may add.
pub const MAX_ADDED_LATENCY_MS: u64 = 30_000;

/// Injected misbehaviour of one version, for canary demos and tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Share of requests answered 500 without reaching the model (0..=1).
    #[serde(default)]
    pub error_share: f64,
    /// Added before forwarding, in milliseconds.
    #[serde(default)]
    pub added_latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRoute {
    pub version: String,
    /// Percent of traffic, 0..=100; the table's weights sum to 100.
    pub weight: u32,
    /// Base URLs of the version's model servers.
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub fault: Fault,
}

/// What the cluster server pushes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// Increases with every change; an older table never replaces a newer.
    pub generation: u64,
    pub versions: Vec<VersionRoute>,
}

impl RouteTable {
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.versions {
            if !seen.insert(v.version.as_str()) {
                return Err(format!("version {:?} appears twice", v.version));
            }
            if v.weight > 100 {
                return Err(format!(
                    "version {:?}: weight {} is above 100",
                    v.version, v.weight
                ));
            }
            if v.weight > 0 && v.endpoints.is_empty() {
                return Err(format!(
                    "version {:?} has weight but no endpoints",
                    v.version
                ));
            }
            if !(0.0..=1.0).contains(&v.fault.error_share) {
                return Err(format!(
                    "version {:?}: error_share {} is outside 0..1",
                    v.version, v.fault.error_share
                ));
            }
            if v.fault.added_latency_ms > MAX_ADDED_LATENCY_MS {
                return Err(format!(
                    "version {:?}: added_latency_ms is above {MAX_ADDED_LATENCY_MS}",
                    v.version
                ));
            }
            for e in &v.endpoints {
                reqwest::Url::parse(e).map_err(|err| format!("endpoint {e:?}: {err}"))?;
            }
        }
        let total: u32 = self.versions.iter().map(|v| v.weight).sum();
        if !self.versions.is_empty() && total != 100 {
            return Err(format!("weights sum to {total}, not 100"));
        }
        Ok(())
    }
}

/// A version as the request path sees it.
struct LiveVersion {
    route: VersionRoute,
    name: Arc<str>,
    feature_names: Arc<[String]>,
    next_endpoint: std::sync::atomic::AtomicUsize,
}

/// The applied table plus the smooth weighted round-robin state (as nginx
/// does it): exact shares over any window, no bursts to one version.
struct Live {
    table: RouteTable,
    versions: Vec<LiveVersion>,
    current: Mutex<Vec<i64>>,
}

impl Live {
    fn pick(&self) -> Option<&LiveVersion> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let total: i64 = self
            .versions
            .iter()
            .map(|v| i64::from(v.route.weight))
            .sum();
        if total == 0 {
            return None;
        }
        let mut best = 0;
        for (i, v) in self.versions.iter().enumerate() {
            current[i] += i64::from(v.route.weight);
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        self.versions.get(best)
    }
}

struct Shared {
    model: String,
    admin_token: String,
    live: RwLock<Arc<Live>>,
    http: reqwest::Client,
    metrics: Registry,
    log: PredictionLog,
}

/// Builds the router's HTTP app. The prediction log's flusher is the
/// caller's to run (see [`PredictionLog::run_flusher`]).
pub fn app(model: &str, admin_token: &str, log: PredictionLog) -> Router {
    let shared = Arc::new(Shared {
        model: model.to_owned(),
        admin_token: admin_token.to_owned(),
        live: RwLock::new(Arc::new(Live {
            table: RouteTable::default(),
            versions: Vec::new(),
            current: Mutex::new(Vec::new()),
        })),
        http: reqwest::Client::builder()
            .timeout(UPSTREAM_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default(),
        metrics: Registry::with_constant_labels(&[("model", model)]),
        log,
    });
    Router::new()
        .route("/v1/models/{target}", post(predict))
        .route("/admin/routes", put(put_routes).get(get_routes))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/metrics", get(render_metrics))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .with_state(shared)
}

/// Binds `addr` and serves `app` until `shutdown`.
pub async fn serve(
    app: Router,
    addr: SocketAddr,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", shared.admin_token);
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| constant_time_eq(v.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn get_routes(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "admin token required".into(),
        }
        .into_response();
    }
    let live = shared
        .live
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    axum::Json(live.table.clone()).into_response()
}

async fn put_routes(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "admin token required".into(),
        }
        .into_response();
    }
    let table: RouteTable = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => return ApiError::bad_request(format!("not a route table: {e}")).into_response(),
    };
    if let Err(why) = table.validate() {
        return ApiError::bad_request(why).into_response();
    }
    match apply(&shared, table).await {
        Ok(applied) => axum::Json(applied).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Fetches each version's feature names (the log needs them), then swaps
/// the table in at once.
async fn apply(shared: &Arc<Shared>, table: RouteTable) -> Result<RouteTable, ApiError> {
    let previous = shared
        .live
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if table.generation < previous.table.generation {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!(
                "generation {} is older than the applied {}",
                table.generation, previous.table.generation
            ),
        });
    }
    let mut versions = Vec::new();
    for route in &table.versions {
        let known = previous
            .versions
            .iter()
            .find(|v| v.route.version == route.version && v.route.endpoints == route.endpoints);
        let feature_names = match known {
            Some(v) => v.feature_names.clone(),
            None if route.endpoints.is_empty() => Arc::from(Vec::new()),
            None => metadata_of(shared, &route.endpoints[0])
                .await?
                .feature_names
                .into(),
        };
        versions.push(LiveVersion {
            name: Arc::from(route.version.as_str()),
            route: route.clone(),
            feature_names,
            next_endpoint: Default::default(),
        });
    }
    let live = Live {
        current: Mutex::new(vec![0; versions.len()]),
        table: table.clone(),
        versions,
    };
    {
        // Checked again at the swap: a table that was newer when its
        // metadata fetch began may have been overtaken meanwhile.
        let mut current = shared.live.write().unwrap_or_else(|p| p.into_inner());
        if table.generation < current.table.generation {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                message: format!(
                    "generation {} is older than the applied {}",
                    table.generation, current.table.generation
                ),
            });
        }
        *current = Arc::new(live);
    }
    shared.metrics.clear_gauge("mlops_router_traffic_weight");
    for v in &table.versions {
        shared.metrics.set_gauge(
            "mlops_router_traffic_weight",
            "Percent of traffic routed to each version.",
            &[("version", &v.version)],
            f64::from(v.weight),
        );
    }
    tracing::info!(model = %shared.model, generation = table.generation, "route table applied");
    Ok(table)
}

async fn metadata_of(shared: &Shared, endpoint: &str) -> Result<ModelMetadata, ApiError> {
    let url = format!(
        "{}/v1/models/{}",
        endpoint.trim_end_matches('/'),
        shared.model
    );
    let unavailable = |e: String| ApiError {
        status: StatusCode::BAD_GATEWAY,
        message: format!("model server {endpoint} did not describe its model: {e}"),
    };
    let response = shared
        .http
        .get(&url)
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unavailable(format!("status {}", response.status())));
    }
    response
        .json()
        .await
        .map_err(|e| unavailable(e.to_string()))
}

async fn predict(
    State(shared): State<Arc<Shared>>,
    Path(target): Path<String>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    match model_of_predict_path(&target) {
        Some(name) if name == shared.model => {}
        _ => {
            return ApiError::not_found(format!(
                "this router serves POST /v1/models/{}:predict",
                shared.model
            ))
            .into_response();
        }
    }
    let live = shared
        .live
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let Some(version) = live.pick() else {
        return ApiError::unavailable(format!("{} has no version taking traffic", shared.model))
            .into_response();
    };
    let (status, answer) = forward(&shared, version, &body).await;
    let elapsed = started.elapsed();
    let code = status.as_u16().to_string();
    shared.metrics.count(
        "mlops_router_requests_total",
        "Prediction requests by version and the HTTP status the client got.",
        &[("version", &version.name), ("code", &code)],
        1,
    );
    shared.metrics.observe(
        "mlops_router_request_duration_seconds",
        "Prediction latency seen by clients, by version.",
        &[("version", &version.name)],
        elapsed.as_secs_f64(),
    );
    if status == StatusCode::OK {
        log_predictions(&shared, version, &body, &answer, elapsed);
    }
    (status, [("content-type", "application/json")], answer).into_response()
}

/// Sends the request to one of the version's model servers, after any
/// injected fault. Returns the status and body the client gets.
async fn forward(shared: &Shared, version: &LiveVersion, body: &Bytes) -> (StatusCode, Bytes) {
    let fault = &version.route.fault;
    if fault.added_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.added_latency_ms)).await;
    }
    if fault.error_share > 0.0 && fastrand::f64() < fault.error_share {
        return error_body(StatusCode::INTERNAL_SERVER_ERROR, "injected fault");
    }
    let endpoints = &version.route.endpoints;
    let first = version
        .next_endpoint
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // A replica that refuses the connection gets one retry on the next
    // replica; anything the model server answered is passed through.
    let attempts = endpoints.len().min(2);
    let mut last_error = String::from("no endpoints");
    for attempt in 0..attempts {
        let endpoint = &endpoints[(first + attempt) % endpoints.len()];
        let url = format!(
            "{}/v1/models/{}:predict",
            endpoint.trim_end_matches('/'),
            shared.model
        );
        match shared
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
        {
            Ok(response) => {
                let status = StatusCode::from_u16(response.status().as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                return match response.bytes().await {
                    Ok(bytes) => (status, bytes),
                    Err(e) => error_body(
                        StatusCode::BAD_GATEWAY,
                        &format!("model server {endpoint}: {e}"),
                    ),
                };
            }
            Err(e) if e.is_connect() => last_error = format!("model server {endpoint}: {e}"),
            Err(e) if e.is_timeout() => {
                return error_body(
                    StatusCode::GATEWAY_TIMEOUT,
                    &format!("model server {endpoint} timed out"),
                );
            }
            Err(e) => {
                return error_body(
                    StatusCode::BAD_GATEWAY,
                    &format!("model server {endpoint}: {e}"),
                );
            }
        }
    }
    error_body(StatusCode::BAD_GATEWAY, &last_error)
}

fn error_body(status: StatusCode, message: &str) -> (StatusCode, Bytes) {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    (status, Bytes::from(body))
}

fn log_predictions(
    shared: &Shared,
    version: &LiveVersion,
    request: &[u8],
    answer: &[u8],
    elapsed: Duration,
) {
    let Ok(rows) = rows_of(request, &version.feature_names) else {
        return;
    };
    let Ok(response) = serde_json::from_slice::<PredictResponse>(answer) else {
        return;
    };
    let ts_ms = chrono::Utc::now().timestamp_millis();
    let latency_ms = elapsed.as_secs_f64() * 1e3;
    let due = shared.log.append(
        rows.into_iter()
            .zip(response.predictions)
            .map(|(features, p)| LoggedPrediction {
                ts_ms,
                version: version.name.clone(),
                output: p.score,
                latency_ms,
                feature_names: version.feature_names.clone(),
                features,
            }),
    );
    if due {
        let log = shared.log.clone();
        tokio::spawn(async move {
            if let Err(e) = log.flush().await {
                tracing::warn!(error = %e, "prediction log flush failed; will retry");
            }
        });
    }
}

async fn render_metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(version: &str, weight: u32) -> VersionRoute {
        VersionRoute {
            version: version.into(),
            weight,
            endpoints: vec!["http://127.0.0.1:9".into()],
            fault: Fault::default(),
        }
    }

    fn live(table: RouteTable) -> Live {
        Live {
            current: Mutex::new(vec![0; table.versions.len()]),
            versions: table
                .versions
                .iter()
                .map(|r| LiveVersion {
                    name: Arc::from(r.version.as_str()),
                    route: r.clone(),
                    feature_names: Arc::from(Vec::new()),
                    next_endpoint: Default::default(),
                })
                .collect(),
            table,
        }
    }

    #[test]
    fn smooth_weighted_round_robin_gives_exact_shares() {
        let l = live(RouteTable {
            generation: 1,
            versions: vec![route("1", 90), route("2", 10)],
        });
        let picks: Vec<String> = (0..100)
            .map(|_| l.pick().unwrap().route.version.clone())
            .collect();
        assert_eq!(picks.iter().filter(|v| *v == "2").count(), 10);
        // Spread out, not ten in a row.
        let longest_run_of_2 = picks
            .split(|v| v == "1")
            .map(<[String]>::len)
            .max()
            .unwrap();
        assert_eq!(longest_run_of_2, 1);
    }

    #[test]
    fn tables_are_validated() {
        let table = |versions| RouteTable {
            generation: 1,
            versions,
        };
        assert!(table(vec![]).validate().is_ok());
        assert!(table(vec![route("1", 100)]).validate().is_ok());
        assert!(
            table(vec![route("1", 60), route("2", 30)])
                .validate()
                .unwrap_err()
                .contains("sum to 90")
        );
        assert!(
            table(vec![route("1", 101)])
                .validate()
                .unwrap_err()
                .contains("above 100")
        );
        assert!(
            table(vec![route("1", 50), route("1", 50)])
                .validate()
                .unwrap_err()
                .contains("twice")
        );
        let mut faulty = route("1", 100);
        faulty.fault.error_share = 1.5;
        assert!(
            table(vec![faulty])
                .validate()
                .unwrap_err()
                .contains("error_share")
        );
    }

    #[test]
    fn zero_weight_everywhere_routes_nowhere() {
        let l = live(RouteTable::default());
        assert!(l.pick().is_none());
    }
}
