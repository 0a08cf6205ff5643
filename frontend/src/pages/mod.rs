//! One module per page of the console (JOURNEYS.md says what each lets a
//! person do).

use leptos::prelude::*;
use leptos_meta::Title;

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod deploy;
pub mod deployments;
pub mod models;
pub mod monitoring;
pub mod overview;
pub mod workflow;
pub mod workflows;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <h1>"Not found"</h1>
        <p>"There is no page here. " <a href="/">"Back to the overview"</a></p>
    }
}
