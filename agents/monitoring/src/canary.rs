//! `watch-canary`: analysis of a canary against the stable version over a
//! window, sampled as it goes, ending in a verdict — `successful`,
//! `failed` or `inconclusive` — with the numbers behind it.
//!
//! Each sample reads the router's raw counters (requests by version and
//! status code, latency histogram buckets) from Prometheus and subtracts
//! the values read when the watch began, so every number covers the
//! traffic since then, however long the window (to within one scrape
//! interval: Prometheus's latest values are up to one scrape old). Rules,
//! in order:
//!
//! 1. fewer than `min_requests` canary requests: no verdict yet (at the
//!    end of the window: `inconclusive`);
//! 2. canary error rate above `max_error_rate`;
//! 3. canary error rate above stable's by more than `max_error_rate_increase`
//!    (only when stable also served `min_requests`);
//! 4. canary p95 latency above `max_latency_p95_ms`;
//! 5. otherwise, at the end of the window: `successful`.
//!
//! Before the window ends a breach fails the canary only when it is clear:
//! for error rates the 95% Wilson lower bound of the canary's rate (against
//! stable's upper bound, for rule 3) must breach, so a few unlucky requests
//! do not end a healthy canary; at the end the point estimates decide. A
//! faulty canary thus fails at the first sample with enough requests
//! rather than after the whole window.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mlops_agent_kit::{SkillError, SkillOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::MonitoringConfig;
use crate::deployments;
use crate::model::{ModelName, version_number};
use crate::router_metrics::{DURATION_BUCKETS, REQUESTS, Sample, instant, now_unix};
use crate::tools::Tools;

/// Longest window one watch may take: an hour.
pub const MAX_WINDOW_SECONDS: u32 = 3_600;
/// z for the two-sided 95% Wilson score interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Input of `watch-canary`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchCanaryInput {
    /// The deployed model, e.g. "fraud-detector".
    pub model: String,
    /// The version under analysis; it must be deployed.
    pub canary_version: i64,
    /// The version to compare with. Default: the live version, other than
    /// the canary, with the most traffic.
    #[serde(default)]
    pub stable_version: Option<i64>,
    /// The analysis window in seconds (10-3600). The verdict comes at its
    /// end, or earlier when the canary clearly breaks the SLO.
    pub window_seconds: u32,
    /// Largest acceptable canary error rate (5xx share), in (0, 1]. Default from config (0.05).
    #[serde(default)]
    pub max_error_rate: Option<f64>,
    /// Largest acceptable canary p95 latency in milliseconds. Default from config (500).
    #[serde(default)]
    pub max_latency_p95_ms: Option<f64>,
    /// Largest acceptable canary error rate minus stable's, in [0, 1]. Default from config (0.02).
    #[serde(default)]
    pub max_error_rate_increase: Option<f64>,
    /// Fewest canary requests for a verdict; fewer by the end of the
    /// window is `inconclusive`. Default from config (50).
    #[serde(default)]
    pub min_requests: Option<u64>,
}

/// The outcome of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every threshold held over the window with enough traffic.
    Successful,
    /// A threshold was broken.
    Failed,
    /// Too few canary requests to judge.
    Inconclusive,
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    MinRequests,
    MaxErrorRate,
    MaxErrorRateIncrease,
    MaxLatencyP95,
    AllThresholdsMet,
}

/// The thresholds the analysis ran with.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Thresholds {
    pub max_error_rate: f64,
    pub max_latency_p95_ms: f64,
    pub max_error_rate_increase: f64,
    pub min_requests: u64,
}

/// One version's traffic since the watch began.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct WindowStats {
    pub version: String,
    pub requests: u64,
    /// Requests answered 5xx.
    pub errors: u64,
    pub error_rate: Option<f64>,
    /// The 95% Wilson score interval of the error rate.
    pub error_rate_lower_95: Option<f64>,
    pub error_rate_upper_95: Option<f64>,
    /// From the latency histogram, interpolated within buckets as
    /// Prometheus's `histogram_quantile` does.
    pub p50_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
}

/// What decided the verdict, in words and by rule.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Decision {
    pub verdict: Verdict,
    pub rule: Rule,
    pub detail: String,
}

