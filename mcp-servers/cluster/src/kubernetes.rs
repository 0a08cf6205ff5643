//! The `kubernetes` backend: the desired state in Postgres becomes
//! Kubernetes objects.
//!
//! - Per deployed version of a model, a `Deployment` and a `Service`, both
//!   named `<model>-v<version>`. The pods run `mlops model-server` from the
//!   configured image, on port 8080, with readiness (`/readyz`), liveness
//!   (`/healthz`) and Prometheus scrape annotations for `/metrics`. The pod
//!   template carries the version's `restart_epoch` as an annotation, so
//!   `rollout_restart` changes the template and Kubernetes rolls the pods
//!   one at a time (max surge 1, max unavailable 0), as the local backend
//!   does.
//! - Per model, one Gateway API `HTTPRoute` (`gateway.networking.k8s.io/v1`)
//!   named `<model>`, attached to the configured Gateway. Its rule sends
//!   `/v1/models/<model>` and `/v1/models/<model>:predict` to every
//!   version's Service with the version's traffic weight: the Gateway does
//!   what the local backend's router does for a canary split.
//!
//! The rule matches those two paths exactly rather than by path prefix:
//! Gateway API `PathPrefix` matching is element-wise on `/`, so the prefix
//! `/v1/models/<model>` would not match the KServe predict path
//! `/v1/models/<model>:predict` on a conformant Gateway.
//!
//! Applying uses server-side apply with the field manager `mlops-cluster`
//! (typed `k8s-openapi` objects for Deployments and Services, a
//! `DynamicObject` for the HTTPRoute, so no Gateway API crate is needed),
//! then deletes the Deployments and Services of versions that are no longer
//! desired, found by label. `status` reads each Deployment's
//! `readyReplicas`. In its namespace the server's identity needs `get`,
//! `list`, `create`, `patch` and `delete` on `deployments` (apps),
//! `services` (core) and `httproutes` (gateway.networking.k8s.io); the
//! cluster needs the Gateway API CRDs (v1) and a Gateway controller.
//! Everything it makes carries `app.kubernetes.io/managed-by=mlops-cluster`,
//! and a model with such objects but no desired state is removed, so one
//! namespace should hold one installation.
//!
//! [`KubernetesBackend::render_only`] renders the same objects and keeps
//! them in memory instead of applying them; that is what runs when no
//! kubeconfig is configured, and how the tool path is tested here.
//!
//! What the Gateway API has no equivalent for, and this backend therefore
//! does not do (nothing is faked):
//! - **Fault injection** (`inject_fault`) is a `local`-backend feature: the
//!   local router answers a share of requests with 500 or delays them. A
//!   Gateway has no standard filter for that. When a version has a fault in
//!   its desired state, `reconcile` still applies everything else and then
//!   fails with an error saying the fault is not in effect, so the tool's
//!   answer carries it as `pending` and nobody mistakes it for a drill.
//! - **Per-version router metrics and the prediction log** come from the
//!   local router. Behind a Gateway, the model servers' own `/metrics` are
//!   what Prometheus scrapes (through the pod annotations), and no
//!   prediction log is written for drift analysis.
//!
//! Testing: there is no Kubernetes cluster on the machines this project
//! builds and tests on, so the applying half ([`KubernetesBackend::connect`])
//! is not integration-tested, and the API server is deliberately not
//! mocked. Rendering is unit-tested, and `tests/kubernetes.rs` drives the
//! MCP tools over a render-only backend.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{
    Deployment as KubeDeployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, PersistentVolumeClaimVolumeSource, PodSpec,
    PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::{Value, json};

use crate::backend::{BackendError, ClusterBackend, ReplicaStatus, RuntimeStatus, VersionStatus};
use crate::state::{Deployment, ModelState};

/// The server-side-apply field manager, and the `managed-by` label value.
pub const FIELD_MANAGER: &str = "mlops-cluster";
/// The port `mlops model-server` listens on inside its pod.
pub const MODEL_SERVER_PORT: i32 = 8080;
/// Where the object store is mounted in the pod unless configured.
pub const DEFAULT_STORAGE_ROOT: &str = "/var/lib/mlops/storage";
/// The label and annotation prefix unless configured.
pub const DEFAULT_LABEL_PREFIX: &str = "mlops.dev";
/// The Gateway API allows at most 16 `backendRefs` in one rule.
pub const MAX_BACKENDS_PER_RULE: usize = 16;

const NAME_LABEL: &str = "app.kubernetes.io/name";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// Kubernetes object names that are DNS labels (Services) stop here.
const MAX_NAME_LEN: usize = 63;

/// The Gateway the HTTPRoutes attach to.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRef {
    pub name: String,
    /// The Gateway's namespace; `None` means the routes' own namespace.
    pub namespace: Option<String>,
    /// One listener of the Gateway; `None` attaches to every listener that
    /// allows the route.
    pub section_name: Option<String>,
}

/// What the kubernetes backend renders and where it applies it.
#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// Namespace of the Deployments, Services and HTTPRoutes. `None`: the
    /// client's default (the kubeconfig context's namespace, or the pod's
    /// own namespace in-cluster); `"default"` when only rendering.
    pub namespace: Option<String>,
    /// The mlops image; it must have `mlops` on its PATH, since the
    /// container runs `mlops model-server`.
    pub image: String,
    /// The object store directory inside the pod, passed to the model
    /// server as `MLOPS_STORAGE_ROOT` (the model server reads artifacts
    /// from a directory).
    pub storage_root: String,
    /// A PersistentVolumeClaim holding the object store, mounted read-only
    /// at `storage_root`; `None` mounts nothing (the image or an
    /// admission policy must provide the directory).
    pub storage_claim: Option<String>,
    /// Extra environment for the model servers, e.g. `RUST_LOG`.
    pub env: BTreeMap<String, String>,
    pub gateway: GatewayRef,
    /// Host names the HTTPRoutes answer for; `None` takes the Gateway
    /// listener's.
    pub hostname: Option<String>,
    /// The URL clients reach the Gateway at, reported as each model's
    /// endpoint (as the local backend reports its router's URL).
    pub public_url: Option<String>,
    /// Prefix of this project's labels and annotations
    /// (`<prefix>/version`, `<prefix>/restart-epoch`, ...). It is part of
    /// the Deployments' immutable selectors: changing it on a live cluster
    /// needs the old Deployments deleted.
    pub label_prefix: String,
}

