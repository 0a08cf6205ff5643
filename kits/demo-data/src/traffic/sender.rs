//! The sending loop: one request per tick of the current rate, a bounded
//! number in flight so a slow router cannot pile up requests, and a short
//! exponential back-off while the router fails.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Shared;

/// How long one prediction request may take.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Requests in flight at once; at the top rate and a 60 ms router this
/// still keeps pace.
const MAX_IN_FLIGHT: usize = 32;
/// The first pause after a failure, doubled per consecutive failure.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Longest a failure message kept in the state may be.
const MAX_ERROR_CHARS: usize = 300;

/// The pause after `failures` consecutive failures (at least one).
fn pause_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_START
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX)
}

/// The back-off the request tasks set and the loop obeys.
#[derive(Default)]
struct Backoff {
    consecutive_failures: u32,
    last_failure_at: Option<Instant>,
    paused_until: Option<Instant>,
}

impl Backoff {
    /// A request sent at `sent_at` failed at `now`. Only a request sent
    /// after the last known failure lengthens the pause: the requests that
    /// were already in flight when the router went away fail together, and
    /// that is one failure, not many.
    fn failed(&mut self, sent_at: Instant, now: Instant) {
        if self.last_failure_at.is_some_and(|last| sent_at < last) {
            return;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_failure_at = Some(now);
        self.paused_until = Some(now + pause_after(self.consecutive_failures));
    }

    /// Resets the back-off; true if this ends a run of failures.
    fn succeeded(&mut self) -> bool {
        let recovered = self.consecutive_failures > 0;
        *self = Backoff::default();
        recovered
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    http: reqwest::Client,
    mut stop: watch::Receiver<bool>,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let backoff = Arc::new(std::sync::Mutex::new(Backoff::default()));
    let mut requests = JoinSet::new();
    let mut cursor = 0usize;
    let mut last_tick = Instant::now();
    loop {
        // Wait for the next tick of the *current* rate; a rate change wakes
        // the wait and recomputes it.
        loop {
            let period = Duration::from_secs_f64(1.0 / shared.rate());
            let due = last_tick + period;
            if Instant::now() >= due {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = shared.controls_changed.notified() => {}
                _ = stop.changed() => return,
            }
        }
        let now = Instant::now();
        let period = Duration::from_secs_f64(1.0 / shared.rate());
        // Keep a steady rate, but after a stall (back-off, a full pipe)
        // start afresh instead of bursting to catch up.
        last_tick = if now.duration_since(last_tick) > period + Duration::from_secs(1) {
            now
        } else {
            last_tick + period
        };

        let paused_until = backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .paused_until;
        if let Some(until) = paused_until
            && until > now
        {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = stop.changed() => return,
            }
        }
        let permit = tokio::select! {
            permit = in_flight.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; stop rather than spin.
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        while requests.try_join_next().is_some() {}

        let body = next_body(&shared, &mut cursor);
        shared.sent.fetch_add(1, Ordering::Relaxed);
        shared
            .instances_sent
            .fetch_add(shared.batch as u64, Ordering::Relaxed);
        let request = http
            .post(&shared.predict_url)
            .header("content-type", "application/json")
            .body(body);
        let shared = shared.clone();
        let backoff = backoff.clone();
        let sent_at = Instant::now();
        requests.spawn(async move {
            let outcome = send(request).await;
            drop(permit);
            record(&shared, &backoff, sent_at, outcome);
        });
    }
}

/// The next `batch` holdout instances, clean or drifted as the switch says
/// now, as a KServe v1 request body.
fn next_body(shared: &Shared, cursor: &mut usize) -> Vec<u8> {
    let rows = if shared.drift.load(Ordering::Relaxed) {
        &shared.holdout.drifted
    } else {
        &shared.holdout.clean
    };
    let instances: Vec<&Value> = (0..shared.batch)
        .map(|i| &rows[(*cursor + i) % rows.len()])
        .collect();
    *cursor = (*cursor + shared.batch) % rows.len();
    serde_json::to_vec(&serde_json::json!({ "instances": instances }))
        .expect("JSON values always serialise")
}

async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        // Read the body so the connection goes back to the pool.
        let _ = response.bytes().await;
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!("status {status}: {}", body.trim()))
}

fn record(
    shared: &Shared,
    backoff: &std::sync::Mutex<Backoff>,
    sent_at: Instant,
    outcome: Result<(), String>,
) {
    let mut backoff = backoff.lock().unwrap_or_else(|p| p.into_inner());
    match outcome {
        Ok(()) => {
            shared.ok.fetch_add(1, Ordering::Relaxed);
            super::controls::count_request(shared, "ok");
            if backoff.succeeded() {
                tracing::info!(url = %shared.predict_url, "router answers again");
            }
        }
        Err(error) => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            super::controls::count_request(shared, "error");
            // Log the first failure of a run; the rest only count.
            if backoff.consecutive_failures == 0 {
                tracing::warn!(url = %shared.predict_url, %error, "prediction request failed; backing off");
            } else {
                tracing::debug!(url = %shared.predict_url, %error, "prediction request failed");
            }
            backoff.failed(sent_at, Instant::now());
            let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
            *shared.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_ceiling_and_resets_on_success() {
        assert_eq!(pause_after(1), BACKOFF_START);
        assert_eq!(pause_after(2), 2 * BACKOFF_START);
        assert_eq!(pause_after(3), 4 * BACKOFF_START);
        assert_eq!(pause_after(40), BACKOFF_MAX);
        assert_eq!(pause_after(u32::MAX), BACKOFF_MAX);

        let start = Instant::now();
        let (first, second) = (start + BACKOFF_MAX, start + 2 * BACKOFF_MAX);
        let mut backoff = Backoff::default();
        backoff.failed(start, first);
        assert_eq!(backoff.paused_until, Some(first + BACKOFF_START));
        // Sent before the first failure was known: the same outage.
        backoff.failed(start, second);
        assert_eq!(backoff.paused_until, Some(first + BACKOFF_START));
        // Sent after it: the router is still down, wait longer.
        backoff.failed(first, second);
        assert_eq!(backoff.consecutive_failures, 2);
        assert_eq!(backoff.paused_until, Some(second + 2 * BACKOFF_START));
        assert!(backoff.succeeded());
        assert!(backoff.paused_until.is_none());
        assert!(!backoff.succeeded());
    }
}
