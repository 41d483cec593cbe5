//! What each request leaves behind besides its response: its server span (a child of the
//! caller's `traceparent`), the trace context its events are written under (a request extension
//! that `auth` hands to the [`Caller`](super::Caller), with the rest of its provenance), and the request metrics by SCIM
//! operation, resource type, status class and tenant.
//!
//! A request that fails authentication is counted without its URL's tenant: only tenants that
//! exist, and whose callers hold a token, become label values.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use store::TraceContext;
use telemetry::metrics::HttpRequest;
use tracing::Instrument;

use super::provenance::Provenance;
use super::REQUEST_ID;

const SCIM_PREFIX: &str = "/scim/v2/{tenant}";

pub async fn instrument(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map(MatchedPath::as_str);
    let (operation, resource_type) = operation(request.method(), route);
    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::debug!(method = %request.method(), path = %request.uri().path(), request_id, "request");
    let (span, traceparent) = telemetry::trace::server_span(request.headers(), request.method(), route.unwrap_or("unmatched"), request_id);
    let trace = traceparent.and_then(TraceContext::from_traceparent);
    let provenance = Provenance::of(&request, trace);
    request.extensions_mut().insert(provenance);
    let tenant = route.filter(|r| r.starts_with(SCIM_PREFIX)).and_then(|_| request.uri().path().split('/').nth(3)).map(str::to_owned);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    telemetry::trace::record_status(&span, status.as_u16());
    if status.is_server_error() {
        span.in_scope(|| tracing::error!(status = status.as_u16(), "server error"));
    }
    telemetry::metrics::http_request(HttpRequest {
        operation,
        resource_type,
        status: status.as_u16(),
        tenant: tenant.as_deref().filter(|_| status != StatusCode::UNAUTHORIZED),
        duration: started.elapsed(),
    });
    response
}

/// The SCIM operation and resource type a route template and method stand for.
fn operation(method: &Method, route: Option<&str>) -> (&'static str, &'static str) {
    let Some(route) = route else {
        return ("unmatched", "-");
    };
    let Some(scim) = route.strip_prefix(SCIM_PREFIX) else {
        return (if matches!(route, "/healthz" | "/readyz") { "health" } else { "other" }, "-");
    };
    let mut parts = scim.trim_start_matches('/').splitn(2, '/');
    let (endpoint, rest) = (parts.next().unwrap_or_default(), parts.next());
    let resource_type = match endpoint {
        "Users" => "User",
        "Groups" => "Group",
        _ => "-",
    };
    let operation = match (endpoint, rest) {
        ("Users" | "Groups", None) if method == Method::GET => "list",
        ("Users" | "Groups", None) if method == Method::POST => "create",
        ("Users" | "Groups", Some(".search")) | (".search", None) => "search",
        ("Users" | "Groups", Some(_)) if method == Method::GET => "get",
        ("Users" | "Groups", Some(_)) if method == Method::PUT => "replace",
        ("Users" | "Groups", Some(_)) if method == Method::PATCH => "patch",
        ("Users" | "Groups", Some(_)) if method == Method::DELETE => "delete",
        ("Bulk", None) => "bulk",
        ("ServiceProviderConfig" | "ResourceTypes" | "Schemas", _) => "discovery",
        _ => "other",
    };
    (operation, resource_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_scim_operations() {
        let cases = [
            (Method::POST, "/scim/v2/{tenant}/Users", ("create", "User")),
            (Method::GET, "/scim/v2/{tenant}/Users", ("list", "User")),
            (Method::POST, "/scim/v2/{tenant}/Groups/.search", ("search", "Group")),
            (Method::GET, "/scim/v2/{tenant}/Groups/{id}", ("get", "Group")),
            (Method::PUT, "/scim/v2/{tenant}/Users/{id}", ("replace", "User")),
            (Method::PATCH, "/scim/v2/{tenant}/Groups/{id}", ("patch", "Group")),
            (Method::DELETE, "/scim/v2/{tenant}/Users/{id}", ("delete", "User")),
            (Method::POST, "/scim/v2/{tenant}/.search", ("search", "-")),
            (Method::POST, "/scim/v2/{tenant}/Bulk", ("bulk", "-")),
            (Method::GET, "/scim/v2/{tenant}/Schemas/{id}", ("discovery", "-")),
            (Method::GET, "/readyz", ("health", "-")),
        ];
        for (method, route, expected) in cases {
            assert_eq!(operation(&method, Some(route)), expected, "{method} {route}");
        }
        assert_eq!(operation(&Method::GET, None), ("unmatched", "-"));
    }
}
