//! The A2A client side: discovery from `agents.yaml`, calls with timeouts,
//! retries with exponential backoff and jitter, a circuit breaker per agent.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use a2a::{
    A2AError, AgentCard, CancelTaskRequest, GetTaskRequest, ListTasksRequest, ListTasksResponse,
    SendMessageRequest, SendMessageResponse, StreamResponse, SubscribeToTaskRequest, Task,
    error_code,
};
use a2a_client::agent_card::AgentCardResolver;
use a2a_client::middleware::CallInterceptor;
use a2a_client::transport::ServiceParams;
use a2a_client::{A2AClient, A2AClientFactory, BoxStream, Transport};
use async_trait::async_trait;
use mlops_service_auth::{Scope, SigningKey, TokenRequest};
use serde::Deserialize;

/// Errors of the client side, each saying which agent was involved.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("agent registry {path}: {reason}")]
    Registry { path: String, reason: String },
    #[error("agent {0:?} is not in the registry")]
    UnknownAgent(String),
    #[error("agent {agent}: circuit open after repeated failures; retry after {retry_in:?}")]
    CircuitOpen { agent: String, retry_in: Duration },
    #[error("agent {agent}: {operation} timed out after {after:?}")]
    Timeout {
        agent: String,
        operation: &'static str,
        after: Duration,
    },
    #[error("agent {agent}: {operation} failed: {error}")]
    Protocol {
        agent: String,
        operation: &'static str,
        error: A2AError,
    },
    #[error("cannot get a token for {audience}: {reason}")]
    Token { audience: String, reason: String },
}

/// One line of `agents.yaml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AgentEntry {
    pub name: String,
    pub url: String,
}

/// The registry file: the only place agent URLs are written down.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AgentRegistryFile {
    pub agents: Vec<AgentEntry>,
}

impl AgentRegistryFile {
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let registry_error = |reason: String| ClientError::Registry {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| registry_error(e.to_string()))?;
        let file: AgentRegistryFile =
            serde_yaml::from_str(&text).map_err(|e| registry_error(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for entry in &file.agents {
            if !seen.insert(entry.name.clone()) {
                return Err(registry_error(format!(
                    "agent {:?} is listed twice",
                    entry.name
                )));
            }
            if !(entry.url.starts_with("http://") || entry.url.starts_with("https://")) {
                return Err(registry_error(format!(
                    "agent {:?}: url {:?} must start with http:// or https://",
                    entry.name, entry.url
                )));
            }
        }
        Ok(file)
    }
}

/// Supplies bearer tokens for calls to one audience.
#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn token(&self, audience: &str) -> Result<String, ClientError>;
}

/// Mints tokens locally with the token service's key: used by the control
/// plane itself and by tests. Tokens are cached until a minute before expiry.
pub struct MintingTokenSource {
    key: SigningKey,
    issuer: String,
    subject: String,
    /// None: what the access matrix grants `subject` for each audience.
    scopes: Option<Vec<Scope>>,
    cache: Mutex<HashMap<String, (String, i64)>>,
}

