//! Every workflow, newest first, filtered by state.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::WorkflowRow;
use crate::components::{Problem, StateBadge, when};
use crate::data;
use crate::live::Live;

const STATES: &[&str] = &[
    "submitted",
    "working",
    "input-required",
    "completed",
    "failed",
    "canceled",
    "rejected",
];

#[component]
pub fn Workflows() -> impl IntoView {
    let live = expect_context::<Live>();
    let query = use_query_map();
    let state = move || query.read().get("state").filter(|s| !s.is_empty());
    let any = live.of_kinds(&[
        "workflow-started",
        "workflow-planned",
        "workflow-finished",
        "gate-opened",
        "gate-decided",
    ]);
    let rows = Resource::new(
        move || (state(), any.get()),
        |(state, _)| data::list_workflows(state),
    );
    let options = move || {
        let chosen = state().unwrap_or_default();
        STATES
            .iter()
            .map(|s| view! { <option value=*s selected=chosen == *s>{*s}</option> })
            .collect_view()
    };
    view! {
        <Title text="Workflows"/>
        <h1>"Workflows"</h1>
        <form method="get" class="filters">
            <label>"State "
                <select name="state">
                    <option value="">"any"</option>
                    {options}
                </select>
            </label>
            <button type="submit">"Filter"</button>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) => view! { <WorkflowTable rows/> }.into_any(),
                    Err(error) => view! { <Problem error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A table of workflows; the overview shows the recent few the same way.
#[component]
pub fn WorkflowTable(rows: Vec<WorkflowRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted">"No workflows yet. Start one from " <a href="/deploy">"Deploy"</a> "."</p> }.into_any();
    }
    let body = rows
        .into_iter()
        .map(|w| {
            let href = format!("/workflows/{}", crate::bridge::segment(&w.id));
            let target = match (&w.model, w.version) {
                (Some(m), Some(v)) => format!("{m} v{v}"),
                (Some(m), None) => m.clone(),
                _ => "—".into(),
            };
            view! {
                <tr>
                    <td><a href=href>{w.kind.clone()} " " {target}</a></td>
                    <td><StateBadge state=w.state.clone()/></td>
                    <td>{w.summary.clone().unwrap_or_default()}</td>
                    <td>{w.requested_by.clone()}</td>
                    <td class="nowrap">{when(&w.updated_at)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="data" data-testid="workflows">
            <thead>
                <tr>
                    <th scope="col">"Workflow"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Summary"</th>
                    <th scope="col">"Requested by"</th>
                    <th scope="col">"Updated"</th>
                </tr>
            </thead>
            <tbody>{body}</tbody>
        </table>
    }
    .into_any()
}
