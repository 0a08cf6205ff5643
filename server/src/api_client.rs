//! The CLI's REST commands: `deploy`, `approvals`, `approve`, `reject`,
//! `cancel`, and `status` of workflows. They call the control plane's API
//! with a personal API token, and follow progress live over SSE.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

#[derive(Args, Clone)]
pub struct ApiArgs {
    /// The control plane's URL (default: the one `mlops up` recorded).
    #[arg(long, env = "MLOPS_URL")]
    pub url: Option<String>,
    /// A personal API token (create one on the dashboard, or POST /api/tokens).
    #[arg(long, env = "MLOPS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where `mlops up` keeps its state (to find the URL).
    #[arg(long, env = "MLOPS_DATA_DIR", default_value = ".mlops")]
    pub data_dir: std::path::PathBuf,
}

#[derive(Args)]
pub struct DeployArgs {
    /// The model to deploy.
    pub model: String,
    #[arg(long)]
    pub version: u32,
    #[arg(long, default_value = "canary")]
    pub strategy: String,
    /// Canary traffic weights, e.g. 10,50,100 (default: policy's).
    #[arg(long, value_delimiter = ',')]
    pub steps: Option<Vec<u32>>,
    /// Seconds of analysis after each step (default: policy's).
    #[arg(long)]
    pub analysis_seconds: Option<u32>,
    /// The holdout dataset the checks use, as name@version.
    #[arg(long)]
    pub holdout: Option<String>,
    /// The training dataset the drift check compares with, as name@version.
    #[arg(long)]
    pub training_data: Option<String>,
    /// Print the workflow URL and return at once.
    #[arg(long)]
    pub no_follow: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Args)]
pub struct DecideArgs {
    /// The workflow id.
    pub workflow: String,
    /// The gate (default: the workflow's one open gate).
    pub gate: Option<String>,
    #[arg(long)]
    pub comment: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Args)]
pub struct WorkflowArgs {
    pub workflow: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    fn new(args: &ApiArgs) -> anyhow::Result<Api> {
        let base = match &args.url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => crate::control_plane::recorded_issuer(&args.data_dir)?,
        };
        let token = args
            .token
            .clone()
            .context("an API token is needed: pass --token or set MLOPS_TOKEN")?;
        Ok(Api {
            base,
            token,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(120));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("reaching {}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let detail = value["detail"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            bail!("{status}: {detail}");
        }
        Ok(value)
    }

    /// Follows a workflow's events until it waits at a gate or ends.
    async fn follow(&self, workflow: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}/api/workflows/{workflow}/events", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?;
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template(
            "{spinner} {elapsed:>4} {msg}",
        )?);
        bar.enable_steady_tick(Duration::from_millis(120));
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(chunk) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk?));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n");
                let Ok(event) = serde_json::from_str::<Value>(&data) else {
                    continue;
                };
                let body = &event["body"];
                let text = body["text"].as_str().unwrap_or_default();
                match event["kind"].as_str() {
                    Some("node-state")
                    | Some("workflow-planned")
                    | Some("node-added")
                    | Some("notification")
                    | Some("gate-decided") => {
                        bar.println(format!("  {text}"));
                    }
                    Some("gate-opened") => {
                        bar.finish_and_clear();
                        println!(
                            "⏸ waiting at gate {}: {text}",
                            body["gate"].as_str().unwrap_or("?")
                        );
                        println!(
                            "  approve with: mlops approve {workflow} {}",
                            body["gate"].as_str().unwrap_or_default()
                        );
                        return Ok(event);
                    }
                    Some("workflow-finished") => {
                        bar.finish_and_clear();
                        println!(
                            "■ workflow {}: {text}",
                            body["state"].as_str().unwrap_or("ended")
                        );
                        return Ok(event);
                    }
                    _ => {}
                }
                bar.set_message(text.to_owned());
            }
        }
        bar.finish_and_clear();
        bail!("the event stream ended before the workflow reached a gate or its end")
    }
}

fn dataset(raw: &Option<String>) -> anyhow::Result<Option<Value>> {
    raw.as_ref()
        .map(|r| {
            let (name, version) = r
                .split_once('@')
                .with_context(|| format!("{r:?} is not name@version"))?;
            Ok(json!({"name": name, "version": version}))
        })
        .transpose()
}

pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.api)?;
    let mut goal = json!({
        "goal": "deploy", "model": args.model, "version": args.version, "strategy": args.strategy,
    });
    if let Some(steps) = &args.steps {
        goal["steps"] = json!(steps);
    }
    if let Some(seconds) = args.analysis_seconds {
        goal["analysis_seconds"] = json!(seconds);
    }
    if let Some(holdout) = dataset(&args.holdout)? {
        goal["holdout"] = holdout;
    }
    if let Some(training) = dataset(&args.training_data)? {
        goal["training_data"] = training;
    }
    let started = api
        .call(reqwest::Method::POST, "/api/workflows", Some(goal))
        .await?;
    let id = started["id"]
        .as_str()
        .context("the answer names no workflow")?;
    println!(
        "workflow {id}: {}",
        started["url"].as_str().unwrap_or_default()
    );
    if !args.no_follow {
        api.follow(id).await?;
    }
    Ok(())
}

pub async fn approvals(args: ListArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.api)?;
    let gates = api
        .call(reqwest::Method::GET, "/api/approvals", None)
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&gates)?);
        return Ok(());
    }
    let list = gates.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no open approvals");
    }
    for g in list {
        println!(
            "{}  {}  requested by {}  expires {}\n    {}",
            g["workflow"].as_str().unwrap_or_default(),
            g["gate"].as_str().unwrap_or_default(),
            g["requested_by"].as_str().unwrap_or_default(),
            g["expires_at"].as_str().unwrap_or("never"),
            g["description"].as_str().unwrap_or_default(),
        );
    }
    Ok(())
}

pub async fn decide(args: DecideArgs, decision: &str) -> anyhow::Result<()> {
    let api = Api::new(&args.api)?;
    let gate = match args.gate {
        Some(gate) => gate,
        None => {
            let detail = api
                .call(
                    reqwest::Method::GET,
                    &format!("/api/workflows/{}", args.workflow),
                    None,
                )
                .await?;
            let open: Vec<String> = detail["gates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|g| g["state"] == "open")
                .filter_map(|g| g["gate"].as_str().map(str::to_owned))
                .collect();
            match open.as_slice() {
                [one] => one.clone(),
                [] => bail!("workflow {} has no open gate", args.workflow),
                _ => bail!(
                    "workflow {} has several open gates; name one: {}",
                    args.workflow,
                    open.join(", ")
                ),
            }
        }
    };
    api.call(
        reqwest::Method::POST,
        &format!("/api/approvals/{}/{gate}", args.workflow),
        Some(json!({"decision": decision, "comment": args.comment})),
    )
    .await?;
    println!("{decision}d gate {gate} of workflow {}", args.workflow);
    Ok(())
}

pub async fn cancel(args: WorkflowArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.api)?;
    api.call(
        reqwest::Method::POST,
        &format!("/api/workflows/{}/cancel", args.workflow),
        None,
    )
    .await?;
    println!("canceled workflow {}", args.workflow);
    Ok(())
}

/// `mlops status WORKFLOW`: its graph, then its progress live until it
/// waits or ends. `mlops status` with a token: the recent workflows.
pub async fn status(workflow: Option<&str>, args: &ApiArgs, as_json: bool) -> anyhow::Result<()> {
    let api = Api::new(args)?;
    let Some(id) = workflow else {
        let list = api
            .call(reqwest::Method::GET, "/api/workflows?limit=20", None)
            .await?;
        if as_json {
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(());
        }
        for w in list.as_array().into_iter().flatten() {
            println!(
                "{:<38} {:<15} {:<10} {}",
                w["id"].as_str().unwrap_or_default(),
                w["state"].as_str().unwrap_or_default(),
                w["requested_by"].as_str().unwrap_or_default(),
                w["summary"].as_str().unwrap_or_default(),
            );
        }
        return Ok(());
    };
    let detail = api
        .call(reqwest::Method::GET, &format!("/api/workflows/{id}"), None)
        .await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&detail)?);
        return Ok(());
    }
    println!(
        "{id}  {}  {}",
        detail["state"].as_str().unwrap_or_default(),
        detail["summary"].as_str().unwrap_or_default()
    );
    for n in detail["nodes"].as_array().into_iter().flatten() {
        println!(
            "  {:<16} {:<28} {}",
            n["state"].as_str().unwrap_or_default(),
            n["node"].as_str().unwrap_or_default(),
            n["title"].as_str().unwrap_or_default()
        );
    }
    let live = matches!(detail["state"].as_str(), Some("submitted" | "working"));
    if live {
        api.follow(id).await?;
    }
    Ok(())
}
