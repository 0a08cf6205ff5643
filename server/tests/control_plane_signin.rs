//! Sign-in, sessions, CSRF, roles, audit and live events of `mlops serve`,
//! against the real dev IdP (node `oidc-provider`) and real Postgres.

mod signin;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use mlops_agent_kit::a2a::{StreamResponse, TaskState, TaskStatus, TaskStatusUpdateEvent};
use reqwest::Method;
use serde_json::{Value, json};
use signin::{Browser, SignIn, param, with_param};

fn session_cookie(b: &Browser) -> Option<String> {
    b.cookies.get("mlops_session").cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_maps_roles_cycles_the_session_and_logout_ends_it() {
    let sys = SignIn::start(1, "").await;
    let plane = sys.plane().to_owned();

    for (user, role) in [
        ("alice", "ml-engineer"),
        ("bob", "approver"),
        ("carol", "oncall"),
        ("dave", "admin"),
        ("erin", "viewer"),
    ] {
        let mut b = Browser::default();
        let authorize = b.start_login(&plane).await;
        // PKCE (S256), state and nonce are all in the authorization request.
        assert_eq!(
            param(&authorize, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert!(param(&authorize, "state").is_some_and(|s| s.len() >= 16));
        assert!(param(&authorize, "nonce").is_some_and(|s| s.len() >= 16));
        let before = session_cookie(&b).expect("a pre-login session holds the PKCE verifier");
        let callback = b.through_idp(&authorize, user, &plane).await;
        let page = b.get(&callback).await;
        assert_eq!(page.status, 303, "{user}: {}", page.body);
        assert_eq!(
            page.location.as_deref(),
            Some(format!("{plane}/api/me").as_str())
        );
        let after = session_cookie(&b).unwrap();
        assert_ne!(before, after, "the session id changes at sign-in");
        let cookie = page
            .set_cookies
            .iter()
            .find(|c| c.starts_with("mlops_session="))
            .expect("the callback sets the session cookie");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert!(
            !cookie.contains("Secure"),
            "no Secure flag over plain http: {cookie}"
        );
        let (status, me) = b.me(&plane).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["subject"], user);
        assert_eq!(me["roles"], json!([role]), "{user}'s group maps to {role}");
        assert!(me["csrf_token"].as_str().is_some_and(|t| t.len() >= 32));
    }

    // Logout: RP-initiated at the IdP, and the session is gone.
    let mut b = Browser::default();
    b.login(&plane, "alice").await;
    let (_, me) = b.me(&plane).await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let old = b.cookies.clone();
    let page = b
        .post_form(&format!("{plane}/auth/logout"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let to = page.location.unwrap();
    assert!(to.starts_with(&format!("{}/session/end", sys.idp)), "{to}");
    assert!(param(&to, "id_token_hint").is_some());
    let (status, _) = b.me(&plane).await;
    assert_eq!(status, 401, "signed out");
    // Even the old cookie no longer works: the session was deleted.
    let mut replay = Browser::default();
    replay.cookies = old;
    assert_eq!(
        replay.me(&plane).await.0,
        401,
        "a copied cookie is dead after logout"
    );

    let audit = sys.audit().await;
    let sign_ins = audit
        .iter()
        .filter(|(_, action, outcome, _)| action == "sign-in" && outcome == "ok")
        .count();
    assert_eq!(sign_ins, 6);
    assert!(
        audit
            .iter()
            .any(|(actor, action, _, _)| actor == "alice" && action == "sign-out")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_callbacks_are_refused_and_audited() {
    let sys = SignIn::start(1, "").await;
    let plane = sys.plane().to_owned();

    // A wrong state.
    let mut b = Browser::default();
    let authorize = b.start_login(&plane).await;
    let callback = b.through_idp(&authorize, "alice", &plane).await;
    let page = b.get(&with_param(&callback, "state", "forged-state")).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("state does not match"), "{}", page.body);
    assert_eq!(b.me(&plane).await.0, 401);

    // A wrong nonce: the same request (state, PKCE) with another nonce, so
    // only the ID token's nonce can give it away.
    let mut b = Browser::default();
    let authorize = b.start_login(&plane).await;
    let tampered = with_param(&authorize, "nonce", "attacker-chosen-nonce-0123456789");
    let callback = b.through_idp(&tampered, "alice", &plane).await;
    let page = b.get(&callback).await;
    assert_eq!(page.status, 400);
    assert!(page.body.to_lowercase().contains("nonce"), "{}", page.body);
    assert_eq!(b.me(&plane).await.0, 401);

    // A replayed code: once in the same browser, once with a fresh state.
    let mut b = Browser::default();
    let authorize = b.start_login(&plane).await;
    let callback = b.through_idp(&authorize, "alice", &plane).await;
    assert_eq!(b.get(&callback).await.status, 303, "the first use signs in");
    let again = b.get(&callback).await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("replayed"), "{}", again.body);
    let mut thief = Browser::default();
    let fresh = thief.start_login(&plane).await;
    let stolen = with_param(&callback, "state", &param(&fresh, "state").unwrap());
    let page = thief.get(&stolen).await;
    assert_eq!(page.status, 400, "a used code is refused by the IdP");
    assert!(page.body.contains("refused the code"), "{}", page.body);
    assert_eq!(thief.me(&plane).await.0, 401);

    let refusals: Vec<String> = sys
        .audit()
        .await
        .into_iter()
        .filter(|(_, action, outcome, _)| action == "sign-in" && outcome == "refused")
        .map(|(_, _, _, detail)| detail["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(refusals.len(), 4, "{refusals:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixation_csrf_and_viewer_rules() {
    let sys = SignIn::start(1, "").await;
    let plane = sys.plane().to_owned();

    // Session fixation: an id planted before sign-in is worthless after.
    let mut attacker = Browser::default();
    attacker.start_login(&plane).await;
    let planted = session_cookie(&attacker).unwrap();
    let mut victim = Browser::default();
    victim
        .cookies
        .insert("mlops_session".into(), planted.clone());
    let authorize = victim
        .get(&format!("{plane}/auth/login"))
        .await
        .location
        .unwrap();
    let callback = victim.through_idp(&authorize, "alice", &plane).await;
    victim.get(&callback).await;
    assert_eq!(victim.me(&plane).await.0, 200);
    assert_ne!(session_cookie(&victim).unwrap(), planted);
    assert_eq!(
        attacker.me(&plane).await.0,
        401,
        "the planted id is not signed in"
    );

    // CSRF: a state-changing request with the session needs the token.
    let (_, me) = victim.me(&plane).await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let token_body = json!({"name": "ci", "scopes": ["read"]});
    let url = format!("{plane}/api/tokens");
    let (status, body) = victim
        .json(Method::POST, &url, None, Some(token_body.clone()))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("CSRF"), "{body}");
    let (status, _) = victim
        .json(
            Method::POST,
            &url,
            Some("wrong-token"),
            Some(token_body.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, created) = victim
        .json(Method::POST, &url, Some(&csrf), Some(token_body.clone()))
        .await;
    assert_eq!(status, 201, "{created}");
    let api_token = created["token"].as_str().unwrap().to_owned();
    assert!(api_token.starts_with("mlp_"));
    let stored: (i64,) = sqlx::query_as(
        "SELECT count(*) FROM control.api_tokens WHERE token_hash = sha256($1::bytea)",
    )
    .bind(api_token.as_bytes())
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(stored.0, 1, "only the hash is stored");
    // A cross-origin request is refused even with the token.
    let response = reqwest::Client::new()
        .post(&url)
        .header(
            "cookie",
            format!("mlops_session={}", session_cookie(&victim).unwrap()),
        )
        .header("x-csrf-token", &csrf)
        .header("origin", "http://evil.example")
        .json(&token_body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // The API token works without cookies or CSRF, within its scope.
    let http = reqwest::Client::new();
    let me = http
        .get(format!("{plane}/api/me"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let deploy = http
        .post(format!("{plane}/api/workflows"))
        .bearer_auth(&api_token)
        .json(&json!({"goal": "deploy", "model": "fraud-detector", "version": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(deploy.status(), 403, "a read-only token cannot deploy");

    // A viewer changes nothing, and each refusal is audited.
    let mut erin = Browser::default();
    erin.login(&plane, "erin").await;
    let (_, me) = erin.me(&plane).await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(me["may"], json!(["read", "manage-tokens"]));
    let attempts = [
        (
            format!("{plane}/api/workflows"),
            json!({"goal": "deploy", "model": "fraud-detector", "version": 2}),
        ),
        (
            format!("{plane}/api/workflows"),
            json!({"goal": "rollback", "model": "fraud-detector", "version": 2, "reason": "test"}),
        ),
        (
            format!("{plane}/api/approvals/wf-1/promotion"),
            json!({"decision": "approve"}),
        ),
        (format!("{plane}/api/workflows/wf-1/cancel"), json!({})),
    ];
    for (url, body) in &attempts {
        let (status, answer) = erin
            .json(Method::POST, url, Some(&csrf), Some(body.clone()))
            .await;
        assert_eq!(status, 403, "{url}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains("erin may not"),
            "{answer}"
        );
    }
    let (status, _) = erin
        .json(Method::GET, &format!("{plane}/api/audit"), None, None)
        .await;
    assert_eq!(status, 403, "only admins read the audit log");
    let refused = sys
        .audit()
        .await
        .into_iter()
        .filter(|(actor, _, outcome, _)| actor == "erin" && outcome == "refused")
        .count();
    assert_eq!(refused, attempts.len() + 1);
    let csrf_refusals = sys
        .audit()
        .await
        .into_iter()
        .filter(|(_, action, outcome, _)| action == "csrf-check" && outcome == "refused")
        .count();
    assert_eq!(csrf_refusals, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_a_row_changed_in_sql() {
    let sys = SignIn::start(1, "").await;
    let plane = sys.plane().to_owned();
    for user in ["alice", "bob", "dave"] {
        Browser::default().login(&plane, user).await;
    }
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mlops"))
            .args(["audit", "verify", "--database-url", &sys.db.url])
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact: 3 rows"));

    // The table refuses changes outright…
    let refused = sqlx::query("UPDATE control.audit SET outcome = 'ok' WHERE id = 2")
        .execute(&sys.db.pool)
        .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    // …so a tamperer with superuser rights turns the trigger off first.
    let mut conn = sys.db.pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("UPDATE control.audit SET actor = 'mallory' WHERE id = 2")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let broken = verify();
    assert!(!broken.status.success());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("broken at row 2"), "{stderr}");

    // The admin's API says the same.
    let mut dave = Browser::default();
    dave.login(&plane, "dave").await;
    let (status, report) = dave
        .json(
            Method::GET,
            &format!("{plane}/api/audit/verify"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(report["first_broken"]["id"], 2, "{report}");

    // The REST API describes itself.
    let doc: Value = reqwest::get(format!("{plane}/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/workflows",
        "/api/approvals/{workflow}/{gate}",
        "/api/events",
        "/api/tokens",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
}

/// A status update as the orchestrator pushes it, carrying one graph delta.
fn push_body(task: &str, seq: i64) -> Vec<u8> {
    let delta = json!({
        "type": "node-progress", "node": "validate", "seq": seq,
        "eventId": format!("{task}:{seq}"), "text": format!("step {seq}"), "progress": format!("step {seq}"),
    });
    let event = StreamResponse::StatusUpdate(TaskStatusUpdateEvent {
        task_id: task.to_owned(),
        context_id: "ctx".to_owned(),
        status: TaskStatus {
            state: TaskState::Working,
            message: None,
            timestamp: None,
        },
        metadata: Some(HashMap::from([("graphDelta".to_owned(), delta)])),
    });
    serde_json::to_vec(&event).unwrap()
}

/// Reads SSE frames until `want` events arrived; returns (id, body.seq).
async fn read_events(
    url: String,
    token: String,
    last_event_id: Option<i64>,
    want: usize,
) -> Vec<(i64, i64)> {
    let mut request = reqwest::Client::new().get(&url).bearer_auth(&token);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < want {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap_or_else(|_| panic!("only {got:?} of {want} events arrived"))
            .unwrap()
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) {
                let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
                    continue;
                };
                got.push((
                    event["id"].as_i64().unwrap(),
                    event["body"]["seq"].as_i64().unwrap(),
                ));
            }
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_replays_from_last_event_id_and_every_replica_delivers() {
    let sys = SignIn::start(2, "").await;
    let (a, b) = (sys.planes[0].clone(), sys.planes[1].clone());
    let mut alice = Browser::default();
    alice.login(&a, "alice").await;
    let (_, me) = alice.me(&a).await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let (_, created) = alice
        .json(
            Method::POST,
            &format!("{a}/api/tokens"),
            Some(&csrf),
            Some(json!({"name": "sse", "scopes": ["read"]})),
        )
        .await;
    let token = created["token"].as_str().unwrap().to_owned();

    // A workflow the control plane started (its request row and push token).
    let push_token = "push-token-for-test";
    sqlx::query(
        "INSERT INTO control.workflow_requests (id, push_token_hash, goal, requested_by)
         VALUES ($1, sha256($2::bytea), $3, 'alice')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(push_token.as_bytes())
    .bind(json!({"goal": "deploy", "model": "fraud-detector", "version": 2}))
    .execute(&sys.db.pool)
    .await
    .unwrap();

    let task = "wf-sse-1";
    let follow_a = tokio::spawn(read_events(
        format!("{a}/api/events"),
        token.clone(),
        None,
        10,
    ));
    let follow_b = tokio::spawn(read_events(
        format!("{b}/api/events"),
        token.clone(),
        None,
        10,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::new();
    let hook = format!("{a}/api/hooks/orchestrator");
    // A wrong token is refused.
    let refused = http
        .post(&hook)
        .header("A2A-Notification-Token", "nope")
        .body(push_body(task, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    for seq in 1..=10 {
        for _ in 0..2 {
            // Every delta twice: redelivery is stored once.
            let r = http
                .post(&hook)
                .header("A2A-Notification-Token", push_token)
                .header("content-type", "application/json")
                .body(push_body(task, seq))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
    }
    let seen_a = follow_a.await.unwrap();
    let seen_b = follow_b.await.unwrap();
    let seqs: Vec<i64> = (1..=10).collect();
    assert_eq!(
        seen_a.iter().map(|e| e.1).collect::<Vec<_>>(),
        seqs,
        "replica A"
    );
    assert_eq!(
        seen_b.iter().map(|e| e.1).collect::<Vec<_>>(),
        seqs,
        "replica B"
    );
    assert_eq!(seen_a, seen_b, "both deliver the same ids");

    // Reconnect to the other replica after the 4th event: exactly 5..=10.
    let fourth = seen_a[3].0;
    let replayed = read_events(
        format!("{b}/api/workflows/{task}/events"),
        token.clone(),
        Some(fourth),
        6,
    )
    .await;
    assert_eq!(replayed, seen_a[4..].to_vec());
    let stored: (i64,) = sqlx::query_as("SELECT count(*) FROM control.events WHERE workflow = $1")
        .bind(task)
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.0, 10, "each delta is stored once");
}
