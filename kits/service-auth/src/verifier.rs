use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::{AuthError, Jwks, ServiceClaims};

/// Where a verifier gets the issuer's public keys.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Fetched over HTTP and cached; refetched when an unknown `kid` appears.
    Url(String),
    /// Fixed keys (the issuer itself, tests).
    Static(Jwks),
}

/// Checks service tokens for one audience: signature, issuer, audience, expiry.
///
/// Verified tokens are cached until they expire, because a client reuses its
/// token for many calls and an ES256 verification costs tens of microseconds.
pub struct TokenVerifier {
    issuer: String,
    audience: String,
    source: JwksSource,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    verified: Mutex<HashMap<String, ServiceClaims>>,
}

/// Don't hammer the issuer when tokens with unknown key ids arrive.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
const VERIFIED_CACHE_CAPACITY: usize = 4096;
const CLOCK_LEEWAY_SECS: u64 = 5;

impl TokenVerifier {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, source: JwksSource) -> Self {
        let keys = match &source {
            JwksSource::Static(jwks) => decoding_keys(jwks),
            JwksSource::Url(_) => HashMap::new(),
        };
        TokenVerifier {
            issuer: issuer.into(),
            audience: audience.into(),
            source,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a client with only a timeout set always builds"),
            keys: RwLock::new(keys),
            last_fetch: Mutex::new(None),
            verified: Mutex::new(HashMap::new()),
        }
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<ServiceClaims, AuthError> {
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = self.cached(token, now) {
            return Ok(claims);
        }
        let claims: ServiceClaims = self.decode(token, &["exp", "aud", "iss", "sub"]).await?;
        self.remember(token, &claims);
        Ok(claims)
    }

    /// Verifies an approval token (audience [`crate::APPROVAL_AUDIENCE`]
    /// for this verifier) and returns its claims. Never cached: each
    /// approval is checked once, and its `jti` is the caller's to spend.
    pub async fn verify_approval(&self, token: &str) -> Result<crate::ApprovalClaims, AuthError> {
        let claims: crate::ApprovalClaims = self
            .decode(token, &["exp", "aud", "iss", "sub", "jti"])
            .await?;
        if claims.typ != crate::APPROVAL_TOKEN_TYPE {
            return Err(AuthError::InvalidToken(format!(
                "not an approval token (typ {:?})",
                claims.typ
            )));
        }
        Ok(claims)
    }

