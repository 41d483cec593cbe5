//! `/admin/v1`: the admin operations over JSON, for operators with a token of their own
//! (`scimledger operator create`). Errors are `{"code", "detail"}`; the OpenAPI 3.1 document is
//! generated from these handlers and the model, at `/admin/v1/openapi.json`.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use domain::TenantSlug;
use store::Actor;
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use uuid::Uuid;

use super::audit_http;
use super::audit_model::*;
use super::device_http;
use super::device_model::*;
use super::error::AdminError;
use super::lag::{self, FollowerLag, LagView};
use super::model::*;
use super::ops::Admin;
use super::probe::{self, ProbeCheck, ProbeReport};
use super::role_http;
use super::role_model::*;
use crate::api::provenance::Provenance;
use crate::api::{origin, ApiState, Caller, Party};
use crate::token;

#[derive(OpenApi)]
#[openapi(
    info(title = "scimledger admin API", description = "Tenants, provisioning connections, enrollment, roles, devices and the audit (docs/operations.md, docs/access.md, docs/audit.md)"),
    paths(create_tenant, tenants, tenant, delete_tenant, set_enrollment, routing, set_routing, create_connection, connections, connection, update, rotate, revoke, disable,
        role_http::roles, role_http::create_role, role_http::mappings, role_http::map_role, role_http::unmap_role,
        role_http::settings, role_http::set_settings, role_http::lock, role_http::set_lock, role_http::unlock,
        role_http::create_access_token, role_http::access_tokens, role_http::revoke_access_token, role_http::rotate_access_token,
        device_http::devices, device_http::register, device_http::assign, device_http::unassign,
        audit_http::log, audit_http::history, audit_http::as_of, audit_http::export, audit_http::seal, audit_http::verify, audit_http::erase,
        probe::test_connection, lag::lag),
    components(schemas(CreateTenant, TenantView, RoutingInput, RoutingView, EnrollmentInput, EnrollmentView, CreateConnection, SettingsInput, SettingsView, ConnectionView, CredentialView, Issued, Rotate, Disable, ErrorBody,
        CreateRole, RoleView, MapRole, MappingView, RoleSettings, LockRole, LockView, RolesView, CreateAccessToken, AccessTokenIssued, AccessTokenView,
        RegisterDevice, AssignDevice, DeviceView,
        AuditEvent, LogPage, HistoryEntry, ChangeView, SealView, VerifyView, ProblemView, ErasureView,
        ProbeReport, ProbeCheck, LagView, FollowerLag)),
    modifiers(&OperatorToken, &ManualProvisioning),
    security(("operator_token" = []))
)]
pub struct AdminApi;

struct OperatorToken;

impl Modify for OperatorToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("operator_token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The manual provisioning paths, which take and answer SCIM 2.0 (RFC 7644) bodies and errors,
/// as /scim/v2/{tenant} does: described here, specified there.
struct ManualProvisioning;

impl Modify for ManualProvisioning {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
        use utoipa::openapi::ResponseBuilder;
        let parameter = |name: &str| {
            ParameterBuilder::new().name(name).parameter_in(ParameterIn::Path).required(utoipa::openapi::Required::True).build()
        };
        for resource in ["Users", "Groups"] {
            let operation = |summary: String, with_id: bool| {
                let mut operation = OperationBuilder::new()
                    .tag("manual provisioning")
                    .summary(Some(summary))
                    .description(Some(format!(
                        "SCIM 2.0 {resource} (RFC 7643, RFC 7644) as at /scim/v2/{{tenant}}/{resource}, acting as the operator: what it creates is operator-owned (manual); it may change any resource of the tenant. Bodies and errors are SCIM's."
                    )))
                    .parameter(parameter("tenant"))
                    .response("default", ResponseBuilder::new().description("a SCIM resource, list or error (application/scim+json)").build());
                if with_id {
                    operation = operation.parameter(parameter("id"));
                }
                operation.build()
            };
            let collection = format!("/admin/v1/tenants/{{tenant}}/{resource}");
            openapi.paths.add_path_operation(&collection, vec![HttpMethod::Get], operation(format!("List or filter {resource}"), false));
            openapi.paths.add_path_operation(
                &collection,
                vec![HttpMethod::Post],
                operation(format!("Create one of {resource}, operator-owned"), false),
            );
            let one = format!("{collection}/{{id}}");
            for (method, verb) in
                [(HttpMethod::Get, "Get"), (HttpMethod::Put, "Replace"), (HttpMethod::Patch, "Patch"), (HttpMethod::Delete, "Delete")]
            {
                openapi.paths.add_path_operation(&one, vec![method], operation(format!("{verb} one of {resource}"), true));
            }
        }
    }
}

