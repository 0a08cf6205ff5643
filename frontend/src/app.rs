//! The app's frame: the HTML shell, the router, the navigation with the
//! approvals badge, and the reconnecting banner.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::api::Me;
use crate::data;
use crate::live::{Link, Live};
use crate::pages;

/// The signed-in caller, loaded once per page view.
pub type MeResource = Resource<Result<Me, ServerFnError>>;

/// The whole document (server side).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let live = Live::new();
    provide_context(live);
    // Only the browser runs effects: the feed opens after hydration.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        crate::live::connect(live);
    });
    let me: MeResource = Resource::new(|| (), |_| data::current_user());
    provide_context(me);

    view! {
        <Stylesheet id="mlops" href="/assets/mlops.css"/>
        <Title formatter=|page: String| format!("{page} · mlops")/>
        <Router>
            <a class="skip" href="#main">"Skip to content"</a>
            <header class="top">
                <a class="brand" href="/">"mlops"</a>
                <Nav/>
                <Who/>
            </header>
            <Banner/>
            <main id="main">
                <Routes fallback=|| view! { <pages::NotFound/> }>
                    <Route path=path!("/") view=pages::overview::Overview ssr=SsrMode::Async/>
                    <Route path=path!("/workflows") view=pages::workflows::Workflows ssr=SsrMode::Async/>
                    <Route path=path!("/workflows/:id") view=pages::workflow::WorkflowPage ssr=SsrMode::Async/>
                    <Route path=path!("/approvals") view=pages::approvals::Approvals ssr=SsrMode::Async/>
                    <Route path=path!("/deploy") view=pages::deploy::Deploy ssr=SsrMode::Async/>
                    <Route path=path!("/models") view=pages::models::Models ssr=SsrMode::Async/>
                    <Route path=path!("/deployments") view=pages::deployments::Deployments ssr=SsrMode::Async/>
                    <Route path=path!("/monitoring") view=pages::monitoring::Monitoring ssr=SsrMode::Async/>
                    <Route path=path!("/agents") view=pages::agents::Agents ssr=SsrMode::Async/>
                    <Route path=path!("/audit") view=pages::audit::Audit ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Nav() -> impl IntoView {
    let live = expect_context::<Live>();
    let gates = live.of_kinds(&["gate-opened", "gate-decided", "workflow-finished"]);
    let open = Resource::new(move || gates.get(), |_| data::approvals());
    let me = expect_context::<MeResource>();
    // Only admins may read the audit log; others would get a 403 page.
    let audit_link = move || {
        Suspend::new(async move {
            me.await
                .ok()
                .filter(|me| me.may("audit"))
                .map(|_| view! { <li><A href="/audit">"Audit"</A></li> })
        })
    };
    let badge = move || {
        Suspend::new(async move {
            let count = open.await.map(|g| g.len()).unwrap_or(0);
            (count > 0).then(|| {
                view! {
                    <span class="badge" data-testid="approvals-badge" aria-label=format!("{count} waiting")>
                        {count}
                    </span>
                }
            })
        })
    };
    view! {
        <nav aria-label="Main">
            <ul>
                <li><A href="/">"Overview"</A></li>
                <li><A href="/workflows">"Workflows"</A></li>
                <li>
                    <A href="/approvals">"Approvals"</A>
                    " "
                    <Transition fallback=|| ()>{badge}</Transition>
                </li>
                <li><A href="/deploy">"Deploy"</A></li>
                <li><A href="/models">"Models"</A></li>
                <li><A href="/deployments">"Deployments"</A></li>
                <li><A href="/monitoring">"Monitoring"</A></li>
                <li><A href="/agents">"Agents"</A></li>
                <Transition fallback=|| ()>{audit_link}</Transition>
            </ul>
        </nav>
    }
}

/// Who is signed in, with their roles, and sign-out.
#[component]
fn Who() -> impl IntoView {
    let me = expect_context::<MeResource>();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                me.await.ok().map(|me| {
                    let name = me.name.clone().unwrap_or_else(|| me.subject.clone());
                    let roles = me.roles.join(", ");
                    let csrf = me.csrf_token.clone().unwrap_or_default();
                    view! {
                        <div class="who">
                            <span data-testid="user">{name}</span>
                            <span class="muted">" (" {roles} ")"</span>
                            <form method="post" action="/auth/logout">
                                <input type="hidden" name="_csrf" value=csrf/>
                                <button type="submit" class="link">"Sign out"</button>
                            </form>
                        </div>
                    }
                })
            })}
        </Transition>
    }
}

#[component]
fn Banner() -> impl IntoView {
    let live = expect_context::<Live>();
    move || match live.link.get() {
        Link::Reconnecting => Some(
            view! {
                <div class="banner warn" role="status" data-testid="reconnecting">
                    "Live updates interrupted: reconnecting…"
                </div>
            }
            .into_any(),
        ),
        Link::Closed => Some(
            view! {
                <div class="banner error" role="status" data-testid="reconnecting">
                    "Live updates stopped. Reload the page (you may need to sign in again)."
                </div>
            }
            .into_any(),
        ),
        Link::Connecting | Link::Open => None,
    }
}
