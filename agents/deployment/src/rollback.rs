//! Rollback: all traffic back to the stable version, the rolled-back
//! version's deployment removed, and the aliases restored.

use std::collections::BTreeMap;

use mlops_agent_kit::{SkillContext, SkillError, SkillOutcome};

use crate::cluster::describe_split;
use crate::config::DeploymentConfig;
use crate::contract::{ModelName, RollbackOutcome, RollbackRequest};
use crate::registry::{Aliases, CHALLENGER, CHAMPION, PREVIOUS_CHAMPION};
use crate::release::Release;

/// Where traffic returns to, and whether the champion alias must move
/// back there (the rolled-back version had been promoted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RollbackTarget {
    pub stable: i32,
    pub restore_champion: bool,
}

pub(crate) fn rollback_target(
    aliases: &Aliases,
    model: &ModelName,
    version: i32,
) -> Result<RollbackTarget, SkillError> {
    match aliases.champion() {
        Some(champion) if champion == version => match aliases.previous_champion() {
            Some(previous) if previous != version => Ok(RollbackTarget {
                stable: previous,
                restore_champion: true,
            }),
            _ => Err(SkillError::failed(format!(
                "v{version} is the champion of {model} and no {PREVIOUS_CHAMPION} is recorded; \
                 there is no earlier version to roll back to"
            ))),
        },
        Some(champion) => Ok(RollbackTarget {
            stable: champion,
            restore_champion: false,
        }),
        None => Err(SkillError::failed(format!(
            "{model} has no champion to return traffic to"
        ))),
    }
}

pub async fn rollback(
    config: &DeploymentConfig,
    ctx: &SkillContext,
    request: RollbackRequest,
) -> Result<SkillOutcome, SkillError> {
    let mut release = Release::new(ctx, config, &request.model);
    let aliases = release.aliases().await?;
    let target = rollback_target(&aliases, &request.model, request.version)?;
    let stable = target.stable;
    release.progress(match &request.reason {
        Some(reason) => format!("rolling back v{} to v{stable}: {reason}", request.version),
        None => format!("rolling back v{} to v{stable}", request.version),
    });

    // Traffic first: it is what users feel. Then the clean-up, which a
    // re-run completes if anything below fails.
    let status = release.status().await?;
    let fallback_replicas = status
        .deployment(request.version)
        .map_or(config.default_replicas, |d| d.replicas);
    let status = release
        .ensure_stable(status, stable, fallback_replicas)
        .await?;
    let status = release
        .ensure_split(status, &BTreeMap::from([(stable, 100)]))
        .await?;
    let status = release.ensure_removed(status, request.version).await?;
    if target.restore_champion {
        release.ensure_alias(&aliases, CHAMPION, stable).await?;
        // previous-champion now names the champion itself: drop it.
        release
            .ensure_alias_removed(&aliases, PREVIOUS_CHAMPION, stable)
            .await?;
    }
    release
        .ensure_alias_removed(&aliases, CHALLENGER, request.version)
        .await?;

    let serving = status.serving();
    let done = if release.changes.is_empty() {
        "already so; nothing changed"
    } else {
        "done"
    };
    let summary = format!(
        "{}: rolled back v{}; champion v{stable} takes all traffic ({}) — {done}",
        release.model,
        request.version,
        describe_split(&status.split()),
    );
    Ok(SkillOutcome::single(
        "rollback",
        RollbackOutcome {
            model: release.model.to_string(),
            rolled_back_version: request.version,
            stable_version: stable,
            reason: request.reason,
            serving,
            changes: release.changes,
        },
        summary,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ModelSummary;

    fn aliases(pairs: serde_json::Value) -> Aliases {
        let summary: ModelSummary =
            serde_json::from_value(serde_json::json!({"name": "m", "aliases": pairs})).unwrap();
        Aliases::from_summary(&summary)
    }

    #[test]
    fn a_candidate_rolls_back_to_the_champion() {
        let model = ModelName::parse("m").unwrap();
        assert_eq!(
            rollback_target(&aliases(serde_json::json!({"champion": 1})), &model, 2).unwrap(),
            RollbackTarget {
                stable: 1,
                restore_champion: false
            }
        );
    }

    #[test]
    fn a_fresh_champion_rolls_back_to_the_previous_one() {
        let model = ModelName::parse("m").unwrap();
        assert_eq!(
            rollback_target(
                &aliases(serde_json::json!({"champion": 2, "previous-champion": 1})),
                &model,
                2
            )
            .unwrap(),
            RollbackTarget {
                stable: 1,
                restore_champion: true
            }
        );
        let alone =
            rollback_target(&aliases(serde_json::json!({"champion": 2})), &model, 2).unwrap_err();
        assert!(alone.to_string().contains("previous-champion"), "{alone}");
        let none = rollback_target(&aliases(serde_json::json!({})), &model, 2).unwrap_err();
        assert!(none.to_string().contains("no champion"), "{none}");
    }
}
