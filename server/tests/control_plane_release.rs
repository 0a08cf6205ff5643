//! J2.5 and J6 against the whole system as `mlops up` starts it: people sign
//! in at the dev IdP, the CLI deploys with an API token and follows the
//! workflow to its gate, and every bypass of the approval rules is refused
//! and audited.

mod signin;
mod supervised;

use std::process::Command;
use std::time::{Duration, Instant};

use mlops_service_auth::{ApprovalDecision, ApprovalGrant};
use serde_json::{Value, json};
use signin::Browser;
use supervised::{MLOPS, agent_client, interrupt_and_wait, start_with, wait_for_demo_traffic};

fn browser() -> Browser {
    let mut b = Browser::default();
    b.password = "demo".into();
    b
}

fn cli(args: &[&str], url: &str, token: &str) -> (bool, String, String) {
    let out = Command::new(MLOPS)
        .args(args)
        .args(["--url", url, "--token", token])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn api(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn audit_rows(url: &str, admin: &str) -> Vec<Value> {
    let (status, rows) = api(
        reqwest::Method::GET,
        format!("{url}/api/audit?limit=1000"),
        admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{rows}");
    rows.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_deploys_to_the_gate_and_every_bypass_is_refused_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let up = start_with(&data_dir, true);
    let url = up.url.clone();
    let seeded: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("demo.json")).unwrap()).unwrap();
    let dataset = |v: &Value| {
        format!(
            "{}@{}",
            v["name"].as_str().unwrap(),
            v["version"].as_str().unwrap()
        )
    };

    let alice = browser()
        .api_token(&url, "alice", &["read", "workflows:write"])
        .await;
    let frank = browser()
        .api_token(
            &url,
            "frank",
            &["read", "workflows:write", "approvals:write"],
        )
        .await;
    let bob = browser()
        .api_token(&url, "bob", &["read", "approvals:write"])
        .await;
    let erin = browser()
        .api_token(&url, "erin", &["read", "approvals:write"])
        .await;
    let dave = browser().api_token(&url, "dave", &["read"]).await;

    // The drift check reads the live model's prediction log.
    wait_for_demo_traffic(&data_dir).await;

    // J6: the CLI starts the workflow, prints its URL, follows it to a gate.
    let version = seeded["candidate"].to_string();
    let started = Instant::now();
    let (ok, stdout, stderr) = cli(
        &[
            "deploy",
            "fraud-detector",
            "--version",
            &version,
            "--strategy",
            "canary",
            "--steps",
            "10,50,100",
            "--analysis-seconds",
            "20",
            "--holdout",
            &dataset(&seeded["holdout"]),
            "--training-data",
            &dataset(&seeded["train"]),
        ],
        &url,
        &alice,
    );
    assert!(ok, "deploy failed:\n{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("workflow "))
        .expect(&stdout);
    let id = line["workflow ".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    assert!(line.contains(&format!("{url}/workflows/{id}")), "{line}");
    assert!(stdout.contains("waiting at gate"), "{stdout}");
    eprintln!("deploy reached its gate in {:?}", started.elapsed());

    // The gate is in the inbox with its evidence.
    let (_, gates) = api(
        reqwest::Method::GET,
        format!("{url}/api/approvals"),
        &bob,
        None,
    )
    .await;
    let gate = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["workflow"] == id.as_str())
        .unwrap_or_else(|| panic!("the gate is open: {gates}"))
        .clone();
    assert_eq!(gate["requested_by"], "alice");
    let gate_id = gate["gate"].as_str().unwrap().to_owned();
    let (ok, listed, _) = cli(&["approvals"], &url, &bob);
    assert!(ok && listed.contains(&gate_id), "{listed}");
    let decide = format!("{url}/api/approvals/{id}/{gate_id}");

    // alice approving her own request: she is no approver.
    let (ok, _, stderr) = cli(&["approve", &id, "--comment", "mine"], &url, &alice);
    assert!(!ok && stderr.contains("alice may not decide"), "{stderr}");
    // erin approving at all.
    let (status, body) = api(
        reqwest::Method::POST,
        decide.clone(),
        &erin,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("erin may not decide")
    );

    // Four-eyes: frank holds both roles and may not approve his own release.
    let (status, franks) = api(
        reqwest::Method::POST,
        format!("{url}/api/workflows"),
        &frank,
        Some(
            json!({"goal": "deploy", "model": "fraud-detector", "version": seeded["candidate"],
                    "steps": [10, 100], "analysis_seconds": 20}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{franks}");
    let franks_id = franks["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    let franks_gate = loop {
        let (_, detail) = api(
            reqwest::Method::GET,
            format!("{url}/api/workflows/{franks_id}"),
            &frank,
            None,
        )
        .await;
        if let Some(g) = detail["gates"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["state"] == "open"))
        {
            break g["gate"].as_str().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "frank's workflow reaches a gate: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (status, body) = api(
        reqwest::Method::POST,
        format!("{url}/api/approvals/{franks_id}/{franks_gate}"),
        &frank,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("four-eyes"),
        "{body}"
    );

    // A forged approval sent straight to the orchestrator over A2A: signed
    // with a key that is not the control plane's.
    let forger = mlops_service_auth::SigningKey::generate().unwrap();
    let (forged, _) = forger
        .sign_approval(
            &url,
            &ApprovalGrant {
                approver: "bob".into(),
                roles: vec!["approver".into()],
                workflow: id.clone(),
                gate: gate_id.clone(),
                decision: ApprovalDecision::Approve,
                comment: None,
                ttl: Duration::from_secs(60),
            },
        )
        .unwrap();
    let orchestrator =
        agent_client(&data_dir, &url, "orchestrator", "ci", Default::default()).await;
    let mut message = mlops_agent_kit::a2a::Message::new(
        mlops_agent_kit::a2a::Role::User,
        vec![mlops_agent_kit::a2a::Part::data(
            json!({"approval_token": forged}),
        )],
    );
    message.task_id = Some(id.clone());
    let sent = orchestrator
        .stream(&mlops_agent_kit::a2a::SendMessageRequest {
            message,
            configuration: None,
            metadata: None,
            tenant: None,
        })
        .await;
    let refused = match sent {
        Err(e) => e.to_string(),
        Ok(mut stream) => {
            use futures::StreamExt;
            match stream.next().await {
                Some(Err(e)) => e.to_string(),
                other => panic!("a forged approval is refused, got {other:?}"),
            }
        }
    };
    assert!(
        refused.to_lowercase().contains("signature") || refused.contains("refused"),
        "{refused}"
    );

    // An approval after expiry: the control plane checks the gate's
    // deadline before it signs anything.
    let db_url = supervised::database_url(&data_dir);
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let (was,): (Option<chrono::DateTime<chrono::Utc>>,) = sqlx::query_as(
        "UPDATE control.gates g SET expires_at = now() - interval '1 second'
         FROM control.gates old WHERE g.workflow = old.workflow AND g.gate = old.gate
           AND g.workflow = $1 AND g.gate = $2 RETURNING old.expires_at",
    )
    .bind(&id)
    .bind(&gate_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let (status, body) = api(
        reqwest::Method::POST,
        decide.clone(),
        &bob,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    sqlx::query("UPDATE control.gates SET expires_at = $3 WHERE workflow = $1 AND gate = $2")
        .bind(&id)
        .bind(&gate_id)
        .bind(was)
        .execute(&pool)
        .await
        .unwrap();

    // bob approves through the CLI: the signed token reaches the
    // orchestrator and the workflow moves on.
    let (ok, stdout, stderr) = cli(
        &["approve", &id, "--comment", "evidence is fine"],
        &url,
        &bob,
    );
    assert!(ok, "{stdout}\n{stderr}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, detail) = api(
            reqwest::Method::GET,
            format!("{url}/api/workflows/{id}"),
            &bob,
            None,
        )
        .await;
        let decided = detail["gates"].as_array().unwrap().iter().any(|g| {
            g["gate"] == gate_id.as_str() && g["state"] == "approved" && g["decided_by"] == "bob"
        });
        if decided {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gate shows bob's approval: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Every refusal is in the audit log.
    let rows = audit_rows(&url, &dave).await;
    let refused = |actor: &str, action: &str| {
        rows.iter()
            .any(|r| r["actor"] == actor && r["action"] == action && r["outcome"] == "refused")
    };
    assert!(refused("alice", "decide"), "alice's attempt");
    assert!(refused("erin", "decide"), "erin's attempt");
    assert!(refused("frank", "decide-gate"), "frank's self-approval");
    assert!(refused("bob", "decide-gate"), "the approval after expiry");
    assert!(
        refused("orchestrator", "approval-refused"),
        "the forged token"
    );
    assert!(
        rows.iter()
            .any(|r| r["actor"] == "bob" && r["action"] == "decide-gate" && r["outcome"] == "ok")
    );
    assert!(
        rows.iter().any(|r| r["actor"] == "alice"
            && r["action"] == "start-workflow"
            && r["outcome"] == "ok")
    );

    // J6's last line: a CI job sends a goal straight to the orchestrator
    // over A2A with a service token. The workflow shows in the console like
    // any other, from its first event, with the service as its requester.
    let mut goal = mlops_agent_kit::a2a::Message::new(
        mlops_agent_kit::a2a::Role::User,
        vec![mlops_agent_kit::a2a::Part::data(json!({
            "goal": "deploy", "model": "fraud-detector", "version": seeded["candidate"],
            "steps": [10, 100], "analysis_seconds": 10,
        }))],
    );
    goal.metadata = Some(std::collections::HashMap::from([(
        "skill".to_owned(),
        json!("orchestrate-ml-pipeline"),
    )]));
    let mut stream = orchestrator
        .stream(&mlops_agent_kit::a2a::SendMessageRequest {
            message: goal,
            configuration: None,
            metadata: None,
            tenant: None,
        })
        .await
        .unwrap();
    let ci_task = {
        use futures::StreamExt;
        match stream.next().await {
            Some(Ok(mlops_agent_kit::a2a::StreamResponse::Task(t))) => t.id,
            Some(Ok(mlops_agent_kit::a2a::StreamResponse::StatusUpdate(u))) => u.task_id,
            other => panic!("the orchestrator took the CI goal: {other:?}"),
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let shown = loop {
        let (status, detail) = api(
            reqwest::Method::GET,
            format!("{url}/api/workflows/{ci_task}"),
            &dave,
            None,
        )
        .await;
        if status == 200 && detail["nodes"].as_array().is_some_and(|n| n.len() >= 3) {
            break detail;
        }
        assert!(
            Instant::now() < deadline,
            "the CI workflow shows in the console with its graph: {status} {detail}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(shown["requested_by"], "service:ci", "{shown}");
    assert_eq!(shown["kind"], "deploy", "{shown}");
    let (_, listed) = api(
        reqwest::Method::GET,
        format!("{url}/api/workflows"),
        &dave,
        None,
    )
    .await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == ci_task.as_str()),
        "{listed}"
    );
    drop(stream);
    // Canceled at the orchestrator, and the console hears of it by push.
    orchestrator
        .cancel(&mlops_agent_kit::a2a::CancelTaskRequest {
            id: ci_task.clone(),
            metadata: None,
            tenant: None,
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, detail) = api(
            reqwest::Method::GET,
            format!("{url}/api/workflows/{ci_task}"),
            &dave,
            None,
        )
        .await;
        if detail["state"] == "canceled" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the console shows the CI workflow canceled: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // alice cancels her workflow; frank's is canceled by its owner too.
    let (ok, _, stderr) = cli(&["cancel", &id], &url, &alice);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = cli(&["cancel", &franks_id], &url, &frank);
    assert!(ok, "{stderr}");
    let (ok, out, _) = cli(&["status"], &url, &alice);
    assert!(ok && out.contains(&id), "{out}");

    let (ok, out, err) = {
        let o = Command::new(MLOPS)
            .args(["audit", "verify", "--database-url", &db_url])
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert!(ok, "{out}{err}");
    interrupt_and_wait(up);
}
