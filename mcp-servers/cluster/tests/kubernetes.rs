//! The cluster server on the kubernetes backend in render-only mode, driven
//! over MCP with the rmcp client: every tool call reconciles through the
//! backend, and the rendered HTTPRoute follows the desired state in
//! Postgres. No Kubernetes cluster exists here, so nothing is applied; the
//! API server is not mocked either.

use std::collections::BTreeMap;
use std::sync::Arc;

use mlops_mcp_cluster::kubernetes::RenderedModel;
use mlops_mcp_cluster::{ClusterServer, GatewayRef, KubernetesBackend, KubernetesConfig, SERVER};
use mlops_mcp_kit::test_support::{TestTokens, call, client, error_message, ok};
use mlops_mcp_kit::{McpHttpServer, RunningMcpServer};
use mlops_mcp_storage::DatasetStore;
use mlops_mcp_storage::keys::ObjectKey;
use mlops_models::{Algorithm, TrainingSet};
use mlops_postgres::test_support::{TestDatabase, fresh_database};
use serde_json::{Value, json};

const MODEL: &str = "fraud-detector";

struct Fixture {
    db: TestDatabase,
    store: DatasetStore,
    _root: tempfile::TempDir,
    tokens: TestTokens,
    server: RunningMcpServer,
    backend: Arc<KubernetesBackend>,
}

/// A small learnable problem: fraud is likelier for large amounts at night.
fn training_set(seed: u64) -> TrainingSet {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..400 {
        let amount = rng.f64() * 1000.0;
        let hour = f64::from(rng.u8(0..24));
        let risk = amount / 1000.0 + if hour < 6.0 { 0.5 } else { 0.0 };
        x.push(vec![amount, hour]);
        y.push(i64::from(risk + rng.f64() * 0.4 > 1.0));
    }
    TrainingSet {
        feature_names: vec!["amount".into(), "hour".into()],
        target: "is_fraud".into(),
        x,
        y,
    }
}

fn config() -> KubernetesConfig {
    let mut config = KubernetesConfig::new(
        "registry.example/mlops:test",
        GatewayRef {
            name: "public".into(),
            namespace: Some("gateways".into()),
            section_name: None,
        },
    );
    config.namespace = Some("models".into());
    config.storage_claim = Some("mlops-storage".into());
    config.hostname = Some("models.example".into());
    config.public_url = Some("https://models.example".into());
    config
}

impl Fixture {
    async fn start() -> Self {
        let db = fresh_database().await;
        let root = tempfile::tempdir().unwrap();
        let store = DatasetStore::local(root.path()).unwrap();
        for (job, seed) in [("job-1", 1), ("job-2", 2)] {
            let model = mlops_models::train(
                &Algorithm::LogisticRegression { l2: 1.0 },
                &training_set(seed),
                seed,
            )
            .expect("training");
            let key = ObjectKey::parse(&format!("models/{job}/model.json")).unwrap();
            store
                .write_object(&key, model.to_bytes().unwrap().into())
                .await
                .unwrap();
        }
        let backend = Arc::new(KubernetesBackend::render_only(config()).unwrap());
        let cluster = ClusterServer::new(backend.clone(), store.clone(), db.pool.clone());
        let tokens = TestTokens::new(SERVER);
        let handler = cluster.clone();
        let server = McpHttpServer::new(SERVER, tokens.verifier(), cluster.kit().metrics())
            .readiness_database(db.pool.clone())
            .bind("127.0.0.1:0".parse().unwrap(), move || handler.clone())
            .await
            .unwrap();
        Fixture {
            db,
            store,
            _root: root,
            tokens,
            server,
            backend,
        }
    }

    fn rendered(&self) -> RenderedModel {
        self.backend
            .manifests(MODEL)
            .unwrap_or_else(|| panic!("nothing rendered for {MODEL}"))
    }
}

