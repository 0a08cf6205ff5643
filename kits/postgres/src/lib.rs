//! Postgres for the whole system.
//!
//! - [`EmbeddedCluster`]: the private cluster `mlops up` runs under its data
//!   directory when no `DATABASE_URL` is given (`initdb` once, then the
//!   `postgres` server as a supervised child).
//! - [`migrate`]: the sqlx migrations in `migrations/`, one schema per owner.
//! - [`test_support`]: one throwaway cluster per test run and a fresh database
//!   per test.

mod cluster;
pub mod test_support;

pub use cluster::{
    ClusterError, DATABASE_NAME, EmbeddedCluster, RunningCluster, ensure_database,
    ensure_server_installed,
};

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

/// The migrations of every owner, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// The `/readyz` answer of a service that needs `pool` (none: always ready):
/// `200 ready`, or `503` with the database error. Every service's readiness
/// endpoint uses this, so "ready" means the same thing everywhere.
pub async fn readiness(pool: Option<PgPool>) -> (http::StatusCode, String) {
    let Some(pool) = pool else {
        return (http::StatusCode::OK, "ready".to_owned());
    };
    match sqlx::query("SELECT 1").execute(&pool).await {
        Ok(_) => (http::StatusCode::OK, "ready".to_owned()),
        Err(e) => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {e}"),
        ),
    }
}

/// Opens a pool to `url` with sane limits for a small service.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()?
        .log_statements(tracing::log::LevelFilter::Trace);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
}
