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
