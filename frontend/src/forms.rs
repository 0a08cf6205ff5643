//! Turning typed form fields into API bodies, with messages a person can
//! act on. Pure, so it is unit-tested without a server.

use serde_json::{Value, json};

/// `name@sha256…` → `{"name", "version"}`.
fn dataset(field: &str, raw: Option<&str>) -> Result<Option<Value>, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    match raw.split_once('@') {
        Some((name, version)) if !name.is_empty() && !version.is_empty() => {
            Ok(Some(json!({"name": name, "version": version})))
        }
        _ => Err(format!(
            "{field} must be name@version, e.g. transactions-holdout@3f2a…"
        )),
    }
}

/// The deploy goal from the deploy form's fields.
pub fn deploy_goal(
    model: &str,
    version: &str,
    steps: &str,
    analysis_seconds: Option<&str>,
    holdout: Option<&str>,
    training_data: Option<&str>,
) -> Result<Value, String> {
    let model = model.trim();
    if model.is_empty() {
        return Err("choose a model".into());
    }
    let version: u32 = version
        .trim()
        .parse()
        .map_err(|_| "the version must be a whole number".to_owned())?;
    let steps = steps
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('%').parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            "steps must be traffic percentages separated by commas, e.g. 10, 50, 100".to_owned()
        })?;
    let mut goal =
        json!({"goal": "deploy", "model": model, "version": version, "strategy": "canary"});
    if !steps.is_empty() {
        goal["steps"] = json!(steps);
    }
    if let Some(seconds) = analysis_seconds.map(str::trim).filter(|s| !s.is_empty()) {
        let seconds: u32 = seconds
            .parse()
            .map_err(|_| "the analysis window must be a number of seconds".to_owned())?;
        goal["analysis_seconds"] = json!(seconds);
    }
    if let Some(h) = dataset("the holdout", holdout)? {
        goal["holdout"] = h;
    }
    if let Some(t) = dataset("the training data", training_data)? {
        goal["training_data"] = t;
    }
    Ok(goal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_form_becomes_a_goal() {
        let goal = deploy_goal(
            " fraud-detector ",
            "3",
            "10, 50%, 100",
            Some("60"),
            Some("holdout@abc"),
            None,
        )
        .unwrap();
        assert_eq!(goal["model"], "fraud-detector");
        assert_eq!(goal["version"], 3);
        assert_eq!(goal["steps"], json!([10, 50, 100]));
        assert_eq!(goal["analysis_seconds"], 60);
        assert_eq!(
            goal["holdout"],
            json!({"name": "holdout", "version": "abc"})
        );
        assert!(goal.get("training_data").is_none());
    }

    #[test]
    fn bad_fields_say_what_to_type() {
        assert!(
            deploy_goal("", "1", "", None, None, None)
                .unwrap_err()
                .contains("model")
        );
        assert!(
            deploy_goal("m", "v1", "", None, None, None)
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            deploy_goal("m", "1", "ten", None, None, None)
                .unwrap_err()
                .contains("percentages")
        );
        assert!(
            deploy_goal("m", "1", "", Some("x"), None, None)
                .unwrap_err()
                .contains("seconds")
        );
        assert!(
            deploy_goal("m", "1", "", None, Some("nohash"), None)
                .unwrap_err()
                .contains("name@version")
        );
    }
}

/// The monitoring page's time ranges, as `(value, label)`.
pub const RANGES: &[(&str, &str)] = &[
    ("15m", "last 15 minutes"),
    ("1h", "last hour"),
    ("6h", "last 6 hours"),
    ("24h", "last 24 hours"),
    ("7d", "last 7 days"),
];

/// The start of a time range (`15m`, `1h`, …; default 1h), as RFC 3339.
pub fn since(range: Option<&str>) -> Result<String, String> {
    let range = range.filter(|r| !r.is_empty()).unwrap_or("1h");
    let seconds: i64 = match range {
        "15m" => 15 * 60,
        "1h" => 3600,
        "6h" => 6 * 3600,
        "24h" => 24 * 3600,
        "7d" => 7 * 24 * 3600,
        other => {
            return Err(format!(
                "unknown time range {other:?}: use 15m, 1h, 6h, 24h or 7d"
            ));
        }
    };
    Ok((chrono::Utc::now() - chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The metrics server's window for a range (it takes Prometheus durations).
pub fn window(range: Option<&str>) -> &'static str {
    match range.unwrap_or("1h") {
        "15m" => "15m",
        "6h" => "6h",
        "24h" => "24h",
        "7d" => "7d",
        _ => "1h",
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn ranges_resolve_and_unknown_ones_are_named() {
        let since = since(Some("15m")).unwrap();
        assert!(since.ends_with('Z'), "{since}");
        assert!(super::since(Some("3w")).unwrap_err().contains("3w"));
        assert_eq!(window(None), "1h");
        assert_eq!(window(Some("7d")), "7d");
    }
}
