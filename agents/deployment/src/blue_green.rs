//! Blue-green releases: green (the candidate) starts beside blue (the
//! champion), and once green is ready all traffic switches to it. Blue
//! keeps running, as it is, so a rollback is one traffic switch away.

use std::collections::BTreeMap;

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};

use crate::cluster::describe_split;
use crate::config::DeploymentConfig;
use crate::contract::{BlueGreenOutcome, BlueGreenRequest};
use crate::registry::CHALLENGER;
use crate::release::Release;
use crate::stable_version;

pub async fn deploy_blue_green(
    config: &DeploymentConfig,
    ctx: &SkillContext,
    request: BlueGreenRequest,
) -> Result<SkillOutcome, SkillError> {
    let mut release = Release::new(ctx, config, &request.model);
    let green = release.deployable_version(request.version).await?;
    let aliases = release.aliases().await?;
    let blue = stable_version(&aliases, &request.model, request.version)?;
    release.progress(format!(
        "blue-green: blue v{blue} (champion), green v{}",
        request.version
    ));

    let status = release.status().await?;
    let status = release
        .ensure_stable(status, blue, config.default_replicas)
        .await?;
    // Green matches blue's capacity unless told otherwise: it is about to
    // take blue's whole load at once.
    let blue_replicas = status
        .deployment(blue)
        .map_or(config.default_replicas, |d| d.replicas);
    let status = release
        .ensure_running(status, &green, request.replicas, blue_replicas)
        .await?;
    let status = release
        .ensure_split(status, &BTreeMap::from([(request.version, 100)]))
        .await?;
    release
        .ensure_alias(&aliases, CHALLENGER, request.version)
        .await?;

    let serving = status.serving();
    let done = if release.changes.is_empty() {
        "already so; nothing changed"
    } else {
        "done"
    };
    let summary = format!(
        "{}: green v{} takes all traffic, blue v{blue} stays up for rollback ({}) at {} — {done}",
        release.model,
        request.version,
        describe_split(&status.split()),
        serving.endpoint.as_deref().unwrap_or("no endpoint"),
    );
    Ok(SkillOutcome::single(
        "blue-green",
        BlueGreenOutcome {
            model: release.model.to_string(),
            blue_version: blue,
            green_version: request.version,
            serving,
            changes: release.changes,
        },
        summary,
    ))
}
