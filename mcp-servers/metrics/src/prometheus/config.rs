//! `prometheus.yml`, the default alert rules, and the command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::domain::PromDuration;

/// The one scrape job; every target file in `sd_dir` belongs to it.
pub const SCRAPE_JOB: &str = "mlops";

/// How Prometheus runs: where it keeps its data, where it listens, how
/// often it scrapes and evaluates rules, and where its targets come from.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// Holds `prometheus.yml`, the rules file, the log and `tsdb/`.
    pub data_dir: PathBuf,
    /// Where the HTTP API listens; keep it on loopback.
    pub listen: SocketAddr,
    pub scrape_interval: Duration,
    pub evaluation_interval: Duration,
    /// The file_sd directory: every `*.json` in it is a target file (see
    /// [`super::FileSd`]).
    pub sd_dir: PathBuf,
    /// Written to `data_dir/alert-rules.yml` and loaded, when set.
    pub alert_rules: Option<AlertRules>,
    /// More rule files to load, as they are.
    pub rule_files: Vec<PathBuf>,
    /// How long samples are kept; the control plane looks at hours, not months.
    pub retention: Duration,
}

impl PrometheusConfig {
    /// The configuration `mlops up` runs: targets in `data_dir/sd`,
    /// scrapes every 5 s, the default alert rules, two days of data.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        let data_dir = data_dir.into();
        PrometheusConfig {
            sd_dir: data_dir.join("sd"),
            data_dir,
            listen,
            scrape_interval: Duration::from_secs(5),
            evaluation_interval: Duration::from_secs(5),
            alert_rules: Some(AlertRules::default()),
            rule_files: Vec::new(),
            retention: Duration::from_secs(2 * 24 * 3600),
        }
    }

    /// For tests: scrapes and evaluates every second, and alert rules over
    /// 30 s that fire as soon as their condition holds.
    pub fn for_tests(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        PrometheusConfig {
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            alert_rules: Some(AlertRules {
                window: Duration::from_secs(30),
                pending_for: Duration::ZERO,
                ..AlertRules::default()
            }),
            retention: Duration::from_secs(3600),
            ..PrometheusConfig::new(data_dir, listen)
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.data_dir.join("prometheus.yml")
    }

    pub fn alert_rules_path(&self) -> PathBuf {
        self.data_dir.join("alert-rules.yml")
    }

    pub fn tsdb_path(&self) -> PathBuf {
        self.data_dir.join("tsdb")
    }

    /// The base URL of the HTTP API, what [`crate::MetricsServer::new`] takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// The text of `prometheus.yml`.
    pub fn render(&self) -> anyhow::Result<String> {
        let interval = duration(self.scrape_interval);
        // Prometheus refuses a scrape timeout longer than the interval.
        let timeout = duration(self.scrape_interval.min(Duration::from_secs(10)));
        let mut rule_files: Vec<String> = self
            .rule_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if self.alert_rules.is_some() {
            rule_files.insert(0, self.alert_rules_path().display().to_string());
        }
        let config = json!({
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": timeout,
                "evaluation_interval": duration(self.evaluation_interval),
            },
            "rule_files": rule_files,
            "scrape_configs": [{
                "job_name": SCRAPE_JOB,
                // The exporters own `model` and `version`; a target label of
                // the same name must not rename theirs to `exported_model`.
                "honor_labels": true,
                "file_sd_configs": [{
                    "files": [self.sd_dir.join("*.json").display().to_string()],
                    // Prometheus also watches the files; this is the backstop.
                    "refresh_interval": "5s",
                }],
            }],
        });
        serde_yaml::to_string(&config).context("rendering prometheus.yml")
    }

    /// Creates the directories and writes `prometheus.yml` and the rules
    /// file; returns the config path.
    pub fn write(&self) -> anyhow::Result<PathBuf> {
        for dir in [&self.data_dir, &self.sd_dir, &self.tsdb_path()] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if let Some(rules) = &self.alert_rules {
            write_file(&self.alert_rules_path(), &rules.render()?)?;
        }
        let path = self.config_path();
        write_file(&path, &self.render()?)?;
        Ok(path)
    }

    /// The command that runs this Prometheus in the foreground, logging to
    /// stderr. Call [`Self::write`] first. The caller owns the child.
    pub fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", self.config_path().display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.tsdb_path().display()
            ))
            .arg(format!(
                "--storage.tsdb.retention.time={}",
                duration(self.retention)
            ))
            .arg(format!("--web.listen-address={}", self.listen))
            // Bounds a runaway query from any client, not only ours.
            .arg("--query.timeout=30s")
            .current_dir(&self.data_dir);
        command
    }
}

