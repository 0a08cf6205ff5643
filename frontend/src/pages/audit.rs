//! The audit log: every action and refusal, filtered, and the chain check.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{JsonView, Problem};
use crate::data;

#[component]
pub fn Audit() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let rows = Resource::new(
        move || (field("actor"), field("action"), field("outcome")),
        |(actor, action, outcome)| data::audit(actor, action, outcome),
    );
    let verify = Resource::new(
        move || field("verify").is_some(),
        |wanted| async move {
            if wanted {
                Some(data::verify_audit().await)
            } else {
                None
            }
        },
    );
    let value = move |name: &'static str| field(name).unwrap_or_default();
    view! {
        <Title text="Audit"/>
        <div class="page-head">
            <h1>"Audit log"</h1>
            <form method="get">
                <input type="hidden" name="verify" value="1"/>
                <button type="submit">"Verify chain"</button>
            </form>
        </div>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match verify.await {
                    None => ().into_any(),
                    Some(Ok(report)) => {
                        let ok = report["first_broken"].is_null();
                        let class = if ok { "callout ok" } else { "callout error" };
                        let text = if ok { "The chain is intact." } else { "The chain is broken." };
                        view! { <div class=class role="status" data-testid="verify"><strong>{text}</strong><JsonView value=report/></div> }.into_any()
                    }
                    Some(Err(error)) => view! { <Problem error/> }.into_any(),
                }
            })}
        </Transition>
        <form method="get" class="filters">
            <label>"Actor " <input name="actor" value=move || value("actor")/></label>
            <label>"Action " <input name="action" value=move || value("action")/></label>
            <label>"Outcome "
                <select name="outcome">
                    <option value="">"any"</option>
                    <option value="ok" selected=move || value("outcome") == "ok">"ok"</option>
                    <option value="refused" selected=move || value("outcome") == "refused">"refused"</option>
                    <option value="failed" selected=move || value("outcome") == "failed">"failed"</option>
                </select>
            </label>
            <button type="submit">"Filter"</button>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Err(error) => view! { <Problem error/> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! { <p class="muted">"No entries match."</p> }.into_any(),
                    Ok(rows) => {
                        let body = rows
                            .into_iter()
                            .map(|r| {
                                let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                                let outcome = text("outcome");
                                let badge = if outcome == "ok" { "completed".to_owned() } else { "failed".to_owned() };
                                view! {
                                    <tr>
                                        <td class="num">{r["seq"].as_i64().or(r["id"].as_i64()).unwrap_or_default()}</td>
                                        <td class="nowrap">{text("at")}</td>
                                        <td>{text("actor")}</td>
                                        <td>{text("action")}</td>
                                        <td>{text("target")}</td>
                                        <td><span class=format!("state state-{badge}")>{outcome}</span></td>
                                        <td><JsonView value=r["detail"].clone()/></td>
                                    </tr>
                                }
                            })
                            .collect_view();
                        view! {
                            <table class="data" data-testid="audit">
                                <thead><tr>
                                    <th scope="col">"#"</th><th scope="col">"At"</th><th scope="col">"Actor"</th>
                                    <th scope="col">"Action"</th><th scope="col">"Target"</th><th scope="col">"Outcome"</th><th scope="col">"Detail"</th>
                                </tr></thead>
                                <tbody>{body}</tbody>
                            </table>
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
    }
}
