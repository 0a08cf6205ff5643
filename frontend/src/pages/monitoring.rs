//! Monitoring: per-feature drift over time against its threshold, reference
//! vs current histograms, error rate and latency per live version, and the
//! drift alerts, over a chosen time range.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde_json::Value;

use crate::charts::{Histogram, LineChart, Series};
use crate::components::{DemoPanel, Problem, short};
use crate::data;
use crate::forms::RANGES;

/// A chart line's (x, y) points.
type Points = Vec<(f64, f64)>;

#[component]
pub fn Monitoring() -> impl IntoView {
    let query = use_query_map();
    let models = Resource::new(|| (), |_| data::model_names());
    let range = move || query.read().get("range").filter(|r| !r.is_empty());
    let chosen = move || query.read().get("model").filter(|m| !m.is_empty());
    view! {
        <Title text="Monitoring"/>
        <h1>"Monitoring"</h1>
        <DemoPanel/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let names = match models.await {
                    Ok(names) => names,
                    Err(error) => return view! { <Problem error/> }.into_any(),
                };
                let Some(model) = chosen().or_else(|| names.first().cloned()) else {
                    return view! { <p class="muted">"No model is registered yet."</p> }.into_any();
                };
                let current_range = range().unwrap_or_else(|| "1h".into());
                let model_options = names
                    .iter()
                    .map(|n| view! { <option value=n.clone() selected=*n == model>{n.clone()}</option> })
                    .collect_view();
                let range_options = RANGES
                    .iter()
                    .map(|(value, label)| view! { <option value=*value selected=*value == current_range>{*label}</option> })
                    .collect_view();
                view! {
                    <form method="get" class="filters">
                        <label>"Model " <select name="model">{model_options}</select></label>
                        <label>"Time range " <select name="range">{range_options}</select></label>
                        <button type="submit">"Show"</button>
                    </form>
                    <ModelMonitoring model range=current_range/>
                }
                .into_any()
            })}
        </Transition>
    }
}

