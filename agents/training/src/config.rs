//! The training agent's settings (`MLOPS_AGENT_CONFIG`), with defaults that
//! suit the in-process trainer.

use std::time::Duration;

use serde::Deserialize;

use crate::memory::MemoryModel;

/// Everything the agent can be tuned by. Every key is optional.
///
/// ```yaml
/// poll_interval_ms: 1000
/// progress_interval_ms: 1000
/// max_wait_seconds: 3600
/// memory:
///   bytes_per_value: 8
///   base_overhead_mb: 128
///   logistic_regression_factor: 4.0
///   random_forest_factor: 6.0
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// How often the trainer is asked for a job's or search's state.
    pub poll_interval_ms: u64,
    /// The longest a running skill stays silent: a progress update goes
    /// out at least this often, whatever the trainer answers. The brief
    /// promises at most 2 s, so larger values are refused.
    pub progress_interval_ms: u64,
    /// How long to wait for one job or search before giving up on it.
    pub max_wait_seconds: u64,
    /// How a job's memory need is estimated before it is submitted.
    pub memory: MemoryModel,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            poll_interval_ms: 1000,
            progress_interval_ms: 1000,
            max_wait_seconds: 3600,
            memory: MemoryModel::default(),
        }
    }
}

/// The most a progress gap may be: the skills' streaming promise.
const MAX_PROGRESS_INTERVAL_MS: u64 = 2000;

impl TrainingConfig {
    /// Refuses settings that would break the skills' promises.
    pub fn validate(&self) -> Result<(), String> {
        if !(100..=60_000).contains(&self.poll_interval_ms) {
            return Err(format!(
                "poll_interval_ms must be 100-60000, got {}",
                self.poll_interval_ms
            ));
        }
        if !(100..=MAX_PROGRESS_INTERVAL_MS).contains(&self.progress_interval_ms) {
            return Err(format!(
                "progress_interval_ms must be 100-{MAX_PROGRESS_INTERVAL_MS} (progress streams at least every 2 s), got {}",
                self.progress_interval_ms
            ));
        }
        if !(1..=7 * 24 * 3600).contains(&self.max_wait_seconds) {
            return Err(format!(
                "max_wait_seconds must be 1-604800, got {}",
                self.max_wait_seconds
            ));
        }
        self.memory.validate().map_err(|e| format!("memory: {e}"))
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn progress_interval(&self) -> Duration {
        Duration::from_millis(self.progress_interval_ms)
    }

    pub fn max_wait(&self) -> Duration {
        Duration::from_secs(self.max_wait_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_yaml_overrides_single_keys() {
        assert_eq!(TrainingConfig::default().validate(), Ok(()));
        let config: TrainingConfig =
            serde_yaml::from_str("progress_interval_ms: 500\nmemory:\n  base_overhead_mb: 1\n")
                .unwrap();
        assert_eq!(config.progress_interval_ms, 500);
        assert_eq!(config.poll_interval_ms, 1000);
        assert_eq!(config.memory.base_overhead_mb, 1);
        assert_eq!(config.memory.bytes_per_value, 8);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn settings_that_break_the_streaming_promise_are_refused() {
        let slow = TrainingConfig {
            progress_interval_ms: 5000,
            ..TrainingConfig::default()
        };
        assert!(
            slow.validate()
                .unwrap_err()
                .contains("progress_interval_ms")
        );
        let unknown = serde_yaml::from_str::<TrainingConfig>("poll_every: 3\n");
        assert!(unknown.is_err());
    }
}
