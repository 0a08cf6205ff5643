//! The demo traffic generator: it replays holdout transactions against a
//! model's router as KServe v1 predictions, forever, at a rate and with a
//! drift switch that an operator changes live over HTTP.
//!
//! The rows are the training generator's rows under the holdout seed
//! ([`holdout_seed`](crate::holdout_seed)), generated once clean and once
//! with [`DriftSpec::demo`]; both sets come from the same draws, so turning
//! drift on shifts the same stream of transactions.

mod controls;
mod sender;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use mlops_metrics::Registry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::export::row_instance;
use crate::transactions::{
    ConfigError, DriftSpec, FEATURES, MODEL_NAME, TransactionsConfig, generate, holdout_seed,
    schema,
};

/// Slowest rate: one request every ten seconds.
pub const MIN_RATE_PER_SEC: f64 = 0.1;
/// Fastest rate.
pub const MAX_RATE_PER_SEC: f64 = 500.0;
/// Most instances per request (the serving layer's per-request cap).
pub const MAX_BATCH: usize = 1_000;
/// How many holdout rows are cycled through.
pub const HOLDOUT_ROWS: usize = 5_000;
/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// How to run the generator.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Base URL of the model's router, e.g. `http://127.0.0.1:9000`.
    pub router_url: String,
    /// The model in `/v1/models/{model}:predict`.
    pub model: String,
    /// The *training* seed; rows are generated with its holdout seed.
    pub seed: u64,
    /// Requests per second, [`MIN_RATE_PER_SEC`]..=[`MAX_RATE_PER_SEC`].
    pub rate_per_sec: f64,
    /// Instances per request, 1..=[`MAX_BATCH`].
    pub batch: usize,
    /// Bearer token that `PUT /controls` requires.
    pub admin_token: String,
    /// Where the control API listens (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The features each instance carries, in the served model's names.
    /// Model servers refuse unknown features, so this must match the served
    /// model: [`FEATURES`], or [`BIASED_FEATURES`](crate::BIASED_FEATURES)
    /// for a model trained with the age band.
    pub features: Vec<String>,
}

impl TrafficConfig {
    /// The demo defaults: `fraud-detector`, seed 42, 5 requests of 10
    /// instances a second, the unbiased [`FEATURES`].
    pub fn new(
        router_url: impl Into<String>,
        admin_token: impl Into<String>,
        listen: SocketAddr,
    ) -> Self {
        TrafficConfig {
            router_url: router_url.into(),
            model: MODEL_NAME.to_owned(),
            seed: 42,
            rate_per_sec: 5.0,
            batch: 10,
            admin_token: admin_token.into(),
            listen,
            features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&self.router_url)
            .map_err(|e| ConfigError::new("router_url", format!("{:?}: {e}", self.router_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::new(
                "router_url",
                format!("{:?} is not an http(s) URL with a host", self.router_url),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                "router_url",
                "must be a base URL without query or fragment",
            ));
        }
        let model_ok = !self.model.is_empty()
            && self.model.len() <= 128
            && self
                .model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !model_ok {
            return Err(ConfigError::new(
                "model",
                format!(
                    "{:?} must be 1-128 characters of letters, digits, '-', '_' or '.'",
                    self.model
                ),
            ));
        }
        check_rate(self.rate_per_sec).map_err(|m| ConfigError::new("rate_per_sec", m))?;
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(ConfigError::new(
                "batch",
                format!("{} is not in 1..={MAX_BATCH}", self.batch),
            ));
        }
        if self.admin_token.len() < MIN_ADMIN_TOKEN_LEN
            || !self.admin_token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ConfigError::new(
                "admin_token",
                format!(
                    "must be at least {MIN_ADMIN_TOKEN_LEN} visible ASCII characters \
                     (no spaces)"
                ),
            ));
        }
        if self.features.is_empty() {
            return Err(ConfigError::new("features", "is empty"));
        }
        let schema = schema();
        for (i, name) in self.features.iter().enumerate() {
            let numeric = schema
                .field_with_name(name)
                .is_ok_and(|f| f.data_type().is_numeric());
            if !numeric {
                return Err(ConfigError::new(
                    "features",
                    format!("{name:?} is not a numeric column of the generated transactions"),
                ));
            }
            if self.features[..i].contains(name) {
                return Err(ConfigError::new(
                    "features",
                    format!("{name:?} appears twice"),
                ));
            }
        }
        Ok(())
    }
}

/// The allowed request rate, as a message for either edge (config, PUT).
pub(crate) fn check_rate(rate: f64) -> Result<(), String> {
    if rate.is_finite() && (MIN_RATE_PER_SEC..=MAX_RATE_PER_SEC).contains(&rate) {
        Ok(())
    } else {
        Err(format!(
            "{rate} is not a rate from {MIN_RATE_PER_SEC} to {MAX_RATE_PER_SEC} requests per second"
        ))
    }
}

