//! Prometheus file-based service discovery: one JSON file per group of
//! targets (say, one per router or model server) in the directory the
//! `mlops` scrape job watches. Writing or removing a file is all it takes
//! to start or stop scraping.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use serde::Serialize;

/// One scrape target: `host:port` and labels put on all its series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    pub address: String,
    pub labels: BTreeMap<String, String>,
}

impl ScrapeTarget {
    /// A target at `address` (`host:port`, no scheme, no path).
    pub fn new(address: impl Into<String>) -> Self {
        ScrapeTarget {
            address: address.into(),
            labels: BTreeMap::new(),
        }
    }

    /// Adds a label to every series scraped from this target. Labels the
    /// target exports itself (`model`, `version`) win over these.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// Scrapes this path instead of `/metrics`.
    pub fn metrics_path(self, path: impl Into<String>) -> Self {
        self.label("__metrics_path__", path)
    }
}

/// The file_sd directory of one Prometheus.
#[derive(Debug, Clone)]
pub struct FileSd {
    dir: PathBuf,
}

#[derive(Serialize)]
struct TargetGroup<'a> {
    targets: [&'a str; 1],
    labels: &'a BTreeMap<String, String>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileSd {
    /// The directory `sd_dir`, created if missing.
    pub fn new(sd_dir: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let dir = sd_dir.into();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(FileSd { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the targets called `name`.
    pub fn path(&self, name: &str) -> anyhow::Result<PathBuf> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            bail!(
                "target file name {name:?} must be 1-128 characters of A-Z, a-z, 0-9, '-', '_' and '.', not starting with '.'"
            );
        }
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Replaces the targets called `name` (e.g. `router-fraud-detector`)
    /// with `targets`, atomically: Prometheus sees the old file or the new
    /// one, never half of one. An empty list keeps the file with no targets.
    pub fn write_targets(&self, name: &str, targets: &[ScrapeTarget]) -> anyhow::Result<PathBuf> {
        let path = self.path(name)?;
        for target in targets {
            check_target(target)?;
        }
        let groups: Vec<TargetGroup<'_>> = targets
            .iter()
            .map(|t| TargetGroup {
                targets: [t.address.as_str()],
                labels: &t.labels,
            })
            .collect();
        let body = serde_json::to_vec_pretty(&groups).context("serializing scrape targets")?;
        // Not matching `*.json`, so Prometheus never reads the file half-written.
        let temp = self.dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(error).with_context(|| format!("writing {}", path.display()));
        }
        tracing::debug!(path = %path.display(), targets = targets.len(), "scrape targets written");
        Ok(path)
    }

    /// Stops scraping the targets called `name`; fine if there were none.
    pub fn remove_targets(&self, name: &str) -> anyhow::Result<()> {
        let path = self.path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
}

fn check_target(target: &ScrapeTarget) -> anyhow::Result<()> {
    let address = &target.address;
    let port_ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok || address.contains(['/', ' ', '?', '#']) {
        bail!("scrape target {address:?} must be host:port, with no scheme or path");
    }
    for name in target.labels.keys() {
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            bail!("label name {name:?} must match [a-zA-Z_][a-zA-Z0-9_]*");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_written_atomically_in_file_sd_format() {
        let dir = tempfile::tempdir().unwrap();
        let sd = FileSd::new(dir.path().join("targets")).unwrap();
        let path = sd
            .write_targets(
                "router-fraud-detector",
                &[ScrapeTarget::new("127.0.0.1:4100").label("component", "router")],
            )
            .unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::json!([{"targets": ["127.0.0.1:4100"], "labels": {"component": "router"}}])
        );
        // Only the target file is left: no temporary files behind.
        let names: Vec<_> = std::fs::read_dir(sd.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["router-fraud-detector.json"]);

        sd.remove_targets("router-fraud-detector").unwrap();
        sd.remove_targets("router-fraud-detector").unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn bad_names_addresses_and_labels_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sd = FileSd::new(dir.path()).unwrap();
        assert!(sd.write_targets("../escape", &[]).is_err());
        assert!(sd.write_targets(".hidden", &[]).is_err());
        for address in [
            "http://127.0.0.1:80",
            "127.0.0.1",
            "127.0.0.1:0",
            "h:1/metrics",
            ":80",
        ] {
            assert!(
                sd.write_targets("t", &[ScrapeTarget::new(address)])
                    .is_err(),
                "{address}"
            );
        }
        assert!(
            sd.write_targets("t", &[ScrapeTarget::new("h:1").label("1bad", "x")])
                .is_err()
        );
        assert!(
            sd.write_targets("t", &[ScrapeTarget::new("[::1]:9100").metrics_path("/m")])
                .is_ok()
        );
    }
}
