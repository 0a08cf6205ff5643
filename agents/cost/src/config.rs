//! The agent's settings (`MLOPS_AGENT_CONFIG`, YAML) and their defaults.
//!
//! Every price here is configuration. The defaults are illustrative list
//! prices in the range of public-cloud on-demand x86 instances; they are
//! not live prices, and an operator should set the table to what their
//! cluster actually costs.

use serde::Deserialize;

use crate::prices::{InstanceType, PriceTable};

/// A number per training algorithm the trainer offers.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerAlgorithm {
    pub logistic_regression: f64,
    pub random_forest: f64,
}

impl PerAlgorithm {
    /// The value for `algorithm` (a name from `mlops_models::ALGORITHM_NAMES`).
    pub fn get(&self, algorithm: &str) -> Option<f64> {
        match algorithm {
            "logistic_regression" => Some(self.logistic_regression),
            "random_forest" => Some(self.random_forest),
            _ => None,
        }
    }

    fn check(&self, key: &str) -> anyhow::Result<()> {
        for (name, value) in [
            ("logistic_regression", self.logistic_regression),
            ("random_forest", self.random_forest),
        ] {
            if !(value.is_finite() && value > 0.0) {
                anyhow::bail!("{key}.{name} must be a positive number, got {value}");
            }
        }
        Ok(())
    }
}

/// The cost agent's settings.
///
/// ```yaml
/// instance_types:
///   - { name: cpu-small, vcpus: 2, memory_mb: 4096, price_per_hour_usd: 0.085 }
/// cpu_second_price_usd: 0.0000118   # optional; derived from the table if left out
/// memory_headroom: 1.25
/// training_instance_type: cpu-medium
/// memory_factor: { logistic_regression: 5, random_forest: 7 }
/// default_throughput: { logistic_regression: 100000, random_forest: 1000000 }
/// throughput_history_jobs: 20
/// default_report_window_seconds: 86400
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// The instance types training can run on, with their hourly price.
    pub instance_types: Vec<InstanceType>,
    /// What one CPU-second of serving costs. Left out, it is derived from
    /// the table: the cheapest price per vCPU-hour divided by 3600.
    pub cpu_second_price_usd: Option<f64>,
    /// An instance must have at least the estimated memory times this
    /// (>= 1): estimates are estimates, and the process needs room beside
    /// its data.
    pub memory_headroom: f64,
    /// The instance type the trainer's jobs run on. Its jobs record their
    /// backend but no instance type, so training spend is priced at this
    /// one.
    pub training_instance_type: String,
    /// Memory of a training run = rows × feature columns × 8 bytes × this
    /// factor. Logistic regression (5): the Arrow batch, the row-major
    /// copy the trainer builds (Vec per row, about 1.7× the raw cells),
    /// the train/validation subsets (another such copy) and the
    /// standardized matrix. Random forest (7): the same copies, plus each
    /// tree's bootstrap sample and the per-feature row orderings a CART
    /// fit keeps.
    pub memory_factor: PerAlgorithm,
    /// Work units per second assumed when the trainer has no finished job
    /// of the algorithm to measure. Conservative on purpose: about half of
    /// what the in-process trainer measured on small (3000-row) demo jobs,
    /// whose fixed costs (reading, scoring, writing) weigh most, so an
    /// unmeasured estimate errs long and expensive. Work units: see
    /// `estimate-training-cost`.
    pub default_throughput: PerAlgorithm,
    /// How many of the newest succeeded jobs of an algorithm the measured
    /// throughput is pooled over (1-200).
    pub throughput_history_jobs: u32,
    /// `report-spend`'s window when the request names none (seconds).
    pub default_report_window_seconds: u64,
}

/// The default price table: illustrative, not live prices.
fn default_instance_types() -> Vec<InstanceType> {
    let instance = |name: &str, vcpus, memory_gib: u64, price| InstanceType {
        name: name.to_owned(),
        vcpus,
        memory_mb: memory_gib * 1024,
        price_per_hour_usd: price,
    };
    vec![
        instance("cpu-small", 2, 4, 0.085),
        instance("cpu-medium", 4, 8, 0.17),
        instance("cpu-large", 8, 16, 0.34),
        instance("general-medium", 4, 16, 0.192),
        instance("general-large", 8, 32, 0.384),
        instance("mem-medium", 4, 32, 0.252),
        instance("mem-large", 8, 64, 0.504),
    ]
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            instance_types: default_instance_types(),
            cpu_second_price_usd: None,
            memory_headroom: 1.25,
            training_instance_type: "cpu-medium".into(),
            memory_factor: PerAlgorithm {
                logistic_regression: 5.0,
                random_forest: 7.0,
            },
            default_throughput: PerAlgorithm {
                logistic_regression: 100_000.0,
                random_forest: 1_000_000.0,
            },
            throughput_history_jobs: 20,
            default_report_window_seconds: 86_400,
        }
    }
}

/// The settings once checked: the price table parsed, the CPU-second
/// price settled.
#[derive(Debug, Clone)]
pub struct CostSettings {
    pub prices: PriceTable,
    pub cpu_second_price_usd: f64,
    /// Where `cpu_second_price_usd` came from, for reports.
    pub cpu_second_price_source: String,
    pub memory_headroom: f64,
    pub training_instance: InstanceType,
    pub memory_factor: PerAlgorithm,
    pub default_throughput: PerAlgorithm,
    pub throughput_history_jobs: u32,
    pub default_report_window_seconds: u64,
}