impl KubernetesConfig {
    /// A config with the default storage root and label prefix, no claim,
    /// no extra environment, no host name and the client's namespace.
    pub fn new(image: impl Into<String>, gateway: GatewayRef) -> Self {
        KubernetesConfig {
            namespace: None,
            image: image.into(),
            storage_root: DEFAULT_STORAGE_ROOT.into(),
            storage_claim: None,
            env: BTreeMap::new(),
            gateway,
            hostname: None,
            public_url: None,
            label_prefix: DEFAULT_LABEL_PREFIX.into(),
        }
    }

    /// Checks every field against what the API server would accept, so a
    /// bad flag fails at start rather than on the first deployment.
    pub fn validate(&self) -> Result<(), BackendError> {
        let bad = |what: &str, value: &str, rule: &str| {
            Err(BackendError(format!("{what} {value:?} {rule}")))
        };
        if let Some(ns) = &self.namespace
            && !is_dns_label(ns)
        {
            return bad("namespace", ns, DNS_LABEL_RULE);
        }
        if self.image.is_empty() || self.image.chars().any(char::is_whitespace) {
            return bad("image", &self.image, "must be a non-empty image reference");
        }
        if !self.storage_root.starts_with('/') {
            return bad(
                "storage root",
                &self.storage_root,
                "must be an absolute path inside the pod",
            );
        }
        if let Some(claim) = &self.storage_claim
            && !is_dns_subdomain(claim)
        {
            return bad("storage claim", claim, DNS_SUBDOMAIN_RULE);
        }
        for name in self.env.keys() {
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return bad(
                    "environment variable",
                    name,
                    "must be letters, digits and '_', not starting with a digit",
                );
            }
            if name == "MLOPS_STORAGE_ROOT" {
                return bad("environment variable", name, "is set from storage_root");
            }
        }
        if !is_dns_subdomain(&self.gateway.name) {
            return bad("gateway name", &self.gateway.name, DNS_SUBDOMAIN_RULE);
        }
        if let Some(ns) = &self.gateway.namespace
            && !is_dns_label(ns)
        {
            return bad("gateway namespace", ns, DNS_LABEL_RULE);
        }
        if let Some(section) = &self.gateway.section_name
            && !is_dns_subdomain(section)
        {
            return bad("gateway section name", section, DNS_SUBDOMAIN_RULE);
        }
        if let Some(host) = &self.hostname
            && !is_dns_subdomain(host.strip_prefix("*.").unwrap_or(host))
        {
            return bad(
                "hostname",
                host,
                "must be a DNS name, optionally starting with '*.'",
            );
        }
        if let Some(url) = &self.public_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return bad("public URL", url, "must be an http(s) URL"),
            }
        }
        if !is_dns_subdomain(&self.label_prefix) {
            return bad("label prefix", &self.label_prefix, DNS_SUBDOMAIN_RULE);
        }
        Ok(())
    }

    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    fn version_label(&self) -> String {
        format!("{}/version", self.label_prefix)
    }

    fn restart_annotation(&self) -> String {
        format!("{}/restart-epoch", self.label_prefix)
    }

    fn generation_annotation(&self) -> String {
        format!("{}/generation", self.label_prefix)
    }
}

const DNS_LABEL_RULE: &str =
    "must be 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit";
const DNS_SUBDOMAIN_RULE: &str =
    "must be a DNS subdomain: dot-separated labels of a-z, 0-9 and '-', at most 253 characters";

fn is_dns_label(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Name of a version's Deployment and Service: `<model>-v<version>`, or,
/// when that is longer than a DNS label allows, the model name cut short
/// plus a hash of the whole name, so two long names never collide.
pub fn object_name(model: &str, version: i32) -> String {
    let suffix = format!("-v{version}");
    let plain = format!("{model}{suffix}");
    if plain.len() <= MAX_NAME_LEN {
        return plain;
    }
    let hash = format!("-{:08x}", fnv1a(model));
    let keep = MAX_NAME_LEN - suffix.len() - hash.len();
    let head: String = model.chars().take(keep).collect();
    format!("{}{hash}{suffix}", head.trim_end_matches('-'))
}

/// FNV-1a, 32 bits: a stable short hash for names (not for security).
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The label selector of everything this backend made for `model`.
pub fn model_selector(model: &str) -> String {
    format!("{NAME_LABEL}={model},{MANAGED_BY_LABEL}={FIELD_MANAGER}")
}

/// Model names are slugs already (lib.rs); Kubernetes also wants label
/// values and the HTTPRoute name to end with a letter or digit.
fn check_model_name(model: &str) -> Result<(), BackendError> {
    if is_dns_label(model) {
        Ok(())
    } else {
        Err(BackendError(format!(
            "model name {model:?} cannot name Kubernetes objects: it {DNS_LABEL_RULE}"
        )))
    }
}

/// Everything rendered for one model, in apply order.
#[derive(Debug, Clone)]
pub struct RenderedModel {
    pub model: String,
    /// The desired state's generation these objects were rendered from.
    pub generation: i64,
    pub deployments: Vec<KubeDeployment>,
    pub services: Vec<Service>,
    pub route: DynamicObject,
}

impl RenderedModel {
    /// Every object as JSON: Deployments, Services, then the HTTPRoute.
    pub fn manifests(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for d in &self.deployments {
            out.push(serde_json::to_value(d).unwrap_or(Value::Null));
        }
        for s in &self.services {
            out.push(serde_json::to_value(s).unwrap_or(Value::Null));
        }
        out.push(serde_json::to_value(&self.route).unwrap_or(Value::Null));
        out
    }

    /// Service name → weight, as the HTTPRoute's backendRefs say.
    pub fn route_weights(&self) -> BTreeMap<String, i64> {
        self.route.data["spec"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|rule| rule["backendRefs"].as_array().into_iter().flatten())
            .filter_map(|b| Some((b["name"].as_str()?.to_owned(), b["weight"].as_i64()?)))
            .collect()
    }
}

/// Renders a model's desired state. Pure: no I/O, same input same output.
pub fn render(
    config: &KubernetesConfig,
    desired: &ModelState,
) -> Result<RenderedModel, BackendError> {
    let model = desired.model.as_str();
    check_model_name(model)?;
    if desired.deployments.len() > MAX_BACKENDS_PER_RULE {
        return Err(BackendError(format!(
            "{model} has {} deployed versions; an HTTPRoute rule takes at most \
             {MAX_BACKENDS_PER_RULE} backends, so delete unused versions",
            desired.deployments.len()
        )));
    }
    Ok(RenderedModel {
        model: model.to_owned(),
        generation: desired.generation,
        deployments: desired
            .deployments
            .iter()
            .map(|d| render_deployment(config, model, d))
            .collect(),
        services: desired
            .deployments
            .iter()
            .map(|d| render_service(config, model, d.version))
            .collect(),
        route: render_route(config, desired),
    })
}

fn model_labels(model: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_owned(), model.to_owned()),
        (MANAGED_BY_LABEL.to_owned(), FIELD_MANAGER.to_owned()),
    ])
}