/// One look at the window so far.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CanarySample {
    /// 1, 2, …
    pub sample: u32,
    /// RFC 3339.
    pub at: String,
    pub elapsed_seconds: f64,
    pub canary: WindowStats,
    pub stable: WindowStats,
    /// What this sample concluded: "continue: …", or the decision.
    pub outcome: String,
}

/// Output of `watch-canary`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WatchCanaryOutput {
    pub model: String,
    pub canary_version: i32,
    pub stable_version: i32,
    pub verdict: Verdict,
    pub decided_by: Decision,
    /// True when the verdict came before the window ended.
    pub decided_early: bool,
    pub window_seconds: u32,
    pub elapsed_seconds: f64,
    pub started_at: String,
    pub ended_at: String,
    /// Traffic weights (percent) the cluster had set when the watch began.
    pub canary_weight_percent: i32,
    pub stable_weight_percent: i32,
    pub thresholds: Thresholds,
    /// The last sample's numbers.
    pub canary: WindowStats,
    pub stable: WindowStats,
    pub samples: Vec<CanarySample>,
}

/// A validated watch.
#[derive(Debug, Clone)]
struct Watch {
    model: ModelName,
    canary: i32,
    stable: Option<i32>,
    window_seconds: u32,
    thresholds: Thresholds,
}

fn parse(input: WatchCanaryInput, config: &MonitoringConfig) -> Result<Watch, SkillError> {
    let model = ModelName::parse("model", &input.model)?;
    let canary = version_number("canary_version", input.canary_version)?;
    let stable = input
        .stable_version
        .map(|v| version_number("stable_version", v))
        .transpose()?;
    if stable == Some(canary) {
        return Err(SkillError::bad_field(
            "stable_version",
            "must differ from canary_version",
        ));
    }
    if !(10..=MAX_WINDOW_SECONDS).contains(&input.window_seconds) {
        return Err(SkillError::bad_field(
            "window_seconds",
            format!(
                "{} must be between 10 and {MAX_WINDOW_SECONDS}",
                input.window_seconds
            ),
        ));
    }
    let max_error_rate = input.max_error_rate.unwrap_or(config.max_error_rate);
    if !(max_error_rate > 0.0 && max_error_rate <= 1.0) {
        return Err(SkillError::bad_field(
            "max_error_rate",
            format!("{max_error_rate} must be in (0, 1]"),
        ));
    }
    let max_latency_p95_ms = input
        .max_latency_p95_ms
        .unwrap_or(config.max_latency_p95_ms);
    if !(max_latency_p95_ms.is_finite()
        && max_latency_p95_ms > 0.0
        && max_latency_p95_ms <= 600_000.0)
    {
        return Err(SkillError::bad_field(
            "max_latency_p95_ms",
            format!(
                "{max_latency_p95_ms} must be a positive number of milliseconds, at most 600000"
            ),
        ));
    }
    let max_error_rate_increase = input
        .max_error_rate_increase
        .unwrap_or(config.max_error_rate_increase);
    if !(0.0..=1.0).contains(&max_error_rate_increase) {
        return Err(SkillError::bad_field(
            "max_error_rate_increase",
            format!("{max_error_rate_increase} must be in [0, 1]"),
        ));
    }
    let min_requests = input.min_requests.unwrap_or(config.min_requests);
    if !(1..=1_000_000_000).contains(&min_requests) {
        return Err(SkillError::bad_field(
            "min_requests",
            format!("{min_requests} must be between 1 and 1000000000"),
        ));
    }
    Ok(Watch {
        model,
        canary,
        stable,
        window_seconds: input.window_seconds,
        thresholds: Thresholds {
            max_error_rate,
            max_latency_p95_ms,
            max_error_rate_increase,
            min_requests,
        },
    })
}

/// The 95% Wilson score interval of `successes` out of `n`.
pub fn wilson_interval(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let centre = p + z2 / (2.0 * n);
    let spread = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    // At 0 or n successes a bound is exactly 0 or 1; the formula would
    // leave rounding dust there.
    let lower = if successes == 0 {
        0.0
    } else {
        ((centre - spread) / denominator).max(0.0)
    };
    let upper = if p >= 1.0 {
        1.0
    } else {
        ((centre + spread) / denominator).min(1.0)
    };
    Some((lower, upper))
}

