//! Small pieces every page uses: state badges, problems, the CSRF field,
//! evidence rendered from JSON, and times.

use leptos::prelude::*;
use serde_json::Value;

use crate::app::MeResource;

/// A server function's failure as a person reads it.
pub fn failure_text(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

#[component]
pub fn Problem(error: ServerFnError) -> impl IntoView {
    view! { <p class="problem" role="alert">{failure_text(&error)}</p> }
}

/// An A2A task state (or a workflow's, or a gate's), coloured one way
/// everywhere (CONVENTIONS: the user interface).
#[component]
pub fn StateBadge(state: String) -> impl IntoView {
    let class = format!("state state-{}", state_class(&state));
    view! { <span class=class>{state}</span> }
}

/// The CSS class suffix for a state.
pub fn state_class(state: &str) -> &'static str {
    match state {
        "submitted" | "pending" => "submitted",
        "working" | "running" => "working",
        "input-required" | "auth-required" | "open" => "input-required",
        "completed" | "approved" | "succeeded" => "completed",
        "failed" | "rejected" | "expired" | "rolled_back" => "failed",
        "canceled" => "canceled",
        _ => "submitted",
    }
}

/// The session's CSRF token as a hidden form field.
#[component]
pub fn CsrfField() -> impl IntoView {
    let me = expect_context::<MeResource>();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let token = me.await.ok().and_then(|m| m.csrf_token).unwrap_or_default();
                view! { <input type="hidden" name="_csrf" value=token/> }
            })}
        </Transition>
    }
}

/// Renders any JSON readably: objects as definition lists, arrays of
/// objects as tables, numbers rounded. Evidence and artifacts come from many
/// agents, and this shows all of them without a page per shape.
#[component]
pub fn JsonView(value: Value) -> impl IntoView {
    render(&value, 0)
}

fn render(value: &Value, depth: usize) -> AnyView {
    match value {
        Value::Null => view! { <span class="muted">"—"</span> }.into_any(),
        Value::Bool(b) => view! { <span>{if *b { "yes" } else { "no" }}</span> }.into_any(),
        Value::Number(n) => view! { <span class="num">{number(n)}</span> }.into_any(),
        Value::String(s) => view! { <span>{s.clone()}</span> }.into_any(),
        Value::Array(items) if items.is_empty() => {
            view! { <span class="muted">"none"</span> }.into_any()
        }
        Value::Array(items) if items.iter().all(Value::is_object) && depth < 4 => {
            table(items, depth)
        }
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|v| view! { <li>{render(v, depth + 1)}</li> })
                .collect_view();
            view! { <ul class="plain">{items}</ul> }.into_any()
        }
        Value::Object(map) if depth >= 4 => {
            view! { <code>{Value::Object(map.clone()).to_string()}</code> }.into_any()
        }
        Value::Object(map) => {
            let rows = map
                .iter()
                .map(|(k, v)| view! { <dt>{label(k)}</dt><dd>{render(v, depth + 1)}</dd> })
                .collect_view();
            view! { <dl class="kv">{rows}</dl> }.into_any()
        }
    }
}

