//! Service tokens from the control plane's token endpoint.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::client::{ClientError, TokenSource};

/// Gets tokens with the OAuth 2.0 client credentials grant from
/// `{issuer}/oauth/token`, one audience at a time, and caches each until a
/// minute before it expires. What a token may do is the token service's
/// decision (the access matrix), not this client's.
pub struct ClientCredentialsTokenSource {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    cache: Mutex<HashMap<String, (String, std::time::Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

impl ClientCredentialsTokenSource {
    pub fn new(issuer: &str, client_id: &str, client_secret: &str) -> Self {
        ClientCredentialsTokenSource {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a client with a timeout builds"),
            token_url: format!("{}/oauth/token", issuer.trim_end_matches('/')),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn fetch(&self, audience: &str) -> Result<(String, Duration), ClientError> {
        let token_error = |reason: String| ClientError::Token {
            audience: audience.to_owned(),
            reason,
        };
        let response = self
            .http
            .post(&self.token_url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!(
                "grant_type=client_credentials&audience={}",
                form_encode(audience)
            ))
            .send()
            .await
            .map_err(|e| token_error(format!("{}: {e}", self.token_url)))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(token_error(format!("{status}: {body}")));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| token_error(format!("unreadable answer: {e}")))?;
        Ok((answer.access_token, Duration::from_secs(answer.expires_in)))
    }
}

#[async_trait]
impl TokenSource for ClientCredentialsTokenSource {
    async fn token(&self, audience: &str) -> Result<String, ClientError> {
        // One lock across the fetch: concurrent callers wait for one request
        // instead of each asking the token service.
        let mut cache = self.cache.lock().await;
        if let Some((token, refresh_at)) = cache.get(audience)
            && std::time::Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch(audience).await?;
        let refresh_at =
            std::time::Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        cache.insert(audience.to_owned(), (token.clone(), refresh_at));
        Ok(token)
    }
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
