//! Roles (ARCHITECTURE §6) and what each may do. Every handler asks
//! [`may`] before it acts; the UI only mirrors these answers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    MlEngineer,
    Approver,
    Oncall,
    Viewer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::MlEngineer,
        Role::Approver,
        Role::Oncall,
        Role::Viewer,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::MlEngineer => "ml-engineer",
            Role::Approver => "approver",
            Role::Oncall => "oncall",
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// An action a person can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See workflows, graphs, models, deployments, drift.
    Read,
    /// Start a deploy or retrain workflow.
    Deploy,
    /// Cancel a workflow (own, or any for admin).
    Cancel,
    /// Approve or reject a gate.
    Decide,
    /// Roll a deployment back at once.
    Rollback,
    /// Read and verify the audit log.
    Audit,
    /// Create personal API tokens.
    ManageTokens,
    /// Work the demo panel's controls (inject drift), in demo mode.
    Demo,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Deploy => "deploy",
            Action::Cancel => "cancel",
            Action::Decide => "decide",
            Action::Rollback => "rollback",
            Action::Audit => "audit",
            Action::ManageTokens => "manage-tokens",
            Action::Demo => "demo",
        }
    }

    /// The roles that may take this action.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Action::Read => &[MlEngineer, Approver, Oncall, Viewer, Admin],
            Action::Deploy => &[MlEngineer, Admin],
            Action::Cancel => &[MlEngineer, Oncall, Admin],
            // Only approvers: the orchestrator's policy names this role, and
            // it checks the signed token's roles itself.
            Action::Decide => &[Approver],
            Action::Rollback => &[Oncall, Admin],
            Action::Audit => &[Admin],
            Action::ManageTokens => &[MlEngineer, Approver, Oncall, Viewer, Admin],
            // It changes the traffic every dashboard shows: not for viewers.
            Action::Demo => &[MlEngineer, Oncall, Admin],
        }
    }

    /// The API token scope that covers this action.
    pub fn scope(self) -> &'static str {
        match self {
            Action::Read | Action::Audit => "read",
            Action::Deploy | Action::Cancel | Action::Rollback | Action::Demo => "workflows:write",
            Action::Decide => "approvals:write",
            Action::ManageTokens => "tokens:write",
        }
    }
}

/// The scopes a personal API token may carry.
pub const TOKEN_SCOPES: &[&str] = &["read", "workflows:write", "approvals:write"];

pub fn may(roles: &[Role], action: Action) -> bool {
    roles.iter().any(|r| action.roles().contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_changes_nothing() {
        for action in [
            Action::Deploy,
            Action::Cancel,
            Action::Decide,
            Action::Rollback,
            Action::Audit,
            Action::Demo,
        ] {
            assert!(!may(&[Role::Viewer], action), "{action:?}");
        }
        assert!(may(&[Role::Viewer], Action::Read));
    }

    #[test]
    fn only_approvers_decide_and_oncall_rolls_back() {
        assert!(may(&[Role::Approver], Action::Decide));
        assert!(!may(&[Role::Admin, Role::MlEngineer], Action::Decide));
        assert!(may(&[Role::Oncall], Action::Rollback));
        assert!(!may(&[Role::MlEngineer], Action::Rollback));
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
