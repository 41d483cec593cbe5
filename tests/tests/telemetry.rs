//! Telemetry end to end: the built server exports its spans and metrics to a real OTLP/HTTP
//! receiver and serves `/metrics` as Prometheus text, scraped over HTTP. A SCIM request sent
//! inside a W3C trace is one trace from the request through the log to the NATS message.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::Method;
use scimledger_e2e::nats::Events;
use scimledger_e2e::otlp::{attributes, hex, Collector};
use scimledger_e2e::scrape::{observations, samples, scrape, value};
use scimledger_e2e::{on_both_backends, Backend, Scim, Server};
use serde_json::json;

/// Generous bounds for exports and deliveries that take well under a second on a quiet machine.
const EXPORT: Duration = Duration::from_secs(60);

/// A caller's trace: a fresh trace id and the span id of the caller's own span.
struct CallerTrace {
    trace_id: String,
    span_id: String,
}

impl CallerTrace {
    fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self { trace_id: id.clone(), span_id: id[..16].to_owned() }
    }

    fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

fn trace_bytes(hex_text: &str) -> Vec<u8> {
    (0..hex_text.len()).step_by(2).map(|i| u8::from_str_radix(&hex_text[i..i + 2], 16).expect("hex")).collect()
}

/// Provisions a user in the caller's trace; its id.
async fn create_in_trace(scim: &Scim, caller: &CallerTrace, user_name: &str) -> String {
    let created = scim
        .send_with_header(Method::POST, "/Users", &json!({"userName": user_name}), "traceparent", &caller.traceparent())
        .await
        .expect(201);
    created["id"].as_str().expect("an id").to_owned()
}

/// The traceparent an event was written under, read from the log.
async fn logged_trace(backend: &Backend, user_id: &str) -> (String, String) {
    let log = backend.open_store().await.read_log(0, u32::MAX).await.expect("the log");
    let event = log.iter().find(|e| e.stream.to_string() == user_id).expect("the user's event is in the log");
    let trace_id = event.metadata["trace_id"].as_str().expect("the event records a trace id").to_owned();
    let traceparent = event.metadata["traceparent"].as_str().expect("the event records its traceparent").to_owned();
    (trace_id, traceparent)
}

/// The `traceparent` header of the NATS message of the user's event, and the envelope's own.
async fn published_trace(events: &Events, expected: u64, user_id: &str) -> (String, String) {
    events.wait_for_stored(expected, EXPORT).await;
    let messages = events.read_messages().await;
    let (headers, envelope) =
        messages.iter().find(|(_, envelope)| envelope["data"]["id"] == user_id).expect("the user's event is on the stream");
    let header = headers.as_ref().and_then(|h| h.get("traceparent")).expect("the message carries a traceparent header").to_string();
    (header, envelope["traceparent"].as_str().expect("the envelope carries its traceparent").to_owned())
}

