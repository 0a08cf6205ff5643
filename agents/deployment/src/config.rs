//! The agent's settings (`MLOPS_AGENT_CONFIG`, YAML); every key has a
//! default, so the file is optional.

use std::time::Duration;

use serde::Deserialize;

use crate::contract::MAX_REPLICAS;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploymentConfig {
    /// Replicas a version starts with when neither the input nor a running
    /// deployment says how many.
    pub default_replicas: i32,
    /// How long a version's replicas may take to become ready before the
    /// skill fails.
    pub ready_timeout_seconds: u64,
    /// Pause between readiness checks.
    pub poll_interval_ms: u64,
    /// How long `promote-to-production` keeps old versions (without
    /// traffic) before retiring them, when the input does not say.
    pub grace_period_seconds: u64,
    /// The longest grace period an input may ask for.
    pub max_grace_period_seconds: u64,
    /// How often a progress line is streamed while a grace period runs.
    pub progress_interval_seconds: u64,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        DeploymentConfig {
            default_replicas: 1,
            ready_timeout_seconds: 120,
            poll_interval_ms: 500,
            grace_period_seconds: 30,
            max_grace_period_seconds: 3600,
            progress_interval_seconds: 5,
        }
    }
}

impl DeploymentConfig {
    /// Refuses settings the skills cannot work with, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_REPLICAS as i32).contains(&self.default_replicas) {
            return Err(format!(
                "default_replicas {} must be between 1 and {MAX_REPLICAS}",
                self.default_replicas
            ));
        }
        if self.ready_timeout_seconds == 0 {
            return Err("ready_timeout_seconds must be at least 1".into());
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return Err(format!(
                "poll_interval_ms {} must be between 10 and 60000",
                self.poll_interval_ms
            ));
        }
        if self.grace_period_seconds > self.max_grace_period_seconds {
            return Err(format!(
                "grace_period_seconds {} is above max_grace_period_seconds {}",
                self.grace_period_seconds, self.max_grace_period_seconds
            ));
        }
        if self.progress_interval_seconds == 0 {
            return Err("progress_interval_seconds must be at least 1".into());
        }
        Ok(())
    }

    pub fn ready_timeout(&self) -> Duration {
        Duration::from_secs(self.ready_timeout_seconds)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn progress_interval(&self) -> Duration {
        Duration::from_secs(self.progress_interval_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_yaml_overrides_them() {
        DeploymentConfig::default().validate().unwrap();
        let config: DeploymentConfig =
            serde_yaml::from_str("grace_period_seconds: 2\npoll_interval_ms: 100\n").unwrap();
        assert_eq!(config.grace_period_seconds, 2);
        assert_eq!(config.default_replicas, 1);
        config.validate().unwrap();
        assert!(serde_yaml::from_str::<DeploymentConfig>("grace: 2\n").is_err());
    }

    #[test]
    fn bad_settings_name_the_key() {
        let config = DeploymentConfig {
            default_replicas: 0,
            ..Default::default()
        };
        assert!(config.validate().unwrap_err().contains("default_replicas"));
        let config = DeploymentConfig {
            grace_period_seconds: 7200,
            ..Default::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("grace_period_seconds")
        );
    }
}
