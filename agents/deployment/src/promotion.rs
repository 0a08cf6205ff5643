//! Promotion: the version takes all traffic and becomes the champion (the
//! old one is remembered as `previous-champion`), and the old versions'
//! deployments are retired once a grace period has passed without traffic.
//! A version not deployed yet is started first, which is how a model's
//! first version goes out.

use std::collections::BTreeMap;

use chrono::Utc;
use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};

use crate::ModelLocks;
use crate::cluster::{describe_split, retire_at};
use crate::config::DeploymentConfig;
use crate::contract::{PromoteRequest, PromotionOutcome};
use crate::registry::{CHALLENGER, CHAMPION, PREVIOUS_CHAMPION};
use crate::release::Release;

pub async fn promote(
    config: &DeploymentConfig,
    ctx: &SkillContext,
    request: PromoteRequest,
    locks: &ModelLocks,
) -> Result<SkillOutcome, SkillError> {
    let mut release = Release::new(ctx, config, &request.model);
    let version = request.version;

    // Step 1, under the model's lock: traffic and aliases.
    let guard = locks.lock(&request.model, ctx).await?;
    let target = release.deployable_version(version).await?;
    let aliases = release.aliases().await?;
    let old_champion = aliases.champion();
    let status = release.status().await?;
    match old_champion {
        Some(old) if old != version => {
            release.progress(format!("promoting v{version} over champion v{old}"))
        }
        Some(_) => release.progress(format!("v{version} is the champion already")),
        None => release.progress(format!(
            "v{version} becomes the first champion of {}",
            request.model
        )),
    }
    // A version started here carries the old champion's capacity.
    let fallback_replicas = old_champion
        .and_then(|old| status.deployment(old))
        .map_or(config.default_replicas, |d| d.replicas);
    let status = release
        .ensure_running(status, &target, request.replicas, fallback_replicas)
        .await?;
    let status = release
        .ensure_split(status, &BTreeMap::from([(version, 100)]))
        .await?;
    let previous_champion = match old_champion {
        Some(old) if old != version => {
            // previous-champion before champion: should the second call
            // fail, a re-run still sees the old champion and records it.
            release
                .ensure_alias(&aliases, PREVIOUS_CHAMPION, old)
                .await?;
            Some(old)
        }
        Some(_) => aliases.previous_champion(),
        None => None,
    };
    release.ensure_alias(&aliases, CHAMPION, version).await?;
    release
        .ensure_alias_removed(&aliases, CHALLENGER, version)
        .await?;
    drop(guard);

    // Step 2, without the lock (a rollback must not wait for it): the
    // grace period, counted from when each old version lost its traffic.
    let grace = chrono::Duration::seconds(request.grace_period_seconds as i64);
    let now = Utc::now();
    let old_versions: Vec<(i32, chrono::DateTime<Utc>)> = status
        .deployments()
        .iter()
        .filter(|d| d.version != version)
        .map(|d| (d.version, retire_at(d, grace, now)))
        .collect();
    let mut retired = Vec::new();
    let mut kept = Vec::new();
    let mut status = status;
    if let Some(deadline) = old_versions.iter().map(|(_, at)| *at).max() {
        let names = old_versions
            .iter()
            .map(|(v, _)| format!("v{v}"))
            .collect::<Vec<_>>()
            .join(", ");
        wait_until(&release, ctx, deadline, &names).await?;

        // Step 3, under the lock again: retire what still has no traffic,
        // unless the promotion was undone meanwhile.
        let _guard = locks.lock(&request.model, ctx).await?;
        let aliases = release.aliases().await?;
        if aliases.champion() != Some(version) {
            return Err(SkillError::failed_with(
                format!(
                    "the promotion of v{version} was superseded during the grace period: the \
                     champion is now {}; {names} left running",
                    aliases
                        .champion()
                        .map_or("unset".to_owned(), |c| format!("v{c}"))
                ),
                serde_json::json!({
                    "model": request.model.as_str(),
                    "promoted": version,
                    "champion": aliases.champion(),
                    "not_retired": old_versions.iter().map(|(v, _)| v).collect::<Vec<_>>(),
                }),
            ));
        }
        status = release.status().await?;
        for (old, _) in &old_versions {
            match status.deployment(*old) {
                None => {}
                Some(d) if d.weight > 0 => {
                    release.progress(format!(
                        "v{old} takes {}% of traffic again; leaving it running",
                        d.weight
                    ));
                    kept.push(*old);
                }
                Some(_) => {
                    status = release.ensure_removed(status, *old).await?;
                    retired.push(*old);
                }
            }
        }
    }

    let serving = status.serving();
    let done = if release.changes.is_empty() {
        "already so; nothing changed"
    } else {
        "done"
    };
    let retired_text = if retired.is_empty() {
        String::new()
    } else {
        format!(
            "; retired {}",
            retired
                .iter()
                .map(|v| format!("v{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let summary = format!(
        "{}: v{version} is the champion with all traffic ({}){retired_text} — {done}",
        release.model,
        describe_split(&status.split()),
    );
    Ok(SkillOutcome::single(
        "promotion",
        PromotionOutcome {
            model: release.model.to_string(),
            champion: version,
            previous_champion,
            grace_period_seconds: request.grace_period_seconds,
            retired_versions: retired,
            kept_versions: kept,
            serving,
            changes: release.changes,
        },
        summary,
    ))
}

/// Sleeps until `deadline`, streaming how long is left every
/// `progress_interval_seconds`; ends early with `Canceled`.
async fn wait_until(
    release: &Release<'_>,
    ctx: &SkillContext,
    deadline: chrono::DateTime<Utc>,
    versions: &str,
) -> Result<(), SkillError> {
    loop {
        let left = (deadline - Utc::now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return Ok(());
        }
        ctx.progress_with(
            format!(
                "grace period: retiring {versions} in {} s (without traffic meanwhile)",
                left.as_secs_f64().ceil() as u64
            ),
            serde_json::json!({ "grace_seconds_left": left.as_secs_f64().ceil() as u64 }),
        );
        let step = left.min(release.config().progress_interval());
        tokio::select! {
            _ = tokio::time::sleep(step) => {}
            _ = ctx.canceled() => return Err(SkillError::Canceled),
        }
    }
}