fn table(items: &[Value], depth: usize) -> AnyView {
    let mut columns: Vec<String> = Vec::new();
    for item in items {
        if let Value::Object(map) = item {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let head = columns
        .iter()
        .map(|c| view! { <th scope="col">{label(c)}</th> })
        .collect_view();
    let body = items
        .iter()
        .map(|item| {
            let cells = columns
                .iter()
                .map(|c| view! { <td>{render(&item[c.as_str()], depth + 1)}</td> })
                .collect_view();
            view! { <tr>{cells}</tr> }
        })
        .collect_view();
    view! {
        <table class="data">
            <thead><tr>{head}</tr></thead>
            <tbody>{body}</tbody>
        </table>
    }
    .into_any()
}

/// `error_rate` → `error rate`.
pub fn label(key: &str) -> String {
    key.replace(['_', '-'], " ")
}

/// Integers as they are; others to four significant places.
pub fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    n.as_f64().map(short).unwrap_or_else(|| n.to_string())
}

/// How many of a deployed version's replicas are ready, from a model's
/// cluster status (`runtime.versions[].replicas[].ready`).
pub fn ready_replicas(status: &Value, version: i64) -> usize {
    status["runtime"]["versions"]
        .as_array()
        .and_then(|versions| {
            versions
                .iter()
                .find(|r| r["version"].as_i64() == Some(version))
        })
        .and_then(|r| r["replicas"].as_array())
        .map_or(0, |replicas| {
            replicas
                .iter()
                .filter(|r| r["ready"].as_bool() == Some(true))
                .count()
        })
}

/// A float, short.
pub fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 6) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// "4 min left", "expired 2 min ago", from seconds remaining.
pub fn time_left(seconds: i64) -> String {
    let span = |s: i64| {
        if s >= 3600 {
            format!("{} h {} min", s / 3600, (s % 3600) / 60)
        } else if s >= 60 {
            format!("{} min", s / 60)
        } else {
            format!("{s} s")
        }
    };
    if seconds >= 0 {
        format!("{} left", span(seconds))
    } else {
        format!("expired {} ago", span(-seconds))
    }
}

/// A timestamp as `2026-12-04 13:05:59 UTC`.
pub fn when(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_read_well() {
        assert_eq!(short(0.012345), "0.01235");
        assert_eq!(short(1234.5678), "1235");
        assert_eq!(short(2.5), "2.5");
        assert_eq!(time_left(300), "5 min left");
        assert_eq!(time_left(-30), "expired 30 s ago");
        assert_eq!(time_left(3720), "1 h 2 min left");
        assert_eq!(label("error_rate"), "error rate");
        assert_eq!(state_class("input-required"), "input-required");
        assert_eq!(state_class("rejected"), "failed");
    }
}

/// The demo panel (only when `mlops up` runs the demo): switch the
/// traffic's drift, or deploy the deliberately faulty version through the
/// ordinary deploy form, so its canary fails its analysis for real.
#[component]
pub fn DemoPanel() -> impl IntoView {
    let me = expect_context::<MeResource>();
    let switch = ServerAction::<crate::data::SetDemoDrift>::new();
    let demo = Resource::new(move || switch.version().get(), |_| crate::data::demo());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                // The token straight from `me`, not a CsrfField: a nested
                // Transition here would take a hydration id in an order that
                // races the page's own resources on the server.
                let me = me.await.ok();
                let may = me.as_ref().is_some_and(|m| m.may("demo"));
                let csrf = me.and_then(|m| m.csrf_token).unwrap_or_default();
                let failed = switch.value().get().and_then(|r| r.err());
                demo.await.ok().flatten().map(|d| {
                    let next = if d.drift { "false" } else { "true" };
                    let label = if d.drift { "Stop drift" } else { "Inject drift" };
                    let faulty = format!("/deploy?model={}&version={}", d.model, d.faulty);
                    view! {
                        <section class="demo-panel" aria-labelledby="demo-h" data-testid="demo-panel">
                            <h2 id="demo-h">"Demo"</h2>
                            <p class="muted">
                                {format!(
                                    "Traffic to {}: {:.0} requests/s, {}.",
                                    d.model,
                                    d.rate_per_sec,
                                    if d.drift { "drifting" } else { "as in training" }
                                )}
                            </p>
                            {failed.map(|error| view! { <Problem error/> })}
                            <ActionForm action=switch attr:class="inline">
                                <input type="hidden" name="_csrf" value=csrf/>
                                <input type="hidden" name="on" value=next/>
                                <button type="submit" disabled=!may data-testid="demo-drift">{label}</button>
                            </ActionForm>
                            " "
                            <a class="button" href=faulty>{format!("Deploy the faulty v{}", d.faulty)}</a>
                            {(!may).then(|| view! { <p class="hint">"The demo's controls need the ml-engineer, oncall or admin role."</p> })}
                        </section>
                    }
                })
            })}
        </Transition>
    }
}
