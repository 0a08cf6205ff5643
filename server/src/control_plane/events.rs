//! Live events over SSE.
//!
//! Every control-plane process runs one `LISTEN control_events` connection.
//! A notified id is read once from `control.events` and broadcast to this
//! process's SSE clients, so several processes behind one load balancer all
//! deliver every event. The SSE id is the events table's sequence: a client
//! reconnecting with `Last-Event-ID` is replayed exactly what it missed
//! from the table, then continues live.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use super::roles::Action;
use super::workflows::EVENTS_CHANNEL;

/// One stored event, serialized once for every client.
#[derive(Debug)]
pub struct LiveEvent {
    pub id: i64,
    pub workflow: Option<String>,
    pub kind: String,
    /// `{"id", "workflow", "kind", "at", "body"}` as JSON text.
    pub json: String,
}

/// Reads events `after` (exclusive), oldest first, at most `limit`.
async fn read_after(
    pool: &PgPool,
    after: i64,
    workflow: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<LiveEvent>> {
    let rows: Vec<(i64, Option<String>, String, String)> = sqlx::query_as(
        "SELECT id, workflow, kind,
                json_build_object('id', id, 'workflow', workflow, 'kind', kind,
                                  'at', created_at, 'body', body)::text
         FROM control.events WHERE id > $1 AND ($2::text IS NULL OR workflow = $2)
         ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(workflow)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, workflow, kind, json)| LiveEvent {
            id,
            workflow,
            kind,
            json,
        })
        .collect())
}

/// The per-process fan-out: LISTEN → read → broadcast.
pub struct Fanout {
    sender: broadcast::Sender<Arc<LiveEvent>>,
}

impl Fanout {
    /// Starts listening; reconnects by itself if the connection drops.
    pub fn start(pool: PgPool) -> Arc<Fanout> {
        let (sender, _) = broadcast::channel(4096);
        let fanout = Arc::new(Fanout { sender });
        let task_fanout = fanout.clone();
        tokio::spawn(async move {
            loop {
                if let Err(error) = task_fanout.listen(&pool).await {
                    tracing::warn!(%error, "event listener dropped; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        fanout
    }

    async fn listen(&self, pool: &PgPool) -> sqlx::Result<()> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        loop {
            let note = listener.recv().await?;
            let Ok(id) = note.payload().parse::<i64>() else {
                continue;
            };
            if self.sender.receiver_count() == 0 {
                continue;
            }
            for event in read_after(pool, id - 1, None, 1).await? {
                if event.id == id {
                    let _ = self.sender.send(Arc::new(event));
                }
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// For clients that cannot set the header (EventSource's first connect).
    last_event_id: Option<i64>,
}

fn last_event_id(headers: &HeaderMap, query: &EventsQuery) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(query.last_event_id)
}

/// Whether `caller` may see `event`. Every role may read every workflow
/// today; the check is here so a per-team rule has one place to go.
fn visible(caller: &Caller, _event: &LiveEvent) -> bool {
    caller.may(Action::Read)
}

/// `GET /api/events`: everything the caller may see, from now (or from
/// `Last-Event-ID`).
#[utoipa::path(get, path = "/api/events", tag = "events", description = "Server-sent events: everything the caller may see. Each event's id is its sequence; reconnect with `Last-Event-ID` to replay what was missed.", responses((status = 200, content_type = "text/event-stream", description = "the event stream")))]
pub async fn all(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    caller.require(&state, Action::Read, None).await?;
    let start = match last_event_id(&headers, &query) {
        Some(id) => id,
        None => current_tail(&state.pool).await?,
    };
    Ok(stream(state, caller, None, start))
}

/// `GET /api/workflows/{id}/events`: one workflow's events, from its start
/// (or from `Last-Event-ID`).
#[utoipa::path(get, path = "/api/workflows/{id}/events", tag = "events", params(("id" = String, Path)), responses((status = 200, content_type = "text/event-stream", description = "the workflow's events from its start, or from `Last-Event-ID`")))]
pub async fn for_workflow(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    caller.require(&state, Action::Read, Some(&id)).await?;
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT id FROM control.workflows WHERE id = $1")
            .bind(&id)
            .fetch_optional(&state.pool)
            .await?;
    if exists.is_none() {
        return Err(Problem::not_found(format!("no workflow {id}")));
    }
    let start = last_event_id(&headers, &query).unwrap_or(0);
    Ok(stream(state, caller, Some(id), start))
}

async fn current_tail(pool: &PgPool) -> Result<i64, Problem> {
    let (tail,): (Option<i64>,) = sqlx::query_as("SELECT max(id) FROM control.events")
        .fetch_one(pool)
        .await?;
    Ok(tail.unwrap_or(0))
}

fn to_sse(event: &LiveEvent) -> Event {
    Event::default()
        .id(event.id.to_string())
        .event(event.kind.clone())
        .data(event.json.clone())
}

fn stream(
    state: Arc<AppState>,
    caller: Caller,
    workflow: Option<String>,
    start: i64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe before replaying, so nothing committed in between is lost;
    // ids already sent are skipped.
    let mut live = state.fanout.subscribe();
    let events = async_stream_events(move |tx| async move {
        let mut sent = start;
        let matches = |e: &LiveEvent| {
            workflow
                .as_deref()
                .is_none_or(|w| e.workflow.as_deref() == Some(w))
                && visible(&caller, e)
        };
        // Replay (and catch up after a lag) from the table.
        let replay = async |sent: &mut i64| -> bool {
            loop {
                let batch = match read_after(&state.pool, *sent, workflow.as_deref(), 500).await {
                    Ok(batch) => batch,
                    Err(error) => {
                        tracing::warn!(%error, "replay failed");
                        return false;
                    }
                };
                let done = batch.len() < 500;
                for event in batch {
                    *sent = event.id;
                    if matches(&event) && tx.send(to_sse(&event)).await.is_err() {
                        return false;
                    }
                }
                if done {
                    return true;
                }
            }
        };
        if !replay(&mut sent).await {
            return;
        }
        loop {
            match live.recv().await {
                Ok(event) => {
                    if event.id <= sent || !matches(&event) {
                        continue;
                    }
                    // Events commit in id order, so on the all-events
                    // stream a gap means this process missed one (the
                    // listener reconnected): read the table instead.
                    if workflow.is_none() && event.id > sent + 1 && !replay(&mut sent).await {
                        return;
                    }
                    if event.id > sent {
                        sent = event.id;
                        if tx.send(to_sse(&event)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if !replay(&mut sent).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("heartbeat"),
    )
}

/// A stream fed by a task through a small channel: the task ends when the
/// client goes away (its sends fail).
fn async_stream_events<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(tx));
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    })
}
