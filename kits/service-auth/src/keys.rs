use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::{AuthError, ServiceClaims, TokenRequest};

const PEM_LABEL: &str = "PRIVATE KEY";

/// The control plane's ES256 key pair: signs service and approval tokens.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public_point: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key pair, held only in memory (tests and benchmarks).
    pub fn generate() -> Result<Self, AuthError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| AuthError::KeyFile {
                    path: "<memory>".into(),
                    reason: "key generation failed".into(),
                })?;
        Self::from_pkcs8(pkcs8.as_ref(), "<memory>")
    }

    /// Loads the key from `path`, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, AuthError> {
        let shown = path.display().to_string();
        let key_error = |reason: String| AuthError::KeyFile {
            path: shown.clone(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(pem) => {
                let der = decode_pem(&pem).map_err(key_error)?;
                Self::from_pkcs8(&der, &shown)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| key_error(e.to_string()))?;
                }
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|_| key_error("key generation failed".into()))?;
                let pem = encode_pem(pkcs8.as_ref());
                // create_new: if two processes race at first start, one wins
                // and the other reads the winner's key.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(mut file) => {
                        file.write_all(pem.as_bytes())
                            .and_then(|_| file.sync_all())
                            .map_err(|e| key_error(e.to_string()))?;
                        Self::from_pkcs8(pkcs8.as_ref(), &shown)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(key_error(e.to_string())),
                }
            }
            Err(err) => Err(key_error(err.to_string())),
        }
    }

    fn from_pkcs8(der: &[u8], origin: &str) -> Result<Self, AuthError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(|e| {
                AuthError::KeyFile {
                    path: origin.to_owned(),
                    reason: format!("not a P-256 PKCS#8 key: {e}"),
                }
            })?;
        let public_point = pair.public_key().as_ref().to_vec();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &public_point);
        let kid = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12]);
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_ec_der(der),
            public_point,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs any claims set with this key (service tokens, approval tokens).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| AuthError::InvalidRequest(format!("cannot sign token: {e}")))
    }

    /// Mints a service token for `request`, issued by `issuer`.
    pub fn mint(
        &self,
        issuer: &str,
        request: &TokenRequest,
    ) -> Result<(String, ServiceClaims), AuthError> {
        let now = chrono::Utc::now().timestamp();
        let claims = ServiceClaims {
            iss: issuer.to_owned(),
            sub: request.subject.clone(),
            aud: request.audience.clone(),
            iat: now,
            exp: now + request.ttl.as_secs() as i64,
            jti: uuid::Uuid::now_v7().to_string(),
            scope: request
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        };
        Ok((self.sign(&claims)?, claims))
    }

    /// The public half, as published at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks {
        // SEC1 uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
        let (x, y) = self.public_point[1..].split_at(32);
        Jwks {
            keys: vec![Jwk {
                kty: "EC".into(),
                crv: "P-256".into(),
                alg: "ES256".into(),
                key_use: "sig".into(),
                kid: self.kid.clone(),
                x: URL_SAFE_NO_PAD.encode(x),
                y: URL_SAFE_NO_PAD.encode(y),
            }],
        }
    }
}

/// A JSON Web Key Set (RFC 7517), limited to the EC keys we issue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    #[serde(default)]
    pub alg: String,
    #[serde(rename = "use", default)]
    pub key_use: String,
    pub kid: String,
    pub x: String,
    pub y: String,
}

fn encode_pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {PEM_LABEL}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    pem
}

fn decode_pem(pem: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {PEM_LABEL}-----");
    let end = format!("-----END {PEM_LABEL}-----");
    let start = pem.find(&begin).ok_or("missing PEM header")? + begin.len();
    let stop = pem.find(&end).ok_or("missing PEM footer")?;
    let body: String = pem
        .get(start..stop)
        .ok_or("malformed PEM")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map_err(|e| format!("bad base64 in PEM: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/service-key.pem");
        let first = SigningKey::load_or_create(&path).unwrap();
        let second = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(first.jwks(), second.jwks());
        let mode = std::fs::metadata(&path).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }

    #[test]
    fn garbage_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, "not a key").unwrap();
        let err = SigningKey::load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("PEM"), "{err}");
    }
}
