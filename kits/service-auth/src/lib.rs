//! Service authentication shared by every process in the system.
//!
//! The control plane is the token service: it owns an ES256 signing key
//! ([`SigningKey`]), publishes the public half as a JWKS, and mints short-lived
//! JWTs ([`ServiceClaims`]) carrying an audience and scopes. Agents and MCP
//! servers verify those tokens with [`TokenVerifier`], which fetches and caches
//! the JWKS, and guard their routes with [`require_bearer`].
//!
//! Architecture invariant: verification lives only here, so every server
//! applies the same rules for issuer, audience, expiry and key rotation.

pub mod access;
mod approval;
mod claims;
mod clients;
mod keys;
mod middleware;
mod verifier;

pub use approval::{
    APPROVAL_AUDIENCE, APPROVAL_TOKEN_TYPE, ApprovalClaims, ApprovalDecision, ApprovalGrant,
};
pub use claims::{Scope, ServiceClaims, TokenRequest};
pub use clients::ClientSecrets;
pub use keys::{Jwk, Jwks, SigningKey};
pub use middleware::{Authenticated, CALLER_HEADER, require_a2a_invoke, require_bearer};
pub use verifier::{JwksSource, TokenVerifier};

/// Everything that can go wrong while issuing or checking a service token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send `Authorization: Bearer <token>`")]
    MissingToken,
    #[error("the bearer token is not valid: {0}")]
    InvalidToken(String),
    #[error("the bearer token has expired")]
    Expired,
    #[error("the bearer token is for audience {found:?}, not {expected:?}")]
    WrongAudience {
        expected: String,
        found: Vec<String>,
    },
    #[error("the bearer token lacks scope {0:?}")]
    MissingScope(String),
    #[error("signing key {0:?} is not published by the issuer")]
    UnknownKey(String),
    #[error("could not fetch the issuer's JWKS from {url}: {reason}")]
    JwksUnavailable { url: String, reason: String },
    #[error("signing key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("invalid token request: {0}")]
    InvalidRequest(String),
}

impl AuthError {
    /// Failures that are the caller's fault (401) rather than ours (503).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            AuthError::JwksUnavailable { .. } | AuthError::KeyFile { .. }
        )
    }
}
