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
    /// Reporting a workflow started outside the console to the control
    /// plane, so it shows there like any other.
    pub const WORKFLOWS_REPORT: &str = "workflows:report";
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

/// The services that call A2A agents, and whom each may call: the
/// orchestrator delegates to every specialist, the monitoring agent asks the
/// orchestrator to retrain, and the control plane starts workflows.
pub fn a2a_may_call(caller: &str, agent: &str) -> bool {
    const SPECIALISTS: &[&str] = &[
        "data",
        "training",
        "validation",
        "deployment",
        "monitoring",
        "cost",
    ];
    match caller {
        "orchestrator" => SPECIALISTS.contains(&agent),
        "monitoring" | "control-plane" => agent == "orchestrator",
        _ => false,
    }
}

/// Every service that holds client credentials for the token endpoint.
pub const SERVICE_CLIENTS: &[&str] = &[
    "orchestrator",
    "data",
    "training",
    "validation",
    "deployment",
    "monitoring",
    "cost",
    "control-plane",
];

/// The MCP servers, which are audiences of service tokens.
pub const MCP_SERVERS: &[&str] = &[
    "registry", "storage", "quality", "drift", "trainer", "cluster", "metrics",
];

/// The control plane as an audience: the orchestrator reports to it the
/// workflows that other callers started over A2A.
pub const CONTROL_PLANE: &str = "control-plane";

/// What the token service grants `client` for `audience`: the matrix's MCP
/// scopes for an MCP server, `workflows:report` for the orchestrator at the
/// control plane, `a2a:invoke` for an agent it may call, and nothing (None)
/// otherwise.
pub fn grant(client: &str, audience: &str) -> Option<Vec<&'static str>> {
    if MCP_SERVERS.contains(&audience) {
        let scopes = mcp_scopes(client, audience);
        return (!scopes.is_empty()).then(|| scopes.to_vec());
    }
    if audience == CONTROL_PLANE {
        return (client == "orchestrator").then(|| vec![WORKFLOWS_REPORT]);
    }
    a2a_may_call(client, audience).then(|| vec![A2A_INVOKE])
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

    #[test]
    fn grants_follow_the_matrix() {
        assert_eq!(grant("training", "cluster"), None);
        assert_eq!(grant("orchestrator", "registry"), None);
        assert_eq!(grant("orchestrator", "deployment"), Some(vec![A2A_INVOKE]));
        assert_eq!(grant("monitoring", "orchestrator"), Some(vec![A2A_INVOKE]));
        assert_eq!(grant("data", "orchestrator"), None);
        assert_eq!(
            grant("orchestrator", CONTROL_PLANE),
            Some(vec![WORKFLOWS_REPORT])
        );
        assert_eq!(grant("monitoring", CONTROL_PLANE), None);
        assert_eq!(
            grant("deployment", "registry"),
            Some(vec![REGISTRY_READ, REGISTRY_ALIAS])
        );
    }
}