/// The labels that pick a version's pods; part of the Deployment's
/// immutable selector, so they never change for a version.
fn selector_labels(
    config: &KubernetesConfig,
    model: &str,
    version: i32,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_owned(), model.to_owned()),
        (config.version_label(), version.to_string()),
    ])
}

fn version_labels(
    config: &KubernetesConfig,
    model: &str,
    version: i32,
) -> BTreeMap<String, String> {
    let mut labels = model_labels(model);
    labels.extend(selector_labels(config, model, version));
    labels.insert(COMPONENT_LABEL.to_owned(), "model-server".to_owned());
    labels
}

fn http_probe(path: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    }
}

fn render_deployment(config: &KubernetesConfig, model: &str, d: &Deployment) -> KubeDeployment {
    let name = object_name(model, d.version);
    let labels = version_labels(config, model, d.version);
    let pod_annotations = BTreeMap::from([
        // A new epoch changes the pod template, which is what makes
        // Kubernetes roll the pods.
        (config.restart_annotation(), d.restart_epoch.to_string()),
        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
        (
            "prometheus.io/port".to_owned(),
            MODEL_SERVER_PORT.to_string(),
        ),
        ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
    ]);
    let mut env = vec![EnvVar {
        name: "MLOPS_STORAGE_ROOT".into(),
        value: Some(config.storage_root.clone()),
        ..Default::default()
    }];
    env.extend(config.env.iter().map(|(name, value)| EnvVar {
        name: name.clone(),
        value: Some(value.clone()),
        ..Default::default()
    }));
    let (volumes, mounts) = match &config.storage_claim {
        Some(claim) => (
            Some(vec![Volume {
                name: "storage".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: Some(true),
                }),
                ..Default::default()
            }]),
            Some(vec![VolumeMount {
                name: "storage".into(),
                mount_path: config.storage_root.clone(),
                read_only: Some(true),
                ..Default::default()
            }]),
        ),
        None => (None, None),
    };
    let container = Container {
        name: "model-server".into(),
        image: Some(config.image.clone()),
        command: Some(vec!["mlops".into()]),
        args: Some(vec![
            "model-server".into(),
            "--model".into(),
            model.to_owned(),
            "--version".into(),
            d.version.to_string(),
            "--artifact".into(),
            d.artifact_key.clone(),
            "--listen".into(),
            format!("0.0.0.0:{MODEL_SERVER_PORT}"),
        ]),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: MODEL_SERVER_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        // The model server loads its artifact before it listens, so a
        // startup probe gives that load time before liveness may kill it.
        startup_probe: Some(http_probe("/healthz", 2, 30)),
        readiness_probe: Some(http_probe("/readyz", 5, 3)),
        liveness_probe: Some(http_probe("/healthz", 10, 3)),
        volume_mounts: mounts,
        ..Default::default()
    };
    KubeDeployment {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(config.namespace().to_owned()),
            labels: Some(labels.clone()),
            annotations: Some(BTreeMap::from([(
                format!("{}/artifact", config.label_prefix),
                d.artifact_key.clone(),
            )])),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(d.replicas.max(0)),
            selector: LabelSelector {
                match_labels: Some(selector_labels(config, model, d.version)),
                ..Default::default()
            },
            // One new pod ready before an old one goes: a restart or an
            // image change never drops the version's capacity.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(pod_annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes,
                    // Model servers never talk to the API server.
                    automount_service_account_token: Some(false),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

fn render_service(config: &KubernetesConfig, model: &str, version: i32) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(object_name(model, version)),
            namespace: Some(config.namespace().to_owned()),
            labels: Some(version_labels(config, model, version)),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(config, model, version)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: MODEL_SERVER_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

fn route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GATEWAY_GROUP, "v1", "HTTPRoute"),
        "httproutes",
    )
}

