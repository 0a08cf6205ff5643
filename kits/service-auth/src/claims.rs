use serde::{Deserialize, Serialize};

use crate::AuthError;

/// The claims of a service token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceClaims {
    /// Issuer: the control plane's base URL.
    pub iss: String,
    /// Subject: the service or operator the token was minted for.
    pub sub: String,
    /// Audience: the one service that may accept this token.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id, for audit trails.
    pub jti: String,
    /// Space-separated scopes, as in OAuth 2.0 (RFC 8693 §4.2).
    #[serde(default)]
    pub scope: String,
}

impl ServiceClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }

    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scopes().any(|s| s == wanted)
    }

    pub fn require_scope(&self, wanted: &str) -> Result<(), AuthError> {
        if self.has_scope(wanted) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(wanted.to_owned()))
        }
    }
}

/// A scope name: lowercase letters, digits and `:._-`, 1–64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ":._-*".contains(c));
        if ok {
            Ok(Scope(raw.to_owned()))
        } else {
            Err(AuthError::InvalidRequest(format!(
                "scope {raw:?} must be 1-64 characters of a-z, 0-9 and `:._-*`"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Scope {
    type Error = AuthError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Scope::parse(&value)
    }
}

impl From<Scope> for String {
    fn from(value: Scope) -> Self {
        value.0
    }
}

/// What a caller asks the token service for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub subject: String,
    pub audience: String,
    pub scopes: Vec<Scope>,
    pub ttl: std::time::Duration,
}

impl TokenRequest {
    /// Longest lifetime a service token may have. Short-lived by design:
    /// a leaked token is useful for at most this long.
    pub const MAX_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

    pub fn new(
        subject: impl Into<String>,
        audience: impl Into<String>,
        scopes: Vec<Scope>,
        ttl: std::time::Duration,
    ) -> Result<Self, AuthError> {
        let subject = subject.into();
        let audience = audience.into();
        if subject.trim().is_empty() {
            return Err(AuthError::InvalidRequest(
                "subject must not be empty".into(),
            ));
        }
        if audience.trim().is_empty() {
            return Err(AuthError::InvalidRequest(
                "audience must not be empty".into(),
            ));
        }
        if ttl.is_zero() || ttl > Self::MAX_TTL {
            return Err(AuthError::InvalidRequest(format!(
                "ttl must be between 1s and {}s",
                Self::MAX_TTL.as_secs()
            )));
        }
        Ok(TokenRequest {
            subject,
            audience,
            scopes,
            ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_parsed_strictly() {
        assert!(Scope::parse("registry:write").is_ok());
        assert!(Scope::parse("a2a:invoke").is_ok());
        assert!(Scope::parse("").is_err());
        assert!(Scope::parse("Has Space").is_err());
        assert!(Scope::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn token_request_bounds_ttl() {
        let long = std::time::Duration::from_secs(48 * 3600);
        assert!(TokenRequest::new("me", "agent", vec![], long).is_err());
        assert!(TokenRequest::new("", "agent", vec![], std::time::Duration::from_secs(5)).is_err());
        assert!(
            TokenRequest::new("me", "agent", vec![], std::time::Duration::from_secs(5)).is_ok()
        );
    }
}
