//! Running the Prometheus the metrics server queries: install Debian's
//! package when it is missing ([`ensure_installed`]), write its config with
//! one `mlops` scrape job over file_sd target files plus the default alert
//! rules ([`PrometheusConfig`], [`AlertRules`]), build the command a
//! supervisor owns ([`PrometheusConfig::command`]), and keep the target
//! files current as routers and model servers come and go ([`FileSd`]).
//!
//! Architecture invariant: scrape targets are data in `sd_dir`, never a
//! config reload. Whoever starts or stops a scrapable process (the cluster
//! server) writes or removes its file; Prometheus watches the directory.

mod config;
mod file_sd;
mod install;
mod process;

pub use config::{AlertRules, PrometheusConfig, SCRAPE_JOB};
pub use file_sd::{FileSd, ScrapeTarget};
pub use install::{BINARY_ENV, ensure_installed, find_installed};
pub use process::{RunningPrometheus, start_for_tests, wait_ready};
