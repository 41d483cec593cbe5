//! `POST /enroll/v1/{tenant}/verify`: the enrollment service (an MFA's, an MDM's) asks which
//! user an enrollment link enrolls. The token is the credential: sealed by scimledger, for this
//! tenant, unexpired, and answered once (`enrollment.verified`); after that, 410.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::enrollment::{Enrollment, EnrollmentCommand};
use domain::{DomainError, Principal, TenantSlug};
use serde::Deserialize;
use serde_json::json;
use store::commands::{self, CommandError, Expect};
use store::{Actor, EventMetadata};

use super::errors::store_failure;
use super::ApiState;
use crate::subscribers::link_token::{LinkToken, ENROLLMENT_SECRET};

#[derive(Deserialize)]
pub struct Verify {
    token: String,
}

pub async fn verify(State(state): State<ApiState>, Path(tenant): Path<String>, body: Result<Json<Verify>, JsonRejection>) -> Response {
    let Ok(Json(Verify { token })) = body else {
        return problem(StatusCode::BAD_REQUEST, "the body must be JSON: {\"token\": \"…\"}");
    };
    // An unknown tenant and a bad token answer alike: the endpoint tells nothing to a guesser.
    let Ok(tenant) = TenantSlug::parse(&tenant) else { return invalid() };
    let key = match state.store.secret(ENROLLMENT_SECRET).await {
        Ok(key) => key,
        Err(e) => return failure(&e),
    };
    let Ok(link) = LinkToken::open(&token, &key, &tenant) else { return invalid() };
    let now = store::now();
    if now >= link.expires_at {
        return problem(StatusCode::GONE, "the enrollment link expired");
    }
    let command = EnrollmentCommand::Verify { cause: link.cause, at: now };
    let metadata = EventMetadata::by(Actor::System("enrollment".into()));
    let stream = Enrollment::stream_id(link.user);
    match commands::run::<Enrollment>(&*state.store, &tenant, stream, command, &Principal::Operator, metadata, Expect::Existing).await {
        Ok(_) => {}
        Err(CommandError::Domain(DomainError::NotFound)) => return invalid(),
        Err(CommandError::Domain(DomainError::Invalid(e))) => return problem(StatusCode::GONE, &e.detail),
        Err(CommandError::Store(e)) => return failure(&e),
        Err(e) => return problem(StatusCode::CONFLICT, &e.to_string()),
    }
    let user_name = match state.store.user(&tenant, link.user).await {
        Ok(user) => user.and_then(|u| u.document["userName"].as_str().map(str::to_owned)),
        Err(e) => return failure(&e),
    };
    Json(json!({"tenant": tenant.as_str(), "user_id": link.user.to_string(), "user_name": user_name})).into_response()
}

fn invalid() -> Response {
    problem(StatusCode::NOT_FOUND, "no such enrollment link")
}

fn failure(error: &store::StoreError) -> Response {
    let scim = store_failure(error);
    problem(StatusCode::from_u16(scim.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &scim.detail)
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({"status": status.as_u16(), "detail": detail}))).into_response()
}
