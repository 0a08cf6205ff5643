use sqlx::PgPool;

/// The `mcp.tool_calls` table: one row per tool call, allowed or refused.
#[derive(Clone)]
pub struct AuditLog {
    pool: PgPool,
    server: String,
}

/// One audited call.
pub struct AuditEntry<'a> {
    pub caller: &'a str,
    pub tool: &'a str,
    pub args_digest: &'a str,
    /// `ok`, `error` (the tool failed) or `refused` (not allowed to run).
    pub status: &'a str,
    pub detail: Option<&'a str>,
    pub duration_ms: f64,
}

impl AuditLog {
    pub fn new(pool: PgPool, server: impl Into<String>) -> Self {
        AuditLog {
            pool,
            server: server.into(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writes the row. An audit failure is logged loudly but does not undo
    /// a call that already happened.
    pub async fn record(&self, entry: AuditEntry<'_>) {
        let result = sqlx::query(
            "INSERT INTO mcp.tool_calls (server, caller, tool, args_digest, status, detail, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&self.server)
        .bind(entry.caller)
        .bind(entry.tool)
        .bind(entry.args_digest)
        .bind(entry.status)
        .bind(entry.detail)
        .bind(entry.duration_ms)
        .execute(&self.pool)
        .await;
        if let Err(error) = result {
            tracing::error!(%error, tool = entry.tool, caller = entry.caller, "could not write the audit row");
        }
    }
}
