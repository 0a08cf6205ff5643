//! The orchestrator's retraining intake as a real process.

mod system;

use std::time::Duration;

use mlops_agent_kit::a2a::TaskState;
use serde_json::json;
use system::{System, artifact_data, status_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retraining_requests_wait_at_a_gate_and_bad_ones_are_rejected() {
    let sys = System::builder().agents(&["orchestrator"]).start().await;

    let task = sys
        .run_skill(
            "orchestrator",
            "handle-retraining",
            json!({"model": "fraud-detector", "reason": "amount drifted", "requested_by": "monitoring"}),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        task.status.state,
        TaskState::InputRequired,
        "{}",
        status_text(&task)
    );
    assert!(status_text(&task).contains("approve-retraining-fraud-detector"));
    let request = artifact_data(&task, "retraining-request").unwrap();
    assert_eq!(request["model"], "fraud-detector");
    assert_eq!(request["drift_report_attached"], false);

    for (input, field) in [
        (json!({"reason": "x"}), "model"),
        (json!({"model": "Fraud Detector", "reason": "x"}), "model"),
        (json!({"model": "fraud-detector", "reason": ""}), "reason"),
        (
            json!({"model": "fraud-detector", "reason": "x", "colour": 1}),
            "colour",
        ),
    ] {
        let task = sys
            .run_skill(
                "orchestrator",
                "handle-retraining",
                input,
                Duration::from_secs(30),
            )
            .await;
        assert_eq!(task.status.state, TaskState::Rejected);
        assert!(status_text(&task).contains(field), "{}", status_text(&task));
    }

    // Through the official Python a2a-sdk client too.
    let result = sys
        .python_skill(
            "orchestrator",
            "handle-retraining",
            json!({"model": "fraud-detector", "reason": "merchant mix drifted"}),
        )
        .await;
    assert_eq!(result["state"], "TASK_STATE_INPUT_REQUIRED", "{result}");
    assert_eq!(
        result["artifacts"]["retraining-request"]["reason"],
        "merchant mix drifted"
    );
}