fn render_route(config: &KubernetesConfig, desired: &ModelState) -> DynamicObject {
    let model = desired.model.as_str();
    let mut parent = json!({
        "group": GATEWAY_GROUP,
        "kind": "Gateway",
        "name": config.gateway.name,
    });
    if let Some(ns) = &config.gateway.namespace {
        parent["namespace"] = json!(ns);
    }
    if let Some(section) = &config.gateway.section_name {
        parent["sectionName"] = json!(section);
    }
    let backends: Vec<Value> = desired
        .deployments
        .iter()
        .map(|d| {
            json!({
                "group": "",
                "kind": "Service",
                "name": object_name(model, d.version),
                "port": MODEL_SERVER_PORT,
                "weight": d.weight.max(0),
            })
        })
        .collect();
    let path = format!("/v1/models/{model}");
    let mut spec = json!({
        "parentRefs": [parent],
        "rules": [{
            "matches": [
                { "path": { "type": "Exact", "value": path } },
                { "path": { "type": "Exact", "value": format!("{path}:predict") } },
            ],
            "backendRefs": backends,
        }],
    });
    if let Some(host) = &config.hostname {
        spec["hostnames"] = json!([host]);
    }
    let mut route = DynamicObject::new(model, &route_resource())
        .within(config.namespace())
        .data(json!({ "spec": spec }));
    route.metadata.labels = Some(model_labels(model));
    route.metadata.annotations = Some(BTreeMap::from([(
        config.generation_annotation(),
        desired.generation.to_string(),
    )]));
    route
}

/// Names of listed objects (a model's Deployments or Services) whose
/// version is no longer desired, or that carry no version label at all.
pub fn stale_objects<'a>(
    config: &KubernetesConfig,
    desired: &ModelState,
    listed: impl IntoIterator<Item = &'a ObjectMeta>,
) -> Vec<String> {
    let wanted: BTreeSet<String> = desired
        .deployments
        .iter()
        .map(|d| d.version.to_string())
        .collect();
    let label = config.version_label();
    listed
        .into_iter()
        .filter(|meta| {
            let version = meta.labels.as_ref().and_then(|l| l.get(&label));
            !version.is_some_and(|v| wanted.contains(v))
        })
        .filter_map(|meta| meta.name.clone())
        .collect()
}

/// The faults in a desired state, which this backend cannot apply.
fn unapplied_faults(desired: &ModelState) -> Option<BackendError> {
    let faults: Vec<String> = desired
        .deployments
        .iter()
        .filter(|d| d.error_share > 0.0 || d.added_latency_ms > 0)
        .map(|d| {
            format!(
                "v{} ({}% errors, +{} ms)",
                d.version,
                d.error_share * 100.0,
                d.added_latency_ms
            )
        })
        .collect();
    (!faults.is_empty()).then(|| {
        BackendError(format!(
            "everything else is applied, but the fault on {} is not in effect: fault \
             injection is a local-backend feature with no Gateway API equivalent; clear \
             it with inject_fault and zeros, or drill on the local backend",
            faults.join(", ")
        ))
    })
}

