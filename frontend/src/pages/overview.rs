//! The overview: what is running, what waits for a decision, what is live.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::Problem;
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
                        let running = rows.iter().filter(|w| matches!(w.state.as_str(), "submitted" | "working" | "input-required")).count();
                        let failed = rows.iter().filter(|w| w.state == "failed").count();
                        let waiting = gates.len();
                        let recent: Vec<_> = rows.into_iter().take(8).collect();
                        view! {
                            <ul class="stats">
                                <li><a href="/workflows?state=working"><strong>{running}</strong>" running"</a></li>
                                <li><a href="/approvals"><strong>{waiting}</strong>" waiting for approval"</a></li>
                                <li><a href="/workflows?state=failed"><strong>{failed}</strong>" failed"</a></li>
                            </ul>
                            <h2>"Recent workflows"</h2>
                            <WorkflowTable rows=recent/>
                            <p><a href="/deploy" class="button primary">"Deploy a version"</a> " " <a href="/monitoring">"Drift and canary metrics"</a></p>
                        }
                        .into_any()
                    }
                    (Err(error), _) | (_, Err(error)) => view! { <Problem error/> }.into_any(),
                }
            })}
        </Transition>
    }
}