/// The `q` quantile of a cumulative histogram (`(upper bound, count)`
/// sorted by bound, the last bound +Inf), as Prometheus's
/// `histogram_quantile` computes it: linear interpolation inside the bucket
/// the rank falls in, the first bucket starting at 0, and the highest
/// finite bound when the rank falls in the +Inf bucket.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let (last_bound, total) = *buckets.last()?;
    if !last_bound.is_infinite() || total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    // Counts read at slightly different moments can dip; cumulative counts
    // never do, so take the running maximum.
    let mut cumulative = Vec::with_capacity(buckets.len());
    let mut running = 0.0f64;
    for (bound, count) in buckets {
        running = running.max(*count);
        cumulative.push((*bound, running));
    }
    let total = running;
    let rank = q * total;
    let index = cumulative.iter().position(|(_, count)| *count >= rank)?;
    let (bound, count) = cumulative[index];
    if bound.is_infinite() {
        return Some(if index == 0 {
            0.0
        } else {
            cumulative[index - 1].0
        });
    }
    let (lower_bound, lower_count) = if index == 0 {
        (0.0, 0.0)
    } else {
        cumulative[index - 1]
    };
    if count == lower_count {
        return Some(bound);
    }
    Some(lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count))
}

/// Counters of the watched versions at one moment.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// (version, code) → requests.
    requests: BTreeMap<(String, String), f64>,
    /// (version, upper bound as written) → cumulative count.
    buckets: BTreeMap<(String, String), f64>,
}

async fn snapshot(
    tools: &dyn Tools,
    model: &ModelName,
    versions: [i32; 2],
) -> Result<Snapshot, SkillError> {
    let at = now_unix();
    let selector = format!(
        "model=\"{}\",version=~\"{}|{}\"",
        model.as_str(),
        versions[0],
        versions[1]
    );
    let requests_query = format!("sum by (version, code) ({REQUESTS}{{{selector}}})");
    let buckets_query = format!("sum by (version, le) ({DURATION_BUCKETS}{{{selector}}})");
    let (requests, buckets) = tokio::try_join!(
        instant(tools, &requests_query, at),
        instant(tools, &buckets_query, at),
    )?;
    let keyed = |samples: Vec<Sample>, label: &str| -> BTreeMap<(String, String), f64> {
        samples
            .into_iter()
            .filter(|s| s.value.is_finite())
            .filter_map(|s| {
                Some((
                    (
                        s.labels.get("version")?.clone(),
                        s.labels.get(label)?.clone(),
                    ),
                    s.value,
                ))
            })
            .collect()
    };
    Ok(Snapshot {
        requests: keyed(requests, "code"),
        buckets: keyed(buckets, "le"),
    })
}

/// Growth of a counter since `before`; a counter below its earlier value
/// was reset (its process restarted), so all of it is new.
fn growth(now: f64, before: Option<f64>) -> f64 {
    match before {
        Some(before) if now >= before => now - before,
        _ => now,
    }
}

