//! The generator's control API: health, state, metrics, and the one
//! guarded write, `PUT /controls`, that switches drift and sets the rate.
//! Errors are RFC 9457 problem JSON.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::Value;
use tokio::sync::watch;

use super::{Shared, check_rate};

const REQUESTS_TOTAL: &str = "mlops_traffic_requests_total";
const REQUESTS_HELP: &str = "Prediction requests the traffic generator sent, by outcome.";
const DRIFT_GAUGE: &str = "mlops_traffic_drift_injected";
const DRIFT_HELP: &str = "1 while the traffic generator sends drifted rows, else 0.";
const RATE_GAUGE: &str = "mlops_traffic_rate_per_second";
const RATE_HELP: &str = "The traffic generator's configured requests per second.";
/// Largest `PUT /controls` body read.
const MAX_CONTROLS_BODY: usize = 4 * 1024;

pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/state", get(get_state))
        .route("/controls", put(put_controls))
        .route("/metrics", get(get_metrics))
        .with_state(shared);
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::error!(%error, "traffic control API failed");
    }
}

/// Makes every series exist from the start, so dashboards see zeros
/// rather than gaps before the first request.
pub(super) fn register_metrics(shared: &Shared) {
    for outcome in ["ok", "error"] {
        shared
            .metrics
            .count(REQUESTS_TOTAL, REQUESTS_HELP, &[("outcome", outcome)], 0);
    }
    set_gauges(shared);
}

pub(super) fn count_request(shared: &Shared, outcome: &str) {
    shared
        .metrics
        .count(REQUESTS_TOTAL, REQUESTS_HELP, &[("outcome", outcome)], 1);
}

fn set_gauges(shared: &Shared) {
    let drift = if shared.drift.load(Ordering::Relaxed) {
        1.0
    } else {
        0.0
    };
    shared
        .metrics
        .set_gauge(DRIFT_GAUGE, DRIFT_HELP, &[], drift);
    shared
        .metrics
        .set_gauge(RATE_GAUGE, RATE_HELP, &[], shared.rate());
}

async fn get_state(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.state()).into_response()
}

async fn get_metrics(State(shared): State<Arc<Shared>>) -> Response {
    set_gauges(&shared);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

#[tracing::instrument(skip_all)]
async fn put_controls(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&shared.admin_token, &headers) {
        tracing::info!("refused PUT /controls without the admin token");
        return unauthorized();
    }
    if body.len() > MAX_CONTROLS_BODY {
        return Problem::bad_request(
            None,
            format!(
                "the body is {} bytes; at most {MAX_CONTROLS_BODY}",
                body.len()
            ),
        )
        .into_response();
    }
    let update = match ControlsUpdate::parse(&body) {
        Ok(update) => update,
        Err(problem) => return problem.into_response(),
    };
    if let Some(drift) = update.drift {
        shared.drift.store(drift, Ordering::Relaxed);
    }
    if let Some(rate) = update.rate_per_sec {
        shared.set_rate(rate);
    }
    set_gauges(&shared);
    shared.controls_changed.notify_one();
    tracing::info!(
        drift = shared.drift.load(Ordering::Relaxed),
        rate_per_sec = shared.rate(),
        "traffic controls changed"
    );
    axum::Json(shared.state()).into_response()
}

/// A valid `PUT /controls` body: at least one of the two fields.
#[derive(Debug, PartialEq)]
struct ControlsUpdate {
    drift: Option<bool>,
    rate_per_sec: Option<f64>,
}

