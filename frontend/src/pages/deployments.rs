//! Deployments: each model's traffic split as the cluster holds it, the
//! replicas behind it, the latest per-version reading, and roll back.
//! Promotion is the orchestrator's, behind its gate: the page links to it.

use leptos::prelude::*;
use leptos_meta::Title;
use serde_json::Value;

use crate::app::MeResource;
use crate::charts::TrafficBar;
use crate::components::{CsrfField, Problem};
use crate::data::{self, StartRollback};
use crate::live::Live;
use crate::pages::monitoring::VersionTable;

#[component]
pub fn Deployments() -> impl IntoView {
    let live = expect_context::<Live>();
    let me = expect_context::<MeResource>();
    let moved = live.of_kinds(&["node-state", "workflow-finished"]);
    let status = Resource::new(move || moved.get(), |_| data::deployments());
    let gates = Resource::new(move || moved.get(), |_| data::approvals());
    let rollback = ServerAction::<StartRollback>::new();
    let failed = move || {
        rollback
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|error| view! { <Problem error/> })
    };
    view! {
        <Title text="Deployments"/>
        <h1>"Deployments"</h1>
        {failed}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = me.await.ok();
                let may_rollback = me.as_ref().is_some_and(|m| m.may("rollback"));
                let gates = gates.await.unwrap_or_default();
                match status.await {
                    Err(error) => view! { <Problem error/> }.into_any(),
                    Ok(status) => {
                        let models = status["models"].as_array().cloned().unwrap_or_default();
                        if models.is_empty() {
                            return view! { <p class="muted">"Nothing is deployed."</p> }.into_any();
                        }
                        models
                            .into_iter()
                            .map(|m| {
                                let name = m["model"].as_str().unwrap_or_default().to_owned();
                                let promotion = gates
                                    .iter()
                                    .find(|g| g.evidence["goal"]["model"] == name.as_str())
                                    .map(|g| g.workflow.clone());
                                view! { <ModelDeployment status=m may_rollback promotion rollback/> }
                            })
                            .collect_view()
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn ModelDeployment(
    status: Value,
    may_rollback: bool,
    promotion: Option<String>,
    rollback: ServerAction<StartRollback>,
) -> impl IntoView {
    let model = status["model"].as_str().unwrap_or_default().to_owned();
    let deployments = status["desired"]["deployments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let split: Vec<(String, f64)> = deployments
        .iter()
        .map(|d| {
            (
                format!("v{}", d["version"]),
                d["weight"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    // The version with the most traffic is stable (ties: the older), as the
    // metrics server decides.
    let stable = deployments
        .iter()
        .max_by(|a, b| {
            let weight = |d: &Value| d["weight"].as_i64().unwrap_or(0);
            weight(a)
                .cmp(&weight(b))
                .then(b["version"].as_i64().cmp(&a["version"].as_i64()))
        })
        .and_then(|d| d["version"].as_i64());
    let versions: Vec<i64> = deployments
        .iter()
        .filter_map(|d| d["version"].as_i64())
        .collect();
    // What on-call most likely wants out: the newest version beside stable.
    let suspect = versions
        .iter()
        .copied()
        .filter(|v| Some(*v) != stable)
        .max()
        .or(stable);
    let rows = deployments
        .iter()
        .map(|d| {
            let version = d["version"].as_i64().unwrap_or_default();
            let ready = crate::components::ready_replicas(&status, version);
            let faults = match (d["error_share"].as_f64().unwrap_or(0.0), d["added_latency_ms"].as_i64().unwrap_or(0)) {
                (e, l) if e > 0.0 || l > 0 => format!("{}% errors, +{l} ms", crate::components::short(e * 100.0)),
                _ => "none".to_owned(),
            };
            let role = if Some(version) == stable { "stable" } else { "canary" };
            view! {
                <tr data-testid="deployment-row" data-version=version.to_string() data-weight=d["weight"].to_string()>
                    <th scope="row">"v" {version}</th>
                    <td>{role}</td>
                    <td class="num">{d["weight"].to_string()} "%"</td>
                    <td class="num">{format!("{ready}/{}", d["replicas"])}</td>
                    <td>{faults}</td>
                </tr>
            }
        })
        .collect_view();
    let metrics = Resource::new(
        {
            let model = model.clone();
            move || model.clone()
        },
        |model| data::canary(model, None),
    );
    let heading_id = format!("deploy-{model}");
    let card_model = model.clone();
    view! {
        <article class="card" aria-labelledby=heading_id.clone() data-testid="deployment" data-model=card_model>
            <h2 id=heading_id.clone()>{model.clone()}</h2>
            <TrafficBar split/>
            <table class="data">
                <thead><tr><th scope="col">"Version"</th><th scope="col">"Role"</th><th scope="col">"Weight"</th><th scope="col">"Replicas ready"</th><th scope="col">"Injected faults"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    metrics.await.ok().map(|report| view! { <VersionTable report/> })
                })}
            </Transition>
            <div class="buttons">
                {promotion.map(|w| view! { <a class="button primary" href=format!("/workflows/{}", crate::bridge::segment(&w))>"Promotion waits for approval…"</a> })}
            </div>
            {(may_rollback && !versions.is_empty()).then(|| {
                let options = versions
                    .iter()
                    .map(|v| view! { <option value=v.to_string() selected=Some(*v) == suspect>{format!("v{v}")}</option> })
                    .collect_view();
                view! {
                    <ActionForm action=rollback attr:class="inline-form">
                        <CsrfField/>
                        <input type="hidden" name="model" value=model.clone()/>
                        <label for=format!("rb-version-{model}")>"Take out of traffic"</label>
                        <select id=format!("rb-version-{model}") name="version">{options}</select>
                        <label for=format!("rb-reason-{model}")>"Reason"</label>
                        <input id=format!("rb-reason-{model}") name="reason" required placeholder="what went wrong"/>
                        <button type="submit" class="danger">"Roll back"</button>
                    </ActionForm>
                }
            })}
        </article>
    }
}