/// One version's stats from the counters' growth between two snapshots.
fn window_stats(version: i32, baseline: &Snapshot, current: &Snapshot) -> WindowStats {
    let v = version.to_string();
    let (mut requests, mut errors) = (0.0, 0.0);
    for ((version, code), value) in &current.requests {
        if *version != v {
            continue;
        }
        let delta = growth(
            *value,
            baseline
                .requests
                .get(&(version.clone(), code.clone()))
                .copied(),
        );
        requests += delta;
        if code.starts_with('5') {
            errors += delta;
        }
    }
    let mut buckets: Vec<(f64, f64)> = current
        .buckets
        .iter()
        .filter(|((version, _), _)| *version == v)
        .filter_map(|((version, le), value)| {
            let bound = match le.as_str() {
                "+Inf" => f64::INFINITY,
                other => other.parse().ok()?,
            };
            let before = baseline
                .buckets
                .get(&(version.clone(), le.clone()))
                .copied();
            Some((bound, growth(*value, before)))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let requests = requests.round() as u64;
    let errors = (errors.round() as u64).min(requests);
    let interval = wilson_interval(errors, requests);
    WindowStats {
        version: v,
        requests,
        errors,
        error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
        error_rate_lower_95: interval.map(|i| i.0),
        error_rate_upper_95: interval.map(|i| i.1),
        p50_latency_ms: histogram_quantile(0.5, &buckets).map(|s| s * 1000.0),
        p95_latency_ms: histogram_quantile(0.95, &buckets).map(|s| s * 1000.0),
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Applies the rules to the traffic so far. `None`: keep watching.
pub fn decide(
    canary: &WindowStats,
    stable: &WindowStats,
    t: &Thresholds,
    window_over: bool,
) -> Option<Decision> {
    let failed = |rule: Rule, detail: String| {
        Some(Decision {
            verdict: Verdict::Failed,
            rule,
            detail,
        })
    };
    if canary.requests < t.min_requests {
        return window_over.then(|| Decision {
            verdict: Verdict::Inconclusive,
            rule: Rule::MinRequests,
            detail: format!(
                "only {} canary requests in the window; at least {} are needed for a verdict",
                canary.requests, t.min_requests
            ),
        });
    }
    let rate = canary.error_rate.unwrap_or(0.0);
    let lower = canary.error_rate_lower_95.unwrap_or(0.0);
    if lower > t.max_error_rate || (window_over && rate > t.max_error_rate) {
        return failed(
            Rule::MaxErrorRate,
            format!(
                "canary error rate {} ({} of {} requests; 95% interval from {}) is above the maximum {}",
                percent(rate),
                canary.errors,
                canary.requests,
                percent(lower),
                percent(t.max_error_rate)
            ),
        );
    }
    let stable_judged = stable.requests >= t.min_requests;
    if stable_judged {
        let stable_rate = stable.error_rate.unwrap_or(0.0);
        let stable_upper = stable.error_rate_upper_95.unwrap_or(1.0);
        let clear = lower - stable_upper > t.max_error_rate_increase;
        if clear || (window_over && rate - stable_rate > t.max_error_rate_increase) {
            return failed(
                Rule::MaxErrorRateIncrease,
                format!(
                    "canary error rate {} exceeds stable's {} by {} points; at most {} allowed",
                    percent(rate),
                    percent(stable_rate),
                    percent(rate - stable_rate),
                    percent(t.max_error_rate_increase)
                ),
            );
        }
    }
    if let Some(p95) = canary.p95_latency_ms
        && p95 > t.max_latency_p95_ms
    {
        return failed(
            Rule::MaxLatencyP95,
            format!(
                "canary p95 latency {p95:.1} ms over {} requests is above the maximum {} ms",
                canary.requests, t.max_latency_p95_ms
            ),
        );
    }
    window_over.then(|| Decision {
        verdict: Verdict::Successful,
        rule: Rule::AllThresholdsMet,
        detail: format!(
            "canary served {} requests with error rate {}{} and p95 {}; every threshold held{}",
            canary.requests,
            percent(rate),
            if stable_judged {
                format!(" (stable {})", percent(stable.error_rate.unwrap_or(0.0)))
            } else {
                String::new()
            },
            canary
                .p95_latency_ms
                .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.1} ms")),
            if stable_judged {
                String::new()
            } else {
                format!(
                    "; the increase over stable was not judged: stable served only {} requests",
                    stable.requests
                )
            }
        ),
    })
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Successful => "successful",
        Verdict::Failed => "failed",
        Verdict::Inconclusive => "inconclusive",
    }
}

fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn sample_line(sample: &CanarySample) -> String {
    let stats = |s: &WindowStats| match s.error_rate {
        None => format!("v{}: no requests", s.version),
        Some(rate) => format!(
            "v{}: {} req, {} errors, p95 {}",
            s.version,
            s.requests,
            percent(rate),
            s.p95_latency_ms
                .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.0} ms"))
        ),
    };
    format!(
        "sample {} at {:.0}s — canary {}; stable {} — {}",
        sample.sample,
        sample.elapsed_seconds,
        stats(&sample.canary),
        stats(&sample.stable),
        sample.outcome
    )
}

pub async fn run(
    tools: &dyn Tools,
    config: &MonitoringConfig,
    input: WatchCanaryInput,
) -> Result<SkillOutcome, SkillError> {
    let watch = parse(input, config)?;
    let model = &watch.model;
    let deployment = deployments::of(tools, model)
        .await?
        .ok_or_else(|| SkillError::bad_field("model", format!("{model:?} has no deployment")))?;
    let canary = deployment.version(watch.canary).ok_or_else(|| {
        SkillError::bad_field(
            "canary_version",
            format!("{} is not deployed for {model}", watch.canary),
        )
    })?;
    let stable = match watch.stable {
        Some(version) => deployment.version(version).ok_or_else(|| {
            SkillError::bad_field(
                "stable_version",
                format!("{version} is not deployed for {model}"),
            )
        })?,
        None => deployment.stable(Some(watch.canary)).ok_or_else(|| {
            SkillError::bad_field(
                "stable_version",
                format!("is needed: no version of {model} other than the canary takes traffic"),
            )
        })?,
    };
    let (canary_version, stable_version) = (canary.version, stable.version);
    let (canary_weight, stable_weight) = (canary.weight, stable.weight);

    let window = Duration::from_secs(u64::from(watch.window_seconds));
    // At least three looks per window, however slow the configured pace.
    let every = Duration::from_secs(config.canary_sample_seconds)
        .min(window / 3)
        .max(Duration::from_secs(1));
    let started_at = rfc3339_now();
    let started = Instant::now();
    let baseline = snapshot(tools, model, [canary_version, stable_version]).await?;
    tools.progress(
        &format!(
            "watching {model} v{canary_version} ({canary_weight}%) against v{stable_version} ({stable_weight}%) for {}s, a sample every {}s",
            watch.window_seconds,
            every.as_secs()
        ),
        json!({ "thresholds": &watch.thresholds }),
    );

    let mut samples: Vec<CanarySample> = Vec::new();
    let (decision, last) = loop {
        let due = (every * (samples.len() as u32 + 1)).min(window);
        tools.sleep(due.saturating_sub(started.elapsed())).await?;
        let current = snapshot(tools, model, [canary_version, stable_version]).await?;
        let elapsed = started.elapsed();
        let canary_stats = window_stats(canary_version, &baseline, &current);
        let stable_stats = window_stats(stable_version, &baseline, &current);
        let decision = decide(
            &canary_stats,
            &stable_stats,
            &watch.thresholds,
            elapsed >= window,
        );
        let outcome = match &decision {
            Some(d) => format!("{}: {}", verdict_word(d.verdict), d.detail),
            None => format!(
                "continue: {} of at least {} canary requests, no threshold clearly broken",
                canary_stats.requests, watch.thresholds.min_requests
            ),
        };
        let sample = CanarySample {
            sample: samples.len() as u32 + 1,
            at: rfc3339_now(),
            elapsed_seconds: elapsed.as_secs_f64(),
            canary: canary_stats,
            stable: stable_stats,
            outcome,
        };
        tools.progress(&sample_line(&sample), json!(&sample));
        samples.push(sample.clone());
        if let Some(decision) = decision {
            break (decision, sample);
        }
    };
    let output = WatchCanaryOutput {
        model: model.to_string(),
        canary_version,
        stable_version,
        verdict: decision.verdict,
        decided_early: last.elapsed_seconds < window.as_secs_f64(),
        decided_by: decision,
        window_seconds: watch.window_seconds,
        elapsed_seconds: last.elapsed_seconds,
        started_at,
        ended_at: last.at.clone(),
        canary_weight_percent: canary_weight,
        stable_weight_percent: stable_weight,
        thresholds: watch.thresholds,
        canary: last.canary,
        stable: last.stable,
        samples,
    };
    let summary = format!(
        "{model} v{canary_version} vs v{stable_version}: {} after {:.0}s of a {}s window — {}",
        verdict_word(output.verdict),
        output.elapsed_seconds,
        output.window_seconds,
        output.decided_by.detail
    );
    Ok(SkillOutcome::single("canary-analysis", output, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            max_error_rate: 0.05,
            max_latency_p95_ms: 500.0,
            max_error_rate_increase: 0.02,
            min_requests: 50,
        }
    }

    fn stats(version: &str, requests: u64, errors: u64, p95_ms: Option<f64>) -> WindowStats {
        let interval = wilson_interval(errors, requests);
        WindowStats {
            version: version.into(),
            requests,
            errors,
            error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
            error_rate_lower_95: interval.map(|i| i.0),
            error_rate_upper_95: interval.map(|i| i.1),
            p50_latency_ms: p95_ms.map(|p| p / 2.0),
            p95_latency_ms: p95_ms,
        }
    }

    #[test]
    fn wilson_interval_matches_the_textbook_values() {
        // 10 of 100 (R: prop.test(10, 100, correct = FALSE)$conf.int):
        // 0.05522914 0.17436566.
        let (low, high) = wilson_interval(10, 100).unwrap();
        assert!((low - 0.055_229_14).abs() < 1e-6, "{low}");
        assert!((high - 0.174_365_66).abs() < 1e-6, "{high}");
        let (low, high) = wilson_interval(0, 50).unwrap();
        assert_eq!(low, 0.0);
        assert!(high > 0.05 && high < 0.1, "{high}");
        assert!(wilson_interval(0, 0).is_none());
    }

    #[test]
    fn quantiles_interpolate_as_prometheus_does() {
        let inf = f64::INFINITY;
        // 100 requests: 50 under 0.1 s, 90 under 0.25 s, all under 0.5 s.
        let buckets = [(0.1, 50.0), (0.25, 90.0), (0.5, 100.0), (inf, 100.0)];
        assert!((histogram_quantile(0.5, &buckets).unwrap() - 0.1).abs() < 1e-12);
        // rank 95 falls in (0.25, 0.5]: 0.25 + 0.25 × 5/10.
        assert!((histogram_quantile(0.95, &buckets).unwrap() - 0.375).abs() < 1e-12);
        // In the first bucket the lower bound is 0.
        assert!((histogram_quantile(0.25, &buckets).unwrap() - 0.05).abs() < 1e-12);
        // Past the last finite bound: that bound.
        let slow = [(0.1, 1.0), (0.5, 2.0), (inf, 100.0)];
        assert_eq!(histogram_quantile(0.95, &slow), Some(0.5));
        assert_eq!(histogram_quantile(0.5, &[(0.1, 0.0), (inf, 0.0)]), None);
        assert_eq!(
            histogram_quantile(0.5, &[(0.1, 3.0)]),
            None,
            "no +Inf bucket"
        );
        // A dip from reads at different moments is smoothed out.
        let dipped = [(0.1, 50.0), (0.25, 49.0), (inf, 100.0)];
        assert!(histogram_quantile(0.4, &dipped).unwrap() <= 0.1);
    }

    #[test]
    fn counters_grow_from_the_baseline_and_resets_count_whole() {
        let key = |v: &str, c: &str| (v.to_owned(), c.to_owned());
        let baseline = Snapshot {
            requests: BTreeMap::from([(key("2", "200"), 100.0), (key("2", "500"), 10.0)]),
            buckets: BTreeMap::from([(key("2", "0.1"), 100.0), (key("2", "+Inf"), 110.0)]),
        };
        let current = Snapshot {
            requests: BTreeMap::from([
                (key("2", "200"), 140.0),
                (key("2", "500"), 50.0),
                (key("1", "200"), 7.0),
            ]),
            buckets: BTreeMap::from([(key("2", "0.1"), 140.0), (key("2", "+Inf"), 190.0)]),
        };
        let canary = window_stats(2, &baseline, &current);
        assert_eq!((canary.requests, canary.errors), (80, 40));
        assert_eq!(canary.error_rate, Some(0.5));
        // 40 of 80 under 0.1 s: the median is at the bound.
        assert!((canary.p50_latency_ms.unwrap() - 100.0).abs() < 1e-9);
        let stable = window_stats(1, &baseline, &current);
        assert_eq!(
            stable.requests, 7,
            "a series new since the baseline counts whole"
        );
        assert_eq!(growth(3.0, Some(10.0)), 3.0, "a reset counter counts whole");
    }

    #[test]
    fn a_clearly_faulty_canary_fails_before_the_window_ends() {
        let t = thresholds();
        let decision = decide(
            &stats("3", 60, 30, Some(300.0)),
            &stats("1", 500, 0, Some(20.0)),
            &t,
            false,
        )
        .unwrap();
        assert_eq!(decision.verdict, Verdict::Failed);
        assert_eq!(decision.rule, Rule::MaxErrorRate);
        // Slow but not failing: the latency rule.
        let slow = decide(
            &stats("3", 60, 0, Some(900.0)),
            &stats("1", 500, 0, None),
            &t,
            false,
        )
        .unwrap();
        assert_eq!(slow.rule, Rule::MaxLatencyP95);
    }

    #[test]
    fn an_unclear_breach_waits_for_the_end_of_the_window() {
        let t = thresholds();
        // 4 of 60 is 6.7% but the lower bound (2.6%) is under 5%.
        let canary = stats("2", 60, 4, Some(30.0));
        let stable = stats("1", 40, 0, Some(30.0));
        assert!(decide(&canary, &stable, &t, false).is_none());
        let at_end = decide(&canary, &stable, &t, true).unwrap();
        assert_eq!(at_end.verdict, Verdict::Failed);
        assert_eq!(at_end.rule, Rule::MaxErrorRate);
    }

    #[test]
    fn increase_over_stable_is_judged_only_with_enough_stable_traffic() {
        let t = thresholds();
        // 4% canary vs 0% stable: under the absolute 5%, over +2 points.
        let canary = stats("2", 1000, 40, Some(30.0));
        let stable = stats("1", 1000, 0, Some(30.0));
        let decision = decide(&canary, &stable, &t, false).unwrap();
        assert_eq!(decision.rule, Rule::MaxErrorRateIncrease);
        let little_stable = stats("1", 10, 0, Some(30.0));
        let end = decide(&canary, &little_stable, &t, true).unwrap();
        assert_eq!(end.verdict, Verdict::Successful);
        assert!(end.detail.contains("not judged"), "{}", end.detail);
    }

    #[test]
    fn healthy_is_successful_at_the_end_and_little_traffic_inconclusive() {
        let t = thresholds();
        let healthy = stats("2", 200, 1, Some(40.0));
        let stable = stats("1", 800, 2, Some(40.0));
        assert!(decide(&healthy, &stable, &t, false).is_none());
        let end = decide(&healthy, &stable, &t, true).unwrap();
        assert_eq!(
            (end.verdict, end.rule),
            (Verdict::Successful, Rule::AllThresholdsMet)
        );
        let quiet = decide(&stats("2", 12, 6, None), &stable, &t, true).unwrap();
        assert_eq!(
            (quiet.verdict, quiet.rule),
            (Verdict::Inconclusive, Rule::MinRequests)
        );
        assert!(decide(&stats("2", 12, 6, None), &stable, &t, false).is_none());
    }

    #[test]
    fn inputs_are_validated_field_by_field() {
        let config = MonitoringConfig::default();
        let base = json!({"model": "fraud-detector", "canary_version": 2, "window_seconds": 60});
        let parse_json = |patch: serde_json::Value| {
            let mut value = base.clone();
            for (k, v) in patch.as_object().unwrap() {
                value[k] = v.clone();
            }
            parse(serde_json::from_value(value).unwrap(), &config)
        };
        let ok = parse_json(json!({})).unwrap();
        assert_eq!(ok.thresholds.min_requests, 50);
        for (patch, field) in [
            (json!({"canary_version": 0}), "`canary_version`"),
            (json!({"stable_version": 2}), "`stable_version`"),
            (json!({"window_seconds": 5}), "`window_seconds`"),
            (json!({"max_error_rate": 1.5}), "`max_error_rate`"),
            (json!({"max_latency_p95_ms": -1.0}), "`max_latency_p95_ms`"),
            (
                json!({"max_error_rate_increase": 2.0}),
                "`max_error_rate_increase`",
            ),
            (json!({"min_requests": 0}), "`min_requests`"),
        ] {
            let err = parse_json(patch.clone()).unwrap_err().to_string();
            assert!(err.contains(field), "{patch}: {err}");
        }
    }
}
