//! SCIM responses: `application/scim+json` bodies, ETag and Location headers, Error bodies.

use std::any::Any;

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scim::ScimError;
use serde_json::Value;

pub const SCIM_JSON: HeaderValue = HeaderValue::from_static("application/scim+json");

pub struct ScimReply {
    status: StatusCode,
    body: Option<Content>,
    etag: Option<String>,
    location: Option<String>,
}

/// A response's JSON: a value, or the bytes of one as they are produced (a large group, ADR 0076).
enum Content {
    Value(Value),
    Streamed(Body),
}

impl ScimReply {
    pub fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body: Some(Content::Value(body)), etag: None, location: None }
    }

    /// 200 with a JSON body written as it streams.
    pub fn streamed(body: Body) -> Self {
        Self { status: StatusCode::OK, body: Some(Content::Streamed(body)), etag: None, location: None }
    }

    pub fn created(body: Value, location: String) -> Self {
        Self { status: StatusCode::CREATED, body: Some(Content::Value(body)), etag: None, location: Some(location) }
    }

    pub fn status(status: StatusCode) -> Self {
        Self { status, body: None, etag: None, location: None }
    }

    pub fn error(error: ScimError) -> Self {
        if error.status >= 500 {
            tracing::warn!(status = error.status, detail = %error.detail, "request failed");
        }
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, body: Some(Content::Value(error.to_json())), etag: None, location: None }
    }

    pub fn with_etag(mut self, etag: String) -> Self {
        self.etag = Some(etag);
        self
    }
}

impl From<ScimError> for ScimReply {
    fn from(error: ScimError) -> Self {
        Self::error(error)
    }
}

impl IntoResponse for ScimReply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(Content::Value(body)) => {
                let bytes = serde_json::to_vec(&body).expect("JSON values serialise");
                (self.status, [(CONTENT_TYPE, SCIM_JSON)], bytes).into_response()
            }
            Some(Content::Streamed(body)) => (self.status, [(CONTENT_TYPE, SCIM_JSON)], body).into_response(),
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        for (name, value) in [(ETAG, self.etag), (LOCATION, self.location)] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// The weak ETag of a resource version (RFC 7644 §3.14).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// What an If-Match or If-None-Match header (or a bulk operation's `version`) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityTags {
    /// `*`: any version.
    Any,
    /// The versions among the listed tags; empty when none is a tag this server hands out.
    Versions(Vec<i64>),
}

impl EntityTags {
    /// Parses a list of entity tags, compared weakly (`"2"` and `W/"2"` name the same version).
    pub fn parse(header: &str) -> Self {
        if header.trim() == "*" {
            return EntityTags::Any;
        }
        EntityTags::Versions(header.split(',').filter_map(version_in).collect())
    }

    pub fn names(&self, version: i64) -> bool {
        match self {
            EntityTags::Any => true,
            EntityTags::Versions(versions) => versions.contains(&version),
        }
    }
}

fn version_in(tag: &str) -> Option<i64> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.trim_matches('"').parse().ok()
}

/// Every error is an RFC 7644 Error: the ones the router and its layers answer with no body
/// (405 for a method an endpoint does not take, 503 for a timeout) get one, and keep their
/// headers (`Allow`).
pub async fn errors_are_scim(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.headers().contains_key(CONTENT_TYPE) {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method; the Allow header lists the ones it takes",
        StatusCode::SERVICE_UNAVAILABLE => "the request did not finish in time; retry",
        _ => status.canonical_reason().unwrap_or("the request failed"),
    };
    let (parts, _) = response.into_parts();
    let mut reply = ScimReply::error(ScimError::new(status.as_u16(), None, detail)).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_LENGTH {
            reply.headers_mut().insert(name, value.clone());
        }
    }
    reply
}

pub async fn no_such_endpoint() -> ScimReply {
    ScimReply::error(ScimError::not_found("no such endpoint"))
}

pub fn panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    ScimReply::error(ScimError::internal("internal error")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_entity_tags() {
        assert_eq!(EntityTags::parse(&etag(7)), EntityTags::Versions(vec![7]));
        assert_eq!(EntityTags::parse("\"3\""), EntityTags::Versions(vec![3]));
        assert_eq!(EntityTags::parse(" * "), EntityTags::Any);
        assert_eq!(EntityTags::parse("W/\"1\", \"4\""), EntityTags::Versions(vec![1, 4]));
        assert_eq!(EntityTags::parse("W/\"abc\", garbage"), EntityTags::Versions(vec![]));
        assert!(EntityTags::parse("W/\"1\", W/\"4\"").names(4));
        assert!(!EntityTags::parse("W/\"1\"").names(4));
    }
}
