//! The values a metrics tool accepts, parsed once at the edge: times,
//! durations, PromQL text and label values. What reaches Prometheus has
//! passed through one of these constructors.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use mlops_mcp_kit::ToolError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Prometheus refuses range queries with more points than this per series
/// ("exceeded maximum resolution of 11,000 points per timeseries"); we
/// refuse them first, with a message that says how to fix the step.
pub const MAX_POINTS_PER_SERIES: f64 = 11_000.0;
/// Longest PromQL text accepted; real dashboards' queries are far shorter.
pub const MAX_QUERY_LEN: usize = 4_000;
/// Latest time accepted: 9999-12-31T23:59:59Z.
const MAX_UNIX_SECONDS: f64 = 253_402_300_799.0;

fn invalid(message: String) -> ToolError {
    ToolError::Invalid(message)
}

/// A PromQL expression: non-empty, bounded, free of NUL bytes. Its syntax
/// is Prometheus's to judge; its errors come back to the caller verbatim.
#[derive(Debug, Clone)]
pub struct PromQl(String);

impl PromQl {
    pub fn parse(raw: &str) -> Result<Self, ToolError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(invalid(
                "query must be a PromQL expression; it is empty".into(),
            ));
        }
        if trimmed.len() > MAX_QUERY_LEN {
            return Err(invalid(format!(
                "query is {} characters; at most {MAX_QUERY_LEN} are accepted",
                trimmed.len()
            )));
        }
        if trimmed.contains('\0') {
            return Err(invalid("query must not contain NUL characters".into()));
        }
        Ok(PromQl(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A span of time in whole milliseconds, as in PromQL's `[5m]` or a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PromDuration {
    millis: u64,
}

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl PromDuration {
    pub fn from_millis(millis: u64) -> Self {
        PromDuration { millis }
    }

    /// PromQL's duration syntax: one or more `<integer><unit>` terms with
    /// units y, w, d, h, m, s, ms, largest first (`1h30m`, `90s`, `500ms`).
    /// `what` names the argument in the error.
    pub fn parse(what: &str, raw: &str) -> Result<Self, ToolError> {
        let error = || {
            invalid(format!(
                "{what} {raw:?} is not a duration: use an integer and a unit, e.g. \"30s\", \"5m\", \"1h30m\" (units ms, s, m, h, d, w, y)"
            ))
        };
        let text = raw.trim();
        if text.is_empty() || text.len() > 32 {
            return Err(error());
        }
        let mut rest = text;
        let mut millis: u64 = 0;
        // Index into UNITS of the last unit used; each next one must be smaller.
        let mut last_unit: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return Err(error());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| error())?;
            rest = &rest[digits..];
            // "ms" before "m" and "s": the longest unit that matches.
            let (index, (unit, size)) = UNITS
                .iter()
                .enumerate()
                .filter(|(_, (unit, _))| rest.starts_with(unit))
                .max_by_key(|(_, (unit, _))| unit.len())
                .ok_or_else(error)?;
            if last_unit.is_some_and(|last| index <= last) {
                return Err(error());
            }
            last_unit = Some(index);
            rest = &rest[unit.len()..];
            millis = number
                .checked_mul(*size)
                .and_then(|m| millis.checked_add(m))
                .ok_or_else(error)?;
        }
        Ok(PromDuration { millis })
    }

    /// A step: a duration ("15s") or a number of seconds (15, 0.5).
    pub fn parse_step(step: &StepArg) -> Result<Self, ToolError> {
        let duration = match step {
            StepArg::Seconds(seconds) => {
                if !seconds.is_finite() || *seconds <= 0.0 || *seconds > 1e9 {
                    return Err(invalid(format!(
                        "step {seconds} must be a positive number of seconds or a duration such as \"15s\""
                    )));
                }
                PromDuration::from_millis((seconds * 1000.0).round() as u64)
            }
            StepArg::Text(text) => match text.trim().parse::<f64>() {
                Ok(seconds) => return Self::parse_step(&StepArg::Seconds(seconds)),
                Err(_) => PromDuration::parse("step", text)?,
            },
        };
        if duration.millis == 0 {
            return Err(invalid(
                "step must be greater than zero (at least 1ms)".into(),
            ));
        }
        Ok(duration)
    }

    pub fn millis(self) -> u64 {
        self.millis
    }

    pub fn seconds(self) -> f64 {
        self.millis as f64 / 1000.0
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }
}

/// Renders the canonical PromQL form, largest units first (`1h30m`), so
/// what goes into a query is built from a number and never from input.
impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        // Years and weeks are skipped: days say the same thing unambiguously.
        for (unit, size) in UNITS.iter().filter(|(u, _)| !matches!(*u, "y" | "w")) {
            let n = rest / size;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                rest -= n * size;
            }
        }
        Ok(())
    }
}

/// The analysis window of `canary_vs_stable`: 10 s to 31 days.
pub fn window(raw: &str) -> Result<PromDuration, ToolError> {
    let window = PromDuration::parse("window", raw)?;
    let (min, max) = (
        PromDuration::from_millis(10_000),
        PromDuration::parse("", "31d")?,
    );
    if window < min || window > max {
        return Err(invalid(format!(
            "window {raw:?} must be between 10s and 31d; it should also span several scrape intervals"
        )));
    }
    Ok(window)
}

