//! Reports on Postgres (`drift` schema): written once, read by id or listed
//! newest first.

use chrono::{DateTime, Utc};
use mlops_mcp_kit::ToolError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Drift,
    Performance,
    Fairness,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Drift => "drift",
            ReportKind::Performance => "performance",
            ReportKind::Fairness => "fairness",
        }
    }

    fn parse(raw: &str) -> Option<ReportKind> {
        match raw {
            "drift" => Some(ReportKind::Drift),
            "performance" => Some(ReportKind::Performance),
            "fairness" => Some(ReportKind::Fairness),
            _ => None,
        }
    }
}

/// A report as listed: everything but the full body.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub id: Uuid,
    /// `reports://{id}`.
    pub uri: String,
    pub kind: ReportKind,
    pub model: Option<String>,
    pub summary: Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A stored report with its full body.
#[derive(Debug, Clone, Serialize)]
pub struct StoredReport {
    #[serde(flatten)]
    pub summary: ReportSummary,
    pub report: Value,
}

/// Filters for [`ReportStore::list`].
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    pub model: Option<String>,
    pub kind: Option<ReportKind>,
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}

#[derive(Clone)]
pub struct ReportStore {
    pool: PgPool,
}

pub fn report_uri(id: Uuid) -> String {
    format!("reports://{id}")
}

impl ReportStore {
    pub fn new(pool: PgPool) -> Self {
        ReportStore { pool }
    }

    /// Persists a report in one transaction and returns its summary.
    pub async fn insert(
        &self,
        kind: ReportKind,
        model: Option<&str>,
        summary: &Value,
        report: &Value,
        created_by: &str,
    ) -> Result<ReportSummary, ToolError> {
        let id = Uuid::now_v7();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| ToolError::internal("store a report", e))?;
        let created_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO drift.reports (id, kind, model, summary, report, created_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING created_at",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(model)
        .bind(summary)
        .bind(report)
        .bind(created_by)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| ToolError::internal("store a report", e))?;
        tx.commit()
            .await
            .map_err(|e| ToolError::internal("store a report", e))?;
        Ok(ReportSummary {
            id,
            uri: report_uri(id),
            kind,
            model: model.map(str::to_owned),
            summary: summary.clone(),
            created_by: created_by.to_owned(),
            created_at,
        })
    }

    /// Reports matching the filters, newest first.
    pub async fn list(&self, query: &ReportQuery) -> Result<Vec<ReportSummary>, ToolError> {
        let rows = sqlx::query(
            "SELECT id, kind, model, summary, created_by, created_at
             FROM drift.reports
             WHERE ($1::text IS NULL OR model = $1)
               AND ($2::text IS NULL OR kind = $2)
               AND ($3::timestamptz IS NULL OR created_at >= $3)
             ORDER BY created_at DESC, id DESC
             LIMIT $4",
        )
        .bind(query.model.as_deref())
        .bind(query.kind.map(ReportKind::as_str))
        .bind(query.since)
        .bind(query.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| ToolError::internal("list reports", e))?;
        rows.iter().map(summary_of).collect()
    }

    /// One report with its body.
    pub async fn get(&self, id: Uuid) -> Result<StoredReport, ToolError> {
        let row = sqlx::query(
            "SELECT id, kind, model, summary, created_by, created_at, report
             FROM drift.reports WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| ToolError::internal("read a report", e))?
        .ok_or_else(|| ToolError::NotFound(format!("no report {id}")))?;
        Ok(StoredReport {
            summary: summary_of(&row)?,
            report: row
                .try_get("report")
                .map_err(|e| ToolError::internal("read a report", e))?,
        })
    }
}

fn summary_of(row: &sqlx::postgres::PgRow) -> Result<ReportSummary, ToolError> {
    let read = |e: sqlx::Error| ToolError::internal("read a report", e);
    let id: Uuid = row.try_get("id").map_err(read)?;
    let kind: String = row.try_get("kind").map_err(read)?;
    Ok(ReportSummary {
        id,
        uri: report_uri(id),
        kind: ReportKind::parse(&kind).ok_or_else(|| {
            ToolError::internal("read a report", format!("unknown kind {kind:?}"))
        })?,
        model: row.try_get("model").map_err(read)?,
        summary: row.try_get("summary").map_err(read)?,
        created_by: row.try_get("created_by").map_err(read)?,
        created_at: row.try_get("created_at").map_err(read)?,
    })
}