    /// Checks algorithm, key, signature, issuer, audience and expiry, and
    /// decodes the claims.
    async fn decode<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        required: &[&str],
    ) -> Result<T, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::InvalidToken(format!("malformed JWT: {e}")))?;
        if header.alg != Algorithm::ES256 {
            return Err(AuthError::InvalidToken(format!(
                "algorithm {:?} is not accepted; tokens are ES256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::InvalidToken("the JWT header has no `kid`".into()))?;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.refresh_keys().await?;
                self.key(&kid).ok_or(AuthError::UnknownKey(kid.clone()))?
            }
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(required);
        validation.leeway = CLOCK_LEEWAY_SECS;
        Ok(jsonwebtoken::decode::<T>(token, &key, &validation)
            .map_err(|e| self.explain(token, e))?
            .claims)
    }

    fn cached(&self, token: &str, now: i64) -> Option<ServiceClaims> {
        let cache = self.verified.lock().ok()?;
        cache.get(token).filter(|c| c.exp > now).cloned()
    }

    fn remember(&self, token: &str, claims: &ServiceClaims) {
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_CACHE_CAPACITY {
                let now = chrono::Utc::now().timestamp();
                cache.retain(|_, c| c.exp > now);
                if cache.len() >= VERIFIED_CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(token.to_owned(), claims.clone());
        }
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    async fn refresh_keys(&self) -> Result<(), AuthError> {
        let JwksSource::Url(url) = &self.source else {
            return Ok(());
        };
        {
            let mut last = self
                .last_fetch
                .lock()
                .expect("lock is never poisoned: no panics while held");
            if last.is_some_and(|at| at.elapsed() < MIN_REFETCH_INTERVAL) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let unavailable = |reason: String| AuthError::JwksUnavailable {
            url: url.clone(),
            reason,
        };
        let jwks: Jwks = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        tracing::info!(url, keys = jwks.keys.len(), "fetched issuer JWKS");
        if let Ok(mut keys) = self.keys.write() {
            *keys = decoding_keys(&jwks);
        }
        Ok(())
    }

    fn explain(&self, token: &str, error: jsonwebtoken::errors::Error) -> AuthError {
        match error.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::InvalidAudience => AuthError::WrongAudience {
                expected: self.audience.clone(),
                found: unverified_audience(token),
            },
            ErrorKind::InvalidIssuer => {
                AuthError::InvalidToken(format!("the issuer is not {:?}", self.issuer))
            }
            ErrorKind::InvalidSignature => AuthError::InvalidToken("bad signature".into()),
            ErrorKind::MissingRequiredClaim(claim) => {
                AuthError::InvalidToken(format!("missing claim {claim:?}"))
            }
            other => AuthError::InvalidToken(format!("{other:?}")),
        }
    }
}

fn decoding_keys(jwks: &Jwks) -> HashMap<String, DecodingKey> {
    jwks.keys
        .iter()
        .filter(|k| k.kty == "EC" && k.crv == "P-256")
        .filter_map(|k| match DecodingKey::from_ec_components(&k.x, &k.y) {
            Ok(key) => Some((k.kid.clone(), key)),
            Err(e) => {
                tracing::warn!(kid = %k.kid, error = %e, "ignoring unusable JWK");
                None
            }
        })
        .collect()
}

/// The audience of a token that failed the audience check, for the error
/// message only. Never used to make a decision.
fn unverified_audience(token: &str) -> Vec<String> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload) else {
        return Vec::new();
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("aud").cloned())
    {
        Some(serde_json::Value::String(aud)) => vec![aud],
        Some(serde_json::Value::Array(list)) => list
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scope, SigningKey, TokenRequest};

    fn request(aud: &str, ttl: u64) -> TokenRequest {
        TokenRequest::new(
            "tester",
            aud,
            vec![Scope::parse("a2a:invoke").unwrap()],
            Duration::from_secs(ttl),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn accepts_a_good_token_and_rejects_the_rest() {
        let key = SigningKey::generate().unwrap();
        let verifier = TokenVerifier::new("http://cp", "echo", JwksSource::Static(key.jwks()));

        let (good, _) = key.mint("http://cp", &request("echo", 60)).unwrap();
        let claims = verifier.verify(&good).await.unwrap();
        assert!(claims.has_scope("a2a:invoke"));
        // Cached path gives the same answer.
        assert_eq!(verifier.verify(&good).await.unwrap(), claims);

        let (other_aud, _) = key.mint("http://cp", &request("billing", 60)).unwrap();
        match verifier.verify(&other_aud).await {
            Err(AuthError::WrongAudience { found, .. }) => assert_eq!(found, vec!["billing"]),
            other => panic!("expected wrong audience, got {other:?}"),
        }

        let (wrong_issuer, _) = key.mint("http://evil", &request("echo", 60)).unwrap();
        assert!(matches!(
            verifier.verify(&wrong_issuer).await,
            Err(AuthError::InvalidToken(_))
        ));

        let stranger = SigningKey::generate().unwrap();
        let (forged, _) = stranger.mint("http://cp", &request("echo", 60)).unwrap();
        assert!(matches!(
            verifier.verify(&forged).await,
            Err(AuthError::UnknownKey(_))
        ));

        assert!(matches!(
            verifier.verify("not.a.jwt").await,
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[tokio::test]
    async fn rejects_an_expired_token() {
        let key = SigningKey::generate().unwrap();
        let verifier = TokenVerifier::new("http://cp", "echo", JwksSource::Static(key.jwks()));
        let now = chrono::Utc::now().timestamp();
        let claims = ServiceClaims {
            iss: "http://cp".into(),
            sub: "t".into(),
            aud: "echo".into(),
            iat: now - 600,
            exp: now - 300,
            jti: "j".into(),
            scope: String::new(),
        };
        let token = key.sign(&claims).unwrap();
        assert!(matches!(
            verifier.verify(&token).await,
            Err(AuthError::Expired)
        ));
    }
}