on_both_backends! {
    async fn a_request_in_a_trace_is_one_trace_from_the_idp_to_the_nats_message(backend: Backend) {
        let collector = Collector::start().await;
        let events = Events::shared();
        let server = Server::start_with(&backend, [collector.settings(), events.settings()].concat()).await;
        let scim = server.tenant(&events.tenant).await;
        let caller = CallerTrace::new();

        let user_id = create_in_trace(&scim, &caller, "traced@example.com").await;

        // The server span is a child of the caller's, and the command, the append and the
        // publish join the same trace.
        let spans = collector.wait_for_trace(&trace_bytes(&caller.trace_id), &["POST /scim/v2/{tenant}/Users", "command", "append", "publish"], EXPORT).await;
        let server_span = spans.iter().find(|s| s.kind == SpanKind::Server as i32).expect("a server span");
        assert_eq!(hex(&server_span.parent_span_id), caller.span_id, "the server span's parent is the caller's span");
        let fields = attributes(&server_span.attributes);
        assert_eq!(fields.get("http.request.method").map(String::as_str), Some("POST"));
        assert_eq!(fields.get("http.route").map(String::as_str), Some("/scim/v2/{tenant}/Users"));
        assert_eq!(fields.get("http.response.status_code").map(String::as_str), Some("201"));
        let command = spans.iter().find(|s| s.name == "command").expect("a command span");
        assert_eq!(command.parent_span_id, server_span.span_id, "the command runs inside the request");
        let append = spans.iter().find(|s| s.name == "append").expect("an append span");
        assert_eq!(append.parent_span_id, command.span_id, "the append runs inside the command");

        // The event records the request's trace: the trace id, and the server span as parent.
        let (trace_id, traceparent) = logged_trace(&backend, &user_id).await;
        assert_eq!(trace_id, caller.trace_id);
        assert_eq!(traceparent, format!("00-{}-{}-01", caller.trace_id, hex(&server_span.span_id)));

        // The NATS message carries the trace on: its header names the producer span, whose
        // parent is the span that wrote the event.
        let (header, envelope_traceparent) = published_trace(&events, backend.event_count().await as u64, &user_id).await;
        assert_eq!(envelope_traceparent, traceparent, "the envelope names the span that wrote the event");
        let publish = spans.iter().find(|s| s.name == "publish").expect("a publish span");
        assert_eq!(publish.kind, SpanKind::Producer as i32);
        assert_eq!(publish.parent_span_id, server_span.span_id);
        assert_eq!(header, format!("00-{}-{}-01", caller.trace_id, hex(&publish.span_id)), "the message names the producer span");
        events.remove().await;
    }

    async fn without_trace_export_the_callers_trace_still_reaches_the_event_and_the_message(backend: Backend) {
        let events = Events::shared();
        let server = Server::start_with(&backend, events.settings()).await;
        let scim = server.tenant(&events.tenant).await;
        let caller = CallerTrace::new();
        let user_id = create_in_trace(&scim, &caller, "untraced@example.com").await;
        let (trace_id, traceparent) = logged_trace(&backend, &user_id).await;
        assert_eq!((trace_id, traceparent.clone()), (caller.trace_id.clone(), caller.traceparent()));
        let (header, envelope_traceparent) = published_trace(&events, backend.event_count().await as u64, &user_id).await;
        assert_eq!((header, envelope_traceparent), (traceparent.clone(), traceparent));
        events.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_metrics_move_for_the_right_labels_on_the_scrape_and_over_otlp() {
    let backend = Backend::postgres().await;
    let collector = Collector::start().await;
    let events = Events::shared();
    let server = Server::start_with(&backend, [collector.settings(), events.settings()].concat()).await;
    let scim = server.tenant(&events.tenant).await;
    let tenant = events.tenant.as_str();
    let url = server.metrics.clone();
    let created = [("operation", "create"), ("resource_type", "User"), ("status_class", "2xx"), ("tenant", tenant)];
    let not_found = [("operation", "get"), ("resource_type", "User"), ("status_class", "4xx"), ("tenant", tenant)];
    let refused = [("operation", "list"), ("resource_type", "User"), ("status_class", "4xx"), ("tenant", "-")];
    let before = scrape(&url).await;

    for n in 0..3 {
        scim.post("/Users", &json!({"userName": format!("counted-{n}@example.com")})).await.expect(201);
    }
    scim.get("/Users/00000000-0000-0000-0000-000000000000").await.expect(404);
    scim.with_token(Some("not-a-token")).get("/Users").await.expect(401);

    let after = scrape(&url).await;
    let moved = |labels: &[(&str, &str)]| {
        value(&after, "scimledger_http_requests_total", labels) - value(&before, "scimledger_http_requests_total", labels)
    };
    assert_eq!(moved(&created), 3.0, "three creates of users on the tenant");
    assert_eq!(moved(&not_found), 1.0, "one look-up of a missing user");
    assert_eq!(moved(&refused), 1.0, "an unauthenticated request is counted without the URL's tenant");
    assert_eq!(observations(&after, "scimledger_http_request_duration_seconds", &created), 3.0);
    assert!(
        observations(&after, "scimledger_store_commit_duration_seconds", &[("backend", "postgres"), ("result", "committed")]) >= 3.0,
        "each create's append is timed"
    );
    assert!(value(&after, "process_memory_usage_bytes", &[]) > 0.0, "the process's resident memory is reported");

    // The relay publishes every event and reports that it caught up with the log.
    // Every logged event of the tenant, its creation and its connection's included.
    let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
    let logged = log.iter().filter(|e| e.tenant.as_str() == events.tenant).count() as u64;
    events.wait_for_stored(logged, EXPORT).await;
    let follower = format!("nats-relay:{}", events.stream);
    let caught_up = tokio::time::timeout(EXPORT, async {
        loop {
            let now = scrape(&url).await;
            let stored = value(&now, "scimledger_relay_published_total", &[("stream", &events.stream), ("result", "stored")]);
            let lag = value(&now, "scimledger_follower_lag_events", &[("follower", &follower)]);
            let reported = !samples(&now, "scimledger_follower_lag_events", &[("follower", &follower)]).is_empty();
            if stored == logged as f64 && reported && lag == 0.0 {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the relay's published count reaches the log's length and its lag falls to 0");
    assert_eq!(value(&caught_up, "scimledger_follower_lag_seconds", &[("follower", &follower)]), 0.0);
    assert_eq!(value(&caught_up, "scimledger_relay_publish_errors_total", &[("stream", &events.stream)]), 0.0);

    // The same counter goes out over OTLP.
    collector
        .wait_for_metric(
            "scimledger.http.requests",
            &[("operation", "create"), ("resource_type", "User"), ("status_class", "2xx"), ("tenant", tenant)],
            EXPORT,
        )
        .await;
    events.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_past_the_label_limit_share_one_label() {
    let backend = Backend::sqlite();
    let server = Server::start_with(&backend, vec![("SCIMLEDGER_METRICS_TENANT_LABELS", "1".into())]).await;
    let first = server.tenant("first").await;
    let second = server.tenant("second").await;
    first.get("/Users").await.expect(200);
    second.get("/Users").await.expect(200);
    second.get("/Groups").await.expect(200);
    let scraped = scrape(&server.metrics).await;
    let listed = |tenant: &str, resource: &str| {
        value(&scraped, "scimledger_http_requests_total", &[("operation", "list"), ("resource_type", resource), ("tenant", tenant)])
    };
    assert_eq!(listed("first", "User"), 1.0, "the first tenant seen keeps its own label");
    assert_eq!((listed("_other", "User"), listed("_other", "Group")), (1.0, 1.0), "the next share `_other`");
    assert_eq!(listed("second", "User") + listed("second", "Group"), 0.0, "no series names the tenant past the limit");
}
