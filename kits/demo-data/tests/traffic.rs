//! The traffic generator against a stand-in for the router's predict
//! endpoint (a unit-level test of the generator: the stand-in only records
//! what arrives and answers in KServe's shape).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mlops_demo_data::{
    BIASED_FEATURES, FEATURES, MODEL_NAME, RunningTraffic, TrafficConfig, TrafficError,
    TrafficGenerator, TrafficState,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const TOKEN: &str = "test-admin-token-0123456789";

/// The stand-in router: forwards every request body it accepts to the test.
struct FakeRouter {
    url: String,
    bodies: mpsc::UnboundedReceiver<Value>,
}

async fn fake_router_on(listener: tokio::net::TcpListener) -> FakeRouter {
    let addr = listener.local_addr().unwrap();
    let (tx, bodies) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/v1/models/{target}", post(predict))
        .with_state(Arc::new(tx));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeRouter {
        url: format!("http://{addr}"),
        bodies,
    }
}

async fn fake_router() -> FakeRouter {
    fake_router_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await
}

async fn predict(
    State(tx): State<Arc<mpsc::UnboundedSender<Value>>>,
    Path(target): Path<String>,
    body: String,
) -> Response {
    if target != format!("{MODEL_NAME}:predict") {
        return (StatusCode::NOT_FOUND, "wrong model").into_response();
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let n = body["instances"].as_array().map_or(0, Vec::len);
    let _ = tx.send(body);
    let predictions: Vec<Value> = (0..n).map(|_| json!({"score": 0.1, "label": 0})).collect();
    axum::Json(json!({ "predictions": predictions })).into_response()
}

impl FakeRouter {
    /// The next request body (fails the test if none comes in 30 s).
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(30), self.bodies.recv())
            .await
            .expect("a request within 30 s")
            .expect("the router is running")
    }

    /// The instances of the next `requests` requests.
    async fn instances(&mut self, requests: usize) -> Vec<serde_json::Map<String, Value>> {
        let mut instances = Vec::new();
        for _ in 0..requests {
            let body = self.next().await;
            for instance in body["instances"].as_array().expect("instances") {
                instances.push(instance.as_object().expect("an object").clone());
            }
        }
        instances
    }
}

fn config(router_url: &str, rate_per_sec: f64, batch: usize) -> TrafficConfig {
    TrafficConfig {
        rate_per_sec,
        batch,
        ..TrafficConfig::new(
            router_url,
            TOKEN,
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        )
    }
}