fn api_error(action: &str, e: kube::Error) -> BackendError {
    match e {
        kube::Error::Api(status) => BackendError(format!(
            "{action}: the API server answered {} {}: {}",
            status.code, status.reason, status.message
        )),
        other => BackendError(format!("{action}: {other}")),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

/// Builds the runtime view from Deployments (rendered or read back).
/// `ready` is how many replicas are ready, per Deployment.
fn runtime_of(
    config: &KubernetesConfig,
    deployments: &[KubeDeployment],
    ready: impl Fn(&KubeDeployment) -> i32,
) -> RuntimeStatus {
    let label = config.version_label();
    let restart = config.restart_annotation();
    let mut versions: Vec<VersionStatus> = deployments
        .iter()
        .filter_map(|d| {
            let version: i32 = d.metadata.labels.as_ref()?.get(&label)?.parse().ok()?;
            let name = d.metadata.name.as_deref()?;
            let spec = d.spec.as_ref();
            let desired = spec.and_then(|s| s.replicas).unwrap_or(0).max(0);
            let epoch = spec
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(&restart))
                .and_then(|e| e.parse().ok())
                .unwrap_or(0);
            let url = format!(
                "http://{name}.{}.svc:{MODEL_SERVER_PORT}",
                config.namespace()
            );
            let ready = ready(d);
            Some(VersionStatus {
                version,
                replicas: (0..desired)
                    .map(|i| ReplicaStatus {
                        ready: i < ready,
                        url: url.clone(),
                        pid: None,
                        restart_epoch: epoch,
                    })
                    .collect(),
            })
        })
        .collect();
    versions.sort_by_key(|v| v.version);
    RuntimeStatus {
        backend: "kubernetes".into(),
        endpoint: config.public_url.clone(),
        versions,
    }
}

/// The kubernetes backend; see the module docs.
pub struct KubernetesBackend {
    /// With `namespace` resolved.
    config: KubernetesConfig,
    /// `None`: render only.
    client: Option<kube::Client>,
    /// The last objects rendered (and, with a client, applied) per model.
    rendered: std::sync::Mutex<BTreeMap<String, RenderedModel>>,
    /// One reconcile per model at a time: the background loop and a tool
    /// call must not interleave their applies.
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KubernetesBackend {
    /// Renders and keeps the objects in memory; applies nothing. For when
    /// no kubeconfig is configured, and for tests.
    pub fn render_only(mut config: KubernetesConfig) -> Result<Self, BackendError> {
        config.validate()?;
        config.namespace = Some(config.namespace().to_owned());
        Ok(Self::with_client(config, None))
    }

    /// Connects with the usual discovery (`KUBECONFIG`, `~/.kube/config`,
    /// or the in-cluster service account) and checks the API server
    /// answers, so a bad kubeconfig fails at start.
    pub async fn connect(mut config: KubernetesConfig) -> Result<Self, BackendError> {
        config.validate()?;
        let client = kube::Client::try_default()
            .await
            .map_err(|e| BackendError(format!("no usable Kubernetes configuration: {e}")))?;
        let version = client
            .apiserver_version()
            .await
            .map_err(|e| api_error("reaching the Kubernetes API server", e))?;
        if config.namespace.is_none() {
            config.namespace = Some(client.default_namespace().to_owned());
        }
        tracing::info!(
            server = %version.git_version,
            namespace = %config.namespace(),
            "kubernetes backend connected"
        );
        Ok(Self::with_client(config, Some(client)))
    }

    fn with_client(config: KubernetesConfig, client: Option<kube::Client>) -> Self {
        KubernetesBackend {
            config,
            client,
            rendered: Default::default(),
            locks: Default::default(),
        }
    }

    pub fn config(&self) -> &KubernetesConfig {
        &self.config
    }

    /// Whether reconciles reach a cluster (false: render only).
    pub fn is_connected(&self) -> bool {
        self.client.is_some()
    }

    /// The objects last rendered for `model`.
    pub fn manifests(&self, model: &str) -> Option<RenderedModel> {
        let rendered = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
        rendered.get(model).cloned()
    }

    fn lock_for(&self, model: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(model.to_owned()).or_default().clone()
    }

    fn keep(&self, rendered: RenderedModel) {
        let mut all = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(rendered.model.clone(), rendered);
    }

    fn applied_generation(&self, model: &str) -> Option<i64> {
        let all = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
        all.get(model).map(|r| r.generation)
    }

    fn deployments_api(&self, client: &kube::Client) -> Api<KubeDeployment> {
        Api::namespaced(client.clone(), self.config.namespace())
    }

    fn services_api(&self, client: &kube::Client) -> Api<Service> {
        Api::namespaced(client.clone(), self.config.namespace())
    }

    fn routes_api(&self, client: &kube::Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), self.config.namespace(), &route_resource())
    }

    /// The generation the cluster's HTTPRoute was applied from, if any. It
    /// lives on the object, so another replica of this server sees it too.
    async fn cluster_generation(
        &self,
        client: &kube::Client,
        model: &str,
    ) -> Result<Option<i64>, BackendError> {
        let route = self
            .routes_api(client)
            .get_opt(model)
            .await
            .map_err(|e| api_error(&format!("reading HTTPRoute {model}"), e))?;
        Ok(route.and_then(|r| {
            r.metadata
                .annotations?
                .get(&self.config.generation_annotation())?
                .parse()
                .ok()
        }))
    }

    async fn apply(
        &self,
        client: &kube::Client,
        rendered: &RenderedModel,
        desired: &ModelState,
    ) -> Result<(), BackendError> {
        let model = rendered.model.as_str();
        let apply = PatchParams::apply(FIELD_MANAGER).force();
        let deployments = self.deployments_api(client);
        let services = self.services_api(client);
        for d in &rendered.deployments {
            let name = d.metadata.name.as_deref().unwrap_or_default();
            deployments
                .patch(name, &apply, &Patch::Apply(d))
                .await
                .map_err(|e| api_error(&format!("applying Deployment {name}"), e))?;
        }
        for s in &rendered.services {
            let name = s.metadata.name.as_deref().unwrap_or_default();
            services
                .patch(name, &apply, &Patch::Apply(s))
                .await
                .map_err(|e| api_error(&format!("applying Service {name}"), e))?;
        }
        // The route goes last: it only points at Services that exist, and
        // it stops pointing at removed versions before they are deleted.
        self.routes_api(client)
            .patch(model, &apply, &Patch::Apply(&rendered.route))
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    BackendError(format!(
                        "applying HTTPRoute {model}: the API server has no \
                         gateway.networking.k8s.io/v1 HTTPRoute; install the Gateway API CRDs"
                    ))
                } else {
                    api_error(&format!("applying HTTPRoute {model}"), e)
                }
            })?;

        let selector = ListParams::default().labels(&model_selector(model));
        let listed = deployments
            .list(&selector)
            .await
            .map_err(|e| api_error(&format!("listing {model}'s Deployments"), e))?;
        for name in stale_objects(
            &self.config,
            desired,
            listed.items.iter().map(|d| &d.metadata),
        ) {
            match deployments.delete(&name, &DeleteParams::background()).await {
                Ok(_) => tracing::info!(%model, deployment = %name, "deleted a removed version"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(&format!("deleting Deployment {name}"), e)),
            }
        }
        // Services are listed and deleted one by one: not every API server
        // version serves deletecollection for Services.
        let listed = services
            .list(&selector)
            .await
            .map_err(|e| api_error(&format!("listing {model}'s Services"), e))?;
        for name in stale_objects(
            &self.config,
            desired,
            listed.items.iter().map(|s| &s.metadata),
        ) {
            match services.delete(&name, &DeleteParams::background()).await {
                Ok(_) => tracing::info!(%model, service = %name, "deleted a removed version"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(&format!("deleting Service {name}"), e)),
            }
        }
        Ok(())
    }

    async fn delete_all(&self, client: &kube::Client, model: &str) -> Result<(), BackendError> {
        match self
            .routes_api(client)
            .delete(model, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error(&format!("deleting HTTPRoute {model}"), e)),
        }
        let selector = ListParams::default().labels(&model_selector(model));
        let deployments = self.deployments_api(client);
        let listed = deployments
            .list(&selector)
            .await
            .map_err(|e| api_error(&format!("listing {model}'s Deployments"), e))?;
        for name in listed.items.iter().filter_map(|d| d.metadata.name.clone()) {
            match deployments.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(&format!("deleting Deployment {name}"), e)),
            }
        }
        let services = self.services_api(client);
        let listed = services
            .list(&selector)
            .await
            .map_err(|e| api_error(&format!("listing {model}'s Services"), e))?;
        for name in listed.items.iter().filter_map(|s| s.metadata.name.clone()) {
            match services.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(api_error(&format!("deleting Service {name}"), e)),
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ClusterBackend for KubernetesBackend {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn reconcile(&self, desired: &ModelState) -> Result<(), BackendError> {
        let model = desired.model.as_str();
        let rendered = render(&self.config, desired)?;
        let lock = self.lock_for(model);
        let _one_at_a_time = lock.lock().await;
        // A reconcile that read the desired state before a newer change
        // must not undo it (the background loop races tool calls).
        let applied = match &self.client {
            Some(client) => self.cluster_generation(client, model).await?,
            None => self.applied_generation(model),
        };
        if applied.is_some_and(|g| g > desired.generation) {
            tracing::debug!(%model, desired = desired.generation, ?applied, "a newer state is applied; skipping");
            return Ok(());
        }
        if let Some(client) = &self.client {
            self.apply(client, &rendered, desired).await?;
        }
        self.keep(rendered);
        match unapplied_faults(desired) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn remove(&self, model: &str) -> Result<(), BackendError> {
        let lock = self.lock_for(model);
        let _one_at_a_time = lock.lock().await;
        if let Some(client) = &self.client {
            self.delete_all(client, model).await?;
        }
        let mut all = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(model);
        Ok(())
    }

    async fn status(&self, model: &str) -> RuntimeStatus {
        let Some(client) = &self.client else {
            return match self.manifests(model) {
                // Rendered only: nothing runs, so no replica is ready.
                Some(r) => runtime_of(&self.config, &r.deployments, |_| 0),
                None => RuntimeStatus {
                    backend: "kubernetes".into(),
                    ..Default::default()
                },
            };
        };
        let selector = ListParams::default().labels(&model_selector(model));
        match self.deployments_api(client).list(&selector).await {
            Ok(list) => runtime_of(&self.config, &list.items, |d| {
                d.status
                    .as_ref()
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or(0)
            }),
            Err(e) => {
                // The trait's status cannot fail; say why it is empty.
                tracing::warn!(%model, error = %api_error("listing Deployments", e), "cannot read the cluster");
                RuntimeStatus {
                    backend: "kubernetes".into(),
                    endpoint: self.config.public_url.clone(),
                    versions: Vec::new(),
                }
            }
        }
    }

    async fn models(&self) -> Vec<String> {
        let Some(client) = &self.client else {
            let all = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
            return all.keys().cloned().collect();
        };
        let selector = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={FIELD_MANAGER}"));
        let mut models = BTreeSet::new();
        let model_of = |meta: &ObjectMeta| meta.labels.as_ref()?.get(NAME_LABEL).cloned();
        match self.deployments_api(client).list(&selector).await {
            Ok(list) => models.extend(list.items.iter().filter_map(|d| model_of(&d.metadata))),
            Err(e) => {
                tracing::warn!(error = %api_error("listing Deployments", e), "cannot list models")
            }
        }
        match self.routes_api(client).list(&selector).await {
            Ok(list) => models.extend(list.items.iter().filter_map(|r| model_of(&r.metadata))),
            Err(e) => {
                tracing::warn!(error = %api_error("listing HTTPRoutes", e), "cannot list models")
            }
        }
        models.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KubernetesConfig {
        let mut c = KubernetesConfig::new(
            "registry.example/mlops:1.2.3",
            GatewayRef {
                name: "public".into(),
                namespace: Some("gateways".into()),
                section_name: Some("http".into()),
            },
        );
        c.namespace = Some("models".into());
        c.storage_claim = Some("mlops-storage".into());
        c.env = BTreeMap::from([("RUST_LOG".into(), "info".into())]);
        c.hostname = Some("models.example".into());
        c.public_url = Some("https://models.example".into());
        c
    }

    fn deployment(version: i32, weight: i32, replicas: i32, epoch: i32) -> Deployment {
        Deployment {
            version,
            artifact_key: format!("models/job-{version}/model.json"),
            replicas,
            weight,
            error_share: 0.0,
            added_latency_ms: 0,
            restart_epoch: epoch,
            reference: None,
            updated_at: chrono::Utc::now(),
        }
    }

    fn state(generation: i64, deployments: Vec<Deployment>) -> ModelState {
        ModelState {
            model: "fraud-detector".into(),
            generation,
            deployments,
        }
    }

    fn canary() -> ModelState {
        state(7, vec![deployment(1, 90, 3, 0), deployment(2, 10, 1, 2)])
    }

    fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
        meta.labels.clone().unwrap_or_default()
    }

    #[test]
    fn each_version_gets_a_deployment_running_the_model_server() {
        let r = render(&config(), &canary()).unwrap();
        assert_eq!(r.deployments.len(), 2);
        let d = &r.deployments[1];
        assert_eq!(d.metadata.name.as_deref(), Some("fraud-detector-v2"));
        assert_eq!(d.metadata.namespace.as_deref(), Some("models"));
        let l = labels(&d.metadata);
        assert_eq!(l["app.kubernetes.io/name"], "fraud-detector");
        assert_eq!(l["app.kubernetes.io/managed-by"], "mlops-cluster");
        assert_eq!(l["mlops.dev/version"], "2");
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(
            spec.selector.match_labels.clone().unwrap(),
            BTreeMap::from([
                (
                    "app.kubernetes.io/name".to_owned(),
                    "fraud-detector".to_owned()
                ),
                ("mlops.dev/version".to_owned(), "2".to_owned()),
            ])
        );
        let template_meta = spec.template.metadata.as_ref().unwrap();
        // The pods carry the selector's labels, or the API server refuses.
        let pod_labels = labels(template_meta);
        for (k, v) in spec.selector.match_labels.as_ref().unwrap() {
            assert_eq!(pod_labels.get(k), Some(v));
        }
        let annotations = template_meta.annotations.clone().unwrap();
        assert_eq!(annotations["mlops.dev/restart-epoch"], "2");
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/port"], "8080");
        assert_eq!(annotations["prometheus.io/path"], "/metrics");

        let pod = spec.template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("registry.example/mlops:1.2.3"));
        assert_eq!(c.command.clone().unwrap(), ["mlops"]);
        assert_eq!(
            c.args.clone().unwrap(),
            [
                "model-server",
                "--model",
                "fraud-detector",
                "--version",
                "2",
                "--artifact",
                "models/job-2/model.json",
                "--listen",
                "0.0.0.0:8080",
            ]
        );
        let path = |p: &Option<Probe>| {
            p.as_ref()
                .and_then(|p| p.http_get.as_ref())
                .and_then(|g| g.path.clone())
        };
        assert_eq!(path(&c.readiness_probe).as_deref(), Some("/readyz"));
        assert_eq!(path(&c.liveness_probe).as_deref(), Some("/healthz"));
        let env: Vec<(String, Option<String>)> = c
            .env
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect();
        assert_eq!(
            env,
            [
                (
                    "MLOPS_STORAGE_ROOT".into(),
                    Some(DEFAULT_STORAGE_ROOT.into())
                ),
                ("RUST_LOG".into(), Some("info".into())),
            ]
        );
        let mount = &c.volume_mounts.as_ref().unwrap()[0];
        assert_eq!(mount.mount_path, DEFAULT_STORAGE_ROOT);
        let claim = pod.volumes.as_ref().unwrap()[0]
            .persistent_volume_claim
            .as_ref()
            .unwrap();
        assert_eq!(claim.claim_name, "mlops-storage");
        assert_eq!(claim.read_only, Some(true));

        // Serialized for server-side apply: apiVersion and kind included.
        let json = serde_json::to_value(d).unwrap();
        assert_eq!(json["apiVersion"], "apps/v1");
        assert_eq!(json["kind"], "Deployment");
    }

    #[test]
    fn each_version_gets_a_service_selecting_its_pods() {
        let r = render(&config(), &canary()).unwrap();
        let names: Vec<_> = r
            .services
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["fraud-detector-v1", "fraud-detector-v2"]);
        let spec = r.services[0].spec.as_ref().unwrap();
        assert_eq!(
            spec.selector.clone().unwrap(),
            r.deployments[0]
                .spec
                .as_ref()
                .unwrap()
                .selector
                .match_labels
                .clone()
                .unwrap()
        );
        let port = &spec.ports.as_ref().unwrap()[0];
        assert_eq!(port.port, 8080);
        assert_eq!(port.target_port, Some(IntOrString::String("http".into())));
    }

    #[test]
    fn the_route_sends_the_model_paths_to_each_version_by_weight() {
        let r = render(&config(), &canary()).unwrap();
        assert_eq!(
            r.route_weights(),
            BTreeMap::from([
                ("fraud-detector-v1".to_owned(), 90),
                ("fraud-detector-v2".to_owned(), 10),
            ])
        );
        let route = serde_json::to_value(&r.route).unwrap();
        assert_eq!(route["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(route["kind"], "HTTPRoute");
        assert_eq!(route["metadata"]["name"], "fraud-detector");
        assert_eq!(route["metadata"]["namespace"], "models");
        assert_eq!(
            route["metadata"]["annotations"]["mlops.dev/generation"],
            "7"
        );
        let spec = &route["spec"];
        assert_eq!(
            spec["parentRefs"],
            json!([{
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": "public",
                "namespace": "gateways",
                "sectionName": "http",
            }])
        );
        assert_eq!(spec["hostnames"], json!(["models.example"]));
        let rules = spec["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0]["matches"],
            json!([
                { "path": { "type": "Exact", "value": "/v1/models/fraud-detector" } },
                { "path": { "type": "Exact", "value": "/v1/models/fraud-detector:predict" } },
            ])
        );
        assert_eq!(
            rules[0]["backendRefs"][1],
            json!({
                "group": "",
                "kind": "Service",
                "name": "fraud-detector-v2",
                "port": 8080,
                "weight": 10,
            })
        );

        // A new split changes the weights and nothing else in the route.
        let mut shifted = canary();
        shifted.deployments[0].weight = 0;
        shifted.deployments[1].weight = 100;
        let after = render(&config(), &shifted).unwrap();
        assert_eq!(
            after.route_weights(),
            BTreeMap::from([
                ("fraud-detector-v1".to_owned(), 0),
                ("fraud-detector-v2".to_owned(), 100),
            ])
        );
        assert_eq!(after.route.data["spec"]["parentRefs"], spec["parentRefs"]);
        assert_eq!(
            after.route.data["spec"]["rules"][0]["matches"],
            rules[0]["matches"]
        );
    }

    #[test]
    fn optional_settings_are_left_out_when_unset() {
        let mut c = config();
        c.gateway.namespace = None;
        c.gateway.section_name = None;
        c.hostname = None;
        c.storage_claim = None;
        let r = render(&c, &canary()).unwrap();
        let spec = &r.route.data["spec"];
        assert_eq!(spec["parentRefs"][0].get("namespace"), None);
        assert_eq!(spec["parentRefs"][0].get("sectionName"), None);
        assert_eq!(spec.get("hostnames"), None);
        let pod = r.deployments[0]
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap();
        assert_eq!(pod.volumes, None);
        assert_eq!(pod.containers[0].volume_mounts, None);
    }

    #[test]
    fn a_restart_changes_only_the_pod_template_annotation() {
        let before = render(&config(), &canary()).unwrap();
        let mut restarted = canary();
        restarted.deployments[0].restart_epoch += 1;
        let after = render(&config(), &restarted).unwrap();
        // v2 is untouched; v1 differs in exactly its restart annotation.
        assert_eq!(before.deployments[1], after.deployments[1]);
        let mut v1 = after.deployments[0].clone();
        let annotations = v1
            .spec
            .as_mut()
            .unwrap()
            .template
            .metadata
            .as_mut()
            .unwrap()
            .annotations
            .as_mut()
            .unwrap();
        assert_eq!(annotations["mlops.dev/restart-epoch"], "1");
        annotations.insert("mlops.dev/restart-epoch".into(), "0".into());
        assert_eq!(v1, before.deployments[0]);
    }

    #[test]
    fn the_label_prefix_is_configurable() {
        let mut c = config();
        c.label_prefix = "ml.example.com".into();
        let r = render(&c, &canary()).unwrap();
        assert_eq!(
            labels(&r.deployments[0].metadata)["ml.example.com/version"],
            "1"
        );
        assert!(!labels(&r.deployments[0].metadata).contains_key("mlops.dev/version"));
    }

    #[test]
    fn deletion_takes_versions_no_longer_desired() {
        let c = config();
        let meta = |name: &str, version: Option<&str>| ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                version
                    .map(|v| BTreeMap::from([("mlops.dev/version".to_owned(), v.to_owned())]))
                    .unwrap_or_default(),
            ),
            ..Default::default()
        };
        let listed = [
            meta("fraud-detector-v1", Some("1")),
            meta("fraud-detector-v2", Some("2")),
            meta("fraud-detector-v3", Some("3")),
            meta("stray", None),
        ];
        let desired = state(9, vec![deployment(2, 100, 1, 0)]);
        assert_eq!(
            stale_objects(&c, &desired, &listed),
            ["fraud-detector-v1", "fraud-detector-v3", "stray"]
        );
        assert!(stale_objects(&c, &canary(), &listed[..2]).is_empty());
        assert_eq!(
            model_selector("fraud-detector"),
            "app.kubernetes.io/name=fraud-detector,app.kubernetes.io/managed-by=mlops-cluster"
        );
    }

    #[test]
    fn long_model_names_still_make_valid_distinct_object_names() {
        let a = format!("{}-a", "m".repeat(60));
        let b = format!("{}-b", "m".repeat(60));
        for model in [&a, &b] {
            let name = object_name(model, 123);
            assert!(is_dns_label(&name), "{name}");
            assert!(name.ends_with("-v123"), "{name}");
        }
        assert_ne!(object_name(&a, 123), object_name(&b, 123));
        assert_eq!(object_name(&a, 123), object_name(&a, 123));
        assert_eq!(object_name("short", 4), "short-v4");
    }

    #[test]
    fn states_kubernetes_cannot_hold_are_refused_with_reasons() {
        let mut trailing = canary();
        trailing.model = "fraud-".into();
        let e = render(&config(), &trailing).unwrap_err().to_string();
        assert!(e.contains("cannot name Kubernetes objects"), "{e}");

        let many = state(
            1,
            (1..=17)
                .map(|v| deployment(v, if v == 1 { 100 } else { 0 }, 1, 0))
                .collect(),
        );
        let e = render(&config(), &many).unwrap_err().to_string();
        assert!(e.contains("at most 16 backends"), "{e}");
    }

    #[test]
    fn faults_are_reported_not_applied() {
        assert!(unapplied_faults(&canary()).is_none());
        let mut faulty = canary();
        faulty.deployments[1].error_share = 0.5;
        faulty.deployments[1].added_latency_ms = 20;
        let e = unapplied_faults(&faulty).unwrap().to_string();
        assert!(e.contains("v2 (50% errors, +20 ms)"), "{e}");
        assert!(e.contains("local-backend feature"), "{e}");
        // Nothing about the fault leaks into the objects.
        assert_eq!(
            render(&config(), &faulty).unwrap().manifests(),
            render(&config(), &canary()).unwrap().manifests()
        );
    }

    #[test]
    fn bad_config_is_refused_before_anything_renders() {
        assert!(config().validate().is_ok());
        type Breaks = fn(&mut KubernetesConfig);
        let cases: [(Breaks, &str); 8] = [
            (|c| c.namespace = Some("Models".into()), "namespace"),
            (|c| c.image = " ".into(), "image"),
            (|c| c.storage_root = "relative/dir".into(), "absolute path"),
            (
                |c| {
                    c.env.insert("MLOPS_STORAGE_ROOT".into(), "/x".into());
                },
                "set from storage_root",
            ),
            (
                |c| {
                    c.env.insert("1BAD".into(), "x".into());
                },
                "environment variable",
            ),
            (|c| c.gateway.name = "no_underscores".into(), "gateway name"),
            (|c| c.hostname = Some("bad host".into()), "hostname"),
            (|c| c.public_url = Some("ftp://x".into()), "public URL"),
        ];
        for (breaks, expected) in cases {
            let mut c = config();
            breaks(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
            assert!(KubernetesBackend::render_only(c).is_err());
        }
        let mut wildcard = config();
        wildcard.hostname = Some("*.models.example".into());
        assert!(wildcard.validate().is_ok());
    }

    #[tokio::test]
    async fn render_only_keeps_the_newest_state_and_reports_it() {
        let backend = KubernetesBackend::render_only(config()).unwrap();
        assert!(!backend.is_connected());
        backend.reconcile(&canary()).await.unwrap();

        // An older desired state (a reconcile that read before a change)
        // does not replace the newer one.
        let mut older = canary();
        older.generation = 6;
        older.deployments[1].weight = 50;
        older.deployments[0].weight = 50;
        backend.reconcile(&older).await.unwrap();
        let kept = backend.manifests("fraud-detector").unwrap();
        assert_eq!(kept.generation, 7);
        assert_eq!(kept.route_weights()["fraud-detector-v2"], 10);

        let status = backend.status("fraud-detector").await;
        assert_eq!(status.backend, "kubernetes");
        assert_eq!(status.endpoint.as_deref(), Some("https://models.example"));
        let versions: Vec<(i32, usize, i32)> = status
            .versions
            .iter()
            .map(|v| {
                (
                    v.version,
                    v.replicas.len(),
                    v.replicas.first().map_or(-1, |r| r.restart_epoch),
                )
            })
            .collect();
        assert_eq!(versions, [(1, 3, 0), (2, 1, 2)]);
        let replica = &status.versions[0].replicas[0];
        assert!(!replica.ready, "nothing runs when only rendering");
        assert_eq!(replica.url, "http://fraud-detector-v1.models.svc:8080");
        assert_eq!(backend.models().await, ["fraud-detector"]);

        backend.remove("fraud-detector").await.unwrap();
        assert!(backend.manifests("fraud-detector").is_none());
        assert!(backend.models().await.is_empty());
        assert!(backend.status("fraud-detector").await.versions.is_empty());
    }
}