impl ControlsUpdate {
    /// Parses by hand rather than with serde so that every refusal names
    /// the field at fault (serde's type errors do not).
    fn parse(body: &[u8]) -> Result<Self, Problem> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Problem::bad_request(
                None,
                format!(
                    "the body must be a JSON object such as {{\"drift\": true, \
                     \"rate_per_sec\": 20}}: {e}"
                ),
            )
        })?;
        let Value::Object(fields) = value else {
            return Err(Problem::bad_request(
                None,
                "the body must be a JSON object with \"drift\" and/or \"rate_per_sec\"",
            ));
        };
        let mut update = ControlsUpdate {
            drift: None,
            rate_per_sec: None,
        };
        for (name, value) in &fields {
            match name.as_str() {
                "drift" => {
                    let drift = value.as_bool().ok_or_else(|| {
                        Problem::bad_request(
                            Some("drift"),
                            format!("drift must be true or false, got {value}"),
                        )
                    })?;
                    update.drift = Some(drift);
                }
                "rate_per_sec" => {
                    let rate = value.as_f64().ok_or_else(|| {
                        Problem::bad_request(
                            Some("rate_per_sec"),
                            format!("rate_per_sec must be a number, got {value}"),
                        )
                    })?;
                    check_rate(rate).map_err(|message| {
                        Problem::bad_request(
                            Some("rate_per_sec"),
                            format!("rate_per_sec: {message}"),
                        )
                    })?;
                    update.rate_per_sec = Some(rate);
                }
                other => {
                    return Err(Problem::bad_request(
                        Some(other),
                        format!("unknown field {other:?}; the fields are drift and rate_per_sec"),
                    ));
                }
            }
        }
        if update.drift.is_none() && update.rate_per_sec.is_none() {
            return Err(Problem::bad_request(
                None,
                "nothing to change: give drift and/or rate_per_sec",
            ));
        }
        Ok(update)
    }
}

fn authorized(admin_token: &str, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {admin_token}");
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

/// Compares without stopping at the first differing byte, so response
/// time does not reveal how much of a guessed token is right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> Response {
    let mut response = Problem {
        status: StatusCode::UNAUTHORIZED,
        title: "Unauthorized",
        detail: "PUT /controls needs Authorization: Bearer <admin token>".into(),
        field: None,
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// An RFC 9457 problem; `field` (an extension member) names the input
/// field at fault when there is one.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    field: Option<String>,
}

impl Problem {
    fn bad_request(field: Option<&str>, detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::BAD_REQUEST,
            title: "Invalid controls",
            detail: detail.into(),
            field: field.map(str::to_owned),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some(field) = self.field {
            body["field"] = Value::String(field);
        }
        (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )],
            body.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> Problem {
        ControlsUpdate::parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn controls_bodies_are_parsed() {
        let parse = |body: &str| ControlsUpdate::parse(body.as_bytes()).unwrap();
        assert_eq!(
            parse(r#"{"drift": true}"#),
            ControlsUpdate {
                drift: Some(true),
                rate_per_sec: None
            }
        );
        assert_eq!(
            parse(r#"{"rate_per_sec": 0.1, "drift": false}"#),
            ControlsUpdate {
                drift: Some(false),
                rate_per_sec: Some(0.1)
            }
        );
        assert_eq!(parse(r#"{"rate_per_sec": 500}"#).rate_per_sec, Some(500.0));
    }

    #[test]
    fn bad_controls_name_the_field() {
        for (body, field) in [
            (r#"{"rate_per_sec": -1}"#, "rate_per_sec"),
            (r#"{"rate_per_sec": 0.05}"#, "rate_per_sec"),
            (r#"{"rate_per_sec": 501}"#, "rate_per_sec"),
            (r#"{"rate_per_sec": "fast"}"#, "rate_per_sec"),
            (r#"{"drift": "yes"}"#, "drift"),
            (r#"{"drift": true, "colour": "red"}"#, "colour"),
        ] {
            let problem = refused(body);
            assert_eq!(problem.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(problem.field.as_deref(), Some(field), "{body}");
            assert!(problem.detail.contains(field), "{body}: {}", problem.detail);
        }
        for body in ["", "[]", "{}", "{\"drift\": tru"] {
            let problem = refused(body);
            assert_eq!(problem.field, None, "{body}");
            assert!(
                problem.detail.contains("drift"),
                "{body}: {}",
                problem.detail
            );
        }
    }

    #[test]
    fn the_token_must_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!authorized("secret-token-1234", &headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret-token-1234"),
        );
        assert!(authorized("secret-token-1234", &headers));
        assert!(!authorized("secret-token-12345", &headers));
        assert!(!authorized("secret-token-1235", &headers));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"ab"));
    }
}
