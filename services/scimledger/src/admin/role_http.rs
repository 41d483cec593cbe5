//! `/admin/v1/tenants/{tenant}/roles`, `/role-mappings`, `/settings` and
//! `/users/{user}/role-lock`: the role operations over JSON (issue 11 §1).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};

use super::error::AdminError;
use super::http::{admin, body, reply, reply_with, OperatorName};
use super::model::ErrorBody;
use super::role_model::*;
use crate::api::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/tenants/{tenant}/roles", get(roles).post(create_role))
        .route("/tenants/{tenant}/role-mappings", get(mappings).post(map_role).delete(unmap_role))
        .route("/tenants/{tenant}/settings", get(settings).patch(set_settings))
        .route("/tenants/{tenant}/users/{user}/role-lock", get(lock).put(set_lock).delete(unlock))
        .route("/tenants/{tenant}/access-tokens", get(access_tokens).post(create_access_token))
        .route("/tenants/{tenant}/access-tokens/{token}/revoke", axum::routing::post(revoke_access_token))
        .route("/tenants/{tenant}/access-tokens/{token}/rotate", axum::routing::post(rotate_access_token))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/roles", params(("tenant" = String, Path)),
    responses((status = 200, body = RolesView), (status = 404, body = ErrorBody)))]
pub async fn roles(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).roles(&t).await)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/roles", params(("tenant" = String, Path)), request_body = CreateRole,
    responses((status = 201, body = RoleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_role(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    json: Result<Json<CreateRole>, JsonRejection>,
) -> Response {
    reply_with(StatusCode::CREATED, async { admin(&state, &headers, &op).create_role(&t, &body(json)?).await }.await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/role-mappings", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<MappingView>), (status = 404, body = ErrorBody)))]
pub async fn mappings(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).roles(&t).await.map(|r| r.mappings))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/role-mappings", params(("tenant" = String, Path)), request_body = MapRole,
    responses((status = 200, body = MappingView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn map_role(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    json: Result<Json<MapRole>, JsonRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).map_role(&t, &body(json)?).await }.await)
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/role-mappings", params(("tenant" = String, Path), GroupSelector),
    responses((status = 200, body = RolesView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unmap_role(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    query: Result<Query<GroupSelector>, QueryRejection>,
) -> Response {
    reply(
        async {
            let Query(group) = query.map_err(|e| AdminError::InvalidValue(e.body_text()))?;
            admin(&state, &headers, &op).unmap_role(&t, &group).await
        }
        .await,
    )
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/settings", params(("tenant" = String, Path)),
    responses((status = 200, body = RoleSettings), (status = 404, body = ErrorBody)))]
pub async fn settings(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).role_settings(&t).await)
}

#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/settings", params(("tenant" = String, Path)), request_body = RoleSettings,
    responses((status = 200, body = RoleSettings), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_settings(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    json: Result<Json<RoleSettings>, JsonRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).set_default_role(&t, &body(json)?).await }.await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/users/{user}/role-lock",
    params(("tenant" = String, Path), ("user" = String, Path, description = "id, userName or alias")),
    responses((status = 200, body = LockView), (status = 404, body = ErrorBody)))]
pub async fn lock(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, u)): Path<(String, String)>,
) -> Response {
    reply(admin(&state, &headers, &op).role_lock(&t, &u).await)
}

#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/users/{user}/role-lock",
    params(("tenant" = String, Path), ("user" = String, Path, description = "id, userName or alias")), request_body = LockRole,
    responses((status = 200, body = LockView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_lock(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, u)): Path<(String, String)>,
    json: Result<Json<LockRole>, JsonRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).lock_role(&t, &u, &body(json)?).await }.await)
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/users/{user}/role-lock",
    params(("tenant" = String, Path), ("user" = String, Path, description = "id, userName or alias")),
    responses((status = 200, body = LockView), (status = 404, body = ErrorBody)))]
pub async fn unlock(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, u)): Path<(String, String)>,
) -> Response {
    reply(admin(&state, &headers, &op).unlock_role(&t, &u).await)
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/access-tokens", params(("tenant" = String, Path)), request_body = CreateAccessToken,
    responses((status = 201, body = AccessTokenIssued), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_access_token(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    json: Result<Json<CreateAccessToken>, JsonRejection>,
) -> Response {
    reply_with(StatusCode::CREATED, async { admin(&state, &headers, &op).create_access_token(&t, &body(json)?).await }.await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/access-tokens", params(("tenant" = String, Path)),
    responses((status = 200, body = [AccessTokenView]), (status = 404, body = ErrorBody)))]
pub async fn access_tokens(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).access_tokens(&t).await)
}

/// Revokes an access token (by name or id): it stops working at once, on every server.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/access-tokens/{token}/revoke",
    params(("tenant" = String, Path), ("token" = String, Path, description = "The token's name or id")),
    responses((status = 200, body = AccessTokenView), (status = 404, body = ErrorBody)))]
pub async fn revoke_access_token(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, token)): Path<(String, String)>,
) -> Response {
    reply(admin(&state, &headers, &op).revoke_access_token(&t, &token).await)
}

/// A new secret for an access token, shown once; the old one works for the grace period.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/access-tokens/{token}/rotate",
    params(("tenant" = String, Path), ("token" = String, Path, description = "The token's name or id")), request_body = super::model::Rotate,
    responses((status = 200, body = AccessTokenIssued), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_access_token(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, token)): Path<(String, String)>,
    json: Result<Json<super::model::Rotate>, JsonRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).rotate_access_token(&t, &token, &body(json)?).await }.await)
}
