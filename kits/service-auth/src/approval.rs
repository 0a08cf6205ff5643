//! Approval tokens: a person's decision at a workflow gate, signed by the
//! control plane and verified by the orchestrator before it acts.
//!
//! The A2A task state alone is never authority (ARCHITECTURE §4): an
//! answer to a gate counts only when it carries one of these, naming that
//! workflow and gate, unexpired, and never seen before (`jti`).

use serde::{Deserialize, Serialize};

use crate::{AuthError, SigningKey};

/// The audience of every approval token. Distinct from any service's name,
/// so an approval token is never accepted as a bearer token, nor the
/// other way round.
pub const APPROVAL_AUDIENCE: &str = "orchestrator-approval";

/// The `typ` claim every approval token carries.
pub const APPROVAL_TOKEN_TYPE: &str = "gate-approval";

/// A gate decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalDecision {
    Approve,
    Reject,
}

impl ApprovalDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalDecision::Approve => "approve",
            ApprovalDecision::Reject => "reject",
        }
    }
}

/// The claims of an approval token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalClaims {
    pub iss: String,
    pub aud: String,
    /// The approver's subject at the IdP.
    pub sub: String,
    /// The approver's roles when they decided.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The workflow id.
    pub workflow: String,
    /// The gate id within the workflow.
    pub gate: String,
    pub decision: ApprovalDecision,
    #[serde(default)]
    pub comment: Option<String>,
    pub iat: i64,
    pub exp: i64,
    /// Single use: the orchestrator records every `jti` it accepts.
    pub jti: String,
    pub typ: String,
}

/// What the control plane decided, to be signed.
#[derive(Debug, Clone)]
pub struct ApprovalGrant {
    pub approver: String,
    pub roles: Vec<String>,
    pub workflow: String,
    pub gate: String,
    pub decision: ApprovalDecision,
    pub comment: Option<String>,
    pub ttl: std::time::Duration,
}

impl SigningKey {
    /// Signs `grant` as an approval token issued by `issuer`.
    pub fn sign_approval(
        &self,
        issuer: &str,
        grant: &ApprovalGrant,
    ) -> Result<(String, ApprovalClaims), AuthError> {
        if grant.workflow.is_empty() || grant.gate.is_empty() || grant.approver.is_empty() {
            return Err(AuthError::InvalidRequest(
                "an approval names its workflow, gate and approver".into(),
            ));
        }
        let now = chrono::Utc::now().timestamp();
        let claims = ApprovalClaims {
            iss: issuer.to_owned(),
            aud: APPROVAL_AUDIENCE.to_owned(),
            sub: grant.approver.clone(),
            roles: grant.roles.clone(),
            workflow: grant.workflow.clone(),
            gate: grant.gate.clone(),
            decision: grant.decision,
            comment: grant.comment.clone(),
            iat: now,
            exp: now + grant.ttl.as_secs().max(1) as i64,
            jti: uuid::Uuid::now_v7().to_string(),
            typ: APPROVAL_TOKEN_TYPE.to_owned(),
        };
        Ok((self.sign(&claims)?, claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JwksSource, Scope, TokenRequest, TokenVerifier};
    use std::time::Duration;

    fn grant() -> ApprovalGrant {
        ApprovalGrant {
            approver: "bob".into(),
            roles: vec!["approver".into()],
            workflow: "wf-1".into(),
            gate: "promotion".into(),
            decision: ApprovalDecision::Approve,
            comment: Some("looks good".into()),
            ttl: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn approval_tokens_verify_only_as_approvals() {
        let key = SigningKey::generate().unwrap();
        let approvals = TokenVerifier::new(
            "http://cp",
            APPROVAL_AUDIENCE,
            JwksSource::Static(key.jwks()),
        );
        let (token, claims) = key.sign_approval("http://cp", &grant()).unwrap();
        assert_eq!(approvals.verify_approval(&token).await.unwrap(), claims);

        // A service token is no approval, even for the right audience.
        let (service, _) = key
            .mint(
                "http://cp",
                &TokenRequest::new(
                    "control-plane",
                    APPROVAL_AUDIENCE,
                    vec![Scope::parse("a2a:invoke").unwrap()],
                    Duration::from_secs(60),
                )
                .unwrap(),
            )
            .unwrap();
        assert!(approvals.verify_approval(&service).await.is_err());

        // And an approval is no bearer token for the orchestrator.
        let orchestrator =
            TokenVerifier::new("http://cp", "orchestrator", JwksSource::Static(key.jwks()));
        assert!(matches!(
            orchestrator.verify(&token).await,
            Err(AuthError::WrongAudience { .. })
        ));

        // Another key's signature is refused.
        let stranger = SigningKey::generate().unwrap();
        let (forged, _) = stranger.sign_approval("http://cp", &grant()).unwrap();
        assert!(approvals.verify_approval(&forged).await.is_err());
    }
}
