//! The metrics server over real HTTP with the rmcp client, against a real
//! Prometheus (Debian's package, installed if missing) scraping a stand-in
//! exporter that serves the traffic router's metric contract.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok, python_client};
use mlops_mcp_kit::{McpHttpServer, RunningMcpServer};
use mlops_mcp_metrics::prometheus::{RunningPrometheus, ScrapeTarget, start_for_tests};
use mlops_mcp_metrics::{MetricsServer, SERVER};
use mlops_metrics::Registry;
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use rmcp::RoleClient;
use rmcp::service::RunningService;
use serde_json::{Value, json};
use tempfile::TempDir;

const MODEL: &str = "fraud-detector";

struct Fixture {
    db: TestDatabase,
    tokens: TestTokens,
    server: RunningMcpServer,
    // Dropped last: Prometheus stops before its data directory goes.
    prometheus: Option<RunningPrometheus>,
    _dir: TempDir,
}

impl Fixture {
    /// A real Prometheus and the metrics server querying it.
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let prometheus = start_for_tests(dir.path())
            .await
            .expect("starting prometheus");
        let url = prometheus.url();
        Self::with_prometheus(url, Some(prometheus), dir).await
    }

    async fn with_prometheus(
        url: String,
        prometheus: Option<RunningPrometheus>,
        dir: TempDir,
    ) -> Self {
        let db = fresh_database().await;
        let tokens = TestTokens::new(SERVER);
        let metrics = MetricsServer::new(url, db.pool.clone());
        let server = McpHttpServer::new(SERVER, tokens.verifier(), metrics.kit().metrics())
            .readiness_database(db.pool.clone())
            .bind("127.0.0.1:0".parse().unwrap(), move || metrics.clone())
            .await
            .unwrap();
        Fixture {
            db,
            tokens,
            server,
            prometheus,
            _dir: dir,
        }
    }

    async fn client(&self, agent: &str) -> RunningService<RoleClient, ()> {
        client(&self.server.mcp_url(), &self.tokens.for_agent(agent)).await
    }

    async fn audit_rows(&self) -> Vec<(String, String, String)> {
        sqlx::query_as("SELECT caller, tool, status FROM mcp.tool_calls ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

/// What the stand-in router serves per version: every request's status
/// code comes from `codes` in turn, every latency from `latencies`.
struct VersionTraffic {
    version: &'static str,
    weight_percent: f64,
    requests_per_tick: usize,
    codes: &'static [&'static str],
    latencies: &'static [f64],
}

/// v1 (stable, 90%): 1 request in 50 fails with 500, 1 in 25 is a 404
/// (a client error, not a server one); fast. v2 (canary, 10%): 3 in 10
/// fail with 503; slow.
const TRAFFIC: [VersionTraffic; 2] = [
    VersionTraffic {
        version: "1",
        weight_percent: 90.0,
        requests_per_tick: 25,
        codes: &[
            "500", "404", "200", "200", "200", "200", "200", "200", "200", "200", "200", "200",
            "200", "200", "200", "200", "200", "200", "200", "200", "200", "200", "200", "200",
            "200", "200", "200", "200", "200", "200", "200", "200", "200", "200", "200", "200",
            "200", "200", "200", "200", "200", "200", "200", "200", "200", "200", "200", "200",
            "200", "404",
        ],
        latencies: &[0.003, 0.004, 0.006, 0.008, 0.012],
    },
    VersionTraffic {
        version: "2",
        weight_percent: 10.0,
        requests_per_tick: 10,
        codes: &[
            "503", "200", "200", "503", "200", "200", "200", "503", "200", "200",
        ],
        latencies: &[0.08, 0.15, 0.2, 0.3, 0.45],
    },
];

/// A stand-in for the traffic router's `/metrics`: the same metric names
/// and labels, rendered by the same registry, fed by a bounded loop.
async fn start_exporter() -> SocketAddr {
    let registry = Registry::default();
    for t in &TRAFFIC {
        registry.set_gauge(
            "mlops_router_traffic_weight",
            "Percent of the model's traffic routed to the version.",
            &[("model", MODEL), ("version", t.version)],
            t.weight_percent,
        );
    }
    let scraped = registry.clone();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let body = scraped.render();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    tokio::spawn(async move {
        let mut served = [0usize; TRAFFIC.len()];
        // At most two minutes of traffic; the test is over long before.
        for _ in 0..1_200 {
            for (i, t) in TRAFFIC.iter().enumerate() {
                for _ in 0..t.requests_per_tick {
                    let n = served[i];
                    let code = t.codes[n % t.codes.len()];
                    let labels = [("model", MODEL), ("version", t.version)];
                    registry.count(
                        "mlops_router_requests_total",
                        "Requests through the router by version and status.",
                        &[("model", MODEL), ("version", t.version), ("code", code)],
                        1,
                    );
                    registry.observe(
                        "mlops_router_request_duration_seconds",
                        "Request latency through the router.",
                        &labels,
                        t.latencies[n % t.latencies.len()],
                    );
                    served[i] += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    addr
}

/// Polls `check` every 250 ms until it returns `Some`, for at most `limit`.
async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn series_by_version(result: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = result["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["version"].as_str().unwrap_or("").to_owned(),
                s.clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn tools_answer_from_a_real_prometheus_scraping_the_router_contract() {
    let f = Fixture::start().await;
    let exporter = start_exporter().await;
    let prometheus = f.prometheus.as_ref().unwrap();
    let sd = prometheus.file_sd().unwrap();
    sd.write_targets(
        "router-fraud-detector",
        // Labelled as the cluster server labels a router's target.
        &[ScrapeTarget::new(exporter.to_string())
            .label("component", "router")
            .label("model", MODEL)],
    )
    .unwrap();

    let monitoring = f.client("monitoring").await;
    let tools = monitoring.list_all_tools().await.unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "canary_vs_stable",
            "get_alerts",
            "query_instant",
            "query_range"
        ]
    );

    // Prometheus has a rate for both versions once it has two scrapes.
    let rates = eventually("per-version request rates", Duration::from_secs(60), async || {
        let result = ok(&call(
            &monitoring,
            "query_instant",
            json!({"query": format!("sum by (version) (rate(mlops_router_requests_total{{model=\"{MODEL}\"}}[30s]))")}),
        )
        .await);
        (result["series"].as_array().unwrap().len() == 2).then_some(result)
    })
    .await;
    assert_eq!(rates["result_type"], "vector");
    for (version, series) in series_by_version(&rates) {
        assert!(
            series["value"].as_f64().unwrap() > 0.0,
            "v{version}: {series}"
        );
    }

    // query_instant: the weights, as the exporter serves them, with the
    // target label file_sd put on them and the exporter's own labels kept.
    let weights = ok(&call(
        &monitoring,
        "query_instant",
        json!({"query": format!("mlops_router_traffic_weight{{model=\"{MODEL}\"}}"), "time": "now"}),
    )
    .await);
    let weights = series_by_version(&weights);
    assert_eq!(weights.len(), 2, "{weights:?}");
    assert_eq!(weights[0].1["value"], 90.0);
    assert_eq!(weights[1].1["value"], 10.0);
    assert_eq!(weights[0].1["metric"]["component"], "router");
    assert_eq!(weights[0].1["metric"]["job"], "mlops");
    assert_eq!(weights[0].1["metric"]["model"], MODEL);
    assert!(
        weights[0].1["metric"].get("exported_model").is_none(),
        "{weights:?}"
    );

    // query_range: one series per version, one point per second.
    let range = ok(&call(
        &monitoring,
        "query_range",
        json!({
            "query": format!("sum by (version) (mlops_router_requests_total{{model=\"{MODEL}\"}})"),
            "start": "now-20s", "end": "now", "step": "1s",
        }),
    )
    .await);
    assert_eq!(range["result_type"], "matrix");
    assert_eq!(range["truncated"], false);
    let series = series_by_version(&range);
    assert_eq!(series.len(), 2);
    let values = series[0].1["values"].as_array().unwrap();
    assert!(values.len() >= 2, "{values:?}");
    let counts: Vec<f64> = values.iter().map(|p| p[1].as_f64().unwrap()).collect();
    assert!(
        counts.windows(2).all(|w| w[1] >= w[0]),
        "a counter never falls: {counts:?}"
    );
    let limited = ok(&call(
        &monitoring,
        "query_range",
        json!({
            "query": "mlops_router_traffic_weight",
            "start": "now-10s", "end": "now", "step": 2, "limit": 1,
        }),
    )
    .await);
    assert_eq!(
        (
            limited["series"].as_array().unwrap().len(),
            limited["series_total"].as_u64(),
            limited["truncated"].as_bool()
        ),
        (1, Some(2), Some(true))
    );

    // canary_vs_stable: the numbers follow what the exporter produced.
    let report = ok(&call(
        &monitoring,
        "canary_vs_stable",
        json!({"model": MODEL, "window": "30s"}),
    )
    .await);
    assert_eq!(report["stable_version"], "1", "{report}");
    assert_eq!(report["role_basis"], "traffic_weight");
    let versions = report["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{report}");
    let (stable, canary) = (&versions[0], &versions[1]);
    assert_eq!(
        (stable["version"].as_str(), stable["role"].as_str()),
        (Some("1"), Some("stable"))
    );
    assert_eq!(
        (canary["version"].as_str(), canary["role"].as_str()),
        (Some("2"), Some("canary"))
    );
    assert_eq!(stable["traffic_weight_percent"], 90.0);
    for v in versions {
        assert!(v["requests_per_second"].as_f64().unwrap() > 0.0, "{v}");
        let (p50, p99) = (
            v["p50_seconds"].as_f64().unwrap(),
            v["p99_seconds"].as_f64().unwrap(),
        );
        assert!(p99 >= p50 && p50 > 0.0, "{v}");
    }
    // v1: 1 in 50 is a 500 (the 404s are not server errors); v2: 3 in 10.
    let (stable_errors, canary_errors) = (
        stable["error_rate"].as_f64().unwrap(),
        canary["error_rate"].as_f64().unwrap(),
    );
    assert!((0.005..0.05).contains(&stable_errors), "{stable}");
    assert!((0.2..0.4).contains(&canary_errors), "{canary}");
    // The canary's latencies are 80-450 ms, the stable one's 3-12 ms.
    assert!(
        canary["p50_seconds"].as_f64().unwrap() > stable["p99_seconds"].as_f64().unwrap(),
        "{report}"
    );
    let comparison = &report["canaries_vs_stable"][0];
    assert_eq!(comparison["version"], "2");
    assert!(
        comparison["error_rate_delta"].as_f64().unwrap() > 0.1,
        "{comparison}"
    );

    // A filter keeps the asked-for versions and says which have no data.
    let filtered = ok(&call(
        &monitoring,
        "canary_vs_stable",
        json!({"model": MODEL, "window": "30s", "versions": [2, "7"]}),
    )
    .await);
    let listed: Vec<&str> = filtered["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["2", "7"]);
    assert_eq!(filtered["versions"][1]["error_rate"], Value::Null);
    assert!(
        filtered["versions"][1]["note"]
            .as_str()
            .unwrap()
            .contains("no router has reported version 7")
    );

    // An unknown model gets a clear answer naming the models Prometheus has.
    let unknown = error_message(
        &call(
            &monitoring,
            "canary_vs_stable",
            json!({"model": "no-such-model"}),
        )
        .await,
    );
    assert!(
        unknown.contains("no router metrics for model \"no-such-model\"")
            && unknown.contains(MODEL),
        "{unknown}"
    );

    // get_alerts: the default error-rate rule fires for the canary only.
    let alerts = eventually(
        "the canary's error-rate alert",
        Duration::from_secs(60),
        async || {
            let result = ok(&call(
                &monitoring,
                "get_alerts",
                json!({"state": "firing", "model": MODEL}),
            )
            .await);
            let firing: Vec<Value> = result["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["labels"]["alertname"] == "ModelVersionErrorRateHigh")
                .cloned()
                .collect();
            (!firing.is_empty()).then_some(firing)
        },
    )
    .await;
    assert!(
        alerts.iter().all(|a| a["labels"]["version"] == "2"),
        "{alerts:?}"
    );
    assert_eq!(alerts[0]["state"], "firing");
    assert_eq!(alerts[0]["labels"]["severity"], "page");
    assert!(
        alerts[0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("v2 fails"),
        "{alerts:?}"
    );
    let other_model = ok(&call(&monitoring, "get_alerts", json!({"model": "other-model"})).await);
    assert_eq!(other_model["alerts"], json!([]));

    // The official Python client sees the same tools and the same answer.
    let stdout = python_client(
        &f.server.mcp_url(),
        &f.tokens.for_agent("cost"),
        "canary_vs_stable",
        json!({"model": MODEL, "window": "30s"}),
        &[
            "query_instant",
            "query_range",
            "get_alerts",
            "canary_vs_stable",
        ],
    )
    .await;
    assert!(stdout.contains("ok tools: 4"), "{stdout}");
    assert!(stdout.contains(r#""stable_version": "1""#), "{stdout}");

    // Removing the target file stops the scrapes: `up` goes stale.
    sd.remove_targets("router-fraud-detector").unwrap();
    eventually(
        "the removed target to drop out",
        Duration::from_secs(30),
        async || {
            let up = ok(&call(
                &monitoring,
                "query_instant",
                json!({"query": "up{job=\"mlops\"}"}),
            )
            .await);
            (up["series"].as_array().unwrap().is_empty()).then_some(())
        },
    )
    .await;

    let rows = f.audit_rows().await;
    assert!(
        rows.contains(&("monitoring".into(), "canary_vs_stable".into(), "ok".into())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&(
            "monitoring".into(),
            "canary_vs_stable".into(),
            "error".into()
        )),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("cost".into(), "canary_vs_stable".into(), "ok".into())),
        "{rows:?}"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_tool_error() {
    let f = Fixture::start().await;
    let monitoring = f.client("monitoring").await;
    let cases = [
        // Prometheus's own parser speaks, with its error type.
        (
            "query_instant",
            json!({"query": "sum(rate(mlops_router_requests_total[5m])"}),
            "bad_data",
        ),
        (
            "query_instant",
            json!({"query": "sum(rate(mlops_router_requests_total[5m])"}),
            "parse error",
        ),
        (
            "query_instant",
            json!({"query": "rate(mlops_router_requests_total)"}),
            "range vector",
        ),
        ("query_instant", json!({"query": "   "}), "empty"),
        (
            "query_instant",
            json!({"query": "up", "time": "yesterday"}),
            "is not a time",
        ),
        (
            "query_instant",
            json!({"query": "up", "limit": 0}),
            "between 1 and 2000",
        ),
        (
            "query_instant",
            json!({"query": "up", "colour": "red"}),
            "unknown field",
        ),
        (
            "query_range",
            json!({"query": "up", "start": "now-1h", "end": "now", "step": "0s"}),
            "greater than zero",
        ),
        (
            "query_range",
            json!({"query": "up", "start": "now-1h", "end": "now", "step": -5}),
            "positive number",
        ),
        (
            "query_range",
            json!({"query": "up", "start": "now-1h", "end": "now", "step": "fast"}),
            "not a duration",
        ),
        (
            "query_range",
            json!({"query": "up", "start": "now", "end": "now-1h", "step": "1m"}),
            "before start",
        ),
        (
            "query_range",
            json!({"query": "up", "start": "now-1d", "end": "now", "step": "1s"}),
            "at most 11000",
        ),
        (
            "query_range",
            json!({"query": "up", "start": "now-1h", "end": "now"}),
            "missing field `step`",
        ),
        (
            "canary_vs_stable",
            json!({"model": MODEL, "window": "five minutes"}),
            "not a duration",
        ),
        (
            "canary_vs_stable",
            json!({"model": MODEL, "window": "1s"}),
            "between 10s and 31d",
        ),
        (
            "canary_vs_stable",
            json!({"model": "x\"} or vector(1) or {a=\""}),
            "must be 1-63 characters",
        ),
        (
            "canary_vs_stable",
            json!({"model": MODEL, "versions": ["3\"}"]}),
            "version",
        ),
        (
            "canary_vs_stable",
            json!({"model": MODEL, "versions": []}),
            "1-50 versions",
        ),
        (
            "canary_vs_stable",
            json!({"model": "no-such-model"}),
            "no router metrics for model",
        ),
        (
            "get_alerts",
            json!({"state": "resolved"}),
            "\"firing\" or \"pending\"",
        ),
        (
            "get_alerts",
            json!({"model": "Bad Model"}),
            "must be 1-63 characters",
        ),
    ];
    let count = cases.len();
    for (tool, args, expected) in cases {
        let message = error_message(&call(&monitoring, tool, args.clone()).await);
        assert!(
            message.contains(expected),
            "{tool} {args}: {message:?} should mention {expected:?}"
        );
    }
    // Nothing was refused for scope; every case is an audited error.
    let rows = f.audit_rows().await;
    assert_eq!(rows.len(), count);
    assert!(
        rows.iter()
            .all(|(caller, _, status)| caller == "monitoring" && status == "error"),
        "{rows:?}"
    );
}

#[tokio::test]
async fn the_access_matrix_is_enforced_and_refusals_are_audited() {
    let f = Fixture::start().await;
    for agent in ["monitoring", "cost", "control-plane"] {
        let c = f.client(agent).await;
        let result = ok(&call(&c, "query_instant", json!({"query": "vector(42)"})).await);
        assert_eq!(result["series"][0]["value"], 42.0, "{agent}: {result}");
    }
    for agent in [
        "data",
        "training",
        "deployment",
        "validation",
        "orchestrator",
    ] {
        let c = f.client(agent).await;
        for (tool, args) in [
            ("query_instant", json!({"query": "vector(1)"})),
            ("canary_vs_stable", json!({"model": MODEL})),
        ] {
            let err = error_message(&call(&c, tool, args).await);
            assert!(
                err.contains("metrics:read") && err.contains(agent),
                "{agent} {tool}: {err}"
            );
        }
    }
    let rows = f.audit_rows().await;
    assert!(
        rows.contains(&("data".into(), "query_instant".into(), "refused".into())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&(
            "orchestrator".into(),
            "canary_vs_stable".into(),
            "refused".into()
        )),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("cost".into(), "query_instant".into(), "ok".into())),
        "{rows:?}"
    );
    assert_eq!(rows.iter().filter(|r| r.2 == "refused").count(), 10);
}

#[tokio::test]
async fn an_unreachable_prometheus_is_a_clear_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let f = Fixture::with_prometheus(
        format!("http://{closed}"),
        None,
        tempfile::tempdir().unwrap(),
    )
    .await;
    let monitoring = f.client("monitoring").await;
    let err = error_message(&call(&monitoring, "query_instant", json!({"query": "up"})).await);
    assert!(
        err.contains("unreachable") && err.contains(&closed.to_string()),
        "{err}"
    );
    let err = error_message(&call(&monitoring, "get_alerts", json!({})).await);
    assert!(err.contains("unreachable"), "{err}");
}

#[tokio::test]
async fn the_launcher_writes_a_config_promtool_accepts_and_stops_prometheus_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let prometheus = start_for_tests(dir.path()).await.unwrap();
    let config = prometheus.config().clone();
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if promtool.exists() {
        let check = std::process::Command::new(promtool)
            .arg("check")
            .arg("config")
            .arg(config.config_path())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    assert!(
        std::fs::read_to_string(config.alert_rules_path())
            .unwrap()
            .contains("ModelVersionErrorRateHigh")
    );
    assert!(config.sd_dir.is_dir());
    let pid = prometheus.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(prometheus);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "prometheus {pid} still running"
    );
}
