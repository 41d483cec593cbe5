//! `/admin/v1/tenants/{tenant}/audit/…`: the audit operations over JSON, and the export as JSON
//! Lines streamed page by page, so that its memory stays that of one page however long the log.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::stream;

use super::audit::export_page;
use super::audit_model::*;
use super::error::AdminError;
use super::http::{admin, reply, OperatorName};
use super::model::ErrorBody;
use crate::api::ApiState;

/// JSON Lines, one event a line.
pub const JSON_LINES: &str = "application/jsonl";

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/tenants/{tenant}/audit/log", get(log))
        .route("/tenants/{tenant}/audit/history/{resource}", get(history))
        .route("/tenants/{tenant}/audit/as-of/{resource}", get(as_of))
        .route("/tenants/{tenant}/audit/export", get(export))
        .route("/tenants/{tenant}/audit/seal", get(seal))
        .route("/tenants/{tenant}/audit/verify", get(verify))
        .route("/tenants/{tenant}/audit/erasures/{user}", post(erase))
}

/// The query string, or why it is not one this operation takes.
fn query<T>(parsed: Result<Query<T>, QueryRejection>) -> Result<T, AdminError> {
    parsed.map(|Query(q)| q).map_err(|rejection| AdminError::InvalidValue(rejection.body_text()))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/audit/log", params(("tenant" = String, Path), LogQuery),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn log(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).audit_log(&t, &query(q)?).await }.await)
}

/// Erases a user's personal data (docs/audit.md, Erasure), by the operator of the token.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/audit/erasures/{user}",
    params(("tenant" = String, Path), ("user" = String, Path, description = "a user's id or login")),
    responses((status = 200, body = ErasureView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn erase(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, u)): Path<(String, String)>,
) -> Response {
    reply(admin(&state, &headers, &op).erase(&t, &u).await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/audit/history/{resource}",
    params(("tenant" = String, Path), ("resource" = String, Path, description = "a user's, group's or connection's id, or a login")),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = ErrorBody)))]
pub(super) async fn history(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, r)): Path<(String, String)>,
) -> Response {
    reply(admin(&state, &headers, &op).history(&t, &r).await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/audit/as-of/{resource}",
    params(("tenant" = String, Path), ("resource" = String, Path, description = "a user's or group's id, or a login"), AsOfQuery),
    responses((status = 200, description = "the SCIM resource as it was", body = Object), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such resource, or it did not exist then")))]
pub(super) async fn as_of(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, r)): Path<(String, String)>,
    q: Result<Query<AsOfQuery>, QueryRejection>,
) -> Response {
    reply(async { admin(&state, &headers, &op).as_of(&t, &r, &query(q)?).await }.await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/audit/export", params(("tenant" = String, Path), ExportQuery),
    responses((status = 200, description = "every event of the tenant as JSON Lines (AuditEvent), oldest first", content_type = "application/jsonl"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn export(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Response {
    let start = async { admin(&state, &headers, &op).export_start(&t, &query(q)?).await }.await;
    let (tenant, since) = match start {
        Ok(start) => start,
        Err(error) => return reply::<()>(Err(error)),
    };
    let store = std::sync::Arc::clone(&state.store);
    // One page in memory at a time; `None` once the last page was sent.
    let pages = stream::unfold(Some(0), move |after| {
        let (store, tenant) = (std::sync::Arc::clone(&store), tenant.clone());
        async move {
            let after = after?;
            match export_page(&*store, &tenant, since, after).await {
                Ok(events) if events.is_empty() => None,
                Ok(events) => {
                    let next = events.last().map(|e| e.position);
                    Some((Ok(Bytes::from(lines(&events))), next))
                }
                Err(error) => {
                    tracing::warn!(%error, %tenant, after, "audit export stopped");
                    Some((Err(std::io::Error::other(error.to_string())), None))
                }
            }
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON_LINES));
    response
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/audit/seal", params(("tenant" = String, Path)),
    responses((status = 200, body = SealView), (status = 404, body = ErrorBody)))]
pub(super) async fn seal(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).seal(&t).await)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/audit/verify", params(("tenant" = String, Path)),
    responses((status = 200, body = VerifyView, description = "`intact` says whether the log matches its seals"), (status = 404, body = ErrorBody)))]
pub(super) async fn verify(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    reply(admin(&state, &headers, &op).verify(&t, None).await)
}

/// Events as JSON Lines.
pub fn lines(events: &[store::RecordedEvent]) -> String {
    let mut out = String::new();
    for event in events {
        out.push_str(&serde_json::to_string(&AuditEvent::of(event)).expect("the audit model serialises"));
        out.push('\n');
    }
    out
}
