//! The REST API's OpenAPI document, served at `/api/openapi.json`.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mlops control plane",
        description = "Workflows, approvals, live events, audit and API tokens. Sign in through OIDC (session cookie plus x-csrf-token on state-changing requests) or send a personal API token as `Authorization: Bearer mlp_…`."
    ),
    paths(
        super::workflows::start,
        super::workflows::list,
        super::workflows::detail,
        super::workflows::node_activity,
        super::workflows::cancel,
        super::workflows::push_hook,
        super::workflows::report_hook,
        super::events::all,
        super::events::for_workflow,
        super::approvals::inbox,
        super::approvals::decide,
        super::api::me,
        super::api::create_token,
        super::api::list_tokens,
        super::api::revoke_token,
        super::api::audit_log,
        super::api::audit_verify,
        super::demo_panel::get,
        super::workflows::releases_of_version,
        super::demo_panel::set_drift,
    ),
    components(schemas(
        super::workflows::Started,
        super::workflows::ReportedWorkflow,
        super::workflows::ReportAccepted,
        super::workflows::WorkflowRow,
        super::workflows::WorkflowDetail,
        super::workflows::NodeRow,
        super::workflows::GateRow,
        super::approvals::DecisionBody,
        super::api::Me,
        super::api::NewToken,
        super::api::CreatedToken,
        super::api::TokenRow,
        super::audit::AuditRow,
        super::demo_panel::DemoState,
    ))
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