impl MintingTokenSource {
    pub fn new(key: SigningKey, issuer: &str, subject: &str, scopes: Vec<Scope>) -> Self {
        MintingTokenSource {
            key,
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            scopes: Some(scopes),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Mints what the access matrix grants `subject` for each audience, as
    /// the token endpoint would: for the control plane's own calls.
    pub fn following_matrix(key: SigningKey, issuer: &str, subject: &str) -> Self {
        MintingTokenSource {
            key,
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            scopes: None,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl TokenSource for MintingTokenSource {
    async fn token(&self, audience: &str) -> Result<String, ClientError> {
        let now = chrono::Utc::now().timestamp();
        if let Ok(cache) = self.cache.lock()
            && let Some((token, exp)) = cache.get(audience)
            && *exp - 60 > now
        {
            return Ok(token.clone());
        }
        let token_error = |reason: String| ClientError::Token {
            audience: audience.to_owned(),
            reason,
        };
        let scopes = match &self.scopes {
            Some(scopes) => scopes.clone(),
            None => mlops_service_auth::access::grant(&self.subject, audience)
                .ok_or_else(|| {
                    token_error(format!(
                        "the access matrix grants {} nothing here",
                        self.subject
                    ))
                })?
                .into_iter()
                .map(Scope::parse)
                .collect::<Result<_, _>>()
                .map_err(|e| token_error(e.to_string()))?,
        };
        let request = TokenRequest::new(&self.subject, audience, scopes, Duration::from_secs(900))
            .map_err(|e| token_error(e.to_string()))?;
        let (token, claims) = self
            .key
            .mint(&self.issuer, &request)
            .map_err(|e| token_error(e.to_string()))?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(audience.to_owned(), (token.clone(), claims.exp));
        }
        Ok(token)
    }
}

/// Adds `Authorization: Bearer …` for the agent being called.
struct BearerInterceptor {
    audience: String,
    source: Arc<dyn TokenSource>,
}

#[async_trait]
impl CallInterceptor for BearerInterceptor {
    async fn before(&self, _method: &str, params: &mut ServiceParams) -> Result<(), A2AError> {
        let token = self
            .source
            .token(&self.audience)
            .await
            .map_err(|e| A2AError::internal(e.to_string()))?;
        params.insert("Authorization".to_owned(), vec![format!("Bearer {token}")]);
        Ok(())
    }
}

/// How hard to try before giving up on an agent.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub call_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            call_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"):
    /// a uniform delay in [0, min(max, initial·2^attempt)].
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Consecutive-failure circuit breaker: opens after `threshold` failures,
/// lets one trial call through after `cool_down`.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Clone, Copy)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cool_down,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    /// Ok if a call may go out now; otherwise how long until it may.
    pub fn permit(&self) -> Result<(), Duration> {
        let mut state = self.state.lock().expect("breaker lock is never poisoned");
        match *state {
            BreakerState::Closed { .. } => Ok(()),
            BreakerState::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = BreakerState::HalfOpen;
                    Ok(())
                } else {
                    Err(until - now)
                }
            }
            // One trial is already out; others wait for its verdict.
            BreakerState::HalfOpen => Err(self.cool_down),
        }
    }

    pub fn record_success(&self) {
        *self.state.lock().expect("breaker lock is never poisoned") =
            BreakerState::Closed { failures: 0 };
    }

    pub fn record_failure(&self) {
        let mut state = self.state.lock().expect("breaker lock is never poisoned");
        *state = match *state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            _ => BreakerState::Open {
                until: Instant::now() + self.cool_down,
            },
        };
    }

    pub fn is_open(&self) -> bool {
        matches!(
            *self.state.lock().expect("breaker lock is never poisoned"),
            BreakerState::Open { .. }
        )
    }
}

/// Whether an error may go away on retry: transport failures and server
/// faults may; a refusal of the request itself (bad params, unknown task,
/// auth) will not.
pub fn is_retryable(error: &A2AError) -> bool {
    !matches!(
        error.code,
        error_code::PARSE_ERROR
            | error_code::INVALID_REQUEST
            | error_code::METHOD_NOT_FOUND
            | error_code::INVALID_PARAMS
            | error_code::TASK_NOT_FOUND
            | error_code::TASK_NOT_CANCELABLE
            | error_code::UNSUPPORTED_OPERATION
            | error_code::CONTENT_TYPE_NOT_SUPPORTED
            | error_code::PUSH_NOTIFICATION_NOT_SUPPORTED
            | error_code::VERSION_NOT_SUPPORTED
    ) && !error.message.contains("401")
        && !error.message.contains("403")
}

/// A client for one discovered agent.
pub struct AgentClient {
    name: String,
    card: AgentCard,
    client: A2AClient<Box<dyn Transport>>,
    breaker: CircuitBreaker,
    policy: RetryPolicy,
}

