//! The overview: what is running, what waits for a decision, what is live
//! and how healthy it is, and which models drift.

use leptos::prelude::*;
use leptos_meta::Title;
use serde_json::Value;

use crate::components::{DemoPanel, Problem, short};
use crate::data;
use crate::live::Live;
use crate::pages::workflows::WorkflowTable;

#[component]
pub fn Overview() -> impl IntoView {
    let live = expect_context::<Live>();
    let any = live.any();
    let workflows = Resource::new(move || any.get(), |_| data::list_workflows(None));
    let gates = Resource::new(move || any.get(), |_| data::approvals());
    view! {
        <Title text="Overview"/>
        <h1>"Overview"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (workflows, gates) = (workflows.await, gates.await);
                match (workflows, gates) {
                    (Ok(rows), Ok(gates)) => {
                        let active: Vec<_> = rows
                            .iter()
                            .filter(|w| matches!(w.state.as_str(), "submitted" | "working" | "input-required"))
                            .cloned()
                            .collect();
                        let failed = rows.iter().filter(|w| w.state == "failed").count();
                        let waiting = gates.len();
                        let running = active.len();
                        let recent: Vec<_> = rows.into_iter().take(8).collect();
                        view! {
                            <ul class="stats" data-testid="stats">
                                <li><a href="/workflows?state=working" data-testid="stat-active"><strong>{running}</strong>" active workflows"</a></li>
                                <li><a href="/approvals" data-testid="stat-approvals"><strong>{waiting}</strong>" waiting for approval"</a></li>
                                <li><a href="/workflows?state=failed"><strong>{failed}</strong>" failed"</a></li>
                            </ul>
                            <section aria-labelledby="active-h">
                                <h2 id="active-h">"Active workflows"</h2>
                                {if active.is_empty() {
                                    view! { <p class="muted">"Nothing is running."</p> }.into_any()
                                } else {
                                    view! { <WorkflowTable rows=active/> }.into_any()
                                }}
                            </section>
                            <section aria-labelledby="recent-h">
                                <h2 id="recent-h">"Recent workflows"</h2>
                                <WorkflowTable rows=recent/>
                            </section>
                            <p><a href="/deploy" class="button primary">"Deploy a version"</a> " " <a href="/monitoring">"Drift and canary metrics"</a></p>
                        }
                        .into_any()
                    }
                    (Err(error), _) | (_, Err(error)) => view! { <Problem error/> }.into_any(),
                }
            })}
        </Transition>
        <DeploymentHealth/>
        <DriftAlerts/>
        <DemoPanel/>
    }
}

