//! Real Postgres for integration tests.
//!
//! A test run uses one throwaway cluster: the one named by
//! `MLOPS_TEST_DATABASE_URL` (the test command starts it once for every test
//! binary), or else one this process starts itself in a temporary directory.
//! Every test gets a fresh, migrated database in that cluster.

use std::sync::OnceLock;

use sqlx::PgPool;

use crate::cluster::{EmbeddedCluster, RunningCluster, ensure_database};

/// A fresh database for one test.
pub struct TestDatabase {
    pub url: String,
    pub pool: PgPool,
}

struct ProcessCluster {
    admin_url: String,
    _running: Option<RunningCluster>,
    _dir: Option<tempfile::TempDir>,
}

static CLUSTER: OnceLock<ProcessCluster> = OnceLock::new();

fn cluster() -> &'static ProcessCluster {
    CLUSTER.get_or_init(|| {
        if let Ok(url) = std::env::var("MLOPS_TEST_DATABASE_URL") {
            return ProcessCluster {
                admin_url: url,
                _running: None,
                _dir: None,
            };
        }
        let dir = tempfile::Builder::new()
            .prefix("mlops-test-pg-")
            .tempdir()
            .expect("test support: cannot create a temporary directory");
        let cluster = EmbeddedCluster::prepare_for_tests(dir.path())
            .unwrap_or_else(|e| panic!("test support: cannot prepare a Postgres cluster: {e}"));
        let running = cluster
            .start()
            .unwrap_or_else(|e| panic!("test support: cannot start Postgres: {e}"));
        ProcessCluster {
            admin_url: running.cluster().admin_url(),
            _running: Some(running),
            _dir: Some(dir),
        }
    })
}

/// The maintenance URL of this run's cluster.
pub fn admin_url() -> String {
    cluster().admin_url.clone()
}

/// URL of a database named `name` in this run's cluster.
pub fn database_url(name: &str) -> String {
    database_url_on(&admin_url(), name)
}

/// Creates and migrates a fresh database for one test.
pub async fn fresh_database() -> TestDatabase {
    let admin = tokio::task::spawn_blocking(admin_url)
        .await
        .expect("test support: cluster start-up panicked");
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    ensure_database(&admin, &name)
        .await
        .unwrap_or_else(|e| panic!("test support: cannot create database {name}: {e}"));
    let url = database_url(&name);
    let pool = crate::connect(&url, 10)
        .await
        .unwrap_or_else(|e| panic!("test support: cannot connect to {url}: {e}"));
    crate::migrate(&pool)
        .await
        .unwrap_or_else(|e| panic!("test support: migrations failed: {e}"));
    TestDatabase { url, pool }
}

/// URL of database `name` on the server whose maintenance URL is `admin`.
pub fn database_url_on(admin: &str, name: &str) -> String {
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => format!("{admin}/{name}"),
    }
}
