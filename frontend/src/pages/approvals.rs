//! The approvals inbox: each open gate as a card with its evidence, the
//! canary chart, the time left, and approve or reject with a comment.

use leptos::prelude::*;
use leptos_meta::Title;
use serde_json::Value;

use crate::api::{GateRow, Me};
use crate::app::MeResource;
use crate::bridge::segment;
use crate::components::{CsrfField, JsonView, Problem, time_left};
use crate::data::{self, Decide};
use crate::live::Live;
use crate::pages::monitoring::CanaryCharts;

#[component]
pub fn Approvals() -> impl IntoView {
    let live = expect_context::<Live>();
    let me = expect_context::<MeResource>();
    let gates_changed = live.of_kinds(&["gate-opened", "gate-decided", "workflow-finished"]);
    let decide = ServerAction::<Decide>::new();
    let inbox = Resource::new(
        move || (gates_changed.get(), decide.version().get()),
        |_| data::approvals(),
    );
    let outcome = move || {
        decide.value().get().map(|result| match result {
            Ok(_) => view! { <p class="callout" role="status">"Decision recorded and sent to the orchestrator."</p> }.into_any(),
            Err(error) => view! { <Problem error/> }.into_any(),
        })
    };
    view! {
        <Title text="Approvals"/>
        <h1>"Approvals"</h1>
        {outcome}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = me.await.ok();
                match inbox.await {
                    Err(error) => view! { <Problem error/> }.into_any(),
                    Ok(gates) if gates.is_empty() => view! { <p class="muted" data-testid="no-approvals">"Nothing is waiting for a decision."</p> }.into_any(),
                    Ok(gates) => gates
                        .into_iter()
                        .map(|gate| view! { <GateCard gate me=me.clone() decide/> })
                        .collect_view()
                        .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn GateCard(gate: GateRow, me: Option<Me>, decide: ServerAction<Decide>) -> impl IntoView {
    let own = me.as_ref().is_some_and(|m| m.subject == gate.requested_by);
    let may = me.as_ref().is_some_and(|m| m.may("decide"));
    // The server enforces both rules; the card says why the buttons are off.
    let why_not = if !may {
        Some(format!("Deciding needs the {} role.", gate.role))
    } else if own {
        Some("You requested this release: another approver must decide (four-eyes).".to_owned())
    } else {
        None
    };
    let disabled = why_not.is_some();
    let left = gate
        .expires_at
        .map(|at| time_left((at - chrono::Utc::now()).num_seconds()))
        .unwrap_or_else(|| "no expiry".into());
    let workflow_href = format!("/workflows/{}", segment(&gate.workflow));
    let heading_id = format!("gate-{}-{}", gate.workflow, gate.gate);
    let comment_id = format!("comment-{}-{}", gate.workflow, gate.gate);
    let evidence = gate.evidence.clone();
    view! {
        <article class="card gate" aria-labelledby=heading_id.clone() data-testid="gate-card">
            <header class="page-head">
                <h2 id=heading_id.clone()>{gate.description.clone()}</h2>
                <span class="time-left">{left}</span>
            </header>
            <p class="muted">
                "Requested by " <strong>{gate.requested_by.clone()}</strong>
                " · needs " {gate.role.clone()} " · " <a href=workflow_href>"workflow"</a>
            </p>
            <Evidence evidence/>
            <section>
                <h3>"Canary vs stable"</h3>
                <CanaryCharts evidence=gate.evidence.clone()/>
            </section>
            <ActionForm action=decide attr:class="decide">
                <input type="hidden" name="workflow" value=gate.workflow.clone()/>
                <input type="hidden" name="gate" value=gate.gate.clone()/>
                <CsrfField/>
                <label for=comment_id.clone()>"Comment"</label>
                <textarea id=comment_id name="comment" rows="2" disabled=disabled></textarea>
                <div class="buttons">
                    <button type="submit" name="decision" value="approve" class="primary" disabled=disabled>"Approve"</button>
                    <button type="submit" name="decision" value="reject" class="danger" disabled=disabled>"Reject"</button>
                </div>
                {why_not.map(|w| view! { <p class="muted" data-testid="why-not">{w}</p> })}
            </ActionForm>
        </article>
    }
}

/// The reports the orchestrator gathered for this gate (validation, drift,
/// cost, canary analyses), each with its summary and full result, and the
/// policy in force.
#[component]
fn Evidence(evidence: Value) -> impl IntoView {
    let reports = evidence["reports"].as_object().cloned().unwrap_or_default();
    let items = reports
        .into_iter()
        .map(|(node, report)| {
            let mut result = report["result"].clone();
            // The samples are charted below; the table would repeat them.
            if let Some(map) = result.as_object_mut() {
                map.remove("samples");
            }
            let passed = result["passed"]
                .as_bool()
                .or_else(|| result["verdict"].as_str().map(|v| v == "successful"))
                .or_else(|| result["dataset_drift"].as_bool().map(|d| !d));
            let state = match passed {
                Some(true) => "completed",
                Some(false) => "failed",
                None => "submitted",
            };
            let verdict = match passed {
                Some(true) => "passed",
                Some(false) => "failed",
                None => "report",
            };
            let who = format!(
                "{} · {}",
                report["agent"].as_str().unwrap_or("?"),
                report["skill"].as_str().unwrap_or("?")
            );
            let summary = report["summary"].as_str().unwrap_or_default().to_owned();
            view! {
                <details class="report" data-testid="evidence-report" data-node=node.clone()>
                    <summary>
                        <span class=format!("state state-{state}")>{verdict}</span>
                        " " <strong>{node.clone()}</strong> " " <span class="muted">{who}</span>
                        <br/>{summary}
                    </summary>
                    <JsonView value=result/>
                </details>
            }
        })
        .collect_view();
    let policy = evidence["policy"].clone();
    view! {
        <section>
            <h3>"Evidence"</h3>
            {items}
        </section>
        <section>
            <h3>"Policy"</h3>
            <JsonView value=policy/>
        </section>
    }
}
