//! Instance types and their prices, and choosing the cheapest that fits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One instance type of the price table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceType {
    /// Its name, e.g. "cpu-small".
    pub name: String,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// On-demand price per hour in US dollars, from the agent's config.
    pub price_per_hour_usd: f64,
}

impl InstanceType {
    /// What `seconds` on this instance cost.
    pub fn cost_of(&self, seconds: f64) -> f64 {
        seconds / 3600.0 * self.price_per_hour_usd
    }
}

/// What an instance must offer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitRequest<'a> {
    /// Memory it must have, headroom included (MiB).
    pub min_memory_mb: u64,
    pub min_vcpus: u32,
    /// When set, only instances with strictly more memory than this one:
    /// what a retry after an out-of-memory failure needs.
    pub larger_than: Option<&'a InstanceType>,
}

/// The checked price table, cheapest first.
#[derive(Debug, Clone)]
pub struct PriceTable {
    types: Vec<InstanceType>,
}

impl PriceTable {
    /// Checks the table: at least one type, unique names of a-z, 0-9, '-',
    /// '.' and '_', and positive vCPUs, memory and prices.
    pub fn new(mut types: Vec<InstanceType>) -> Result<Self, String> {
        if types.is_empty() {
            return Err("list at least one instance type".into());
        }
        for (index, t) in types.iter().enumerate() {
            let named = !t.name.is_empty()
                && t.name.len() <= 64
                && t.name.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_')
                });
            if !named {
                return Err(format!(
                    "[{index}].name {:?} must be 1-64 characters of a-z, 0-9, '-', '.' and '_'",
                    t.name
                ));
            }
            if t.vcpus == 0 || t.memory_mb == 0 {
                return Err(format!("{}: vcpus and memory_mb must be positive", t.name));
            }
            if !(t.price_per_hour_usd.is_finite() && t.price_per_hour_usd > 0.0) {
                return Err(format!(
                    "{}: price_per_hour_usd must be a positive number, got {}",
                    t.name, t.price_per_hour_usd
                ));
            }
            if types[..index].iter().any(|other| other.name == t.name) {
                return Err(format!("{} is listed twice", t.name));
            }
        }
        types.sort_by(|a, b| {
            a.price_per_hour_usd
                .total_cmp(&b.price_per_hour_usd)
                .then(a.memory_mb.cmp(&b.memory_mb))
                .then(a.vcpus.cmp(&b.vcpus))
                .then(a.name.cmp(&b.name))
        });
        Ok(PriceTable { types })
    }

    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.types.iter().find(|t| t.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.types.iter().map(|t| t.name.as_str()).collect()
    }

    /// Every type, cheapest first.
    pub fn all(&self) -> &[InstanceType] {
        &self.types
    }

    /// The type with the lowest price per vCPU-hour.
    pub fn cheapest_per_vcpu(&self) -> &InstanceType {
        self.types
            .iter()
            .min_by(|a, b| {
                (a.price_per_hour_usd / f64::from(a.vcpus))
                    .total_cmp(&(b.price_per_hour_usd / f64::from(b.vcpus)))
            })
            .expect("a checked price table is never empty")
    }

    /// The types that satisfy `request`, cheapest first (ties: less
    /// memory, then fewer vCPUs, then name).
    pub fn fits(&self, request: FitRequest<'_>) -> Vec<&InstanceType> {
        self.types
            .iter()
            .filter(|t| {
                t.memory_mb >= request.min_memory_mb
                    && t.vcpus >= request.min_vcpus
                    && request
                        .larger_than
                        .is_none_or(|current| t.memory_mb > current.memory_mb)
            })
            .collect()
    }

    /// The type with the most memory (the cheapest among equals).
    pub fn largest(&self) -> &InstanceType {
        self.types
            .iter()
            .max_by(|a, b| {
                a.memory_mb
                    .cmp(&b.memory_mb)
                    .then(b.price_per_hour_usd.total_cmp(&a.price_per_hour_usd))
            })
            .expect("a checked price table is never empty")
    }
}

/// Memory with headroom, rounded up to whole MiB.
pub fn with_headroom(memory_mb: u64, headroom: f64) -> u64 {
    (memory_mb as f64 * headroom).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CostConfig;

    fn table() -> PriceTable {
        CostConfig::default().check().unwrap().prices
    }

    fn request(min_memory_mb: u64) -> FitRequest<'static> {
        FitRequest {
            min_memory_mb,
            min_vcpus: 1,
            larger_than: None,
        }
    }

    #[test]
    fn the_cheapest_fit_wins() {
        let table = table();
        assert_eq!(table.fits(request(1))[0].name, "cpu-small");
        assert_eq!(table.fits(request(4096))[0].name, "cpu-small");
        assert_eq!(table.fits(request(4097))[0].name, "cpu-medium");
        // 10 GiB: general-medium (16 GiB, $0.192) beats cpu-large (16 GiB, $0.34).
        assert_eq!(table.fits(request(10 * 1024))[0].name, "general-medium");
        assert_eq!(table.fits(request(40 * 1024))[0].name, "mem-large");
        assert!(table.fits(request(65 * 1024)).is_empty());
        let fits = table.fits(request(1));
        assert!(
            fits.windows(2)
                .all(|w| w[0].price_per_hour_usd <= w[1].price_per_hour_usd)
        );
    }

    #[test]
    fn vcpus_and_a_current_instance_narrow_the_choice() {
        let table = table();
        let eight = FitRequest {
            min_vcpus: 8,
            ..request(1)
        };
        assert_eq!(table.fits(eight)[0].name, "cpu-large");
        let current = table.get("cpu-medium").unwrap().clone();
        let after_oom = FitRequest {
            larger_than: Some(&current),
            ..request(1)
        };
        // Strictly more memory than cpu-medium's 8 GiB, cheapest first.
        assert_eq!(table.fits(after_oom)[0].name, "general-medium");
        let top = table.largest().clone();
        assert_eq!(top.name, "mem-large");
        let beyond = FitRequest {
            larger_than: Some(&top),
            ..request(1)
        };
        assert!(table.fits(beyond).is_empty());
    }

    #[test]
    fn the_table_is_checked() {
        let t = |name: &str, vcpus, memory_mb, price| InstanceType {
            name: name.into(),
            vcpus,
            memory_mb,
            price_per_hour_usd: price,
        };
        assert!(PriceTable::new(vec![]).is_err());
        assert!(PriceTable::new(vec![t("a", 1, 1, 0.0)]).is_err());
        assert!(PriceTable::new(vec![t("a", 0, 1, 1.0)]).is_err());
        assert!(PriceTable::new(vec![t("A b", 1, 1, 1.0)]).is_err());
        let twice = PriceTable::new(vec![t("a", 1, 1, 1.0), t("a", 2, 2, 2.0)]).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        assert!(PriceTable::new(vec![t("a", 1, 1, f64::NAN)]).is_err());
    }

    #[test]
    fn headroom_rounds_up_and_cost_is_linear() {
        assert_eq!(with_headroom(1000, 1.25), 1250);
        assert_eq!(with_headroom(1001, 1.25), 1252);
        let small = table().get("cpu-small").unwrap().clone();
        assert!((small.cost_of(3600.0) - 0.085).abs() < 1e-12);
        assert!((small.cost_of(90.0) - 0.085 / 40.0).abs() < 1e-12);
    }
}
