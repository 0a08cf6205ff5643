//! The drift scheduler: every `interval_seconds` it checks each live model's
//! recent traffic for drift against its stable deployment's training data,
//! and asks for retraining (drift report attached) when a model drifts.
//! The retraining ledger keeps it to one open request per model, however
//! many rounds see the drift.
//!
//! Until its first report exists it retries every few seconds instead of
//! waiting a whole interval: right after a start the live model may have
//! no traffic logged yet, and a dashboard should not sit empty for two
//! intervals because the first round came too early.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::Monitor;
use crate::deployments;
use crate::drift::{self, DriftRequest, DriftStatus};
use crate::model::ModelName;
use crate::retraining::RetrainingAsk;

/// How soon a round is retried while no report has been stored yet.
const WARM_UP_RETRY: Duration = Duration::from_secs(10);

/// What one round did, for its log line.
#[derive(Debug, Default)]
struct RoundReport {
    models: usize,
    checked: usize,
    /// Checks that stored a drift report (a window with traffic).
    reported: usize,
    drifted: Vec<String>,
    requests_sent: usize,
    requests_open: usize,
    skipped: Vec<String>,
    errors: Vec<String>,
}

/// Starts the loop on the current tokio runtime; it runs until the
/// returned handle is aborted or the process ends.
pub fn spawn(monitor: Arc<Monitor>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(monitor.config.interval_seconds);
        let warming_up = every.min(WARM_UP_RETRY);
        let mut reported_once = false;
        tracing::info!(
            interval_seconds = every.as_secs(),
            "drift scheduler started"
        );
        let mut round: u64 = 0;
        loop {
            // Sleeping after each round (not a fixed tick) means a slow
            // round delays the next rather than bunching rounds up.
            tokio::time::sleep(if reported_once { every } else { warming_up }).await;
            round += 1;
            let started = Instant::now();
            let report = run_round(&monitor).await;
            reported_once |= report.reported > 0;
            tracing::info!(
                round,
                models = report.models,
                checked = report.checked,
                reported = report.reported,
                drifted = ?report.drifted,
                requests_sent = report.requests_sent,
                requests_open = report.requests_open,
                skipped = ?report.skipped,
                errors = ?report.errors,
                ms = started.elapsed().as_millis() as u64,
                "drift scheduler round"
            );
        }
    })
}

async fn run_round(monitor: &Monitor) -> RoundReport {
    let tools = monitor.env.mcp.as_ref();
    let mut report = RoundReport::default();
    let models = match deployments::all(tools).await {
        Ok(models) => models,
        Err(error) => {
            report.errors.push(format!("listing deployments: {error}"));
            return report;
        }
    };
    report.models = models.len();
    for deployment in models {
        let name = deployment.model.clone();
        let Some(stable) = deployment.stable(None) else {
            report.skipped.push(format!("{name}: no live version"));
            continue;
        };
        if stable.reference.is_none() {
            report.skipped.push(format!(
                "{name}: v{} was deployed without its training dataset",
                stable.version
            ));
            continue;
        }
        let model = match ModelName::parse("model", &name) {
            Ok(model) => model,
            Err(error) => {
                report.errors.push(format!("{name}: {error}"));
                continue;
            }
        };
        let request = DriftRequest {
            model: model.clone(),
            window_minutes: monitor.config.drift_window_minutes,
            reference: None,
            drift_share: monitor.config.drift_share,
        };
        let checked = match drift::check(tools, &request, monitor.config.min_drift_rows).await {
            Ok(checked) => checked,
            Err(error) => {
                report.errors.push(format!("{name}: drift check: {error}"));
                continue;
            }
        };
        report.checked += 1;
        if checked.output.report_id.is_some() {
            report.reported += 1;
        }
        tracing::info!(model = %name, status = ?checked.output.status, report = ?checked.output.report_id, "{}", drift::summary(&checked.output));
        if checked.output.status != DriftStatus::Drifted {
            continue;
        }
        report.drifted.push(name.clone());
        let ask = RetrainingAsk {
            model,
            reason: format!(
                "drift on live traffic: {} of {} features drifted over the last {} min ({}) against {}@{}",
                checked.output.drifted_features.len(),
                checked.output.features.len(),
                checked.output.window.minutes,
                checked.output.drifted_features.join(", "),
                checked.output.reference.dataset,
                checked.output.reference.version,
            ),
            drift_report_id: checked.output.report_id.clone(),
            drift_report: checked.report,
            evidence: None,
            requested_by: "scheduler".to_owned(),
        };
        match monitor.retrainer.request(ask).await {
            // The retrainer logs the request it sends.
            Ok(request) if request.sent => report.requests_sent += 1,
            Ok(request) => {
                report.requests_open += 1;
                tracing::info!(model = %name, request = %request.request_id, state = %request.state, "retraining request already open");
            }
            Err(error) => report
                .errors
                .push(format!("{name}: retraining request: {error}")),
        }
    }
    report
}
