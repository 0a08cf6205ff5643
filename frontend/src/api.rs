//! Types the server and the app exchange.

use serde::{Deserialize, Serialize};

/// What kind of process a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    Agent,
    Mcp,
    ControlPlane,
    Idp,
    Prometheus,
    Postgres,
    ModelServer,
    Router,
    /// The demo's traffic generator.
    Traffic,
}

impl ServiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Agent => "agent",
            ServiceKind::Mcp => "mcp",
            ServiceKind::ControlPlane => "control-plane",
            ServiceKind::Idp => "idp",
            ServiceKind::Prometheus => "prometheus",
            ServiceKind::Postgres => "postgres",
            ServiceKind::ModelServer => "model-server",
            ServiceKind::Router => "router",
            ServiceKind::Traffic => "traffic",
        }
    }
}

/// One running service, as listed in `services.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    pub kind: ServiceKind,
    pub url: String,
    pub pid: u32,
}

/// A workflow as listed (`GET /api/workflows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct WorkflowRow {
    pub id: String,
    pub kind: String,
    pub model: Option<String>,
    pub version: Option<i32>,
    pub requested_by: String,
    pub state: String,
    pub summary: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// One node of a workflow's task graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct NodeRow {
    pub node: String,
    pub title: String,
    pub kind: String,
    pub agent: Option<String>,
    pub skill: Option<String>,
    /// The A2A task state, lower-case: submitted, working, input-required,
    /// completed, failed, canceled, rejected; `pending` before it starts.
    pub state: String,
    pub task_id: Option<String>,
    pub why: Option<String>,
    pub progress: Option<String>,
    pub error: Option<String>,
}

/// An approval gate and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct GateRow {
    pub workflow: String,
    pub gate: String,
    pub node: String,
    pub description: String,
    pub role: String,
    pub requested_by: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub evidence: serde_json::Value,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub state: String,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
}

/// A workflow with its graph and gates (`GET /api/workflows/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WorkflowDetail {
    #[serde(flatten)]
    pub workflow: WorkflowRow,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub goal: serde_json::Value,
    pub nodes: Vec<NodeRow>,
    /// `[source, target]` pairs.
    pub edges: Vec<(String, String)>,
    pub gates: Vec<GateRow>,
}

/// The signed-in caller (`GET /api/me`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Me {
    pub subject: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
    /// Send it as `x-csrf-token` (or form field `_csrf`) with every
    /// state-changing request made with the session cookie.
    pub csrf_token: Option<String>,
    /// What this caller may do, for the UI to show or hide controls:
    /// read, deploy, cancel, decide, rollback, audit, manage-tokens.
    pub may: Vec<String>,
}

impl Me {
    pub fn may(&self, action: &str) -> bool {
        self.may.iter().any(|a| a == action)
    }
}

/// The demo panel (`GET /api/demo`): what `mlops up` seeded, and the
/// traffic generator's state. Absent (404) when not running the demo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DemoState {
    pub model: String,
    pub champion: u32,
    pub candidate: u32,
    /// The deliberately faulty version: errors on a share of inputs, slow.
    pub faulty: u32,
    /// The demo's labelled holdout and training splits (`name@version`),
    /// which the deploy form offers for the checks.
    pub holdout: Option<String>,
    pub training_data: Option<String>,
    /// Whether the traffic generator is drifting its inputs now.
    pub drift: bool,
    pub rate_per_sec: f64,
}
