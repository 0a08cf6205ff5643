//! Service client credentials for the token endpoint (OAuth 2.0 client
//! credentials grant, RFC 6749 §4.4).
//!
//! Each service's secret is derived from one master secret as
//! HMAC-SHA256(master, client id), so the token service needs no table of
//! secrets and the supervisor (or a Kubernetes Secret) can hand each process
//! exactly its own secret. Rotating the master rotates every secret at once.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::AuthError;

/// Length of the master secret in bytes.
const MASTER_LEN: usize = 32;

/// The master secret client secrets derive from.
#[derive(Clone)]
pub struct ClientSecrets {
    key: hmac::Key,
}

impl std::fmt::Debug for ClientSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecrets").finish_non_exhaustive()
    }
}

impl ClientSecrets {
    pub fn from_master(master: &[u8]) -> Self {
        ClientSecrets {
            key: hmac::Key::new(hmac::HMAC_SHA256, master),
        }
    }

    /// Loads the master from `path`, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, AuthError> {
        let shown = path.display().to_string();
        let key_error = |reason: String| AuthError::KeyFile {
            path: shown.clone(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let master = URL_SAFE_NO_PAD
                    .decode(text.trim())
                    .map_err(|e| key_error(format!("not base64url: {e}")))?;
                if master.len() < MASTER_LEN {
                    return Err(key_error(format!(
                        "the master secret must be at least {MASTER_LEN} bytes"
                    )));
                }
                Ok(Self::from_master(&master))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| key_error(e.to_string()))?;
                }
                let mut master = [0u8; MASTER_LEN];
                SystemRandom::new()
                    .fill(&mut master)
                    .map_err(|_| key_error("no randomness".into()))?;
                // create_new: of two processes racing at first start, one
                // writes and the other reads what it wrote.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(mut file) => {
                        file.write_all(URL_SAFE_NO_PAD.encode(master).as_bytes())
                            .and_then(|_| file.sync_all())
                            .map_err(|e| key_error(e.to_string()))?;
                        Ok(Self::from_master(&master))
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

    /// The secret of `client_id`.
    pub fn secret_for(&self, client_id: &str) -> String {
        let tag = hmac::sign(
            &self.key,
            format!("mlops-service-client:{client_id}").as_bytes(),
        );
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `secret` is `client_id`'s, compared in constant time.
    pub fn verify(&self, client_id: &str, secret: &str) -> bool {
        let expected = self.secret_for(client_id);
        constant_time::verify_slices_are_equal(expected.as_bytes(), secret.as_bytes()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_per_client_and_stable_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/clients.key");
        let first = ClientSecrets::load_or_create(&path).unwrap();
        let again = ClientSecrets::load_or_create(&path).unwrap();
        let data = first.secret_for("data");
        assert_eq!(data, again.secret_for("data"));
        assert_ne!(data, first.secret_for("training"));
        assert!(again.verify("data", &data));
        assert!(!again.verify("training", &data));
        assert!(!again.verify("data", ""));
    }
}
