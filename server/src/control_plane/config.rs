//! The control plane's settings: `--config FILE` (YAML), every field with a
//! default. `mlops up` writes one that points at the dev IdP.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::roles::Role;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Sign-in. Without it the control plane serves only service endpoints
    /// and API tokens (no browser sign-in).
    pub oidc: Option<OidcConfig>,
    pub session: SessionConfig,
    pub approvals: ApprovalConfig,
    pub deploy: DeployBounds,
    /// Where gate and workflow notifications go (Slack-compatible JSON).
    pub notify_webhook: Option<String>,
    /// Extra origins allowed to send state-changing requests besides the
    /// public URL (for example a dev server).
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim that lists the user's groups.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Group → role. A user gets every role one of their groups maps to.
    #[serde(default = "default_role_mapping")]
    pub role_mapping: BTreeMap<String, Role>,
}

fn default_scopes() -> Vec<String> {
    ["email", "profile", "groups"].map(str::to_owned).to_vec()
}

fn default_roles_claim() -> String {
    "groups".into()
}

/// The demo's groups (JOURNEYS.md).
pub fn default_role_mapping() -> BTreeMap<String, Role> {
    BTreeMap::from([
        ("ml-engineers".to_owned(), Role::MlEngineer),
        ("approvers".to_owned(), Role::Approver),
        ("oncall".to_owned(), Role::Oncall),
        ("viewers".to_owned(), Role::Viewer),
        ("admins".to_owned(), Role::Admin),
    ])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused this long ends.
    pub idle_minutes: i64,
    /// A session ends this long after sign-in, used or not.
    pub absolute_hours: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_minutes: 60,
            absolute_hours: 12,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalConfig {
    /// Lifetime of a signed approval token: long enough to reach the
    /// orchestrator, short enough that a leaked one is soon useless.
    pub token_ttl_seconds: u64,
    /// Approvers may not decide their own requests.
    pub four_eyes: bool,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            token_ttl_seconds: 120,
            four_eyes: true,
        }
    }
}

/// What a deploy request may ask for; the orchestrator's policy has the
/// final word, these bounds refuse nonsense before it is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeployBounds {
    pub default_steps: Vec<u32>,
    pub max_steps: usize,
    pub min_analysis_seconds: u64,
    pub max_analysis_seconds: u64,
}

impl Default for DeployBounds {
    fn default() -> Self {
        DeployBounds {
            default_steps: vec![10, 50, 100],
            max_steps: 10,
            min_analysis_seconds: 10,
            max_analysis_seconds: 3600,
        }
    }
}

impl ControlConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(ControlConfig::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_file_takes_defaults() {
        let config: ControlConfig = serde_yaml::from_str(
            "oidc: {issuer: 'http://idp', client_id: mlops, client_secret: s}\n",
        )
        .unwrap();
        let oidc = config.oidc.unwrap();
        assert_eq!(oidc.roles_claim, "groups");
        assert_eq!(oidc.role_mapping["approvers"], Role::Approver);
        assert!(config.approvals.four_eyes);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_yaml::from_str::<ControlConfig>("four_eyes: false\n").is_err());
    }
}
