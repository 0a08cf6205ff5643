//! An echo agent built only from the kit: the test subject for the kit's
//! protocol, storage and auth behaviour, and the benchmark's workload.
//!
//! Skill `echo` takes `{"text": …}`. Special texts exercise the task
//! lifecycle: `ask` pauses in input-required and finishes with the answer,
//! `wait` works until canceled, `fail` fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::stream::BoxStream;
use mlops_agent_kit::a2a::{A2AError, StreamResponse, TaskState};
use mlops_agent_kit::a2a_server::{AgentExecutor, ExecutorContext};
use mlops_agent_kit::{AgentDefinition, Phase, SkillContract, SkillInput, TaskEvents};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Input of the `echo` skill.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoInput {
    /// The text to echo back (1–10 000 characters).
    pub text: String,
}

/// Output of the `echo` skill.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EchoOutput {
    pub echo: String,
}

pub fn definition() -> AgentDefinition {
    AgentDefinition {
        name: "echo".into(),
        description: "Echoes its input; used to test and benchmark the agent kit.".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        skills: vec![
            SkillContract::new::<EchoInput, EchoOutput>(
                "echo",
                "Echo",
                "Returns the text it was given as an artifact.",
                Phase::Observe,
            )
            .with_tags(&["test"])
            .with_examples(&["hello", "ask", "wait"]),
        ],
    }
}

/// The echo agent's executor.
#[derive(Clone, Default)]
pub struct EchoExecutor {
    definition: Arc<AgentDefinitionHolder>,
    cancels: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

struct AgentDefinitionHolder(AgentDefinition);

impl Default for AgentDefinitionHolder {
    fn default() -> Self {
        AgentDefinitionHolder(definition())
    }
}

impl EchoExecutor {
    fn cancel_signal(&self, task_id: &str) -> Arc<Notify> {
        self.cancels
            .lock()
            .expect("cancel map lock is never poisoned")
            .entry(task_id.to_owned())
            .or_default()
            .clone()
    }

    fn forget(cancels: &Mutex<HashMap<String, Arc<Notify>>>, task_id: &str) {
        if let Ok(mut map) = cancels.lock() {
            map.remove(task_id);
        }
    }
}

impl AgentExecutor for EchoExecutor {
    fn execute(
        &self,
        ctx: ExecutorContext,
    ) -> BoxStream<'static, Result<StreamResponse, A2AError>> {
        let events = TaskEvents::new(ctx.task_id.clone(), ctx.context_id.clone());
        let resuming = ctx
            .stored_task
            .as_ref()
            .is_some_and(|t| t.status.state == TaskState::InputRequired);
        let mut out: Vec<StreamResponse> = Vec::with_capacity(4);
        if !resuming {
            out.push(events.submitted(ctx.stored_task.as_ref(), ctx.message.as_ref()));
        }
        let Some(message) = ctx.message.as_ref() else {
            out.push(events.rejected("no message to echo"));
            return futures::stream::iter(out.into_iter().map(Ok)).boxed();
        };
        let input = match SkillInput::<EchoInput>::parse(&self.definition.0, message) {
            Ok(parsed) => parsed.input,
            Err(reason) => {
                out.push(events.rejected(&reason));
                return futures::stream::iter(out.into_iter().map(Ok)).boxed();
            }
        };
        if input.text.is_empty() || input.text.chars().count() > 10_000 {
            out.push(events.rejected("text must be 1 to 10000 characters"));
            return futures::stream::iter(out.into_iter().map(Ok)).boxed();
        }

        if resuming {
            let question = ctx
                .stored_task
                .as_ref()
                .and_then(|t| t.status.message.as_ref())
                .and_then(|m| m.text())
                .unwrap_or_default()
                .to_owned();
            out.push(events.working("got the answer"));
            let echo = format!("{question} -> {}", input.text);
            out.push(events.artifact("echo", serde_json::json!({ "echo": echo }), &echo));
            out.push(events.completed("done"));
            return futures::stream::iter(out.into_iter().map(Ok)).boxed();
        }

        match input.text.as_str() {
            "ask" => {
                out.push(events.working("need more input"));
                out.push(events.input_required("What should I add?"));
                futures::stream::iter(out.into_iter().map(Ok)).boxed()
            }
            "fail" => {
                out.push(events.working("trying"));
                out.push(events.failed("asked to fail"));
                futures::stream::iter(out.into_iter().map(Ok)).boxed()
            }
            "wait" => {
                out.push(events.working("waiting until canceled"));
                let signal = self.cancel_signal(&ctx.task_id);
                let cancels = self.cancels.clone();
                let task_id = ctx.task_id.clone();
                let head = futures::stream::iter(out.into_iter().map(Ok));
                // Ends once cancel() fires; the handler has already recorded
                // the canceled state, so nothing more is emitted.
                let tail = futures::stream::once(async move {
                    signal.notified().await;
                    EchoExecutor::forget(&cancels, &task_id);
                })
                .filter_map(|_| async { None });
                head.chain(tail).boxed()
            }
            text => {
                out.push(events.working("echoing"));
                out.push(events.artifact(
                    "echo",
                    serde_json::json!({ "echo": text }),
                    &format!("echo: {text}"),
                ));
                out.push(events.completed("done"));
                futures::stream::iter(out.into_iter().map(Ok)).boxed()
            }
        }
    }

    fn cancel(&self, ctx: ExecutorContext) -> BoxStream<'static, Result<StreamResponse, A2AError>> {
        self.cancel_signal(&ctx.task_id).notify_one();
        let events = TaskEvents::new(ctx.task_id, ctx.context_id);
        futures::stream::iter([Ok(events.canceled("canceled on request"))]).boxed()
    }
}
