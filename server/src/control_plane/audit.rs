//! The audit log: append-only (a trigger refuses UPDATE and DELETE) and
//! hash-chained. Each row's hash covers the previous row's hash and its own
//! content (`control.audit_row_hash`), so changing or removing any row
//! breaks every link after it, and `mlops audit verify` finds the first.

use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Refused,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// One thing that happened, to be recorded.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: Value,
}

/// Appends `entry` inside the caller's transaction, so the record and the
/// change it describes commit together. Appends are serialized by an
/// advisory lock held to the end of the transaction: the chain has one tail.
pub async fn append(conn: &mut PgConnection, entry: &Entry<'_>) -> sqlx::Result<i64> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('control.audit'))")
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar(
        "INSERT INTO control.audit (at, actor, action, target, outcome, detail, prev_hash, hash)
         SELECT now, $1, $2, $3, $4, $5, prev,
                control.audit_row_hash(prev, now, $1, $2, $3, $4, $5)
         FROM (SELECT date_trunc('microseconds', clock_timestamp()) AS now,
                      coalesce((SELECT hash FROM control.audit ORDER BY id DESC LIMIT 1),
                               '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) AS prev) t
         RETURNING id",
    )
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.outcome.as_str())
    .bind(&entry.detail)
    .fetch_one(&mut *conn)
    .await
}

/// Appends `entry` in its own transaction.
pub async fn record(pool: &PgPool, entry: &Entry<'_>) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let id = append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(id)
}

/// Records `entry`, logging (not failing) if the database is unreachable:
/// used on refusal paths, whose answer must not depend on the log.
pub async fn record_or_log(pool: &PgPool, entry: &Entry<'_>) {
    if let Err(error) = record(pool, entry).await {
        tracing::error!(%error, action = entry.action, actor = entry.actor, "audit append failed");
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub rows: u64,
    /// The first row whose link or hash does not hold.
    pub first_broken: Option<BrokenLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    pub id: i64,
    pub reason: String,
}

/// Walks the whole chain in id order.
pub async fn verify(pool: &PgPool) -> sqlx::Result<Verification> {
    use futures::TryStreamExt;
    let mut rows = sqlx::query_as::<_, (i64, Vec<u8>, Vec<u8>, Vec<u8>)>(
        "SELECT id, prev_hash, hash,
                control.audit_row_hash(prev_hash, at, actor, action, target, outcome, detail)
         FROM control.audit ORDER BY id",
    )
    .fetch(pool);
    let mut previous: Vec<u8> = vec![0; 32];
    let mut count = 0;
    while let Some((id, prev_hash, hash, recomputed)) = rows.try_next().await? {
        count += 1;
        let reason = if prev_hash != previous {
            Some("its prev_hash is not the previous row's hash (a row was removed or changed)")
        } else if recomputed != hash {
            Some("its content does not match its hash (the row was changed)")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Ok(Verification {
                rows: count,
                first_broken: Some(BrokenLink {
                    id,
                    reason: reason.to_owned(),
                }),
            });
        }
        previous = hash;
    }
    Ok(Verification {
        rows: count,
        first_broken: None,
    })
}

/// One audit row, as the query API returns it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// Filters for the query API.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub target: Option<String>,
    /// Rows with id below this (for paging back).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

pub async fn query(pool: &PgPool, q: &AuditQuery) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        "SELECT id, at, actor, action, target, outcome, detail FROM control.audit
         WHERE ($1::text IS NULL OR actor = $1)
           AND ($2::text IS NULL OR action = $2)
           AND ($3::text IS NULL OR outcome = $3)
           AND ($4::text IS NULL OR target = $4)
           AND ($5::bigint IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6",
    )
    .bind(&q.actor)
    .bind(&q.action)
    .bind(&q.outcome)
    .bind(&q.target)
    .bind(q.before)
    .bind(q.limit.unwrap_or(100).clamp(1, 1000))
    .fetch_all(pool)
    .await
}
