//! `/access/v1`: the look-up a policy service makes on every authentication (issue 11 §2,
//! docs/access.md), answered from the in-memory projection.
//!
//! - `GET /access/v1/{tenant}/logins/{login}`: the user a login (userName or alias, any case)
//!   names, active or not; 404 for an unknown login.
//! - `POST /access/v1/{tenant}/logins:batch` `{"logins": [...]}`: many, in order (`null` for
//!   an unknown login).
//! - `GET /access/v1/status`: whether the projection is ready, and its lag.
//!
//! A bearer access token of the tenant, or an operator token; anything else is 401, the same
//! for a tenant that does not exist.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::TenantSlug;
use serde::{Deserialize, Serialize};

use super::projection::NotCaughtUp;
use crate::api::ApiState;
use crate::token;

/// The most logins one batch may ask for.
pub const MAX_BATCH: usize = 1_000;
/// How long a look-up waits for the projection to read this process's writes.
const CATCH_UP: Duration = Duration::from_secs(2);

pub fn router() -> Router<ApiState> {
    Router::new().route("/status", get(status)).route("/{tenant}/logins/{login}", get(look_up)).route("/{tenant}/logins:batch", post(batch))
}

#[derive(Debug, thiserror::Error)]
enum AccessError {
    #[error("a valid access token of this tenant, or an operator token, is required")]
    Unauthorized,
    #[error("no user of this tenant has the login")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}; retry, or fall back to the IdP")]
    Unavailable(String),
}

impl AccessError {
    fn code(&self) -> &'static str {
        match self {
            AccessError::Unauthorized => "unauthorized",
            AccessError::NotFound => "not_found",
            AccessError::Invalid(_) => "invalid_request",
            AccessError::Unavailable(_) => "unavailable",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AccessError::Unauthorized => StatusCode::UNAUTHORIZED,
            AccessError::NotFound => StatusCode::NOT_FOUND,
            AccessError::Invalid(_) => StatusCode::BAD_REQUEST,
            AccessError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for AccessError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(serde_json::json!({"code": self.code(), "detail": self.to_string()}))).into_response();
        if matches!(self, AccessError::Unauthorized) {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="scimledger-access""#));
        }
        response
    }
}

/// Admits the caller to `tenant` and waits until the projection has read this process's
/// writes; the tenant as a slug.
async fn admit(state: &ApiState, headers: &HeaderMap, tenant: &str) -> Result<TenantSlug, AccessError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token::hash(token.trim()));
    let (Some(hash), Ok(slug)) = (presented, TenantSlug::parse(tenant)) else { return Err(AccessError::Unauthorized) };
    let changes = state.tenants.generation();
    state.access.caught_up(&*state.store, CATCH_UP).await.map_err(|e: NotCaughtUp| AccessError::Unavailable(e.to_string()))?;
    match state.access.admits(&*state.store, &slug, &hash, changes).await {
        Ok(true) => Ok(slug),
        Ok(false) => Err(AccessError::Unauthorized),
        Err(error) => {
            tracing::warn!(%error, "access look-up: cannot read the tenant's tokens");
            Err(AccessError::Unavailable("the store is unavailable".into()))
        }
    }
}

async fn look_up(State(state): State<ApiState>, headers: HeaderMap, Path((tenant, login)): Path<(String, String)>) -> Response {
    let result = async {
        let slug = admit(&state, &headers, &tenant).await?;
        let answer = state.access.look_up(&slug, &login);
        telemetry::metrics::access_lookup(slug.as_str(), answer.is_some());
        answer.map(Json).ok_or(AccessError::NotFound)
    }
    .await;
    result.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    logins: Vec<String>,
}

#[derive(Debug, Serialize)]
struct BatchAnswer {
    /// One per login asked for, in order; null for an unknown login.
    results: Vec<Option<super::model::Answer>>,
}

async fn batch(State(state): State<ApiState>, headers: HeaderMap, Path(tenant): Path<String>, body: Bytes) -> Response {
    let result = async {
        let slug = admit(&state, &headers, &tenant).await?;
        let batch: Batch =
            serde_json::from_slice(&body).map_err(|e| AccessError::Invalid(format!("the body is not {{\"logins\": [...]}}: {e}")))?;
        if batch.logins.len() > MAX_BATCH {
            return Err(AccessError::Invalid(format!("at most {MAX_BATCH} logins per batch")));
        }
        let results = state.access.look_up_all(&slug, batch.logins.iter().map(String::as_str));
        for answer in &results {
            telemetry::metrics::access_lookup(slug.as_str(), answer.is_some());
        }
        Ok(Json(BatchAnswer { results }))
    }
    .await;
    result.into_response()
}

#[derive(Debug, Serialize)]
struct Status {
    /// Whether the projection has read the log to its head once since start-up.
    ready: bool,
    /// The highest log position applied.
    position: i64,
    /// How far behind the log the projection was at its last read.
    lag_seconds: f64,
    /// Users whose `role.*` events are still to be appended.
    pending_role_assignments: usize,
}

async fn status(State(state): State<ApiState>) -> Json<Status> {
    let progress = state.access.progress();
    Json(Status {
        ready: progress.ready,
        position: progress.position,
        lag_seconds: progress.lag.as_secs_f64(),
        pending_role_assignments: state.access.pending(),
    })
}
