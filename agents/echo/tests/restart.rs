//! Tasks outlive the agent process that ran them.

mod common;

use common::{AgentProcess, TestIssuer, jsonrpc_raw, send_message_body};
use mlops_postgres::test_support::fresh_database;

#[tokio::test]
async fn a_restarted_agent_still_answers_get_task_with_history_and_artifacts() {
    let db = fresh_database().await;
    let issuer = TestIssuer::new();
    let token = issuer.token("echo");

    let first = AgentProcess::spawn(&issuer, Some(&db.url));
    let (status, reply) = jsonrpc_raw(
        &first.url,
        Some(&token),
        send_message_body("persist me", "msg-restart-1"),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let task = &reply["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED", "{reply}");
    let task_id = task["id"].as_str().unwrap().to_owned();
    first.kill();

    let second = AgentProcess::spawn(&issuer, Some(&db.url));
    let get = serde_json::json!({
        "jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": task_id}
    });
    let (status, reply) = jsonrpc_raw(&second.url, Some(&token), get.to_string()).await;
    assert_eq!(status, 200);
    let task = &reply["result"];
    assert_eq!(task["id"], task_id.as_str(), "{reply}");
    assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(task["history"][0]["messageId"], "msg-restart-1", "{reply}");
    assert_eq!(
        task["artifacts"][0]["parts"][0]["data"]["echo"], "persist me",
        "{reply}"
    );

    // The restarted agent still knows the message id: a retry is refused.
    let (_, reply) = jsonrpc_raw(
        &second.url,
        Some(&token),
        send_message_body("persist me", "msg-restart-1"),
    )
    .await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("msg-restart-1"),
        "{reply}"
    );
}