/// Every model in traffic: its split, replicas ready, and the live reading
/// per version (requests/s, error rate, p99), refreshed as readings come.
/// One resource for all of it: a resource nested under another's Suspend
/// would race the page's own for its hydration id.
#[component]
fn DeploymentHealth() -> impl IntoView {
    let live = expect_context::<Live>();
    let moved = live.of_kinds(&["node-state", "workflow-finished"]);
    let readings = live.readings();
    let health = Resource::new(
        move || (moved.get(), readings.get()),
        |_| async move {
            let status = data::deployments().await?;
            let mut models = Vec::new();
            for m in status["models"].as_array().cloned().unwrap_or_default() {
                let name = m["model"].as_str().unwrap_or_default().to_owned();
                let metrics = data::canary(name, None).await.unwrap_or(Value::Null);
                models.push((m, metrics));
            }
            Ok::<_, ServerFnError>(models)
        },
    );
    view! {
        <section aria-labelledby="health-h">
            <h2 id="health-h">"Deployments and their health"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match health.await {
                        Err(error) => view! { <Problem error/> }.into_any(),
                        Ok(models) if models.is_empty() => view! { <p class="muted">"Nothing is deployed."</p> }.into_any(),
                        Ok(models) => {
                            let rows = models
                                .iter()
                                .flat_map(|(status, report)| health_rows(status, report))
                                .collect_view();
                            view! {
                                <table class="data" data-testid="health">
                                    <thead><tr>
                                        <th scope="col">"Model"</th><th scope="col">"Version"</th><th scope="col">"Traffic"</th>
                                        <th scope="col">"Replicas ready"</th><th scope="col">"Requests/s"</th>
                                        <th scope="col">"Error rate"</th><th scope="col">"p99"</th>
                                    </tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            }
                            .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// One row per deployed version of a model.
fn health_rows(status: &Value, report: &Value) -> Vec<AnyView> {
    let model = status["model"].as_str().unwrap_or_default().to_owned();
    let readings = report["versions"].as_array().cloned().unwrap_or_default();
    status["desired"]["deployments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let version = d["version"].as_i64().unwrap_or_default();
            let ready = crate::components::ready_replicas(status, version);
            let reading = readings
                .iter()
                .find(|r| r["version"].as_str() == Some(version.to_string().as_str()))
                .cloned()
                .unwrap_or(Value::Null);
            let error_rate = reading["error_rate"].as_f64();
            let unhealthy = error_rate.is_some_and(|e| e > 0.05) || ready == 0;
            view! {
                <tr data-testid="health-row" data-model=model.clone() data-version=version.to_string()>
                    <th scope="row">{model.clone()}</th>
                    <td>"v" {version}</td>
                    <td class="num">{d["weight"].to_string()} "%"</td>
                    <td class="num">{format!("{ready}/{}", d["replicas"])}</td>
                    <td class="num" data-testid="rps">{reading["requests_per_second"].as_f64().map(short).unwrap_or_else(|| "—".into())}</td>
                    <td class="num">
                        {error_rate.map(|e| format!("{}%", short(e * 100.0))).unwrap_or_else(|| "—".into())}
                        {unhealthy.then(|| view! { " " <span class="state state-failed">"unhealthy"</span> })}
                    </td>
                    <td class="num">{reading["p99_seconds"].as_f64().map(|s| format!("{} ms", short(s * 1000.0))).unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
            .into_any()
        })
        .collect()
}

/// The newest drift report per model that found drift in the last hour.
#[component]
fn DriftAlerts() -> impl IntoView {
    let live = expect_context::<Live>();
    let readings = live.readings();
    let reports = Resource::new(
        move || readings.get(),
        |_| {
            let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
            data::drift(None, Some(since))
        },
    );
    view! {
        <section aria-labelledby="drift-alerts-h">
            <h2 id="drift-alerts-h">"Drift alerts"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match reports.await {
                        Err(error) => view! { <Problem error/> }.into_any(),
                        Ok(listed) => {
                            let mut seen = Vec::new();
                            let alerts: Vec<Value> = listed["reports"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter(|r| crate::pages::monitoring::drift_alert(r))
                                .filter(|r| {
                                    let model = r["model"].as_str().unwrap_or_default().to_owned();
                                    let first = !seen.contains(&model);
                                    seen.push(model);
                                    first
                                })
                                .cloned()
                                .collect();
                            if alerts.is_empty() {
                                return view! { <p class="muted" data-testid="no-drift-alerts">"No model drifted in the last hour."</p> }.into_any();
                            }
                            let items = alerts
                                .into_iter()
                                .map(|r| {
                                    let model = r["model"].as_str().unwrap_or("?").to_owned();
                                    let columns = r["summary"]["drifted_columns"]
                                        .as_array()
                                        .map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                                        .unwrap_or_default();
                                    let at = r["created_at"].as_str().unwrap_or_default().to_owned();
                                    let href = format!("/monitoring?model={}", crate::bridge::segment(&model));
                                    view! {
                                        <li data-testid="drift-alert">
                                            <span class="state state-failed">"drift"</span> " "
                                            <a href=href>{model.clone()}</a> ": " {columns} " " <span class="muted">{at}</span>
                                        </li>
                                    }
                                })
                                .collect_view();
                            view! { <ul class="plain">{items}</ul> }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}