impl AgentClient {
    /// Builds a client from a fetched card, preferring JSON-RPC.
    pub async fn from_card(
        name: &str,
        card: AgentCard,
        tokens: Arc<dyn TokenSource>,
        policy: RetryPolicy,
    ) -> Result<Self, ClientError> {
        let factory = A2AClientFactory::builder()
            .with_interceptor(Arc::new(BearerInterceptor {
                audience: name.to_owned(),
                source: tokens,
            }))
            .build();
        let client =
            factory
                .create_from_card(&card)
                .await
                .map_err(|error| ClientError::Protocol {
                    agent: name.to_owned(),
                    operation: "connect",
                    error,
                })?;
        Ok(AgentClient {
            name: name.to_owned(),
            card,
            client,
            breaker: CircuitBreaker::new(5, Duration::from_secs(30)),
            policy,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn card(&self) -> &AgentCard {
        &self.card
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Runs `call` with timeout, retries and the breaker.
    async fn call<T, F, Fut>(&self, operation: &'static str, mut call: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, A2AError>>,
    {
        let mut attempt = 0;
        loop {
            if let Err(retry_in) = self.breaker.permit() {
                return Err(ClientError::CircuitOpen {
                    agent: self.name.clone(),
                    retry_in,
                });
            }
            let outcome = tokio::time::timeout(self.policy.call_timeout, call()).await;
            let error = match outcome {
                Ok(Ok(value)) => {
                    self.breaker.record_success();
                    return Ok(value);
                }
                Ok(Err(error)) if !is_retryable(&error) => {
                    // The agent answered: it is up, the request was refused.
                    self.breaker.record_success();
                    return Err(ClientError::Protocol {
                        agent: self.name.clone(),
                        operation,
                        error,
                    });
                }
                Ok(Err(error)) => ClientError::Protocol {
                    agent: self.name.clone(),
                    operation,
                    error,
                },
                Err(_) => ClientError::Timeout {
                    agent: self.name.clone(),
                    operation,
                    after: self.policy.call_timeout,
                },
            };
            self.breaker.record_failure();
            attempt += 1;
            if attempt >= self.policy.attempts {
                return Err(error);
            }
            let delay = self.policy.backoff(attempt);
            tracing::warn!(agent = %self.name, operation, attempt, ?delay, %error, "retrying A2A call");
            tokio::time::sleep(delay).await;
        }
    }

    /// `SendMessage`. Retries reuse the request's `messageId`, so an agent
    /// that did receive an earlier attempt refuses the duplicate.
    pub async fn send(
        &self,
        request: &SendMessageRequest,
    ) -> Result<SendMessageResponse, ClientError> {
        self.call("SendMessage", || self.client.send_message(request))
            .await
    }

    /// `SendStreamingMessage`; retries cover establishing the stream only.
    pub async fn stream(
        &self,
        request: &SendMessageRequest,
    ) -> Result<BoxStream<'static, Result<StreamResponse, A2AError>>, ClientError> {
        self.call("SendStreamingMessage", || {
            self.client.send_streaming_message(request)
        })
        .await
    }

    pub async fn get(&self, request: &GetTaskRequest) -> Result<Task, ClientError> {
        self.call("GetTask", || self.client.get_task(request)).await
    }

    pub async fn subscribe(
        &self,
        request: &SubscribeToTaskRequest,
    ) -> Result<BoxStream<'static, Result<StreamResponse, A2AError>>, ClientError> {
        self.call("SubscribeToTask", || self.client.subscribe_to_task(request))
            .await
    }

    /// `ListTasks`, e.g. by `contextId` to find a task whose id was lost.
    pub async fn list(&self, request: &ListTasksRequest) -> Result<ListTasksResponse, ClientError> {
        self.call("ListTasks", || self.client.list_tasks(request))
            .await
    }

    pub async fn cancel(&self, request: &CancelTaskRequest) -> Result<Task, ClientError> {
        self.call("CancelTask", || self.client.cancel_task(request))
            .await
    }
}

/// Agents found through the registry file, by name.
pub struct AgentDirectory {
    agents: HashMap<String, Arc<AgentClient>>,
}

impl AgentDirectory {
    /// Fetches every listed agent's card and builds a client for it. An agent
    /// that cannot be reached is reported, not fatal: it is left out and the
    /// caller decides.
    pub async fn discover(
        registry: &AgentRegistryFile,
        tokens: Arc<dyn TokenSource>,
        policy: RetryPolicy,
    ) -> (Self, Vec<ClientError>) {
        // A card fetch is bounded like any call: a stopped agent (its port
        // open, nothing answering) must not hang discovery of the others.
        let http = reqwest::Client::builder()
            .timeout(policy.call_timeout.min(Duration::from_secs(10)))
            .build()
            .ok();
        let resolver = AgentCardResolver::new(http);
        let mut agents = HashMap::new();
        let mut errors = Vec::new();
        for entry in &registry.agents {
            let card = match resolver.resolve(&entry.url).await {
                Ok(card) => card,
                Err(error) => {
                    errors.push(ClientError::Protocol {
                        agent: entry.name.clone(),
                        operation: "fetch agent card",
                        error,
                    });
                    continue;
                }
            };
            match AgentClient::from_card(&entry.name, card, tokens.clone(), policy.clone()).await {
                Ok(client) => {
                    agents.insert(entry.name.clone(), Arc::new(client));
                }
                Err(error) => errors.push(error),
            }
        }
        (AgentDirectory { agents }, errors)
    }

    pub fn get(&self, name: &str) -> Result<Arc<AgentClient>, ClientError> {
        self.agents
            .get(name)
            .cloned()
            .ok_or_else(|| ClientError::UnknownAgent(name.to_owned()))
    }

    pub fn agents(&self) -> impl Iterator<Item = &Arc<AgentClient>> {
        self.agents.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_half_opens_after_cool_down() {
        let breaker = CircuitBreaker::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            breaker.record_failure();
            assert!(breaker.permit().is_ok());
        }
        breaker.record_failure();
        assert!(breaker.permit().is_err(), "open after 3 failures");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.permit().is_ok(), "one trial after cool-down");
        assert!(breaker.permit().is_err(), "only one trial at a time");
        breaker.record_success();
        assert!(breaker.permit().is_ok());
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let policy = RetryPolicy::default();
        for attempt in 0..20 {
            assert!(policy.backoff(attempt) <= policy.max_backoff);
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| policy.backoff(3)).collect();
        assert!(samples.len() > 1, "jitter spreads retries");
    }

    #[test]
    fn registry_file_is_validated() {
        let dir = std::env::temp_dir().join(format!("agents-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agents.yaml");
        std::fs::write(
            &path,
            "agents:\n  - name: data\n    url: http://127.0.0.1:1\n",
        )
        .unwrap();
        assert_eq!(AgentRegistryFile::load(&path).unwrap().agents.len(), 1);
        std::fs::write(&path, "agents:\n  - name: data\n    url: ftp://x\n").unwrap();
        assert!(
            AgentRegistryFile::load(&path)
                .unwrap_err()
                .to_string()
                .contains("http://")
        );
        std::fs::write(
            &path,
            "agents:\n  - name: a\n    url: http://x\n  - name: a\n    url: http://y\n",
        )
        .unwrap();
        assert!(
            AgentRegistryFile::load(&path)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn protocol_refusals_are_not_retried() {
        assert!(!is_retryable(&A2AError::invalid_params("x")));
        assert!(!is_retryable(&A2AError::task_not_found("t")));
        assert!(is_retryable(&A2AError::internal("connection refused")));
    }
}
