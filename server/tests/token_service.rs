//! The token endpoint over real HTTP, and an agent process getting its MCP
//! tokens from it.

mod system;

use serde_json::Value;
use system::System;

async fn token_request(
    system: &System,
    client: &str,
    secret: &str,
    audience: &str,
    scope: Option<&str>,
) -> (u16, Value) {
    let mut body = format!("grant_type=client_credentials&audience={audience}");
    if let Some(scope) = scope {
        body.push_str(&format!(
            "&scope={}",
            scope.replace(' ', "+").replace(':', "%3A")
        ));
    }
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", system.issuer))
        .basic_auth(client, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "token answers are never cached"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_follow_the_access_matrix() {
    let system = System::builder().start().await;
    let training = system.secrets.secret_for("training");

    let (status, body) = token_request(&system, "training", &training, "registry", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "registry:read registry:write");
    let verifier = mlops_service_auth::TokenVerifier::new(
        system.issuer.clone(),
        "registry",
        mlops_service_auth::JwksSource::Url(format!("{}/.well-known/jwks.json", system.issuer)),
    );
    let claims = verifier
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.sub, "training");
    assert!(!claims.has_scope("registry:alias"));

    // Narrowing is allowed; widening is not.
    let (status, body) = token_request(
        &system,
        "training",
        &training,
        "registry",
        Some("registry:read"),
    )
    .await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (200, Some("registry:read"))
    );
    let (status, body) = token_request(
        &system,
        "training",
        &training,
        "registry",
        Some("registry:alias"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "{body}"
    );

    // The matrix gives training nothing at the cluster server.
    let (status, body) = token_request(&system, "training", &training, "cluster", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("cluster")
    );

    // A2A: the orchestrator may call specialists, a specialist may not.
    let orchestrator = system.secrets.secret_for("orchestrator");
    let (status, body) = token_request(&system, "orchestrator", &orchestrator, "data", None).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("a2a:invoke")));
    let (status, _) = token_request(&system, "training", &training, "data", None).await;
    assert_eq!(status, 400);

    // Wrong secrets and unknown clients.
    let (status, body) = token_request(&system, "training", &orchestrator, "registry", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) = token_request(&system, "nobody", "x", "registry", None).await;
    assert_eq!(status, 401);

    // Bad grant and a malformed body.
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", system.issuer))
        .basic_auth("training", Some(&training))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&audience=registry")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/token", system.issuer))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