/// The alert rules every installation starts with, over the router's
/// per-version metrics (the contract `canary_vs_stable` reads too).
#[derive(Debug, Clone)]
pub struct AlertRules {
    /// Share of requests answered 5xx above which a version alerts.
    pub error_rate_threshold: f64,
    /// p99 latency above which a version alerts.
    pub p99_latency_threshold: Duration,
    /// The rate window of both expressions.
    pub window: Duration,
    /// How long a condition must hold before the alert fires.
    pub pending_for: Duration,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            error_rate_threshold: 0.05,
            p99_latency_threshold: Duration::from_secs(1),
            window: Duration::from_secs(120),
            pending_for: Duration::from_secs(60),
        }
    }
}

impl AlertRules {
    /// The rules file, in Prometheus's rule-group format.
    pub fn render(&self) -> anyhow::Result<String> {
        let w = duration(self.window);
        let pending = duration(self.pending_for);
        let rules = json!({
            "groups": [{
                "name": "mlops-serving",
                "rules": [
                    {
                        "alert": "ModelVersionErrorRateHigh",
                        "expr": format!(
                            "sum by (model, version) (rate(mlops_router_requests_total{{code=~\"5..\"}}[{w}])) \
                             / sum by (model, version) (rate(mlops_router_requests_total[{w}])) > {}",
                            self.error_rate_threshold
                        ),
                        "for": pending,
                        "labels": {"severity": "page"},
                        "annotations": {
                            "summary": "{{ $labels.model }} v{{ $labels.version }} fails {{ $value | humanizePercentage }} of requests",
                            "description": format!(
                                "More than {}% of requests to this model version got a 5xx over {w}.",
                                self.error_rate_threshold * 100.0
                            ),
                        },
                    },
                    {
                        "alert": "ModelVersionLatencyHigh",
                        "expr": format!(
                            "histogram_quantile(0.99, sum by (model, version, le) (rate(mlops_router_request_duration_seconds_bucket[{w}]))) > {}",
                            self.p99_latency_threshold.as_secs_f64()
                        ),
                        "for": pending,
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "{{ $labels.model }} v{{ $labels.version }} p99 latency is {{ $value | humanizeDuration }}",
                            "description": format!(
                                "The 99th percentile of request latency through the router is above {}s over {w}.",
                                self.p99_latency_threshold.as_secs_f64()
                            ),
                        },
                    },
                    {
                        "alert": "ScrapeTargetDown",
                        "expr": format!("up{{job=\"{SCRAPE_JOB}\"}} == 0"),
                        "for": pending,
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "{{ $labels.instance }} does not answer scrapes",
                            "description": "A router or model server listed in the file_sd targets is down or not serving /metrics.",
                        },
                    },
                ],
            }],
        });
        serde_yaml::to_string(&rules).context("rendering the alert rules")
    }

    /// Writes the rules to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        write_file(path, &self.render()?)
    }
}

fn duration(d: Duration) -> String {
    PromDuration::from_millis(d.as_millis().min(u64::MAX as u128) as u64).to_string()
}

/// Writes through a temporary file and a rename, so a reload never reads
/// half a file.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let file_name = path
        .file_name()
        .context("a config path names a file")?
        .to_string_lossy();
    let temp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&temp, text).with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("renaming to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_one_file_sd_job_and_the_rules() {
        let config = PrometheusConfig::for_tests(
            "/var/lib/mlops/prometheus",
            "127.0.0.1:9099".parse().unwrap(),
        );
        let yaml: serde_json::Value = serde_yaml::from_str(&config.render().unwrap()).unwrap();
        assert_eq!(yaml["global"]["scrape_interval"], "1s");
        assert_eq!(yaml["global"]["scrape_timeout"], "1s");
        assert_eq!(
            yaml["rule_files"][0],
            "/var/lib/mlops/prometheus/alert-rules.yml"
        );
        let job = &yaml["scrape_configs"][0];
        assert_eq!(job["job_name"], "mlops");
        assert_eq!(job["honor_labels"], true);
        assert_eq!(
            job["file_sd_configs"][0]["files"][0],
            "/var/lib/mlops/prometheus/sd/*.json"
        );

        let command = config.command(Path::new("/usr/bin/prometheus"));
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.contains(&"--web.listen-address=127.0.0.1:9099".to_owned()),
            "{args:?}"
        );
        assert!(
            args.contains(&"--storage.tsdb.path=/var/lib/mlops/prometheus/tsdb".to_owned()),
            "{args:?}"
        );
        assert!(
            args.contains(&"--storage.tsdb.retention.time=1h".to_owned()),
            "{args:?}"
        );
    }

    #[test]
    fn default_rules_alert_on_error_rate_latency_and_down_targets() {
        let rules: serde_json::Value =
            serde_yaml::from_str(&AlertRules::default().render().unwrap()).unwrap();
        let rules = rules["groups"][0]["rules"].as_array().unwrap();
        let names: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "ModelVersionErrorRateHigh",
                "ModelVersionLatencyHigh",
                "ScrapeTargetDown"
            ]
        );
        let expr = rules[0]["expr"].as_str().unwrap();
        assert!(
            expr.contains("{code=~\"5..\"}[2m]") && expr.ends_with("> 0.05"),
            "{expr}"
        );
        assert_eq!(rules[0]["for"], "1m");
    }
}
