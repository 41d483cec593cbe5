//! Request bodies: the size limit, the media type and JSON syntax, each with its SCIM error;
//! strings no store can hold (an unpaired surrogate) are `invalidValue`.

use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use scim::ScimError;
use serde_json::Value;

use super::reply::ScimReply;
use super::ApiState;

/// How much of an oversized body is read and dropped before answering 413.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// A JSON request body. SCIM clients send `application/scim+json`; Okta sends
/// `application/json`; both are accepted, as is a body without a Content-Type.
pub struct ScimBody(pub Value);

/// A /Bulk request body: as [`ScimBody`], within maxPayloadSize instead of the general limit.
pub struct BulkBody(pub Value);

impl FromRequest<ApiState> for ScimBody {
    type Rejection = ScimReply;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        let limit = state.settings.max_body_bytes;
        json_body(request, limit, || ScimError::payload_too_large(format!("the request body is larger than {limit} bytes")))
            .await
            .map(ScimBody)
    }
}

impl FromRequest<ApiState> for BulkBody {
    type Rejection = ScimReply;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        let limit = state.settings.bulk_max_payload_bytes;
        json_body(request, limit, || scim::bulk::payload_too_large(limit)).await.map(BulkBody)
    }
}

async fn json_body(request: Request, limit: usize, too_large: impl Fn() -> ScimError) -> Result<Value, ScimReply> {
    if let Some(media_type) = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence != "application/scim+json" && essence != "application/json" {
            return Err(ScimReply::error(ScimError::new(
                415,
                None,
                format!("'{essence}' is not a SCIM media type: send application/scim+json"),
            )));
        }
    }
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        // Read and drop what the client is still sending (within reason), so it receives the
        // 413 instead of a reset connection.
        let _ = axum::body::to_bytes(request.into_body(), DRAIN_LIMIT).await;
        return Err(ScimReply::error(too_large()));
    }
    let bytes = axum::body::to_bytes(request.into_body(), limit).await.map_err(|_| ScimReply::error(too_large()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json refuses `"\ud800"`, which the JSON grammar allows but no store can keep:
        // that is a bad value, not bad syntax.
        ScimReply::error(match scim::text::unpaired_surrogate_escape(&bytes) {
            Some(unit) => ScimError::invalid_value(format!(
                "the request body has an unpaired UTF-16 surrogate (\\u{unit:04x}), which cannot be stored"
            )),
            None => ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")),
        })
    })
}
