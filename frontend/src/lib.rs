//! The Leptos app (server-rendered, then hydrated) and the API types shared
//! with the server.
//!
//! Architecture invariant: a type that crosses the HTTP boundary is defined
//! once, here, and used by both sides. The app reads and changes things only
//! through server functions ([`data`]) that call the REST API in process
//! ([`bridge`]), so every rule is enforced once, by the API.

pub mod api;
pub mod app;
pub mod bridge;
pub mod charts;
pub mod components;
pub mod data;
pub mod forms;
pub mod graph;
pub mod live;
pub mod pages;

/// The console's styles: design tokens, then components. Served by
/// `mlops serve` at `/assets/mlops.css`; compiled in, so the pages are
/// styled even before the WASM bundle is built.
pub const STYLE: &str = concat!(
    include_str!("../../style/tokens.css"),
    "\n",
    include_str!("../../style/components.css")
);

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // A panic aborts the module; say why in the browser's console first.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into());
    }));
    leptos::mount::hydrate_body(app::App);
    // A mark the browser tests wait for: after it, the page's handlers are live.
    if let Some(root) = leptos::prelude::document().document_element() {
        let _ = root.set_attribute("data-hydrated", "true");
    }
}