#[component]
fn ModelMonitoring(model: String, range: String) -> impl IntoView {
    let window = crate::forms::window(Some(&range)).to_owned();
    // Reports and metrics are not workflow events: they refresh on the
    // readings tick, so the charts move without a reload.
    let readings = expect_context::<crate::live::Live>().readings();
    let features = Resource::new(
        {
            let (model, range) = (model.clone(), range.clone());
            move || (model.clone(), range.clone(), readings.get())
        },
        |(model, range, _)| data::drift_features(model, Some(range)),
    );
    let metrics = Resource::new(
        {
            let model = model.clone();
            move || (model.clone(), window.clone(), readings.get())
        },
        |(model, window, _)| data::canary(model, Some(window)),
    );
    let alerts = Resource::new(
        {
            let model = model.clone();
            move || (model.clone(), readings.get())
        },
        |(model, _)| data::drift(Some(model), None),
    );
    let predictions = Resource::new(
        {
            let (model, range) = (model.clone(), range.clone());
            move || (model.clone(), range.clone(), readings.get())
        },
        |(model, range, _)| data::predictions(model, Some(range)),
    );
    view! {
        <section aria-labelledby="versions-h">
            <h2 id="versions-h">"Error rate and latency per version"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match metrics.await {
                        Ok(report) => view! { <VersionTable report/> }.into_any(),
                        Err(error) => view! { <Problem error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section aria-labelledby="predictions-h">
            <h2 id="predictions-h">"Prediction distribution"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match predictions.await {
                        Ok(out) => view! { <PredictionDistribution out/> }.into_any(),
                        Err(error) => view! { <Problem error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section aria-labelledby="drift-h">
            <h2 id="drift-h">"Feature drift"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match features.await {
                        Ok(series) => view! { <DriftCharts series/> }.into_any(),
                        Err(error) => view! { <Problem error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section aria-labelledby="alerts-h">
            <h2 id="alerts-h">"Alerts"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match alerts.await {
                        Ok(listed) => view! { <Alerts listed/> }.into_any(),
                        Err(error) => view! { <Problem error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The served scores per version (the drift server's
/// `prediction_distribution`), as shares of each version's predictions so
/// a 10% canary compares with its stable.
#[component]
fn PredictionDistribution(out: Value) -> impl IntoView {
    let d = &out["distribution"];
    let versions = d["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        return view! { <p class="muted">"No predictions logged in this range."</p> }.into_any();
    }
    let edges: Vec<f64> = d["edges"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let bins: Vec<String> = edges
        .windows(2)
        .map(|w| format!("{}–{}", short(w[0]), short(w[1])))
        .collect();
    let series: Vec<(String, Vec<f64>)> = versions
        .iter()
        .map(|v| {
            let count = v["count"].as_f64().unwrap_or(0.0).max(1.0);
            let shares = v["counts"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|n| n.as_f64().unwrap_or(0.0) / count)
                        .collect()
                })
                .unwrap_or_default();
            (format!("v{}", v["version"].as_str().unwrap_or("?")), shares)
        })
        .collect();
    let summary = versions
        .iter()
        .map(|v| {
            format!(
                "v{}: {} predictions, mean score {}",
                v["version"].as_str().unwrap_or("?"),
                v["count"],
                v["mean"].as_f64().map(short).unwrap_or_else(|| "—".into())
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    view! {
        <div data-testid="predictions">
            <Histogram title="Share of predictions by score, per version".to_owned() bins series/>
            <p class="muted">{summary}</p>
        </div>
    }
    .into_any()
}

/// The metrics server's per-version reading (`canary_vs_stable`).
#[component]
pub fn VersionTable(report: Value) -> impl IntoView {
    let versions = report["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        let note = report["note"]
            .as_str()
            .unwrap_or("No traffic recorded in this window.")
            .to_owned();
        return view! { <p class="muted">{note}</p> }.into_any();
    }
    let ms = |v: &Value| {
        v.as_f64()
            .map(|s| format!("{} ms", short(s * 1000.0)))
            .unwrap_or_else(|| "—".into())
    };
    let pct = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{}%", short(x * 100.0)))
            .unwrap_or_else(|| "—".into())
    };
    let rows = versions
        .iter()
        .map(|v| {
            view! {
                <tr>
                    <td>"v" {v["version"].as_str().unwrap_or_default().to_owned()}</td>
                    <td>{v["role"].as_str().unwrap_or("—").to_owned()}</td>
                    <td class="num">{v["traffic_weight_percent"].as_f64().map(|w| format!("{}%", short(w))).unwrap_or_else(|| "—".into())}</td>
                    <td class="num">{v["requests_per_second"].as_f64().map(short).unwrap_or_else(|| "—".into())}</td>
                    <td class="num">{pct(&v["error_rate"])}</td>
                    <td class="num">{ms(&v["p50_seconds"])}</td>
                    <td class="num">{ms(&v["p99_seconds"])}</td>
                </tr>
            }
        })
        .collect_view();
    let at = report["evaluated_at"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let window = report["window"].as_str().unwrap_or_default().to_owned();
    view! {
        <table class="data" data-testid="versions">
            <caption>{format!("Rates over {window}, read at {at}")}</caption>
            <thead><tr>
                <th scope="col">"Version"</th><th scope="col">"Role"</th><th scope="col">"Traffic"</th>
                <th scope="col">"Requests/s"</th><th scope="col">"Error rate"</th><th scope="col">"p50"</th><th scope="col">"p99"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

fn seconds(at: &Value) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(at.as_str()?)
        .ok()
        .map(|t| t.timestamp() as f64)
}

#[component]
fn DriftCharts(series: Value) -> impl IntoView {
    let features = series["features"].as_array().cloned().unwrap_or_default();
    if features.is_empty() {
        return view! { <p class="muted">"No drift report in this range yet: the monitoring agent checks every live model every 30 s."</p> }.into_any();
    }
    let latest = series["latest"]["columns"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let charts = features
        .iter()
        .map(|f| {
            let column = f["column"].as_str().unwrap_or_default().to_owned();
            let test = f["stattest_name"].as_str().or(f["stattest"].as_str()).unwrap_or("test").to_owned();
            let kind = f["score_kind"].as_str().unwrap_or("score").replace('_', "-");
            let points: Vec<(f64, f64)> = f["points"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| Some((seconds(&p["at"])?, p["score"].as_f64()?))).collect())
                .unwrap_or_default();
            let drifted = f["points"]
                .as_array()
                .and_then(|ps| ps.last())
                .and_then(|p| p["drift_detected"].as_bool())
                .unwrap_or(false);
            let histogram = latest
                .iter()
                .find(|c| c["column"] == column.as_str())
                .map(|c| c["histogram"].clone())
                .unwrap_or(Value::Null);
            let (bins, reference, current) = histogram_parts(&histogram);
            let title = format!("{column}: {test} ({kind})");
            view! {
                <div class="feature" data-testid="feature" data-column=column.clone() data-drifted=drifted.to_string()>
                    <h3>{column.clone()} " " {drifted.then(|| view! { <span class="state state-failed">"drifted"</span> })}</h3>
                    <LineChart
                        title=title
                        series=vec![Series { name: "score".into(), class: "s0", points }]
                        threshold=f["threshold"].as_f64()
                    />
                    {(!bins.is_empty()).then(|| view! {
                        <Histogram
                            title=format!("{column}: reference vs current")
                            bins
                            series=vec![("reference".into(), reference), ("current".into(), current)]
                        />
                    })}
                </div>
            }
        })
        .collect_view();
    view! {
        <p class="muted">{format!("{} reports in range; newest at {}.", series["reports"], series["latest"]["at"].as_str().unwrap_or("—"))}</p>
        <div class="features">{charts}</div>
    }
    .into_any()
}

/// Bins (labels) and counts from a drift histogram (`bins` or
/// `categories`).
pub fn histogram_parts(h: &Value) -> (Vec<String>, Vec<f64>, Vec<f64>) {
    let numbers = |v: &Value| -> Vec<f64> {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let labels: Vec<String> = match h["kind"].as_str() {
        Some("bins") => h["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .windows(2)
                    .map(|w| short(w[0].as_f64().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
        Some("categories") => h["categories"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    (labels, numbers(&h["reference"]), numbers(&h["current"]))
}

/// A report raises an alert when the dataset drifted or any feature did
/// (a feature past its own threshold is worth a look before the share of
/// drifted features crosses the dataset's).
pub fn drift_alert(report: &Value) -> bool {
    report["summary"]["dataset_drift"].as_bool() == Some(true)
        || report["summary"]["drifted_columns"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
}

#[component]
fn Alerts(listed: Value) -> impl IntoView {
    let flagged: Vec<Value> = listed["reports"]
        .as_array()
        .map(|r| r.iter().filter(|r| drift_alert(r)).cloned().collect())
        .unwrap_or_default();
    if flagged.is_empty() {
        return view! { <p class="muted" data-testid="no-alerts">"No drift alert in the recent reports."</p> }.into_any();
    }
    let items = flagged
        .into_iter()
        .take(20)
        .map(|r| {
            let at = r["created_at"].as_str().unwrap_or_default().to_owned();
            let columns = r["summary"]["drifted_columns"]
                .as_array()
                .map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            view! { <li><span class="state state-failed">"drift"</span> " " {at} ": " {columns}</li> }
        })
        .collect_view();
    view! { <ul class="plain" data-testid="alerts">{items}</ul> }.into_any()
}

/// The canary analyses in a gate's evidence as charts over their windows:
/// error rate, p95 latency and traffic, canary against stable.
#[component]
pub fn CanaryCharts(evidence: Value) -> impl IntoView {
    let mut analyses: Vec<(&String, &Value)> = evidence["reports"]
        .as_object()
        .map(|r| {
            r.iter()
                .filter(|(_, v)| v["result"]["samples"].is_array())
                .collect()
        })
        .unwrap_or_default();
    analyses.sort_by_key(|(_, v)| v["result"]["started_at"].as_str().map(str::to_owned));
    if analyses.is_empty() {
        return view! { <p class="muted">"No canary analysis yet: this gate comes before any traffic moves."</p> }.into_any();
    }
    let mut error = (Vec::new(), Vec::new());
    let mut latency = (Vec::new(), Vec::new());
    let mut traffic = (Vec::new(), Vec::new());
    let mut verdicts = Vec::new();
    for (name, analysis) in &analyses {
        let result = &analysis["result"];
        verdicts.push(format!(
            "{name}: {}",
            result["verdict"].as_str().unwrap_or("?")
        ));
        for sample in result["samples"].as_array().into_iter().flatten() {
            let Some(at) = seconds(&sample["at"]) else {
                continue;
            };
            let pick = |side: &str, key: &str| sample[side][key].as_f64();
            if let (Some(c), Some(s)) = (pick("canary", "error_rate"), pick("stable", "error_rate"))
            {
                error.0.push((at, c * 100.0));
                error.1.push((at, s * 100.0));
            }
            if let (Some(c), Some(s)) = (
                pick("canary", "p95_latency_ms"),
                pick("stable", "p95_latency_ms"),
            ) {
                latency.0.push((at, c));
                latency.1.push((at, s));
            }
            if let Some(w) = result["canary_weight_percent"].as_f64() {
                traffic.0.push((at, w));
                traffic.1.push((
                    at,
                    result["stable_weight_percent"]
                        .as_f64()
                        .unwrap_or(100.0 - w),
                ));
            }
        }
    }
    let max_error = evidence["policy"]["canary"]["max_error_rate"]
        .as_f64()
        .map(|r| r * 100.0);
    let max_latency = evidence["policy"]["canary"]["max_latency_p95_ms"].as_f64();
    let pair = |(c, s): (Points, Points)| {
        vec![
            Series {
                name: "canary".into(),
                class: "s1",
                points: c,
            },
            Series {
                name: "stable".into(),
                class: "s0",
                points: s,
            },
        ]
    };
    view! {
        <p class="muted">{verdicts.join(" · ")}</p>
        <div class="features">
            <LineChart title="Error rate, canary vs stable".to_owned() series=pair(error) threshold=max_error unit="%"/>
            <LineChart title="p95 latency, canary vs stable".to_owned() series=pair(latency) threshold=max_latency unit=" ms"/>
            <LineChart title="Traffic share".to_owned() series=pair(traffic) unit="%"/>
        </div>
    }
    .into_any()
}