pub fn router(state: ApiState) -> Router<ApiState> {
    Router::new()
        .route("/tenants", get(tenants).post(create_tenant))
        .route("/tenants/{tenant}", get(tenant).delete(delete_tenant))
        .route("/tenants/{tenant}/enrollment", put(set_enrollment))
        .route("/tenants/{tenant}/routing", get(routing).put(set_routing))
        .route("/tenants/{tenant}/connections", get(connections).post(create_connection))
        .route("/tenants/{tenant}/connections/{connection}", get(connection).patch(update))
        .route("/tenants/{tenant}/connections/{connection}/rotate", post(rotate))
        .route("/tenants/{tenant}/connections/{connection}/revoke", post(revoke))
        .route("/tenants/{tenant}/connections/{connection}/disable", post(disable))
        .route("/tenants/{tenant}/connections/{connection}/test", post(probe::test_connection))
        .route("/lag", get(lag::lag))
        .merge(role_http::routes())
        .merge(device_http::routes())
        .merge(audit_http::routes())
        .nest("/tenants/{tenant}", crate::api::resource_routes().route_layer(axum::middleware::from_fn_with_state(state.clone(), manual)))
        .fallback(|| async { reply::<()>(Err(AdminError::InvalidValue("no such admin endpoint".into()))) })
        .route_layer(axum::middleware::from_fn_with_state(state, operator))
        .route("/openapi.json", get(|| async { Json(AdminApi::openapi()) }))
}

/// The operator a request's bearer token names, and what its events record about the request.
#[derive(Debug, Clone)]
pub(super) struct OperatorName(pub(super) String, pub(super) Provenance);

async fn operator(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token::hash(token.trim()));
    let Some(hash) = presented else { return reply::<()>(Err(AdminError::Unauthorized)) };
    match state.store.operator_secrets().await {
        Ok(operators) => match operators.into_iter().find(|o| bool::from(o.hash.ct_eq(&hash))) {
            Some(found) => {
                let provenance = request.extensions().get::<Provenance>().cloned().unwrap_or_default();
                request.extensions_mut().insert(OperatorName(found.name, provenance));
                next.run(request).await
            }
            None => reply::<()>(Err(AdminError::Unauthorized)),
        },
        Err(e) => reply::<()>(Err(AdminError::Unavailable(e))),
    }
}

/// Manual provisioning: the tenant's /Users and /Groups with the SCIM verbs and bodies, for the
/// operator; what the operator creates is operator-owned, and it may change anything (ADR 0040).
async fn manual(State(state): State<ApiState>, Extension(op): Extension<OperatorName>, mut request: Request, next: Next) -> Response {
    let path = request.extensions().get::<OriginalUri>().map_or_else(|| request.uri().path(), |uri| uri.path()).to_owned();
    let slug = path.strip_prefix("/admin/v1/tenants/").and_then(|rest| rest.split('/').next()).unwrap_or_default();
    let tenant = match admin(&state, request.headers(), &op).tenant(slug).await {
        Ok(view) => TenantSlug::parse(&view.slug).expect("a stored tenant's slug is valid"),
        Err(error) => return reply::<()>(Err(error)),
    };
    let caller = Caller { tenant, party: Party::Operator(op.0.clone()), provenance: op.1.clone() };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

pub(super) fn admin<'a>(state: &'a ApiState, headers: &HeaderMap, operator: &OperatorName) -> Admin<'a> {
    Admin {
        store: &*state.store,
        origin: origin(state, headers),
        actor: Actor::Operator(operator.0.clone()),
        provenance: operator.1.clone(),
    }
}

pub(super) fn reply<T: serde::Serialize>(result: Result<T, AdminError>) -> Response {
    reply_with(StatusCode::OK, result)
}

pub(super) fn reply_with<T: serde::Serialize>(status: StatusCode, result: Result<T, AdminError>) -> Response {
    match result {
        Ok(body) => (status, Json(body)).into_response(),
        Err(error) => {
            match &error {
                AdminError::Unavailable(e) => tracing::warn!(error = %e, "admin request failed"),
                AdminError::Internal(e) => tracing::error!(error = %e, "admin request failed"),
                _ => {}
            }
            let mut response = (error.status(), Json(ErrorBody::from(&error))).into_response();
            if matches!(error, AdminError::Unauthorized) {
                response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="scimledger-admin""#));
            }
            response
        }
    }
}

/// A JSON body, or the reason it is not one.
pub(super) fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, AdminError> {
    json.map(|Json(value)| value).map_err(|rejection| AdminError::InvalidJson(rejection.body_text()))
}

#[utoipa::path(post, path = "/admin/v1/tenants", request_body = CreateTenant,
    responses((status = 201, body = TenantView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_tenant(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    json: Result<Json<CreateTenant>, JsonRejection>,
) -> Response {
    let result = async { admin(&state, &headers, &op).create_tenant(&body(json)?).await }.await;
    reply_with(StatusCode::CREATED, result)
}

#[utoipa::path(get, path = "/admin/v1/tenants", responses((status = 200, body = Vec<TenantView>)))]
async fn tenants(State(state): State<ApiState>, Extension(op): Extension<OperatorName>, headers: HeaderMap) -> Response {
    reply(admin(&state, &headers, &op).tenants().await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}", params(("tenant" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = ErrorBody)))]
async fn tenant(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).tenant(&t).await)
}

/// Deletes a tenant whose connections are all disabled: its users, groups and connections go
/// from the read models, its events stay in the log (`tenant.deleted`), and its slug stays taken.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}", params(("tenant" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_tenant(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).delete_tenant(&t).await)
}

