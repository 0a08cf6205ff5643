//! The live feed: one `EventSource` on `/api/events` per browser tab.
//!
//! Pages read [`Live`] from the context and refetch what an event touches.
//! The browser's `EventSource` reconnects by itself and sends
//! `Last-Event-ID`, so the server replays exactly what was missed; while it
//! is reconnecting the app shows a banner. On the server (SSR) nothing
//! connects and the link counts as open, so no banner is rendered.

use leptos::prelude::*;

/// How the feed is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Open,
    Reconnecting,
    /// The server refused the stream (signed out, say); the browser gives up.
    Closed,
}

/// The last event seen: enough for a page to decide whether to refetch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Seen {
    pub id: i64,
    pub kind: String,
    pub workflow: Option<String>,
}

/// Event kinds the control plane sends (the SSE `event:` field).
pub const KINDS: &[&str] = &[
    "workflow-started",
    "workflow-planned",
    "node-added",
    "node-state",
    "node-progress",
    "node-task",
    "node-artifact",
    "mcp-call",
    "gate-opened",
    "gate-decided",
    "approval-refused",
    "workflow-finished",
    "notification",
    "message",
];

#[derive(Clone, Copy)]
pub struct Live {
    pub link: RwSignal<Link>,
    pub last: RwSignal<Seen>,
    /// Ticks every [`READINGS_EVERY`] in the browser: readings that are not
    /// workflow events (metrics, drift reports) are refetched on it.
    pub tick: RwSignal<u64>,
}

/// How often metric and drift readings refresh: the monitoring agent
/// reports every 30 s and Prometheus scrapes every 5 s.
pub const READINGS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Live {
    pub fn new() -> Self {
        Live {
            link: RwSignal::new(Link::Open),
            last: RwSignal::new(Seen::default()),
            tick: RwSignal::new(0),
        }
    }

    /// A signal that changes on every readings tick.
    pub fn readings(self) -> Memo<u64> {
        Memo::new(move |_| self.tick.get())
    }

    /// A signal that changes whenever an event about `workflow` arrives.
    pub fn about(self, workflow: impl Fn() -> String + Send + Sync + 'static) -> Memo<i64> {
        Memo::new(move |previous: Option<&i64>| {
            let seen = self.last.get();
            if seen.workflow.as_deref() == Some(workflow().as_str()) {
                seen.id
            } else {
                previous.copied().unwrap_or(0)
            }
        })
    }

    /// A signal that changes whenever an event of one of `kinds` arrives.
    pub fn of_kinds(self, kinds: &'static [&'static str]) -> Memo<i64> {
        Memo::new(move |previous: Option<&i64>| {
            let seen = self.last.get();
            if kinds.contains(&seen.kind.as_str()) {
                seen.id
            } else {
                previous.copied().unwrap_or(0)
            }
        })
    }

    /// A signal that changes with every event.
    pub fn any(self) -> Memo<i64> {
        Memo::new(move |_| self.last.get().id)
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads the parts of an event's data a page needs.
pub fn parse(kind: &str, last_event_id: &str, data: &str) -> Seen {
    let json: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    Seen {
        id: last_event_id
            .parse()
            .ok()
            .or_else(|| json["id"].as_i64())
            .unwrap_or_default(),
        kind: json["kind"].as_str().unwrap_or(kind).to_owned(),
        workflow: json["workflow"].as_str().map(str::to_owned),
    }
}

/// Opens the feed (browser only; call from an effect).
#[cfg(feature = "hydrate")]
pub fn connect(live: Live) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};

    let Ok(source) = EventSource::new("/api/events") else {
        live.link.set(Link::Closed);
        return;
    };
    live.link.set(Link::Connecting);
    leptos::prelude::set_interval(move || live.tick.update(|t| *t += 1), READINGS_EVERY);
    let on_event = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let data = event.data().as_string().unwrap_or_default();
        let seen = parse(&event.type_(), &event.last_event_id(), &data);
        live.last.set(seen);
    });
    for kind in KINDS {
        let _ = source.add_event_listener_with_callback(kind, on_event.as_ref().unchecked_ref());
    }
    on_event.forget();
    let on_open = Closure::<dyn FnMut()>::new(move || live.link.set(Link::Open));
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    on_open.forget();
    let watched = source.clone();
    let on_error = Closure::<dyn FnMut()>::new(move || {
        // CONNECTING (0) means the browser is retrying; CLOSED (2) that it
        // gave up.
        live.link.set(if watched.ready_state() == 2 {
            Link::Closed
        } else {
            Link::Reconnecting
        });
    });
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_id_kind_and_workflow() {
        let seen = parse(
            "node-state",
            "42",
            r#"{"id":42,"workflow":"wf-1","kind":"node-state","body":{"seq":3}}"#,
        );
        assert_eq!(
            seen,
            Seen {
                id: 42,
                kind: "node-state".into(),
                workflow: Some("wf-1".into())
            }
        );
        let bare = parse("message", "", "not json");
        assert_eq!(bare.kind, "message");
        assert_eq!(bare.id, 0);
    }
}
