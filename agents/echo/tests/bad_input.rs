//! Bad input gets the protocol's own error, and never a panic.

mod common;

use common::{TestIssuer, jsonrpc_raw, send_message_body, start_in_process};
use mlops_agent_kit::StoreChoice;
use mlops_service_auth::{ServiceClaims, SigningKey};

async fn agent() -> (TestIssuer, mlops_agent_kit::RunningAgent) {
    let issuer = TestIssuer::new();
    let agent = start_in_process(&issuer, StoreChoice::Memory).await;
    (issuer, agent)
}

/// After every bad request the agent must still serve a good one.
async fn still_serves(url: &str, issuer: &TestIssuer) {
    let id = uuid::Uuid::new_v4().to_string();
    let (status, reply) = jsonrpc_raw(
        url,
        Some(&issuer.token("echo")),
        send_message_body("alive?", &id),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        reply["result"]["task"]["status"]["state"], "TASK_STATE_COMPLETED",
        "{reply}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let (issuer, agent) = agent().await;
    let (status, reply) = jsonrpc_raw(
        agent.base_url(),
        Some(&issuer.token("echo")),
        "{\"jsonrpc\": \"2.0\", ",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    still_serves(agent.base_url(), &issuer).await;
}

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    let (issuer, agent) = agent().await;
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"LaunchRockets","params":{}}"#;
    let (_, reply) = jsonrpc_raw(agent.base_url(), Some(&issuer.token("echo")), body).await;
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    assert_eq!(reply["id"], 7);
    still_serves(agent.base_url(), &issuer).await;
}

#[tokio::test]
async fn invalid_params_are_rejected() {
    let (issuer, agent) = agent().await;
    let body =
        r#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"role":42}}}"#;
    let (_, reply) = jsonrpc_raw(agent.base_url(), Some(&issuer.token("echo")), body).await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    still_serves(agent.base_url(), &issuer).await;
}

#[tokio::test]
async fn a_skill_input_that_breaks_the_contract_is_rejected_with_a_reason() {
    let (issuer, agent) = agent().await;
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "SendMessage",
        "params": {"message": {"messageId": "m-bad", "role": "ROLE_USER",
                   "parts": [{"data": {"txt": "typo"}}]}}
    });
    let (_, reply) = jsonrpc_raw(
        agent.base_url(),
        Some(&issuer.token("echo")),
        body.to_string(),
    )
    .await;
    let status = &reply["result"]["task"]["status"];
    assert_eq!(status["state"], "TASK_STATE_REJECTED", "{reply}");
    let reason = status["message"]["parts"][0]["text"].as_str().unwrap();
    assert!(
        reason.contains("invalid input") && reason.contains("txt"),
        "{reason}"
    );
}

#[tokio::test]
async fn missing_invalid_expired_and_wrong_audience_tokens_get_401() {
    let (issuer, agent) = agent().await;
    let url = agent.base_url();
    let body = send_message_body("x", "m-auth");

    let (status, reply) = jsonrpc_raw(url, None, body.clone()).await;
    assert_eq!(status, 401, "missing: {reply}");
    assert_eq!(reply["status"], 401);

    let (status, _) = jsonrpc_raw(url, Some("not-a-jwt"), body.clone()).await;
    assert_eq!(status, 401, "invalid");

    let stranger = SigningKey::generate().unwrap();
    let forged = stranger
        .mint(
            common::ISSUER,
            &mlops_service_auth::TokenRequest::new(
                "x",
                "echo",
                vec![],
                std::time::Duration::from_secs(60),
            )
            .unwrap(),
        )
        .unwrap()
        .0;
    let (status, _) = jsonrpc_raw(url, Some(&forged), body.clone()).await;
    assert_eq!(status, 401, "forged");

    let now = chrono::Utc::now().timestamp();
    let expired = issuer
        .key
        .sign(&ServiceClaims {
            iss: common::ISSUER.into(),
            sub: "tester".into(),
            aud: "echo".into(),
            iat: now - 900,
            exp: now - 600,
            jti: "j".into(),
            scope: String::new(),
        })
        .unwrap();
    let (status, reply) = jsonrpc_raw(url, Some(&expired), body.clone()).await;
    assert_eq!(status, 401, "expired: {reply}");
    assert!(
        reply["detail"].as_str().unwrap().contains("expired"),
        "{reply}"
    );

    let (status, reply) = jsonrpc_raw(url, Some(&issuer.token("registry")), body.clone()).await;
    assert_eq!(status, 401, "wrong audience: {reply}");
    assert!(
        reply["detail"].as_str().unwrap().contains("audience"),
        "{reply}"
    );

    // A valid token for this agent without `a2a:invoke` may not call it.
    let unscoped = issuer
        .key
        .mint(
            common::ISSUER,
            &mlops_service_auth::TokenRequest::new(
                "data",
                "echo",
                vec![],
                std::time::Duration::from_secs(60),
            )
            .unwrap(),
        )
        .unwrap()
        .0;
    let (status, reply) = jsonrpc_raw(url, Some(&unscoped), body.clone()).await;
    assert_eq!(status, 403, "no a2a:invoke: {reply}");
    assert!(
        reply["detail"].as_str().unwrap().contains("a2a:invoke"),
        "{reply}"
    );

    // The REST binding is guarded the same way; the card stays public.
    let rest = reqwest::Client::new()
        .get(format!("{url}/a2a/rest/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status().as_u16(), 401);
    let card = reqwest::get(format!("{url}/.well-known/agent-card.json"))
        .await
        .unwrap();
    assert_eq!(card.status().as_u16(), 200);
    still_serves(url, &issuer).await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_gets_413() {
    let (issuer, agent) = agent().await;
    let huge = send_message_body(&"x".repeat(1024 * 1024 + 10), "m-huge");
    let (status, _) =
        jsonrpc_raw(agent.base_url(), Some(&issuer.token("echo")), huge.clone()).await;
    assert_eq!(status, 413);

    // Also without a Content-Length: a streamed body is cut off at the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = huge
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_stream(chunks));
    let (status, _) = jsonrpc_raw(agent.base_url(), Some(&issuer.token("echo")), body).await;
    assert_eq!(status, 413);
    still_serves(agent.base_url(), &issuer).await;
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures::stream::iter(chunks)
}

#[tokio::test]
async fn ops_endpoints_answer() {
    let (issuer, agent) = agent().await;
    still_serves(agent.base_url(), &issuer).await;
    let health = reqwest::get(format!("{}/healthz", agent.base_url()))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = reqwest::get(format!("{}/readyz", agent.base_url()))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = reqwest::get(format!("{}/metrics", agent.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("a2a_task_transitions_total{agent=\"echo\",skill=\"echo\",state=\"TASK_STATE_COMPLETED\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("a2a_task_duration_seconds_count{agent=\"echo\",skill=\"echo\"} 1"),
        "{metrics}"
    );
    agent.shutdown().await;
}
