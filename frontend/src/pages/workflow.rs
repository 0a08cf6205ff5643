//! One workflow: its live task graph, the node drawer, its gates, cancel.

use leptos::prelude::*;
use leptos::tachys::svg;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{NodeRow, WorkflowDetail};
use crate::app::MeResource;
use crate::bridge::segment;
use crate::components::{CsrfField, JsonView, Problem, StateBadge, state_class, when};
use crate::data::{self, CancelWorkflow};
use crate::graph::{NODE_HEIGHT, NODE_WIDTH, layout};
use crate::live::Live;

/// Workflow states after which nothing more happens.
const FINAL: &[&str] = &["completed", "failed", "canceled", "rejected"];

#[component]
pub fn WorkflowPage() -> impl IntoView {
    let live = expect_context::<Live>();
    let me = expect_context::<MeResource>();
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let selected = move || query.read().get("node");
    let changed = live.about(id);
    let cancel = ServerAction::<CancelWorkflow>::new();
    let detail = Resource::new(
        move || (id(), changed.get(), cancel.version().get()),
        |(id, _, _)| data::workflow(id),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = me.await.ok();
                match detail.await {
                    Err(error) => view! { <Title text="Workflow"/><h1>"Workflow"</h1><Problem error/> }.into_any(),
                    Ok(detail) => {
                        let may_cancel = me.as_ref().is_some_and(|m| m.may("cancel"))
                            && !FINAL.contains(&detail.workflow.state.as_str());
                        let node = selected().and_then(|name| detail.nodes.iter().find(|n| n.node == name).cloned());
                        view! { <Detail detail node may_cancel cancel/> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(
    detail: WorkflowDetail,
    node: Option<NodeRow>,
    may_cancel: bool,
    cancel: ServerAction<CancelWorkflow>,
) -> impl IntoView {
    let w = detail.workflow.clone();
    let heading = match (&w.model, w.version) {
        (Some(m), Some(v)) => format!("{} {m} v{v}", w.kind),
        (Some(m), None) => format!("{} {m}", w.kind),
        _ => w.kind.clone(),
    };
    let cancel_error = move || {
        cancel
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|error| view! { <Problem error/> })
    };
    let open_gates = detail.gates.iter().filter(|g| g.state == "open").count();
    let gates = detail
        .gates
        .iter()
        .map(|g| {
            view! {
                <li>
                    <StateBadge state=g.state.clone()/> " " {g.description.clone()}
                    {g.decided_by.clone().map(|by| format!(" — decided by {by}"))}
                    {g.comment.clone().map(|c| format!(": “{c}”"))}
                </li>
            }
        })
        .collect_view();
    let goal = detail.goal.clone();
    let form_id = w.id.clone();
    view! {
        <Title text=heading.clone()/>
        <div class="page-head">
            <h1>{heading} " " <StateBadge state=w.state.clone()/></h1>
            {may_cancel.then(|| view! {
                <ActionForm action=cancel>
                    <input type="hidden" name="id" value=form_id.clone()/>
                    <CsrfField/>
                    <button type="submit" class="danger">"Cancel workflow"</button>
                </ActionForm>
            })}
        </div>
        {cancel_error}
        <p class="muted">
            "Requested by " {w.requested_by.clone()} " · started " {when(&w.created_at)}
            " · updated " {when(&w.updated_at)} " · task " <code>{w.id.clone()}</code>
        </p>
        {w.summary.clone().map(|s| view! { <p class="summary">{s}</p> })}
        {(open_gates > 0).then(|| view! {
            <p class="callout">{format!("{open_gates} approval gate(s) waiting. ")} <a href="/approvals">"Open the approvals"</a></p>
        })}
        <section aria-labelledby="graph-h">
            <h2 id="graph-h">"Task graph"</h2>
            <Graph detail=detail.clone() selected=node.as_ref().map(|n| n.node.clone())/>
        </section>
        {node.map(|n| view! { <Drawer node=n workflow=w.id.clone()/> })}
        <section aria-labelledby="gates-h">
            <h2 id="gates-h">"Gates"</h2>
            {if detail.gates.is_empty() {
                view! { <p class="muted">"No gate yet."</p> }.into_any()
            } else {
                view! { <ul class="plain">{gates}</ul> }.into_any()
            }}
        </section>
        <details>
            <summary>"Goal"</summary>
            <JsonView value=goal/>
        </details>
    }
}

/// The graph as SVG, with each node a link that opens its drawer.
#[component]
pub fn Graph(detail: WorkflowDetail, selected: Option<String>) -> impl IntoView {
    let ids: Vec<&str> = detail.nodes.iter().map(|n| n.node.as_str()).collect();
    let placed = layout(&ids, &detail.edges);
    if placed.nodes.is_empty() {
        return view! { <p class="muted">"The orchestrator has not planned this workflow yet."</p> }.into_any();
    }
    let edges = placed
        .edges
        .iter()
        .map(|e| {
            let done = detail.nodes[e.source].state == "completed";
            let class = if done { "edge done" } else { "edge" };
            view! { <path class=class d=e.path.clone() marker-end="url(#arrow)"/> }
        })
        .collect_view();
    let nodes = placed
        .nodes
        .iter()
        .map(|p| {
            let n = &detail.nodes[p.index];
            let mut class = format!("node state-{}", state_class(&n.state));
            if selected.as_deref() == Some(n.node.as_str()) {
                class.push_str(" selected");
            }
            let href = format!("?node={}", segment(&n.node));
            let who = match (&n.agent, &n.skill) {
                (Some(a), Some(s)) => format!("{a} · {s}"),
                (Some(a), None) => a.clone(),
                _ => n.kind.clone(),
            };
            // The name comes from <title> (SVG's own way), whole where the
            // drawn text is clipped; an aria-label would hide the visible text.
            let label = format!("{} ({who}): {}", n.title, n.state);
            let working = n.state == "working";
            let progress = n.progress.clone().unwrap_or_default();
            let face = view! {
                <rect width=NODE_WIDTH height=NODE_HEIGHT rx="6"/>
                <text class="node-title" x="10" y="22">{clip(&n.title, 24)}</text>
                <text class="node-sub" x="10" y="40">{clip(&who, 30)}</text>
                {working.then(|| view! {
                    <g>
                        <rect class="progress-track" x="0" y=NODE_HEIGHT - 4.0 width=NODE_WIDTH height="4"/>
                        <rect class="progress-bar" x="0" y=NODE_HEIGHT - 4.0 width=NODE_WIDTH * 0.35 height="4"/>
                    </g>
                })}
            };
            // SVG's own <a> and <title>, built explicitly: `view!` makes
            // these two ambiguous tags HTML elements when it renders in the
            // browser (after a client-side navigation), and an HTML <a>
            // inside SVG draws nothing.
            let link = svg::a()
                .attr("href", href)
                .child((svg::title().child(label), face));
            view! {
                <g class=class transform=format!("translate({:.1},{:.1})", p.x, p.y) data-node=n.node.clone() data-state=n.state.clone()>
                    {link}
                    {(!progress.is_empty() && working).then(|| view! {
                        <text class="node-progress" x="0" y=NODE_HEIGHT + 13.0>{clip(&progress, 34)}</text>
                    })}
                </g>
            }
        })
        .collect_view();
    let rows = detail
        .nodes
        .iter()
        .map(|n| {
            let href = format!("?node={}", segment(&n.node));
            view! {
                <tr>
                    <td><a href=href>{n.title.clone()}</a></td>
                    <td><StateBadge state=n.state.clone()/></td>
                    <td>{n.agent.clone().unwrap_or_default()}</td>
                    <td>{n.skill.clone().unwrap_or_default()}</td>
                    <td>{n.progress.clone().or(n.error.clone()).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let (width, height) = (placed.width, placed.height + 16.0);
    view! {
        <div class="graph" data-testid="graph">
            <svg viewBox=format!("0 0 {width:.0} {height:.0}") width=format!("{width:.0}") role="group" aria-label="Task graph">
                <defs>
                    <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                        <path d="M 0 0 L 10 5 L 0 10 z" class="arrow"/>
                    </marker>
                </defs>
                {edges}
                {nodes}
            </svg>
        </div>
        <details class="graph-table">
            <summary>"Nodes as a table"</summary>
            <table class="data">
                <thead><tr><th scope="col">"Node"</th><th scope="col">"State"</th><th scope="col">"Agent"</th><th scope="col">"Skill"</th><th scope="col">"Progress"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
    .into_any()
}

/// The selected node: its A2A task and what it did.
#[component]
fn Drawer(node: NodeRow, workflow: String) -> impl IntoView {
    let name = node.node.clone();
    let activity = Resource::new(
        move || (workflow.clone(), name.clone()),
        |(w, n)| data::node_activity(w, n),
    );
    view! {
        <aside class="drawer" aria-labelledby="drawer-h" data-testid="drawer">
            <div class="page-head">
                <h2 id="drawer-h">{node.title.clone()} " " <StateBadge state=node.state.clone()/></h2>
                <a href="?">"Close"</a>
            </div>
            <dl class="kv">
                <dt>"Agent"</dt><dd>{node.agent.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Skill"</dt><dd>{node.skill.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"A2A task"</dt><dd><code>{node.task_id.clone().unwrap_or_else(|| "not started".into())}</code></dd>
                <dt>"Why"</dt><dd>{node.why.clone().unwrap_or_else(|| "—".into())}</dd>
                {node.progress.clone().map(|p| view! { <dt>"Progress"</dt><dd>{p}</dd> })}
                {node.error.clone().map(|e| view! { <dt>"Error"</dt><dd class="problem">{e}</dd> })}
            </dl>
            <h3>"Activity"</h3>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match activity.await {
                        Ok(events) if events.is_empty() => view! { <p class="muted">"Nothing recorded yet."</p> }.into_any(),
                        Ok(events) => {
                            let items = events
                                .into_iter()
                                .map(|e| {
                                    let at = e["at"].as_str().unwrap_or_default().to_owned();
                                    let kind = e["kind"].as_str().unwrap_or_default().to_owned();
                                    let body = e["body"].clone();
                                    view! { <li><span class="muted">{at}</span> " " <strong>{kind}</strong> <JsonView value=body/></li> }
                                })
                                .collect_view();
                            view! { <ol class="activity">{items}</ol> }.into_any()
                        }
                        Err(error) => view! { <Problem error/> }.into_any(),
                    }
                })}
            </Transition>
        </aside>
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
