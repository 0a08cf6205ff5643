use a2a::{
    Artifact, Message, Part, Role, StreamResponse, Task, TaskArtifactUpdateEvent, TaskState,
    TaskStatus, TaskStatusUpdateEvent,
};
use serde_json::Value;

/// Builds the events an executor streams for one task, so skills speak in
/// "working", "artifact", "completed" rather than protocol structs.
#[derive(Debug, Clone)]
pub struct TaskEvents {
    pub task_id: String,
    pub context_id: String,
}

impl TaskEvents {
    pub fn new(task_id: impl Into<String>, context_id: impl Into<String>) -> Self {
        TaskEvents {
            task_id: task_id.into(),
            context_id: context_id.into(),
        }
    }

    /// The task as first announced, in `TASK_STATE_SUBMITTED`.
    ///
    /// A task event replaces the stored task whole, so it must carry the
    /// history: the stored snapshot when the handler passed one, else the
    /// message that created the task.
    pub fn submitted(&self, stored: Option<&Task>, message: Option<&Message>) -> StreamResponse {
        let mut task = stored.cloned().unwrap_or_else(|| Task {
            id: self.task_id.clone(),
            context_id: self.context_id.clone(),
            status: TaskStatus {
                state: TaskState::Submitted,
                message: None,
                timestamp: None,
            },
            artifacts: None,
            history: message.map(|m| vec![m.clone()]),
            metadata: None,
        });
        task.status = status(TaskState::Submitted, None);
        StreamResponse::Task(task)
    }

    /// A progress line while the skill works.
    pub fn working(&self, progress: &str) -> StreamResponse {
        self.status(TaskState::Working, Some(progress))
    }

    /// A progress line with structured metadata on the status update.
    pub fn working_with(
        &self,
        progress: &str,
        metadata: std::collections::HashMap<String, Value>,
    ) -> StreamResponse {
        let mut event = self.status(TaskState::Working, Some(progress));
        if let StreamResponse::StatusUpdate(update) = &mut event {
            update.metadata = Some(metadata);
        }
        event
    }

    /// Pauses the task until the client answers `question` on the same task.
    pub fn input_required(&self, question: &str) -> StreamResponse {
        self.status(TaskState::InputRequired, Some(question))
    }

    pub fn completed(&self, summary: &str) -> StreamResponse {
        self.status(TaskState::Completed, Some(summary))
    }

    /// The work was attempted and failed; `reason` says why.
    pub fn failed(&self, reason: &str) -> StreamResponse {
        self.status(TaskState::Failed, Some(reason))
    }

    /// The input was refused before any work; `reason` says what was wrong.
    pub fn rejected(&self, reason: &str) -> StreamResponse {
        self.status(TaskState::Rejected, Some(reason))
    }

    pub fn canceled(&self, reason: &str) -> StreamResponse {
        self.status(TaskState::Canceled, Some(reason))
    }

    /// A result: a JSON data part for machines plus a text summary for people.
    pub fn artifact(&self, name: &str, data: Value, summary: &str) -> StreamResponse {
        StreamResponse::ArtifactUpdate(TaskArtifactUpdateEvent {
            task_id: self.task_id.clone(),
            context_id: self.context_id.clone(),
            artifact: Artifact {
                artifact_id: format!("{}-{name}", self.task_id),
                name: Some(name.to_owned()),
                description: None,
                parts: vec![
                    Part::data(data).with_media_type("application/json"),
                    Part::text(summary),
                ],
                metadata: None,
                extensions: None,
            },
            append: Some(false),
            last_chunk: Some(true),
            metadata: None,
        })
    }

    fn status(&self, state: TaskState, text: Option<&str>) -> StreamResponse {
        let message = text.map(|t| {
            let mut m = Message::new(Role::Agent, vec![Part::text(t)]);
            m.task_id = Some(self.task_id.clone());
            m.context_id = Some(self.context_id.clone());
            m
        });
        StreamResponse::StatusUpdate(TaskStatusUpdateEvent {
            task_id: self.task_id.clone(),
            context_id: self.context_id.clone(),
            status: TaskStatus {
                state,
                message,
                timestamp: Some(chrono::Utc::now()),
            },
            metadata: None,
        })
    }
}

fn status(state: TaskState, message: Option<Message>) -> TaskStatus {
    TaskStatus {
        state,
        message,
        timestamp: Some(chrono::Utc::now()),
    }
}
