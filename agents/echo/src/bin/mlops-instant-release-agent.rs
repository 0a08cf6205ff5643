//! An agent whose release skills (start canary, set weight, analyze,
//! promote, rollback) answer at once: benchmarks use it to measure the
//! orchestrator's own cost per node, with the agents' work taken out.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use clap::Parser;
use mlops_agent_kit::{
    Action, AgentDefinition, AgentServer, Phase, SkillContext, SkillContract, SkillError,
    SkillExecutor, SkillOutcome, Skills,
};
use mlops_service_auth::{JwksSource, TokenVerifier};
use schemars::JsonSchema;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The name it answers to (the audience of its tokens).
    #[arg(long, default_value = "deployment")]
    name: String,
    /// Token issuer (the control plane's URL); its JWKS is fetched from there.
    #[arg(long)]
    issuer: String,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct StepInput {
    model: String,
    version: u32,
    weight: Option<u32>,
    canary_version: Option<u32>,
    window_seconds: Option<u32>,
    reason: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct StepOutput {
    verdict: Option<String>,
}

struct InstantRelease {
    name: String,
}

#[async_trait]
impl Skills for InstantRelease {
    fn definition(&self) -> AgentDefinition {
        let skill = |id: &str, phase: Phase, action: Action| {
            SkillContract::new::<StepInput, StepOutput>(id, id, "answers at once", phase)
                .with_action(action)
        };
        AgentDefinition {
            name: self.name.clone(),
            description: "Instant release skills, for benchmarks".into(),
            version: "0".into(),
            skills: vec![
                skill("start", Phase::Deploy, Action::StartCanary),
                skill("weigh", Phase::Deploy, Action::SetWeight),
                skill("watch", Phase::Observe, Action::AnalyzeCanary),
                skill("crown", Phase::Deploy, Action::Promote),
                skill("undo", Phase::Rollback, Action::Rollback),
            ],
        }
    }

    async fn run(
        &self,
        skill: &str,
        input: Value,
        _: &SkillContext,
    ) -> Result<SkillOutcome, SkillError> {
        let data = match skill {
            "watch" => json!({"verdict": "successful", "input": input}),
            _ => json!({"done": skill, "input": input}),
        };
        Ok(SkillOutcome::single("step", data, format!("{skill}: done")))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let verifier = Arc::new(TokenVerifier::new(
        args.issuer.clone(),
        args.name.clone(),
        JwksSource::Url(format!("{}/.well-known/jwks.json", args.issuer)),
    ));
    let skills = Arc::new(InstantRelease { name: args.name });
    let agent = AgentServer::new(
        skills.definition(),
        SkillExecutor::new(skills, None),
        verifier,
    )
    .bind(args.listen)
    .await?;
    println!("listening {}", agent.base_url());
    agent
        .serve_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}