/// Why the generator did not start.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("invalid traffic config: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// What `GET /state` answers (and [`RunningTraffic::state`] returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficState {
    pub model: String,
    /// Whether rows are drawn with [`DriftSpec::demo`].
    pub drift: bool,
    pub rate_per_sec: f64,
    pub batch: usize,
    /// Requests sent (finished or not).
    pub sent: u64,
    /// Requests the router answered 2xx.
    pub ok: u64,
    /// Requests that failed: no connection, timeout, or a non-2xx answer.
    pub errors: u64,
    /// Instances in the requests sent.
    pub instances_sent: u64,
    /// The most recent failure, if any request failed.
    pub last_error: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// The state the sender and the control API share.
struct Shared {
    model: String,
    batch: usize,
    admin_token: String,
    predict_url: String,
    started_at: DateTime<Utc>,
    drift: AtomicBool,
    /// f64 bits; the sender reads it every tick.
    rate_bits: AtomicU64,
    sent: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    instances_sent: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Wakes the sender when the rate changes, so a new rate applies now
    /// rather than after a long sleep at the old one.
    controls_changed: Notify,
    metrics: Registry,
    holdout: Holdout,
}

/// The holdout rows as ready-made instances, clean and drifted, row-aligned.
struct Holdout {
    clean: Vec<Value>,
    drifted: Vec<Value>,
}

impl Shared {
    fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }

    fn set_rate(&self, rate: f64) {
        self.rate_bits.store(rate.to_bits(), Ordering::Relaxed);
    }

    fn state(&self) -> TrafficState {
        TrafficState {
            model: self.model.clone(),
            drift: self.drift.load(Ordering::Relaxed),
            rate_per_sec: self.rate(),
            batch: self.batch,
            sent: self.sent.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            instances_sent: self.instances_sent.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            started_at: self.started_at,
        }
    }
}

/// Starts generators; see [`TrafficGenerator::start`].
pub struct TrafficGenerator {
    _private: (),
}

impl TrafficGenerator {
    /// Validates `config`, generates the holdout rows, binds the control
    /// API on `config.listen` and starts sending. The router need not be up
    /// yet: failures are counted and retried with a short back-off.
    pub async fn start(config: TrafficConfig) -> Result<RunningTraffic, TrafficError> {
        config.validate()?;
        let holdout = holdout_instances(&config)?;
        let http = reqwest::Client::builder()
            .timeout(sender::REQUEST_TIMEOUT)
            .connect_timeout(sender::CONNECT_TIMEOUT)
            .build()
            .map_err(|e| TrafficError::Client(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| TrafficError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| TrafficError::Listen {
                addr: config.listen,
                source,
            })?;

        let metrics = Registry::with_constant_labels(&[("model", config.model.as_str())]);
        let shared = Arc::new(Shared {
            predict_url: format!(
                "{}/v1/models/{}:predict",
                config.router_url.trim_end_matches('/'),
                config.model
            ),
            model: config.model,
            batch: config.batch,
            admin_token: config.admin_token,
            started_at: Utc::now(),
            drift: AtomicBool::new(false),
            rate_bits: AtomicU64::new(config.rate_per_sec.to_bits()),
            sent: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            instances_sent: AtomicU64::new(0),
            last_error: Mutex::new(None),
            controls_changed: Notify::new(),
            metrics,
            holdout,
        });
        controls::register_metrics(&shared);

        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(controls::serve(listener, shared.clone(), stopped.clone()));
        let sender = tokio::spawn(sender::run(shared.clone(), http, stopped));
        tracing::info!(
            %addr,
            url = %shared.predict_url,
            rate_per_sec = shared.rate(),
            batch = shared.batch,
            "traffic generator started"
        );
        Ok(RunningTraffic {
            addr,
            shared,
            stop,
            tasks: Some((server, sender)),
        })
    }
}

fn holdout_instances(config: &TrafficConfig) -> Result<Holdout, ConfigError> {
    let features: Vec<&str> = config.features.iter().map(String::as_str).collect();
    let rows = |drift: DriftSpec| -> Result<Vec<Value>, ConfigError> {
        let batch = generate(&TransactionsConfig {
            seed: holdout_seed(config.seed),
            rows: HOLDOUT_ROWS,
            drift,
            ..TransactionsConfig::default()
        })?;
        (0..batch.num_rows())
            .map(|row| {
                row_instance(&batch, row, &features)
                    .map(Value::Object)
                    .map_err(|e| ConfigError::new("features", e.0))
            })
            .collect()
    };
    Ok(Holdout {
        clean: rows(DriftSpec::none())?,
        drifted: rows(DriftSpec::demo())?,
    })
}

/// A running generator. Dropping it stops the generator too.
pub struct RunningTraffic {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Option<(JoinHandle<()>, JoinHandle<()>)>,
}

impl RunningTraffic {
    /// Where the control API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The same numbers as `GET /state`.
    pub fn state(&self) -> TrafficState {
        self.shared.state()
    }

    /// Stops sending, closes the control API and waits for both.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some((server, sender)) = self.tasks.take() {
            let _ = server.await;
            let _ = sender.await;
        }
        tracing::info!(addr = %self.addr, "traffic generator stopped");
    }
}

impl Drop for RunningTraffic {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
