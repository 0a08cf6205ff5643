use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use a2a::{A2AError, StreamResponse, TaskState};
use a2a_server::{AgentExecutor, ExecutorContext};
use futures::Stream;
use futures::stream::BoxStream;
use mlops_metrics::Registry;

use crate::AgentDefinition;
use crate::task_store::state_name;

/// Task counters for `/metrics`: transitions by skill and state, and the
/// time from start to a terminal (or input-required) state, by skill.
#[derive(Clone, Default)]
pub struct TaskMetrics {
    registry: Registry,
}

impl TaskMetrics {
    pub fn new(agent: &str) -> Self {
        TaskMetrics {
            registry: Registry::with_constant_labels(&[("agent", agent)]),
        }
    }

    fn record_state(&self, skill: &str, state: &TaskState) {
        self.registry.count(
            "a2a_task_transitions_total",
            "Task state transitions by skill and state.",
            &[("skill", skill), ("state", &state_name(state))],
            1,
        );
    }

    fn record_duration(&self, skill: &str, seconds: f64) {
        self.registry.observe(
            "a2a_task_duration_seconds",
            "Time from start to a terminal or input-required state.",
            &[("skill", skill)],
            seconds,
        );
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.registry.render()
    }
}

/// Wraps an agent's executor with a tracing span and metrics per task.
pub(crate) struct ObservedExecutor<E> {
    pub inner: E,
    pub definition: Arc<AgentDefinition>,
    pub metrics: TaskMetrics,
}

impl<E: AgentExecutor> ObservedExecutor<E> {
    fn skill_of(&self, ctx: &ExecutorContext) -> String {
        let named = ctx
            .message
            .as_ref()
            .and_then(|m| m.metadata.as_ref())
            .and_then(|m| m.get("skill"))
            .and_then(|v| v.as_str())
            .and_then(|s| self.definition.skill(s))
            .map(|s| s.id.clone());
        match (named, self.definition.skills.as_slice()) {
            (Some(id), _) => id,
            (None, [only]) => only.id.clone(),
            _ => "unknown".to_owned(),
        }
    }

    /// The task's span and skill, taken before the context moves into the
    /// agent's executor (so the hot path clones nothing but ids).
    fn task_span(&self, ctx: &ExecutorContext, operation: &'static str) -> (tracing::Span, String) {
        let skill = self.skill_of(ctx);
        let span = tracing::info_span!(
            "a2a.task",
            agent = %self.definition.name,
            task_id = %ctx.task_id,
            context_id = %ctx.context_id,
            skill = %skill,
            operation,
        );
        (span, skill)
    }

    fn observed(
        &self,
        span: tracing::Span,
        skill: String,
        stream: BoxStream<'static, Result<StreamResponse, A2AError>>,
    ) -> BoxStream<'static, Result<StreamResponse, A2AError>> {
        Box::pin(ObservedStream {
            inner: stream,
            span,
            skill,
            metrics: self.metrics.clone(),
            started: Instant::now(),
        })
    }
}

impl<E: AgentExecutor> AgentExecutor for ObservedExecutor<E> {
    fn execute(
        &self,
        ctx: ExecutorContext,
    ) -> BoxStream<'static, Result<StreamResponse, A2AError>> {
        let (span, skill) = self.task_span(&ctx, "execute");
        let stream = span.in_scope(|| self.inner.execute(ctx));
        self.observed(span, skill, stream)
    }

    fn cancel(&self, ctx: ExecutorContext) -> BoxStream<'static, Result<StreamResponse, A2AError>> {
        let (span, skill) = self.task_span(&ctx, "cancel");
        let stream = span.in_scope(|| self.inner.cancel(ctx));
        self.observed(span, skill, stream)
    }
}

struct ObservedStream {
    inner: BoxStream<'static, Result<StreamResponse, A2AError>>,
    span: tracing::Span,
    skill: String,
    metrics: TaskMetrics,
    started: Instant,
}

impl Stream for ObservedStream {
    type Item = Result<StreamResponse, A2AError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let polled = this.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(event))) = &polled {
            let state = match event {
                StreamResponse::Task(t) => Some(&t.status.state),
                StreamResponse::StatusUpdate(u) => Some(&u.status.state),
                _ => None,
            };
            if let Some(state) = state {
                this.metrics.record_state(&this.skill, state);
                tracing::debug!(state = %state_name(state), "task state");
                if state.is_terminal() || *state == TaskState::InputRequired {
                    this.metrics
                        .record_duration(&this.skill, this.started.elapsed().as_secs_f64());
                }
            }
        }
        if let Poll::Ready(Some(Err(error))) = &polled {
            tracing::warn!(code = error.code, message = %error.message, "executor error");
        }
        polled
    }
}
