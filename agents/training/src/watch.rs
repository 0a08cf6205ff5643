//! Following work at the trainer: poll it about once a second and stream
//! progress while it runs, never staying silent longer than the progress
//! interval, even when the trainer is slow to answer.
//!
//! Cancellation: the trainer MCP server has no tool to cancel a job or a
//! search, so canceling the task stops the polling here and leaves the
//! trainer's work to finish on its own (it is then simply never
//! registered).

use std::future::Future;
use std::time::Duration;

use mlops_agent_kit::{SkillContext, SkillError};
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::TrainingConfig;

/// What one look at the trainer says, and how to tell people.
pub trait Observation: Clone {
    /// Whether the work has ended (either way).
    fn finished(&self) -> bool;
    /// A progress line and its structured detail, `elapsed` into the run.
    fn report(&self, elapsed: Duration) -> (String, Value);
    /// What the work is called in messages, e.g. "training job 0193…".
    fn subject(&self) -> String;
}

async fn after<F: Future>(delay: Duration, work: F) -> F::Output {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    work.await
}

/// Polls with `poll` (given the previous observation) until the work ends,
/// streaming progress: after every poll, and on a timer in between so the
/// task never goes quiet for longer than the progress interval.
pub async fn follow<T, P, Fut>(
    ctx: &SkillContext,
    config: &TrainingConfig,
    initial: T,
    mut poll: P,
) -> Result<T, SkillError>
where
    T: Observation,
    P: FnMut(T) -> Fut,
    Fut: Future<Output = Result<T, SkillError>>,
{
    let started = Instant::now();
    let mut last = initial.clone();
    let mut pending = Box::pin(after(Duration::ZERO, poll(initial)));
    let mut ticker = tokio::time::interval_at(
        started + config.progress_interval(),
        config.progress_interval(),
    );
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = ctx.canceled() => {
                tracing::info!(
                    subject = %last.subject(),
                    "task canceled: stopped following it (the trainer has no cancel tool, so it runs on)"
                );
                return Err(SkillError::Canceled);
            }
            polled = &mut pending => {
                last = polled?;
                let (text, detail) = last.report(started.elapsed());
                ctx.progress_with(text, detail);
                ticker.reset();
                if last.finished() {
                    return Ok(last);
                }
                if started.elapsed() >= config.max_wait() {
                    return Err(SkillError::failed_with(
                        format!(
                            "gave up on {} after {} s (max_wait_seconds); the trainer has no cancel tool, so it may still finish",
                            last.subject(),
                            config.max_wait_seconds
                        ),
                        json!({
                            "reason": "timeout",
                            "waited_seconds": started.elapsed().as_secs_f64(),
                            "last": last.report(started.elapsed()).1,
                        }),
                    ));
                }
                pending = Box::pin(after(config.poll_interval(), poll(last.clone())));
            }
            _ = ticker.tick() => {
                let (text, detail) = last.report(started.elapsed());
                ctx.progress_with(text, detail);
            }
        }
    }
}