fn weights(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The restart annotation on a rendered Deployment's pod template.
fn restart_epoch(rendered: &RenderedModel, name: &str) -> String {
    let d = rendered
        .deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no Deployment {name}"));
    d.spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap()["mlops.dev/restart-epoch"]
        .clone()
}

fn names(rendered: &RenderedModel) -> (Vec<String>, Vec<String>) {
    (
        rendered
            .deployments
            .iter()
            .filter_map(|d| d.metadata.name.clone())
            .collect(),
        rendered
            .services
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_route_weights_follow_set_traffic_split() {
    let f = Fixture::start().await;
    let deployer = client(&f.server.mcp_url(), &f.tokens.for_agent("deployment")).await;

    let first = ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": MODEL, "version": 1, "artifact_uri": "storage://models/job-1/model.json", "replicas": 2}),
    )
    .await);
    assert_eq!(first.get("pending"), None, "{first}");
    assert_eq!(first["runtime"]["backend"], "kubernetes");
    assert_eq!(first["runtime"]["endpoint"], "https://models.example");
    let replicas = first["runtime"]["versions"][0]["replicas"]
        .as_array()
        .unwrap();
    assert_eq!(replicas.len(), 2);
    assert_eq!(
        replicas[0]["ready"], false,
        "nothing runs when only rendering"
    );
    assert_eq!(
        replicas[0]["url"],
        "http://fraud-detector-v1.models.svc:8080"
    );
    assert_eq!(
        f.rendered().route_weights(),
        weights(&[("fraud-detector-v1", 100)])
    );

    // A second version joins the route at 0% until a split says more.
    ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": MODEL, "version": 2, "artifact_uri": "models/job-2/model.json"}),
    )
    .await);
    let rendered = f.rendered();
    assert_eq!(
        names(&rendered),
        (
            vec!["fraud-detector-v1".into(), "fraud-detector-v2".into()],
            vec!["fraud-detector-v1".into(), "fraud-detector-v2".into()],
        )
    );
    assert_eq!(
        rendered.route_weights(),
        weights(&[("fraud-detector-v1", 100), ("fraud-detector-v2", 0)])
    );

    // Each split is rendered into the HTTPRoute, stamped with the
    // generation of the desired state it came from.
    for (v1, v2) in [(90, 10), (50, 50), (0, 100)] {
        let result = ok(&call(
            &deployer,
            "set_traffic_split",
            json!({"model": MODEL, "weights": {"1": v1, "2": v2}}),
        )
        .await);
        let rendered = f.rendered();
        assert_eq!(
            rendered.route_weights(),
            weights(&[("fraud-detector-v1", v1), ("fraud-detector-v2", v2)])
        );
        assert_eq!(result["desired"]["generation"], rendered.generation);
        let route = serde_json::to_value(&rendered.route).unwrap();
        assert_eq!(
            route["metadata"]["annotations"]["mlops.dev/generation"],
            rendered.generation.to_string()
        );
        assert_eq!(route["spec"]["parentRefs"][0]["name"], "public");
        assert_eq!(
            route["spec"]["rules"][0]["matches"][1]["path"]["value"],
            "/v1/models/fraud-detector:predict"
        );
    }

    // A refused split changes neither the desired state nor the route.
    let message = error_message(
        &call(
            &deployer,
            "set_traffic_split",
            json!({"model": MODEL, "weights": {"1": 30, "2": 30}}),
        )
        .await,
    );
    assert!(message.contains("sum to 60"), "{message}");
    assert_eq!(
        f.rendered().route_weights(),
        weights(&[("fraud-detector-v1", 0), ("fraud-detector-v2", 100)])
    );

    // A rolling restart bumps only v2's pod-template annotation.
    let restarted = ok(&call(
        &deployer,
        "rollout_restart",
        json!({"model": MODEL, "version": 2}),
    )
    .await);
    assert_eq!(
        restarted["runtime"]["versions"][1]["replicas"][0]["restart_epoch"],
        1
    );
    let rendered = f.rendered();
    assert_eq!(restart_epoch(&rendered, "fraud-detector-v2"), "1");
    assert_eq!(restart_epoch(&rendered, "fraud-detector-v1"), "0");

    // Scaling renders the new replica count.
    let scaled = ok(&call(
        &deployer,
        "scale_deployment",
        json!({"model": MODEL, "version": 2, "replicas": 3}),
    )
    .await);
    assert_eq!(
        scaled["runtime"]["versions"][1]["replicas"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let v2 = f.rendered().deployments[1].clone();
    assert_eq!(v2.spec.unwrap().replicas, Some(3));

    // Deleting v1 drops its Deployment, Service and backendRef.
    ok(&call(
        &deployer,
        "delete_deployment",
        json!({"model": MODEL, "version": 1}),
    )
    .await);
    let rendered = f.rendered();
    assert_eq!(
        names(&rendered),
        (
            vec!["fraud-detector-v2".into()],
            vec!["fraud-detector-v2".into()]
        )
    );
    assert_eq!(
        rendered.route_weights(),
        weights(&[("fraud-detector-v2", 100)])
    );

    // The monitoring agent reads the same picture.
    let monitoring = client(&f.server.mcp_url(), &f.tokens.for_agent("monitoring")).await;
    let status = ok(&call(
        &monitoring,
        "get_deployment_status",
        json!({"model": MODEL}),
    )
    .await);
    assert_eq!(status["backend"], "kubernetes");
    assert_eq!(status["models"][0]["runtime"]["versions"][0]["version"], 2);

    // Deleting the last version removes every object of the model.
    ok(&call(
        &deployer,
        "delete_deployment",
        json!({"model": MODEL, "version": 2}),
    )
    .await);
    assert!(f.backend.manifests(MODEL).is_none());
    let status = ok(&call(&monitoring, "get_deployment_status", json!({})).await);
    assert_eq!(status["models"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_reported_as_not_in_effect() {
    let f = Fixture::start().await;
    let deployer = client(&f.server.mcp_url(), &f.tokens.for_agent("deployment")).await;
    ok(&call(
        &deployer,
        "apply_deployment",
        json!({"model": MODEL, "version": 1, "artifact_uri": "models/job-1/model.json"}),
    )
    .await);
    let before = f.rendered().manifests();

    // The fault is recorded as desired, but the answer says plainly that
    // the Gateway does not inject it; the objects do not change.
    let faulted = ok(&call(
        &deployer,
        "inject_fault",
        json!({"model": MODEL, "version": 1, "error_share": 0.5, "added_latency_ms": 20}),
    )
    .await);
    let pending = faulted["pending"].as_str().unwrap_or_default();
    assert!(pending.contains("local-backend feature"), "{faulted}");
    assert!(pending.contains("v1 (50% errors, +20 ms)"), "{pending}");
    assert_eq!(faulted["desired"]["deployments"][0]["error_share"], 0.5);
    let after: Vec<Value> = f.rendered().manifests();
    // Only the route's generation stamp moves.
    assert_eq!(before[..2], after[..2]);

    let cleared = ok(&call(
        &deployer,
        "inject_fault",
        json!({"model": MODEL, "version": 1}),
    )
    .await);
    assert_eq!(cleared.get("pending"), None, "{cleared}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_renders_everything_from_postgres() {
    let f = Fixture::start().await;
    let deployer = client(&f.server.mcp_url(), &f.tokens.for_agent("deployment")).await;
    for (version, job) in [(1, "job-1"), (2, "job-2")] {
        ok(&call(
            &deployer,
            "apply_deployment",
            json!({"model": MODEL, "version": version, "artifact_uri": format!("models/{job}/model.json")}),
        )
        .await);
    }
    ok(&call(
        &deployer,
        "set_traffic_split",
        json!({"model": MODEL, "weights": {"1": 75, "2": 25}}),
    )
    .await);

    // A fresh backend knows nothing until the reconciler reads the
    // desired state, as after a restart of the cluster server.
    let backend = Arc::new(KubernetesBackend::render_only(config()).unwrap());
    let cluster = ClusterServer::new(backend.clone(), f.store.clone(), f.db.pool.clone());
    assert!(backend.manifests(MODEL).is_none());
    cluster.reconcile_all().await;
    let rendered = backend.manifests(MODEL).expect("rendered after reconcile");
    assert_eq!(
        rendered.route_weights(),
        weights(&[("fraud-detector-v1", 75), ("fraud-detector-v2", 25)])
    );
    assert_eq!(rendered.manifests(), f.rendered().manifests());
}
