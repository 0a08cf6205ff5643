//! `mlops agent NAME`: runs one agent: a specialist or the orchestrator.

use std::sync::Arc;

use anyhow::{Context, bail};
use mlops_agent_kit::{AgentEnv, Skills, serve_skills};

use crate::cli::NamedArgs;
use crate::control_plane::shutdown_signal;

/// Every agent this build has; `mlops up` starts each of them.
pub const AGENTS: &[&str] = &[
    mlops_agent_data::NAME,
    mlops_agent_training::NAME,
    mlops_agent_validation::NAME,
    mlops_agent_deployment::NAME,
    mlops_agent_monitoring::NAME,
    mlops_agent_cost::NAME,
    mlops_agent_orchestrator::NAME,
];

pub async fn run(args: NamedArgs) -> anyhow::Result<()> {
    if !AGENTS.contains(&args.name.as_str()) {
        bail!(
            "unknown agent {:?}; available: {}",
            args.name,
            AGENTS.join(", ")
        );
    }
    let env = AgentEnv::from_env(&args.name).await?;
    mlops_postgres::migrate(&env.database)
        .await
        .context("applying migrations")?;
    match args.name.as_str() {
        mlops_agent_data::NAME => serve(mlops_agent_data::DataAgent::new(&env)?, &env, &args).await,
        mlops_agent_training::NAME => {
            serve(mlops_agent_training::TrainingAgent::new(&env)?, &env, &args).await
        }
        mlops_agent_validation::NAME => {
            serve(
                mlops_agent_validation::ValidationAgent::new(&env)?,
                &env,
                &args,
            )
            .await
        }
        mlops_agent_deployment::NAME => {
            serve(
                mlops_agent_deployment::DeploymentAgent::new(&env)?,
                &env,
                &args,
            )
            .await
        }
        mlops_agent_monitoring::NAME => {
            serve(
                mlops_agent_monitoring::MonitoringAgent::new(&env)?,
                &env,
                &args,
            )
            .await
        }
        mlops_agent_cost::NAME => serve(mlops_agent_cost::CostAgent::new(&env)?, &env, &args).await,
        mlops_agent_orchestrator::NAME => {
            let running =
                mlops_agent_orchestrator::serve(&env, args.listen, args.public_url.clone()).await?;
            println!("listening {}", running.base_url());
            running.serve_until(shutdown_signal()).await;
            Ok(())
        }
        other => bail!("agent {other:?} is listed but not wired"),
    }
}

async fn serve<S: Skills>(skills: S, env: &AgentEnv, args: &NamedArgs) -> anyhow::Result<()> {
    let skills = Arc::new(skills);
    let running = serve_skills(skills, env, args.listen, args.public_url.clone()).await?;
    println!("listening {}", running.base_url());
    running.serve_until(shutdown_signal()).await;
    Ok(())
}
