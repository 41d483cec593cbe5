//! `/admin/v1/tenants/{tenant}/devices`: the device registry over JSON (issue 12 §3).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};

use super::device_model::*;
use super::error::AdminError;
use super::http::{admin, body, reply, reply_with, OperatorName};
use super::model::ErrorBody;
use crate::api::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/tenants/{tenant}/devices", get(devices).post(register))
        .route("/tenants/{tenant}/devices/{serial}/assign", post(assign))
        .route("/tenants/{tenant}/devices/{serial}/unassign", post(unassign))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/devices", params(("tenant" = String, Path), DeviceFilter),
    responses((status = 200, body = Vec<DeviceView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn devices(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Response {
    reply(
        async {
            let Query(filter) = query.map_err(|e| AdminError::InvalidValue(e.body_text()))?;
            admin(&state, &headers, &op).devices(&t, &filter).await
        }
        .await,
    )
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/devices", params(("tenant" = String, Path)), request_body = RegisterDevice,
    responses((status = 201, body = DeviceView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn register(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    json: Result<Json<RegisterDevice>, JsonRejection>,
) -> Response {
    reply_with(StatusCode::CREATED, async { admin(&state, &headers, &op).register_device(&t, &body(json)?).await }.await)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/devices/{serial}/assign",
    params(("tenant" = String, Path), ("serial" = String, Path)), request_body = AssignDevice,
    responses((status = 200, body = DeviceView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn assign(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, serial)): Path<(String, String)>,
    json: Result<Json<AssignDevice>, JsonRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).assign_device(&t, &serial, &body(json)?).await }.await)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/devices/{serial}/unassign",
    params(("tenant" = String, Path), ("serial" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody)))]
pub async fn unassign(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, serial)): Path<(String, String)>,
) -> Response {
    reply(admin(&state, &headers, &op).unassign_device(&t, &serial).await)
}