/// A time argument as sent: unix seconds, or text.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TimeArg {
    /// Unix time in seconds, e.g. 1767225600 or 1767225600.5.
    Unix(f64),
    /// RFC 3339 ("2026-01-01T00:00:00Z"), unix seconds as text, "now", or
    /// "now-<duration>" such as "now-15m".
    Text(String),
}

/// A step as sent: seconds, or a duration string.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StepArg {
    /// Seconds between points, e.g. 15.
    Seconds(f64),
    /// A duration such as "15s" or "1m".
    Text(String),
}

/// A point in time, as unix seconds with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct PromTime(f64);

impl PromTime {
    pub fn now() -> Self {
        PromTime(Utc::now().timestamp_millis() as f64 / 1000.0)
    }

    pub fn from_unix(what: &str, seconds: f64) -> Result<Self, ToolError> {
        if !seconds.is_finite() || !(0.0..=MAX_UNIX_SECONDS).contains(&seconds) {
            return Err(invalid(format!(
                "{what} {seconds} is not a unix time between 1970 and 9999"
            )));
        }
        Ok(PromTime((seconds * 1000.0).round() / 1000.0))
    }

    /// Parses `arg` relative to `now` (so "now-5m" and "now" in one call
    /// share one clock reading). `what` names the argument in errors.
    pub fn parse(what: &str, arg: &TimeArg, now: PromTime) -> Result<Self, ToolError> {
        match arg {
            TimeArg::Unix(seconds) => Self::from_unix(what, *seconds),
            TimeArg::Text(text) => {
                let text = text.trim();
                if text == "now" {
                    return Ok(now);
                }
                if let Some(ago) = text.strip_prefix("now-") {
                    let ago = PromDuration::parse(what, ago)?;
                    return Self::from_unix(what, now.0 - ago.seconds());
                }
                if let Ok(seconds) = text.parse::<f64>() {
                    return Self::from_unix(what, seconds);
                }
                match DateTime::parse_from_rfc3339(text) {
                    Ok(t) => Self::from_unix(what, t.timestamp_millis() as f64 / 1000.0),
                    Err(e) => Err(invalid(format!(
                        "{what} {text:?} is not a time ({e}): use RFC 3339 (\"2026-01-01T00:00:00Z\"), unix seconds, \"now\" or \"now-15m\""
                    ))),
                }
            }
        }
    }

    pub fn unix(self) -> f64 {
        self.0
    }

    /// What Prometheus's `time`, `start` and `end` parameters take.
    pub fn param(self) -> String {
        format!("{:.3}", self.0)
    }

    pub fn rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_millis((self.0 * 1000.0).round() as i64)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_else(|| self.param())
    }
}

/// Checks a range query before Prometheus sees it: end not before start,
/// and no more points per series than Prometheus allows.
pub fn check_range(start: PromTime, end: PromTime, step: PromDuration) -> Result<u64, ToolError> {
    if end < start {
        return Err(invalid(format!(
            "end ({}) is before start ({})",
            end.rfc3339(),
            start.rfc3339()
        )));
    }
    let points = ((end.unix() - start.unix()) / step.seconds()).floor() + 1.0;
    if points > MAX_POINTS_PER_SERIES {
        let min_step = ((end.unix() - start.unix()) / (MAX_POINTS_PER_SERIES - 1.0)).ceil();
        return Err(invalid(format!(
            "{points:.0} points per series with step {step}; Prometheus allows at most {MAX_POINTS_PER_SERIES:.0}: use a step of at least {min_step:.0}s or a shorter range"
        )));
    }
    Ok(points as u64)
}

/// A model name as it appears in the `model` label: a slug, so it can be
/// put between quotes in PromQL with nothing to escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLabel(String);

impl ModelLabel {
    pub fn parse(raw: &str) -> Result<Self, ToolError> {
        mlops_mcp_kit::slug("model", raw, 63).map(ModelLabel)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A version as sent: a number or text.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VersionArg {
    Number(u64),
    Text(String),
}

/// A `version` label value: 1-32 characters of A-Z, a-z, 0-9, '.', '_', '-'.
pub fn version_label(arg: &VersionArg) -> Result<String, ToolError> {
    let raw = match arg {
        VersionArg::Number(n) => return Ok(n.to_string()),
        VersionArg::Text(t) => t.trim(),
    };
    let ok = !raw.is_empty()
        && raw.len() <= 32
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid(format!(
            "version {raw:?} must be 1-32 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
        )))
    }
}

/// The state filter of `get_alerts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Firing,
    Pending,
}

