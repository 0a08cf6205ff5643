//! The agents (their A2A cards: skills, contracts, health) and the MCP
//! servers with their tools.

use leptos::prelude::*;
use leptos_meta::Title;
use serde_json::Value;

use crate::components::{JsonView, Problem, StateBadge};
use crate::data;

#[component]
pub fn Agents() -> impl IntoView {
    let agents = Resource::new(|| (), |_| data::agents());
    view! {
        <Title text="Agents"/>
        <h1>"Agents and MCP servers"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match agents.await {
                    Err(error) => view! { <Problem error/> }.into_any(),
                    Ok(report) => {
                        let cards = report["agents"].as_array().cloned().unwrap_or_default();
                        let servers = report["mcp_servers"].as_array().cloned().unwrap_or_default();
                        view! {
                            <section aria-labelledby="agents-h">
                                <h2 id="agents-h">"Agents"</h2>
                                <div class="cards">{cards.into_iter().map(|a| view! { <AgentCard agent=a/> }).collect_view()}</div>
                            </section>
                            <section aria-labelledby="mcp-h">
                                <h2 id="mcp-h">"MCP servers"</h2>
                                <div class="cards">{servers.into_iter().map(|s| view! { <ServerCard server=s/> }).collect_view()}</div>
                            </section>
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
    }
}

fn health(entry: &Value) -> String {
    if entry["healthy"].as_bool().unwrap_or(false) {
        "completed".into()
    } else {
        "failed".into()
    }
}

#[component]
fn AgentCard(agent: Value) -> impl IntoView {
    let name = agent["name"].as_str().unwrap_or("agent").to_owned();
    let url = agent["url"].as_str().unwrap_or_default().to_owned();
    let card = agent["card"].clone();
    let description = card["description"].as_str().unwrap_or_default().to_owned();
    let skills = card["skills"].as_array().cloned().unwrap_or_default();
    let state = health(&agent);
    let status = if state == "completed" {
        "healthy"
    } else {
        "unreachable"
    };
    let skills = skills
        .into_iter()
        .map(|s| {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            let text = s["description"].as_str().unwrap_or_default().to_owned();
            let contract = s.get("contract").cloned().or_else(|| s["extensions"].get(0).cloned());
            view! {
                <li>
                    <code>{id}</code> " " {text}
                    {contract.map(|c| view! { <details><summary>"Contract"</summary><JsonView value=c/></details> })}
                </li>
            }
        })
        .collect_view();
    view! {
        <article class="card" data-testid="agent-card">
            <h3>{name} " " <span class=format!("state state-{state}")>{status}</span></h3>
            <p class="muted"><code>{url}</code></p>
            <p>{description}</p>
            <ul class="plain">{skills}</ul>
            {agent["error"].as_str().map(|e| view! { <p class="problem">{e.to_owned()}</p> })}
        </article>
    }
}

#[component]
fn ServerCard(server: Value) -> impl IntoView {
    let name = server["name"].as_str().unwrap_or("mcp").to_owned();
    let url = server["url"].as_str().unwrap_or_default().to_owned();
    let state = health(&server);
    let tools = server["tools"].as_array().cloned().unwrap_or_default();
    let tools = tools
        .into_iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap_or_default().to_owned();
            let text = t["description"].as_str().unwrap_or_default().to_owned();
            view! { <li><code>{name}</code> " " {text}</li> }
        })
        .collect_view();
    view! {
        <article class="card" data-testid="mcp-card">
            <h3>{name} " " <StateBadge state=state/></h3>
            <p class="muted"><code>{url}</code></p>
            <ul class="plain">{tools}</ul>
            {server["error"].as_str().map(|e| view! { <p class="problem">{e.to_owned()}</p> })}
        </article>
    }
}
