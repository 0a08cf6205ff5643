//! The seeded `fraud-detector` demo: a deterministic card-transactions
//! generator with controllable drift and bias ([`generate`]), the two
//! shapes its rows travel in ([`row_instance`] for KServe v1 requests,
//! [`to_csv`] for CSV objects), and the traffic generator that replays
//! holdout rows against the model's router ([`TrafficGenerator`]).
//!
//! Parquet datasets are written elsewhere (the storage server's
//! `DatasetStore`); this crate only produces Arrow batches.

mod export;
mod traffic;
mod transactions;

pub use export::{ExportError, row_instance, to_csv};
pub use traffic::{
    HOLDOUT_ROWS, MAX_BATCH, MAX_RATE_PER_SEC, MIN_ADMIN_TOKEN_LEN, MIN_RATE_PER_SEC,
    RunningTraffic, TrafficConfig, TrafficError, TrafficGenerator, TrafficState,
};
pub use transactions::{
    AGE_BANDS, BIASED_FEATURES, ConfigError, DriftSpec, EVENT_TIME, FEATURES, HOLDOUT_SEED_OFFSET,
    LABEL, MAX_INTERVAL_MS, MAX_ROWS, MERCHANT_CATEGORIES, MODEL_NAME, PROTECTED_ATTRIBUTE,
    PROTECTED_ATTRIBUTE_CODE, TRANSACTION_ID, TransactionsConfig, generate, holdout_seed, schema,
};