/// How a parent tenant routes what its connections push into its sub-tenants (docs/adr/0074),
/// with the writes this process refused as unroutable.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/routing", params(("tenant" = String, Path)),
    responses((status = 200, body = RoutingView), (status = 404, body = ErrorBody)))]
async fn routing(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).routing(&t).await.map(|view| with_refusals(&state, view)))
}

/// Sets a parent's routing rule (`tenant.routing_set`); every target must be a sub-tenant of it.
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/routing", params(("tenant" = String, Path)), request_body = RoutingInput,
    responses((status = 200, body = RoutingView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_routing(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    json: Result<Json<RoutingInput>, JsonRejection>,
) -> Response {
    let result = async { admin(&state, &headers, &op).set_routing(&t, &body(json)?).await }.await;
    reply(result.map(|view| with_refusals(&state, view)))
}

fn with_refusals(state: &ApiState, view: RoutingView) -> RoutingView {
    let refused = TenantSlug::parse(&view.tenant).map(|slug| state.unroutable.of(&slug)).unwrap_or_default();
    RoutingView { refused: Some(refused), ..view }
}

#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/enrollment", params(("tenant" = String, Path)), request_body = EnrollmentInput,
    responses((status = 200, body = EnrollmentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_enrollment(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    json: Result<Json<EnrollmentInput>, JsonRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).set_enrollment(&t, &body(json)?).await }.await)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/connections", params(("tenant" = String, Path)), request_body = CreateConnection,
    responses((status = 201, body = Issued), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_connection(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    json: Result<Json<CreateConnection>, JsonRejection>,
) -> Response {
    let result = async { admin(&state, &headers, &op).create_connection(&t, &body(json)?).await }.await;
    reply_with(StatusCode::CREATED, result)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/connections", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<ConnectionView>), (status = 404, body = ErrorBody)))]
async fn connections(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).connections(&t).await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/connections/{connection}",
    params(("tenant" = String, Path), ("connection" = String, Path, description = "name or id")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
async fn connection(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, c)): Path<(String, String)>,
) -> Response {
    reply(admin(&state, &headers, &op).connection(&t, &c).await)
}

#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/connections/{connection}",
    params(("tenant" = String, Path), ("connection" = String, Path, description = "name or id")), request_body = SettingsInput,
    responses((status = 200, body = ConnectionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, c)): Path<(String, String)>,
    json: Result<Json<SettingsInput>, JsonRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).update(&t, &c, &body(json)?).await }.await)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/connections/{connection}/rotate",
    params(("tenant" = String, Path), ("connection" = String, Path, description = "name or id")), request_body = Rotate,
    responses((status = 200, body = Issued), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn rotate(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, c)): Path<(String, String)>,
    json: Result<Json<Rotate>, JsonRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).rotate(&t, &c, &body(json)?).await }.await)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/connections/{connection}/revoke",
    params(("tenant" = String, Path), ("connection" = String, Path, description = "name or id")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, c)): Path<(String, String)>,
) -> Response {
    reply(admin(&state, &headers, &op).revoke(&t, &c).await)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/connections/{connection}/disable",
    params(("tenant" = String, Path), ("connection" = String, Path, description = "name or id")),
    request_body(content = Option<Disable>, description = "optional; `{\"purge\": true}` also deletes what the connection owns"),
    responses((status = 200, body = ConnectionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disable(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, c)): Path<(String, String)>,
    raw: Bytes,
) -> Response {
    reply(
        async {
            // No body disables without purge, as before purges existed.
            let input: Disable = match raw.is_empty() {
                true => Disable::default(),
                false => serde_json::from_slice(&raw).map_err(|e| AdminError::InvalidJson(e.to_string()))?,
            };
            let (view, tenant, connection) = admin(&state, &headers, &op).disable(&t, &c, input.purge).await?;
            if input.purge {
                spawn_purge(&state, tenant, connection);
            }
            Ok(view)
        }
        .await,
    )
}

/// Runs the purge the disable recorded beside the API: a purge of a large connection outlasts
/// any request timeout, and one this process does not finish, `serve` resumes at start.
fn spawn_purge(state: &ApiState, tenant: TenantSlug, connection: Uuid) {
    let store = std::sync::Arc::clone(&state.store);
    tokio::spawn(async move {
        if let Err(error) = store::purge::purge(&*store, &tenant, connection).await {
            tracing::error!(%error, %tenant, %connection, "purge failed; it resumes at the next start");
        }
    });
}
