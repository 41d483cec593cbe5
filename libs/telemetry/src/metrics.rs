//! The instruments, and the calls the other crates make to record them. Each call records a
//! measurement taken where the thing happens; nothing here makes a value up. Before
//! [`crate::init`] (the CLI's store commands, unit tests) the instruments record nothing.
//!
//! | instrument (Prometheus name) | labels |
//! |---|---|
//! | `scimledger_http_requests_total` | operation, resource_type, status_class, tenant |
//! | `scimledger_http_request_duration_seconds` | the same |
//! | `scimledger_store_commit_duration_seconds` | backend, result |
//! | `scimledger_follower_lag_events`, `scimledger_follower_lag_seconds` | follower |
//! | `scimledger_relay_published_total` | stream, result |
//! | `scimledger_relay_publish_errors_total` | stream |
//! | `scimledger_subscriber_failures_total` | subscriber |
//! | `scimledger_access_lookups_total` | tenant, result |
//! | `process_memory_usage_bytes` | — |

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};
use opentelemetry::KeyValue;

/// Seconds, from a fraction of a millisecond (a cached look-up) to the request timeout.
const SECONDS_BUCKETS: [f64; 15] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

struct Instruments {
    requests: Counter<u64>,
    request_duration: Histogram<f64>,
    commit_duration: Histogram<f64>,
    lag_events: Gauge<u64>,
    lag_seconds: Gauge<f64>,
    published: Counter<u64>,
    publish_errors: Counter<u64>,
    subscriber_failures: Counter<u64>,
    access_lookups: Counter<u64>,
    unroutable: Counter<u64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

fn meter() -> Meter {
    opentelemetry::global::meter("scimledger")
}

fn instruments() -> &'static Instruments {
    INSTRUMENTS.get_or_init(|| {
        let meter = meter();
        let seconds = |name: &'static str, description: &'static str| {
            meter.f64_histogram(name).with_unit("s").with_description(description).with_boundaries(SECONDS_BUCKETS.to_vec()).build()
        };
        Instruments {
            requests: meter
                .u64_counter("scimledger.http.requests")
                .with_unit("{request}")
                .with_description("HTTP requests answered, by SCIM operation, resource type, status class and tenant")
                .build(),
            request_duration: seconds("scimledger.http.request.duration", "Time from a request's arrival to its response"),
            commit_duration: seconds("scimledger.store.commit.duration", "Time to append one command's events and read-model changes"),
            lag_events: meter
                .u64_gauge("scimledger.follower.lag.events")
                .with_unit("{event}")
                .with_description("Events in the log that a follower (the NATS relay, a subscriber) has not delivered yet")
                .build(),
            lag_seconds: meter
                .f64_gauge("scimledger.follower.lag")
                .with_unit("s")
                .with_description("Age of the oldest event a follower has not delivered yet (0 when caught up)")
                .build(),
            published: meter
                .u64_counter("scimledger.relay.published")
                .with_unit("{event}")
                .with_description("Events JetStream acknowledged: stored, or dropped as a duplicate of one it had")
                .build(),
            publish_errors: meter
                .u64_counter("scimledger.relay.publish.errors")
                .with_unit("{error}")
                .with_description("Publishes to JetStream that failed (the batch is offered again)")
                .build(),
            subscriber_failures: meter
                .u64_counter("scimledger.subscriber.failures")
                .with_unit("{failure}")
                .with_description("Events a subscriber failed to handle (offered again)")
                .build(),
            access_lookups: meter
                .u64_counter("scimledger.access.lookups")
                .with_unit("{lookup}")
                .with_description("Access look-ups answered, by tenant and result")
                .build(),
            unroutable: meter
                .u64_counter("scimledger.routing.unroutable")
                .with_unit("{resource}")
                .with_description("Users and groups a parent tenant refused because its routing rule maps them to no sub-tenant")
                .build(),
        }
    })
}

