//! The monitoring agent's settings (`MLOPS_AGENT_CONFIG`), with the
//! defaults a fresh installation runs on.

use anyhow::bail;
use serde::Deserialize;

/// Thresholds, windows and the scheduler's pace. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Run the drift scheduler (default true).
    pub scheduler_enabled: bool,
    /// Seconds between scheduler rounds (default 30, at least 1).
    pub interval_seconds: u64,
    /// The prediction-log window each drift check reads, in minutes
    /// (default 3). Short, so a shift in live traffic dominates the window
    /// soon after it starts: the demo's drift crosses its thresholds about
    /// a quarter of the way into a window, under a minute here.
    pub drift_window_minutes: u32,
    /// A model drifts when at least this share of its features drift
    /// (default 0.25). Evidently's report default is 0.5; a monitor should
    /// speak earlier, and the demo's drift moves 3 of 7 served features.
    pub drift_share: f64,
    /// Fewer logged rows than this in the window make a drift check
    /// inconclusive rather than a verdict (default 200).
    pub min_drift_rows: u64,
    /// Default window of `monitor-model-performance`, seconds (default 300).
    pub performance_window_seconds: u32,
    /// Seconds between samples of `watch-canary` (default 10). A window
    /// shorter than three samples is sampled more often.
    pub canary_sample_seconds: u64,
    /// SLO defaults for `watch-canary`: largest canary 5xx share (0.05),
    /// largest p95 latency in ms (500), largest error-rate increase over
    /// stable (0.02), and the fewest canary requests for a verdict (50).
    pub max_error_rate: f64,
    pub max_latency_p95_ms: f64,
    pub max_error_rate_increase: f64,
    pub min_requests: u64,
    /// The agent asked to retrain when no agent in the registry declares a
    /// `handle-retraining` skill (default "orchestrator").
    pub orchestrator_fallback: String,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            scheduler_enabled: true,
            interval_seconds: 30,
            drift_window_minutes: 3,
            drift_share: 0.25,
            min_drift_rows: 200,
            performance_window_seconds: 300,
            canary_sample_seconds: 10,
            max_error_rate: 0.05,
            max_latency_p95_ms: 500.0,
            max_error_rate_increase: 0.02,
            min_requests: 50,
            orchestrator_fallback: "orchestrator".into(),
        }
    }
}

impl MonitoringConfig {
    /// Refuses settings no skill could run with; the message names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.interval_seconds == 0 || self.interval_seconds > 86_400 {
            bail!("interval_seconds must be 1-86400");
        }
        if !(1..=crate::drift::MAX_WINDOW_MINUTES).contains(&self.drift_window_minutes) {
            bail!(
                "drift_window_minutes must be 1-{}",
                crate::drift::MAX_WINDOW_MINUTES
            );
        }
        if !(self.drift_share > 0.0 && self.drift_share <= 1.0) {
            bail!("drift_share must be in (0, 1]");
        }
        if !(10..=crate::performance::MAX_WINDOW_SECONDS).contains(&self.performance_window_seconds)
        {
            bail!(
                "performance_window_seconds must be 10-{}",
                crate::performance::MAX_WINDOW_SECONDS
            );
        }
        if self.canary_sample_seconds == 0 || self.canary_sample_seconds > 600 {
            bail!("canary_sample_seconds must be 1-600");
        }
        if !(self.max_error_rate > 0.0 && self.max_error_rate <= 1.0) {
            bail!("max_error_rate must be in (0, 1]");
        }
        if !(self.max_latency_p95_ms.is_finite() && self.max_latency_p95_ms > 0.0) {
            bail!("max_latency_p95_ms must be a positive number");
        }
        if !(0.0..=1.0).contains(&self.max_error_rate_increase) {
            bail!("max_error_rate_increase must be in [0, 1]");
        }
        if self.min_requests == 0 {
            bail!("min_requests must be at least 1");
        }
        if self.orchestrator_fallback.trim().is_empty() {
            bail!("orchestrator_fallback must name an agent");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_yaml_overrides_them() {
        MonitoringConfig::default().validate().unwrap();
        let config: MonitoringConfig =
            serde_yaml_like("{\"interval_seconds\": 3, \"drift_share\": 0.4}");
        assert_eq!(config.interval_seconds, 3);
        assert_eq!(config.drift_share, 0.4);
        assert_eq!(config.min_requests, 50);
        let bad = MonitoringConfig {
            drift_share: 0.0,
            ..MonitoringConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("drift_share")
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<MonitoringConfig>("{\"interval\": 3}").is_err());
    }

    /// YAML is a superset of JSON; the JSON reader stands in for the kit's
    /// YAML reader here.
    fn serde_yaml_like(text: &str) -> MonitoringConfig {
        serde_json::from_str(text).unwrap()
    }
}