impl AlertState {
    pub fn parse(raw: &str) -> Result<Self, ToolError> {
        match raw.trim() {
            "firing" => Ok(AlertState::Firing),
            "pending" => Ok(AlertState::Pending),
            other => Err(invalid(format!(
                "state {other:?} must be \"firing\" or \"pending\" (Prometheus reports only active alerts)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Pending => "pending",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(raw: &str) -> u64 {
        PromDuration::parse("d", raw).expect(raw).millis()
    }

    #[test]
    fn durations_follow_promql_syntax() {
        assert_eq!(d("5m"), 300_000);
        assert_eq!(d("1h30m"), 5_400_000);
        assert_eq!(d("500ms"), 500);
        assert_eq!(d("1s500ms"), 1_500);
        assert_eq!(d("2d"), 172_800_000);
        for bad in [
            "",
            "5",
            "m",
            "5 m",
            "5mm",
            "30m1h",
            "1s1s",
            "-5m",
            "5x",
            "1.5m",
            "99999999999999999999y",
        ] {
            assert!(
                PromDuration::parse("window", bad).is_err(),
                "{bad:?} accepted"
            );
        }
        let message = PromDuration::parse("window", "five minutes")
            .unwrap_err()
            .to_string();
        assert!(message.contains("\"30s\""), "{message}");
    }

    #[test]
    fn durations_render_canonically() {
        for (raw, rendered) in [
            ("90s", "1m30s"),
            ("5m", "5m"),
            ("1500ms", "1s500ms"),
            ("1w", "7d"),
        ] {
            assert_eq!(PromDuration::parse("d", raw).unwrap().to_string(), rendered);
        }
    }

    #[test]
    fn windows_are_bounded() {
        assert_eq!(window("5m").unwrap().millis(), 300_000);
        assert!(
            window("1s")
                .unwrap_err()
                .to_string()
                .contains("between 10s and 31d")
        );
        assert!(window("1y").is_err());
    }

    #[test]
    fn steps_accept_numbers_and_durations_but_not_zero() {
        assert_eq!(
            PromDuration::parse_step(&StepArg::Seconds(15.0))
                .unwrap()
                .millis(),
            15_000
        );
        assert_eq!(
            PromDuration::parse_step(&StepArg::Text("1m".into()))
                .unwrap()
                .millis(),
            60_000
        );
        assert_eq!(
            PromDuration::parse_step(&StepArg::Text("0.5".into()))
                .unwrap()
                .millis(),
            500
        );
        for bad in [
            StepArg::Seconds(0.0),
            StepArg::Seconds(-1.0),
            StepArg::Text("0s".into()),
            StepArg::Seconds(f64::NAN),
        ] {
            assert!(PromDuration::parse_step(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_parse_from_every_accepted_form() {
        let now = PromTime::from_unix("now", 1_767_225_600.0).unwrap();
        let parse = |arg: TimeArg| PromTime::parse("time", &arg, now).map(PromTime::unix);
        assert_eq!(
            parse(TimeArg::Unix(1_767_225_600.25)).unwrap(),
            1_767_225_600.25
        );
        assert_eq!(
            parse(TimeArg::Text("1767225600".into())).unwrap(),
            1_767_225_600.0
        );
        assert_eq!(
            parse(TimeArg::Text("2026-01-01T00:00:00Z".into())).unwrap(),
            1_767_225_600.0
        );
        assert_eq!(
            parse(TimeArg::Text("2026-01-01T01:00:00+01:00".into())).unwrap(),
            1_767_225_600.0
        );
        assert_eq!(parse(TimeArg::Text("now".into())).unwrap(), 1_767_225_600.0);
        assert_eq!(
            parse(TimeArg::Text("now-15m".into())).unwrap(),
            1_767_224_700.0
        );
        for bad in ["yesterday", "2026-13-01T00:00:00Z", "now-", "now-5", ""] {
            assert!(
                parse(TimeArg::Text(bad.into())).is_err(),
                "{bad:?} accepted"
            );
        }
        assert!(parse(TimeArg::Unix(-1.0)).is_err());
        assert!(parse(TimeArg::Unix(1e12)).is_err());
        assert_eq!(now.rfc3339(), "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn ranges_respect_prometheus_resolution_limit() {
        let start = PromTime::from_unix("start", 0.0).unwrap();
        let end = PromTime::from_unix("end", 3600.0).unwrap();
        assert_eq!(
            check_range(start, end, PromDuration::from_millis(60_000)).unwrap(),
            61
        );
        let too_fine = check_range(
            start,
            PromTime::from_unix("end", 86_400.0).unwrap(),
            PromDuration::from_millis(1_000),
        )
        .unwrap_err()
        .to_string();
        assert!(
            too_fine.contains("at most 11000") && too_fine.contains("at least 8s"),
            "{too_fine}"
        );
        assert!(
            check_range(end, start, PromDuration::from_millis(1_000))
                .unwrap_err()
                .to_string()
                .contains("before start")
        );
    }

    #[test]
    fn label_values_cannot_carry_promql() {
        assert!(ModelLabel::parse("fraud-detector").is_ok());
        for bad in ["fraud\"}", "a\\b", "Fraud", "x=~\".*\""] {
            assert!(ModelLabel::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(version_label(&VersionArg::Number(3)).unwrap(), "3");
        assert_eq!(
            version_label(&VersionArg::Text("v1.2-rc".into())).unwrap(),
            "v1.2-rc"
        );
        assert!(version_label(&VersionArg::Text("3\"}".into())).is_err());
    }
}