/// One HTTP request, as the API's metrics layer saw it.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// `create`, `get`, `list`, `search`, `replace`, `patch`, `delete`, `bulk`, `discovery`…
    pub operation: &'static str,
    /// `User`, `Group`, or `-` for requests about no one resource type.
    pub resource_type: &'static str,
    pub status: u16,
    /// The tenant the request authenticated on; `None` for anything else.
    pub tenant: Option<&'a str>,
    pub duration: Duration,
}

pub fn http_request(request: HttpRequest<'_>) {
    let status_class = match request.status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let tenant = request.tenant.map_or_else(|| "-".into(), crate::tenants::label);
    let labels = [
        KeyValue::new("operation", request.operation),
        KeyValue::new("resource_type", request.resource_type),
        KeyValue::new("status_class", status_class),
        KeyValue::new("tenant", tenant),
    ];
    let instruments = instruments();
    instruments.requests.add(1, &labels);
    instruments.request_duration.record(request.duration.as_secs_f64(), &labels);
}

/// How an append ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitResult {
    Committed,
    /// The stream moved on (decided again), a unique value was taken, or the database refused a
    /// value of the request.
    Refused,
    Failed,
}

/// One append: `backend` is `postgres` or `sqlite`.
pub fn commit(backend: &'static str, result: CommitResult, duration: Duration) {
    let result = match result {
        CommitResult::Committed => "committed",
        CommitResult::Refused => "refused",
        CommitResult::Failed => "failed",
    };
    instruments().commit_duration.record(duration.as_secs_f64(), &[KeyValue::new("backend", backend), KeyValue::new("result", result)]);
}

/// How far a log follower (the NATS relay, an in-process subscriber) is behind the log's head.
pub fn follower_lag(follower: &str, events: u64, behind: Duration) {
    let label = [KeyValue::new("follower", follower.to_owned())];
    let instruments = instruments();
    instruments.lag_events.record(events, &label);
    instruments.lag_seconds.record(behind.as_secs_f64(), &label);
}

/// Events JetStream acknowledged on `stream`: `stored` new ones and `duplicates` it dropped.
pub fn published(stream: &str, stored: u64, duplicates: u64) {
    let instruments = instruments();
    for (count, result) in [(stored, "stored"), (duplicates, "duplicate")] {
        if count > 0 {
            instruments.published.add(count, &[KeyValue::new("stream", stream.to_owned()), KeyValue::new("result", result)]);
        }
    }
}

/// A publish to `stream` that failed.
pub fn publish_failed(stream: &str) {
    instruments().publish_errors.add(1, &[KeyValue::new("stream", stream.to_owned())]);
}

/// A subscriber failed to handle an event (it is retried).
pub fn subscriber_failed(subscriber: &str) {
    instruments().subscriber_failures.add(1, &[KeyValue::new("subscriber", subscriber.to_owned())]);
}

/// An access look-up of `tenant` answered, `found` or not (for the access API).
pub fn access_lookup(tenant: &str, found: bool) {
    let result = if found { "found" } else { "not_found" };
    instruments().access_lookups.add(1, &[KeyValue::new("tenant", crate::tenants::label(tenant)), KeyValue::new("result", result)]);
}

/// A write to a parent tenant refused: its routing rule maps the resource to no sub-tenant.
pub fn unroutable(parent: &str, resource_type: &'static str) {
    instruments()
        .unroutable
        .add(1, &[KeyValue::new("tenant", crate::tenants::label(parent)), KeyValue::new("resource_type", resource_type)]);
}

/// Reports the process's resident memory at each collection (scrape or OTLP export).
pub(crate) fn observe_process_memory() {
    // The gauge stays registered with the provider; its callback runs at each collection.
    let _ = meter()
        .u64_observable_gauge("process.memory.usage")
        .with_unit("By")
        .with_description("Resident set size of the process")
        .with_callback(|gauge| {
            if let Some(usage) = memory_stats::memory_stats() {
                gauge.observe(usage.physical_mem as u64, &[]);
            }
        })
        .build();
}
