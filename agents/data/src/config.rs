//! The data agent's settings (`MLOPS_AGENT_CONFIG`), with defaults that
//! suit the demo.

use mlops_mcp_quality::SuiteName;
use mlops_mcp_storage::keys::ObjectKey;
use serde::Deserialize;

/// Settings; every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Most rows one ingest may generate or load. Datasets reach the storage
    /// server as a CSV object, which its 3 MiB upload limit caps at roughly
    /// 25 000 demo rows. Default 20 000.
    pub max_rows: usize,
    /// Largest share of rows (0-1) whose values may fail coercion; above it
    /// the ingest fails instead of dropping them. Default 0.05. A request
    /// may set its own with `max_coercion_failure_share`.
    pub max_coercion_failure_share: f64,
    /// Where the CSV objects carrying datasets to the storage server go.
    /// Default `staging/data-agent`.
    pub staging_prefix: String,
    /// Where lineage records of written dataset versions go. Default
    /// `lineage/datasets`.
    pub lineage_prefix: String,
    /// The suite `validate-data` runs when none is named, and the one it
    /// creates from its built-in definition when missing. Default
    /// `fraud-transactions`.
    pub default_suite: String,
    /// Bounds in the built-in suite.
    pub builtin_suite: BuiltinSuiteConfig,
}

/// Bounds of the built-in `fraud-transactions` suite.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuiltinSuiteConfig {
    /// Fewest rows a training dataset may have. Default 100.
    pub min_rows: u64,
    /// Most rows. Default 5 000 000 (a dataset version's cap).
    pub max_rows: u64,
    /// Largest plausible amount. Default 50 000 (the generator's cap).
    pub max_amount: f64,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            max_rows: 20_000,
            max_coercion_failure_share: 0.05,
            staging_prefix: "staging/data-agent".into(),
            lineage_prefix: "lineage/datasets".into(),
            default_suite: "fraud-transactions".into(),
            builtin_suite: BuiltinSuiteConfig::default(),
        }
    }
}

impl Default for BuiltinSuiteConfig {
    fn default() -> Self {
        BuiltinSuiteConfig {
            min_rows: 100,
            max_rows: 5_000_000,
            max_amount: 50_000.0,
        }
    }
}

impl DataConfig {
    /// Checks every setting; the error names the bad key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_rows == 0 || self.max_rows > mlops_demo_data::MAX_ROWS {
            anyhow::bail!(
                "max_rows {} must be between 1 and {}",
                self.max_rows,
                mlops_demo_data::MAX_ROWS
            );
        }
        if !(0.0..=1.0).contains(&self.max_coercion_failure_share) {
            anyhow::bail!(
                "max_coercion_failure_share {} must be a fraction between 0 and 1",
                self.max_coercion_failure_share
            );
        }
        for (key, prefix) in [
            ("staging_prefix", &self.staging_prefix),
            ("lineage_prefix", &self.lineage_prefix),
        ] {
            ObjectKey::parse(prefix).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        }
        SuiteName::parse(&self.default_suite).map_err(|e| anyhow::anyhow!("default_suite: {e}"))?;
        let suite = &self.builtin_suite;
        if suite.min_rows > suite.max_rows {
            anyhow::bail!(
                "builtin_suite.min_rows {} is above builtin_suite.max_rows {}",
                suite.min_rows,
                suite.max_rows
            );
        }
        if !(suite.max_amount.is_finite() && suite.max_amount > 0.0) {
            anyhow::bail!(
                "builtin_suite.max_amount {} must be a positive number",
                suite.max_amount
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_yaml_overrides_them() {
        DataConfig::default().validate().unwrap();
        let config: DataConfig =
            serde_yaml::from_str("max_rows: 500\nbuiltin_suite:\n  min_rows: 10\n").unwrap();
        config.validate().unwrap();
        assert_eq!(config.max_rows, 500);
        assert_eq!(config.builtin_suite.min_rows, 10);
        assert_eq!(config.builtin_suite.max_rows, 5_000_000);
        assert!(serde_yaml::from_str::<DataConfig>("max_row: 5").is_err());
        for bad in [
            "max_rows: 0",
            "max_coercion_failure_share: 1.5",
            "staging_prefix: ../up",
            "default_suite: Bad Name",
            "builtin_suite:\n  min_rows: 10\n  max_rows: 5",
        ] {
            let config: DataConfig = serde_yaml::from_str(bad).unwrap();
            assert!(config.validate().is_err(), "{bad}");
        }
    }
}
