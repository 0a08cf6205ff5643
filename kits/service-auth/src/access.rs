//! The access matrix (ARCHITECTURE §4) as data: which scopes each MCP server
//! checks, and which of them each agent is granted. The token service mints
//! an agent's tokens from this table, and each server's tool policy uses the
//! same scope names, so the matrix lives in one place.

/// Scope names, `<server>:<capability>`.
pub mod scope {
    pub const REGISTRY_READ: &str = "registry:read";
    pub const REGISTRY_WRITE: &str = "registry:write";
    pub const REGISTRY_ALIAS: &str = "registry:alias";
    pub const STORAGE_READ: &str = "storage:read";
    pub const STORAGE_WRITE: &str = "storage:write";
    pub const QUALITY_RUN: &str = "quality:run";
    pub const DRIFT_RUN: &str = "drift:run";
    pub const DRIFT_READ: &str = "drift:read";
    pub const TRAINER_RUN: &str = "trainer:run";
    pub const TRAINER_READ: &str = "trainer:read";
    pub const CLUSTER_READ: &str = "cluster:read";
    pub const CLUSTER_WRITE: &str = "cluster:write";
    pub const METRICS_READ: &str = "metrics:read";
    /// Calling an A2A agent.
    pub const A2A_INVOKE: &str = "a2a:invoke";
}

use scope::*;

/// The MCP scopes `agent` holds at `server`; empty when the matrix gives it
/// no access there.
pub fn mcp_scopes(agent: &str, server: &str) -> &'static [&'static str] {
    match (agent, server) {
        ("data", "storage") => &[STORAGE_READ, STORAGE_WRITE],
        ("data", "quality") => &[QUALITY_RUN],
        ("training", "storage") => &[STORAGE_READ, STORAGE_WRITE],
        ("training", "trainer") => &[TRAINER_RUN, TRAINER_READ],
        ("training", "registry") => &[REGISTRY_READ, REGISTRY_WRITE],
        ("validation", "registry") => &[REGISTRY_READ],
        ("validation", "storage") => &[STORAGE_READ],
        ("validation", "drift") => &[DRIFT_RUN, DRIFT_READ],
        ("validation", "quality") => &[QUALITY_RUN],
        ("deployment", "registry") => &[REGISTRY_READ, REGISTRY_ALIAS],
        ("deployment", "cluster") => &[CLUSTER_READ, CLUSTER_WRITE],
        ("monitoring", "metrics") => &[METRICS_READ],
        ("monitoring", "drift") => &[DRIFT_RUN, DRIFT_READ],
        ("monitoring", "cluster") => &[CLUSTER_READ],
        ("cost", "metrics") => &[METRICS_READ],
        ("cost", "trainer") => &[TRAINER_READ],
        // The control plane reads the dashboards' data models.
        ("control-plane", "registry") => &[REGISTRY_READ],
        ("control-plane", "drift") => &[DRIFT_READ],
        ("control-plane", "metrics") => &[METRICS_READ],
        ("control-plane", "cluster") => &[CLUSTER_READ],
        // The orchestrator delegates everything and calls no MCP server.
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_rows() {
        assert!(mcp_scopes("orchestrator", "registry").is_empty());
        assert!(
            mcp_scopes("training", "cluster").is_empty(),
            "training never deploys"
        );
        assert!(!mcp_scopes("training", "registry").contains(&REGISTRY_ALIAS));
        assert!(mcp_scopes("deployment", "registry").contains(&REGISTRY_ALIAS));
        assert!(!mcp_scopes("deployment", "registry").contains(&REGISTRY_WRITE));
        assert!(!mcp_scopes("validation", "registry").contains(&REGISTRY_WRITE));
    }
}
