//! Canary releases: a candidate beside the stable champion, with a share
//! of traffic (`deploy-canary`), and moving that share (`set-traffic-weight`).

use std::collections::BTreeMap;

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};

use crate::cluster::{ModelDeployments, describe_split};
use crate::config::DeploymentConfig;
use crate::contract::{CanaryOutcome, CanaryRequest, WeightRequest};
use crate::registry::CHALLENGER;
use crate::release::Release;
use crate::stable_version;

/// Stable gets `100 - weight`, the candidate `weight`; a version with 0 is
/// left out (the cluster gives unlisted versions 0).
pub(crate) fn two_way_split(stable: i32, candidate: i32, weight: i32) -> BTreeMap<i32, i32> {
    [(stable, 100 - weight), (candidate, weight)]
        .into_iter()
        .filter(|(_, w)| *w > 0)
        .collect()
}

pub async fn deploy_canary(
    config: &DeploymentConfig,
    ctx: &SkillContext,
    request: CanaryRequest,
) -> Result<SkillOutcome, SkillError> {
    let mut release = Release::new(ctx, config, &request.model);
    let candidate = release.deployable_version(request.version).await?;
    let aliases = release.aliases().await?;
    let stable = stable_version(&aliases, &request.model, request.version)?;
    release.progress(format!(
        "canary v{} at {}% beside champion v{stable}",
        request.version, request.weight
    ));

    // The stable version first: on a model with nothing deployed, the
    // first version deployed takes all traffic, and that must be stable.
    let status = release.status().await?;
    let status = release
        .ensure_stable(status, stable, config.default_replicas)
        .await?;
    let status = release
        .ensure_running(
            status,
            &candidate,
            request.replicas,
            config.default_replicas,
        )
        .await?;
    let split = two_way_split(stable, request.version, request.weight);
    let status = release.ensure_split(status, &split).await?;
    release
        .ensure_alias(&aliases, CHALLENGER, request.version)
        .await?;
    Ok(outcome(
        "canary",
        release,
        stable,
        request.version,
        request.weight,
        status,
    ))
}

pub async fn set_traffic_weight(
    config: &DeploymentConfig,
    ctx: &SkillContext,
    request: WeightRequest,
) -> Result<SkillOutcome, SkillError> {
    let mut release = Release::new(ctx, config, &request.model);
    let aliases = release.aliases().await?;
    let stable = stable_version(&aliases, &request.model, request.version)?;
    let status = release.status().await?;
    let Some(candidate) = status.deployment(request.version) else {
        return Err(SkillError::failed(format!(
            "v{} of {} is not deployed; start it with deploy-canary or deploy-blue-green first",
            request.version, request.model
        )));
    };
    let candidate_replicas = candidate.replicas;
    let status = if request.weight < 100 {
        release
            .ensure_stable(status, stable, candidate_replicas)
            .await?
    } else {
        status
    };
    let status = if request.weight > 0 {
        release.wait_ready(status, request.version).await?
    } else {
        status
    };
    let split = two_way_split(stable, request.version, request.weight);
    let status = release.ensure_split(status, &split).await?;
    Ok(outcome(
        "traffic",
        release,
        stable,
        request.version,
        request.weight,
        status,
    ))
}

/// `artifact`: the outcome's artifact name.
fn outcome(
    artifact: &str,
    release: Release<'_>,
    stable: i32,
    candidate: i32,
    weight: i32,
    status: ModelDeployments,
) -> SkillOutcome {
    let serving = status.serving();
    let done = if release.changes.is_empty() {
        "already so; nothing changed"
    } else {
        "done"
    };
    let summary = format!(
        "{}: v{candidate} takes {weight}% beside champion v{stable} ({}) at {} — {done}",
        release.model,
        describe_split(&status.split()),
        serving.endpoint.as_deref().unwrap_or("no endpoint"),
    );
    SkillOutcome::single(
        artifact,
        CanaryOutcome {
            model: release.model.to_string(),
            stable_version: stable,
            candidate_version: candidate,
            candidate_weight: weight,
            serving,
            changes: release.changes,
        },
        summary,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_leave_out_zero_weights() {
        assert_eq!(two_way_split(1, 2, 10), BTreeMap::from([(1, 90), (2, 10)]));
        assert_eq!(two_way_split(1, 2, 0), BTreeMap::from([(1, 100)]));
        assert_eq!(two_way_split(1, 2, 100), BTreeMap::from([(2, 100)]));
    }
}