impl CostConfig {
    /// Checks every setting; the error names the bad key.
    pub fn check(self) -> anyhow::Result<CostSettings> {
        let prices = PriceTable::new(self.instance_types)
            .map_err(|e| anyhow::anyhow!("instance_types: {e}"))?;
        if !(self.memory_headroom.is_finite() && (1.0..=10.0).contains(&self.memory_headroom)) {
            anyhow::bail!(
                "memory_headroom must be between 1 and 10, got {}",
                self.memory_headroom
            );
        }
        let training_instance = prices
            .get(&self.training_instance_type)
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "training_instance_type {:?} is not in instance_types ({})",
                    self.training_instance_type,
                    prices.names().join(", ")
                )
            })?;
        self.memory_factor.check("memory_factor")?;
        self.default_throughput.check("default_throughput")?;
        if !(1..=200).contains(&self.throughput_history_jobs) {
            anyhow::bail!(
                "throughput_history_jobs must be 1-200, got {}",
                self.throughput_history_jobs
            );
        }
        if !(crate::spend::MIN_WINDOW_SECONDS..=crate::spend::MAX_WINDOW_SECONDS)
            .contains(&self.default_report_window_seconds)
        {
            anyhow::bail!(
                "default_report_window_seconds must be {}-{}, got {}",
                crate::spend::MIN_WINDOW_SECONDS,
                crate::spend::MAX_WINDOW_SECONDS,
                self.default_report_window_seconds
            );
        }
        let (cpu_second_price_usd, cpu_second_price_source) = match self.cpu_second_price_usd {
            Some(price) if price.is_finite() && price > 0.0 => (price, "configured".to_owned()),
            Some(price) => anyhow::bail!("cpu_second_price_usd must be positive, got {price}"),
            None => {
                let cheapest = prices.cheapest_per_vcpu();
                (
                    cheapest.price_per_hour_usd / f64::from(cheapest.vcpus) / 3600.0,
                    format!(
                        "derived: {}'s price per vCPU-hour / 3600 (the cheapest vCPU in the table)",
                        cheapest.name
                    ),
                )
            }
        };
        Ok(CostSettings {
            prices,
            cpu_second_price_usd,
            cpu_second_price_source,
            memory_headroom: self.memory_headroom,
            training_instance,
            memory_factor: self.memory_factor,
            default_throughput: self.default_throughput,
            throughput_history_jobs: self.throughput_history_jobs,
            default_report_window_seconds: self.default_report_window_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_check_and_derive_the_cpu_second_price() {
        let settings = CostConfig::default().check().unwrap();
        // cpu-small: $0.085 for 2 vCPUs an hour is the cheapest vCPU.
        assert!((settings.cpu_second_price_usd - 0.085 / 2.0 / 3600.0).abs() < 1e-15);
        assert!(settings.cpu_second_price_source.contains("cpu-small"));
        assert_eq!(settings.training_instance.name, "cpu-medium");
    }

    #[test]
    fn yaml_overrides_and_keeps_other_defaults() {
        let config: CostConfig = serde_yaml::from_str(
            "instance_types:\n  - {name: a, vcpus: 1, memory_mb: 1024, price_per_hour_usd: 0.01}\n\
             training_instance_type: a\ncpu_second_price_usd: 0.001\n",
        )
        .unwrap();
        let settings = config.check().unwrap();
        assert_eq!(settings.cpu_second_price_usd, 0.001);
        assert_eq!(settings.cpu_second_price_source, "configured");
        assert_eq!(settings.memory_headroom, 1.25);
    }

    #[test]
    fn bad_settings_name_their_key() {
        let unknown = serde_yaml::from_str::<CostConfig>("memory_headrom: 2\n").unwrap_err();
        assert!(unknown.to_string().contains("memory_headrom"), "{unknown}");
        let cases: Vec<(CostConfig, &str)> = vec![
            (
                CostConfig {
                    memory_headroom: 0.5,
                    ..CostConfig::default()
                },
                "memory_headroom",
            ),
            (
                CostConfig {
                    training_instance_type: "gpu-huge".into(),
                    ..CostConfig::default()
                },
                "training_instance_type",
            ),
            (
                CostConfig {
                    cpu_second_price_usd: Some(-1.0),
                    ..CostConfig::default()
                },
                "cpu_second_price_usd",
            ),
            (
                CostConfig {
                    default_throughput: PerAlgorithm {
                        logistic_regression: 0.0,
                        random_forest: 1.0,
                    },
                    ..CostConfig::default()
                },
                "default_throughput.logistic_regression",
            ),
            (
                CostConfig {
                    instance_types: Vec::new(),
                    ..CostConfig::default()
                },
                "instance_types",
            ),
            (
                CostConfig {
                    throughput_history_jobs: 0,
                    ..CostConfig::default()
                },
                "throughput_history_jobs",
            ),
        ];
        for (config, key) in cases {
            let error = config.check().unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
    }
}
