//! Logs, traces and metrics for every scimledger process.
//!
//! - [`export`]: which OpenTelemetry exporters run, read from the standard `OTEL_*` variables,
//!   and the providers behind them: traces over OTLP, metrics over OTLP and as Prometheus text.
//! - [`trace`]: W3C trace context: the server span of an HTTP request (a child of the caller's
//!   `traceparent`), the `traceparent` events are written under, and the producer span of a
//!   publish that continues it.
//! - [`metrics`]: the instruments, and the calls the other crates make to record them.
//! - [`tenants`]: the `tenant` label, bounded so that many tenants cannot swamp a time-series
//!   database.
//! - [`scrape`]: the metrics as Prometheus text, for `/metrics`.
//!
//! Logs go to stderr (text or JSON), filtered by `RUST_LOG` (default `info`). Secrets never
//! reach a span or a label: tokens are hashed before anything sees them.

pub mod export;
pub mod metrics;
pub mod scrape;
pub mod tenants;
pub mod trace;

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

pub use export::Telemetry;
pub use scrape::Scrape;

/// The crates whose INFO spans are exported: the request, command, append and publish spans,
/// without the libraries' own.
const TRACED: [&str; 4] = ["telemetry", "scimledger", "store", "bus"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Installs the global subscriber and the OpenTelemetry providers. Tokio-postgres's notices
/// are quietened unless asked for.
pub fn init(format: Format, service: &'static str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tokio_postgres=warn"));
    let logs = match format {
        Format::Text => fmt::layer().with_writer(std::io::stderr).boxed(),
        Format::Json => fmt::layer().json().with_current_span(true).with_writer(std::io::stderr).boxed(),
    };
    let telemetry = export::start(service);
    // Exported spans follow their own filter: `RUST_LOG=warn` quietens the log, not the traces.
    let traces = telemetry.tracer_provider().map(|p| {
        let ours = Targets::new().with_targets(TRACED.iter().map(|target| (*target, LevelFilter::INFO)));
        tracing_opentelemetry::layer().with_tracer(p.tracer(service)).with_filter(ours)
    });
    // A second initialisation (in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(logs.with_filter(filter)).with(traces).try_init();
    telemetry
}
