//! W3C trace context (`traceparent`) in and out.
//!
//! A request's server span is a child of the caller's `traceparent`; the events the request
//! writes record the `traceparent` of that span; the relay's producer span for each event is
//! its child, and the NATS message carries the producer span's `traceparent`. One trace thus
//! runs from the IdP's request through the log to whoever consumes the message.
//!
//! When traces are not exported the spans stay as cheap as before (the request id only: the
//! fields below cost look-up throughput, docs/benchmarks.md), and the caller's `traceparent`,
//! if any, is what the events and messages carry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::Context;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and CloudEvents extension) that carries the trace context.
pub const TRACEPARENT: &str = "traceparent";

static EXPORTING: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_exporting(exporting: bool) {
    EXPORTING.store(exporting, Ordering::Relaxed);
}

/// Whether spans go out over OTLP.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The span of one HTTP request (`route` is its template, `/scim/v2/{tenant}/Users/{id}`), and
/// the `traceparent` the work inside it runs under, when there is a trace.
pub fn server_span(headers: &http::HeaderMap, method: &http::Method, route: &str, request_id: &str) -> (Span, Option<String>) {
    if !exporting() {
        let incoming = headers.get(TRACEPARENT).and_then(|v| v.to_str().ok()).and_then(normalized);
        return (tracing::info_span!("request", request_id), incoming);
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let span = tracing::info_span!(
        "request",
        request_id,
        otel.kind = "server",
        otel.name = %format_args!("{method} {route}"),
        http.request.method = %method,
        http.route = route,
        http.response.status_code = Empty,
    );
    let _ = span.set_parent(parent);
    let traceparent = traceparent_of(&span.context());
    (span, traceparent)
}

/// Records the response's status on a request's span; a 5xx marks the span as failed.
pub fn record_status(span: &Span, status: u16) {
    if exporting() {
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.set_status(Status::error("server error"));
        }
    }
}

/// The producer span of publishing one event to `subject`, a child of the `traceparent` the
/// event was written under, and the `traceparent` the message carries. Events written outside
/// any trace (by the CLI) get neither.
pub fn producer_span(subject: &str, parent: Option<&str>) -> (Span, Option<String>) {
    let Some(parent) = parent else {
        return (Span::none(), None);
    };
    if !exporting() {
        return (Span::none(), Some(parent.to_owned()));
    }
    let span = tracing::info_span!(
        "publish",
        otel.kind = "producer",
        messaging.system = "nats",
        messaging.operation.type = "publish",
        messaging.destination.name = subject,
    );
    let _ = span.set_parent(extract(parent));
    let traceparent = traceparent_of(&span.context()).unwrap_or_else(|| parent.to_owned());
    (span, Some(traceparent))
}

fn extract(traceparent: &str) -> Context {
    TraceContextPropagator::new().extract(&HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]))
}

/// The `traceparent` of a context with a valid span.
fn traceparent_of(cx: &Context) -> Option<String> {
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// A caller's `traceparent` as the propagator reads it, or `None` if it is not one.
fn normalized(traceparent: &str) -> Option<String> {
    traceparent_of(&extract(traceparent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_passes_and_anything_else_does_not() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(normalized(traceparent).as_deref(), Some(traceparent));
        assert_eq!(normalized("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), None, "an all-zero trace id is invalid");
        assert_eq!(normalized("not a traceparent"), None);
    }

    #[test]
    fn without_export_the_callers_context_is_carried_as_it_came() {
        let mut headers = http::HeaderMap::new();
        headers.insert(TRACEPARENT, http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
        let (_, traceparent) = server_span(&headers, &http::Method::GET, "/healthz", "r-1");
        assert_eq!(traceparent.as_deref(), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
        let (_, carried) = producer_span("scimledger.acme.user.provisioned", traceparent.as_deref());
        assert_eq!(carried, traceparent);
        assert_eq!(producer_span("scimledger.acme.user.provisioned", None).1, None);
    }
}