async fn state(http: &reqwest::Client, traffic: &RunningTraffic) -> TrafficState {
    http.get(format!("http://{}/state", traffic.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn put_controls(
    http: &reqwest::Client,
    traffic: &RunningTraffic,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = http
        .put(format!("http://{}/controls", traffic.addr()))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// Polls `check` until it holds (fails the test after 30 s).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn median_amount(instances: &[serde_json::Map<String, Value>]) -> f64 {
    let mut amounts: Vec<f64> = instances
        .iter()
        .map(|i| i["amount"].as_f64().expect("amount is a number"))
        .collect();
    amounts.sort_by(f64::total_cmp);
    amounts[amounts.len() / 2]
}

#[tokio::test]
async fn sends_holdout_instances_and_switches_drift_live() {
    let mut router = fake_router().await;
    let traffic = TrafficGenerator::start(config(&router.url, 400.0, 5))
        .await
        .unwrap();
    let http = reqwest::Client::new();

    // Every instance is an object of exactly the model's features, numbers.
    let clean = router.instances(80).await;
    assert_eq!(clean.len(), 80 * 5);
    for instance in &clean {
        let mut keys: Vec<&str> = instance.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = FEATURES.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert!(instance.values().all(Value::is_number), "{instance:?}");
    }
    // Holdout rows, not one row over and over.
    let distinct: std::collections::BTreeSet<String> =
        clean.iter().map(|i| i["amount"].to_string()).collect();
    assert!(distinct.len() > 300, "{} distinct amounts", distinct.len());

    let (status, _, body) =
        put_controls(&http, &traffic, Some(TOKEN), json!({"drift": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["drift"], json!(true));
    // Requests built before the switch may still be in flight (at most 32);
    // skip past them.
    router.instances(40).await;
    let drifted = router.instances(80).await;
    let ratio = median_amount(&drifted) / median_amount(&clean);
    assert!(ratio > 1.3, "drifted / clean median amount = {ratio}");

    let metrics = http
        .get(format!("http://{}/metrics", traffic.addr()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mlops_traffic_drift_injected{model=\"fraud-detector\"} 1"),
        "{metrics}"
    );
    let ok_line = metrics
        .lines()
        .find(|l| {
            l.starts_with("mlops_traffic_requests_total{model=\"fraud-detector\",outcome=\"ok\"}")
        })
        .unwrap_or_else(|| panic!("no ok counter in {metrics}"));
    let ok_count: u64 = ok_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(ok_count > 0, "{ok_line}");
    assert!(
        metrics
            .contains("mlops_traffic_requests_total{model=\"fraud-detector\",outcome=\"error\"} 0")
    );

    let (status, _, body) = put_controls(
        &http,
        &traffic,
        Some(TOKEN),
        json!({"drift": false, "rate_per_sec": 50}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = state(&http, &traffic).await;
    assert!(!now.drift);
    assert_eq!(now.rate_per_sec, 50.0);
    assert_eq!(now.model, MODEL_NAME);
    assert!(now.ok >= 200, "{now:?}");
    assert_eq!(now.errors, 0, "{now:?}");
    assert_eq!(now.last_error, None);
    assert!(now.sent >= now.ok);
    assert_eq!(now.instances_sent, now.sent * 5);

    let health = http
        .get(format!("http://{}/healthz", traffic.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let addr = traffic.addr();
    traffic.shutdown().await;
    assert!(
        http.get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err(),
        "the control API is closed after shutdown"
    );
}

#[tokio::test]
async fn controls_refuse_missing_tokens_and_bad_values() {
    let router = fake_router().await;
    let traffic = TrafficGenerator::start(config(&router.url, 1.0, 1))
        .await
        .unwrap();
    let http = reqwest::Client::new();

    for token in [None, Some("wrong-token-wrong-token-wrong")] {
        let (status, headers, body) =
            put_controls(&http, &traffic, token, json!({"drift": true})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert_eq!(body["status"], json!(401));
        assert!(body["detail"].as_str().unwrap().contains("Bearer"));
    }

    for (bad, field) in [
        (json!({"rate_per_sec": -1}), "rate_per_sec"),
        (json!({"rate_per_sec": 1000}), "rate_per_sec"),
        (json!({"drift": "on"}), "drift"),
        (json!({"drift": true, "speed": 3}), "speed"),
    ] {
        let (status, headers, body) = put_controls(&http, &traffic, Some(TOKEN), bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(body["status"], json!(400));
        assert_eq!(body["field"], json!(field), "{body}");
        assert!(body["detail"].as_str().unwrap().contains(field), "{body}");
    }
    // Nothing changed.
    let now = state(&http, &traffic).await;
    assert!(!now.drift);
    assert_eq!(now.rate_per_sec, 1.0);
    traffic.shutdown().await;
}

#[tokio::test]
async fn keeps_going_until_a_late_router_answers() {
    // A port with nothing listening yet: the router "does not exist yet".
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let router_addr = reserved.local_addr().unwrap();
    drop(reserved);
    let traffic = TrafficGenerator::start(TrafficConfig {
        features: BIASED_FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        ..config(&format!("http://{router_addr}"), 100.0, 3)
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();

    eventually("two failed requests", || async {
        let now = state(&http, &traffic).await;
        now.errors >= 2 && now.last_error.is_some()
    })
    .await;
    let before = state(&http, &traffic).await;
    assert_eq!(before.ok, 0);

    let mut router =
        fake_router_on(tokio::net::TcpListener::bind(router_addr).await.unwrap()).await;
    let body = router.next().await;
    let instance = body["instances"][0].as_object().unwrap();
    assert_eq!(instance.len(), BIASED_FEATURES.len());
    assert!(instance["age_band_code"].is_i64());
    eventually("requests succeed once the router is up", || async {
        state(&http, &traffic).await.ok >= 3
    })
    .await;
    let after = state(&http, &traffic).await;
    assert!(after.errors >= before.errors);
    traffic.shutdown().await;
}

#[tokio::test]
async fn invalid_configs_are_refused_naming_the_field() {
    let field = |result: Result<RunningTraffic, TrafficError>| match result {
        Err(TrafficError::Config(e)) => e.field,
        Err(other) => panic!("not a config error: {other}"),
        Ok(_) => panic!("accepted"),
    };
    let good = config("http://127.0.0.1:9", 10.0, 10);
    assert_eq!(
        field(
            TrafficGenerator::start(TrafficConfig {
                rate_per_sec: 0.0,
                ..good.clone()
            })
            .await
        ),
        "rate_per_sec"
    );
    assert_eq!(
        field(
            TrafficGenerator::start(TrafficConfig {
                batch: 0,
                ..good.clone()
            })
            .await
        ),
        "batch"
    );
    assert_eq!(
        field(
            TrafficGenerator::start(TrafficConfig {
                admin_token: "short".into(),
                ..good.clone()
            })
            .await
        ),
        "admin_token"
    );
    assert_eq!(
        field(
            TrafficGenerator::start(TrafficConfig {
                router_url: "not a url".into(),
                ..good.clone()
            })
            .await
        ),
        "router_url"
    );
    assert_eq!(
        field(
            TrafficGenerator::start(TrafficConfig {
                model: "../admin".into(),
                ..good.clone()
            })
            .await
        ),
        "model"
    );
    assert_eq!(
        field(
            TrafficGenerator::start(TrafficConfig {
                features: vec!["amount".into(), "merchant_category".into()],
                ..good.clone()
            })
            .await
        ),
        "features"
    );
}
