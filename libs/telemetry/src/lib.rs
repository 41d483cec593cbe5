//! Tracing set-up: structured logs (text or JSON) to stderr, filtered by `RUST_LOG` (default
//! `info`), and, when `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector, the same spans exported
//! as OpenTelemetry traces over OTLP/HTTP. Secrets never reach a span: tokens are hashed before
//! anything sees them.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Keeps the trace exporter alive; dropping it flushes the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. Tokio-postgres's notices are quietened unless asked for.
pub fn init(format: Format, service: &'static str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tokio_postgres=warn"));
    let logs = match format {
        Format::Text => fmt::layer().with_writer(std::io::stderr).boxed(),
        Format::Json => fmt::layer().json().with_current_span(true).with_writer(std::io::stderr).boxed(),
    };
    let provider = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").and_then(|_| match tracer_provider(service) {
        Ok(provider) => Some(provider),
        Err(e) => {
            eprintln!("{service}: OpenTelemetry export disabled: {e}");
            None
        }
    });
    let traces = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    // A second initialisation (in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(filter).with(logs).with(traces).try_init();
    Telemetry { provider }
}

/// OTLP over HTTP to the collector the standard `OTEL_EXPORTER_OTLP_*` variables name.
fn tracer_provider(service: &'static str) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}
