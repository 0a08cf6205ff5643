//! Pages. Today: the system page that `mlops serve` renders at `/`.

use leptos::prelude::*;

use crate::api::ServiceRecord;

/// The running services and where the control plane's keys are.
#[component]
pub fn SystemPage(issuer: String, services: Vec<ServiceRecord>) -> impl IntoView {
    let empty = services.is_empty();
    let rows = services
        .into_iter()
        .map(|s| {
            view! {
                <tr>
                    <td>{s.name}</td>
                    <td>{s.kind.as_str()}</td>
                    <td><code>{s.url}</code></td>
                    <td class="num">{s.pid}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <main>
            <h1>"mlops control plane"</h1>
            <p>"Token issuer: " <code>{issuer}</code> " · " <a href="/.well-known/jwks.json">"signing keys (JWKS)"</a></p>
            <h2>"Services"</h2>
            <Show when=move || !empty fallback=|| view! { <p>"Not started by " <code>"mlops up"</code> "."</p> }>
                ""
            </Show>
            <table>
                <caption>"Processes started by mlops up"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"URL"</th>
                        <th scope="col" class="num">"PID"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </main>
    }
}

/// Renders `SystemPage` as a complete HTML document (server side).
#[cfg(feature = "ssr")]
pub fn render_system_page(issuer: String, services: Vec<ServiceRecord>) -> String {
    let body = Owner::new().with(|| view! { <SystemPage issuer services/> }.to_html());
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>mlops control plane</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
}

/// Design tokens and table styles from `style/`, inlined: this page must
/// render before any asset pipeline exists.
#[cfg(feature = "ssr")]
const STYLE: &str = include_str!("../../style/tokens.css");

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::api::ServiceKind;

    #[test]
    fn renders_every_service_and_escapes_text() {
        let html = render_system_page(
            "http://127.0.0.1:8080".into(),
            vec![ServiceRecord {
                name: "<postgres>".into(),
                kind: ServiceKind::Postgres,
                url: "postgres://127.0.0.1:5432/mlops".into(),
                pid: 7,
            }],
        );
        assert!(html.contains("&lt;postgres&gt;"), "{html}");
        assert!(html.contains("postgres://127.0.0.1:5432/mlops"));
        assert!(html.contains("<th scope=\"col\" class=\"num\">PID</th>"));
    }
}
