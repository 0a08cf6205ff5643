//! Models in the registry: versions with their metrics, aliases and lineage
//! (dataset digest, training run, code, artifact).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde_json::Value;

use crate::bridge::segment;
use crate::components::{JsonView, Problem, StateBadge, short};
use crate::data;

#[component]
pub fn Models() -> impl IntoView {
    let query = use_query_map();
    let models = Resource::new(|| (), |_| data::models());
    let chosen = move || query.read().get("model").filter(|m| !m.is_empty());
    view! {
        <Title text="Models"/>
        <h1>"Models"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let listed = match models.await {
                    Ok(listed) => listed,
                    Err(error) => return view! { <Problem error/> }.into_any(),
                };
                let models = listed["models"].as_array().cloned().unwrap_or_default();
                if models.is_empty() {
                    return view! { <p class="muted">"The registry is empty: the training agent registers versions as it trains them."</p> }.into_any();
                }
                let selected = chosen()
                    .or_else(|| models.first().and_then(|m| m["name"].as_str()).map(str::to_owned))
                    .unwrap_or_default();
                let cards = models
                    .iter()
                    .map(|m| {
                        let name = m["name"].as_str().unwrap_or_default().to_owned();
                        let aliases = m["aliases"]
                            .as_object()
                            .map(|a| a.iter().map(|(k, v)| format!("{k} → v{v}")).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default();
                        let current = name == selected;
                        view! {
                            <li class:current=current>
                                <a href=format!("?model={}", segment(&name)) aria-current=current.then_some("page")>{name.clone()}</a>
                                " " <span class="muted">{format!("{} versions", m["versions"])}</span>
                                <br/><span class="muted">{aliases}</span>
                            </li>
                        }
                    })
                    .collect_view();
                let version = query.read().get("version").and_then(|v| v.parse::<u32>().ok());
                view! {
                    <div class="split">
                        <nav aria-label="Models"><ul class="plain models">{cards}</ul></nav>
                        <div>
                            <ModelVersions model=selected.clone()/>
                            {version.map(|version| view! { <Lineage model=selected.clone() version/> })}
                        </div>
                    </div>
                }
                .into_any()
            })}
        </Transition>
    }
}

#[component]
fn ModelVersions(model: String) -> impl IntoView {
    let versions = Resource::new(
        {
            let model = model.clone();
            move || model.clone()
        },
        data::versions,
    );
    let heading = model.clone();
    view! {
        <h2>{heading}</h2>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let model = model.clone();
                Suspend::new(async move {
                    match versions.await {
                        Err(error) => view! { <Problem error/> }.into_any(),
                        Ok(listed) => {
                            let versions = listed["versions"].as_array().cloned().unwrap_or_default();
                            view! { <VersionsTable model versions/> }.into_any()
                        }
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn VersionsTable(model: String, versions: Vec<Value>) -> impl IntoView {
    // One column per metric any version reports.
    let mut metrics: Vec<String> = Vec::new();
    for v in &versions {
        for key in v["metrics"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if !metrics.contains(key) {
                metrics.push(key.clone());
            }
        }
    }
    metrics.sort();
    let head = metrics
        .iter()
        .map(|m| view! { <th scope="col" class="num">{m.replace('_', " ")}</th> })
        .collect_view();
    let rows = versions
        .iter()
        .map(|v| {
            let number = v["version"].as_i64().unwrap_or_default();
            let cells = metrics
                .iter()
                .map(|m| view! { <td class="num">{v["metrics"][m.as_str()].as_f64().map(short).unwrap_or_else(|| "—".into())}</td> })
                .collect_view();
            let aliases = v["aliases"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>())
                .unwrap_or_default();
            let alias_badges = aliases
                .iter()
                .map(|a| view! { <span class="alias" data-alias=a.clone()>{a.clone()}</span> " " })
                .collect_view();
            let lineage = serde_json::json!({
                "dataset_digest": v["dataset_digest"],
                "training_run_id": v["training_run_id"],
                "code_digest": v["code_digest"],
                "artifact_uri": v["artifact_uri"],
                "params": v["params"],
                "protected_attribute": v["protected_attribute"],
                "created_by": v["created_by"],
                "created_at": v["created_at"],
            });
            let deploy = format!("/deploy?model={}&version={number}", segment(&model));
            view! {
                <tr data-testid="version-row" data-version=number.to_string()>
                    <th scope="row">"v" {number}</th>
                    <td>{alias_badges}</td>
                    <td>{v["status"].as_str().unwrap_or_default().to_owned()}</td>
                    {cells}
                    <td>
                        <details>
                            <summary>"Lineage"</summary>
                            <JsonView value=lineage/>
                            <a href=format!("?model={}&version={number}#lineage-h", segment(&model))>"Releases and reports…"</a>
                        </details>
                    </td>
                    <td><a href=deploy>"Deploy…"</a></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="data" data-testid="versions">
            <thead><tr>
                <th scope="col">"Version"</th><th scope="col">"Aliases"</th><th scope="col">"Status"</th>
                {head}
                <th scope="col">"Lineage"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// One version's lineage end to end: the registry's record (dataset
/// version, training run, parameters, metrics), then every release of it
/// with its checks' outcomes and the gates' decisions.
#[component]
fn Lineage(model: String, version: u32) -> impl IntoView {
    let key = (model.clone(), version);
    let record = Resource::new(move || key.clone(), |(m, v)| data::lineage(m, v));
    let key = (model.clone(), version);
    let releases = Resource::new(move || key.clone(), |(m, v)| data::releases(m, v));
    view! {
        <section aria-labelledby="lineage-h" data-testid="lineage">
            <h2 id="lineage-h">{format!("Lineage of {model} v{version}")}</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match record.await {
                        Ok(value) => view! { <JsonView value/> }.into_any(),
                        Err(error) => view! { <Problem error/> }.into_any(),
                    }
                })}
            </Transition>
            <h3>"Releases"</h3>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let listed = match releases.await {
                        Ok(listed) => listed,
                        Err(error) => return view! { <Problem error/> }.into_any(),
                    };
                    let rows = listed["releases"].as_array().cloned().unwrap_or_default();
                    if rows.is_empty() {
                        return view! { <p class="muted">"Never released."</p> }.into_any();
                    }
                    rows.into_iter()
                        .map(|r| {
                            let w = &r["workflow"];
                            let id = w["id"].as_str().unwrap_or_default().to_owned();
                            let state = w["state"].as_str().unwrap_or_default().to_owned();
                            let steps = r["steps"].as_array().cloned().unwrap_or_default();
                            let gates = r["gates"].as_array().cloned().unwrap_or_default();
                            view! {
                                <article class="card" data-testid="release">
                                    <h4>
                                        <a href=format!("/workflows/{}", segment(&id))>{w["kind"].as_str().unwrap_or_default().to_owned()} " by " {w["requested_by"].as_str().unwrap_or_default().to_owned()}</a>
                                        " " <StateBadge state/>
                                        " " <span class="muted">{w["created_at"].as_str().unwrap_or_default().to_owned()}</span>
                                    </h4>
                                    {w["summary"].as_str().map(|s| view! { <p>{s.to_owned()}</p> })}
                                    <JsonView value=Value::Array(steps)/>
                                    {(!gates.is_empty()).then(|| view! { <JsonView value=Value::Array(gates)/> })}
                                </article>
                            }
                        })
                        .collect_view()
                        .into_any()
                })}
            </Transition>
        </section>
    }
}
