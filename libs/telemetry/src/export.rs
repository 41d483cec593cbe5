//! The exporters, as the standard OpenTelemetry variables ask for them.
//!
//! Metrics are always kept for `/metrics` (Prometheus text). Traces and metrics also go out
//! over OTLP when an endpoint is named (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the per-signal
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `_METRICS_ENDPOINT`), unless `OTEL_TRACES_EXPORTER`
//! or `OTEL_METRICS_EXPORTER` is `none` or `OTEL_SDK_DISABLED` is `true`. The exporters
//! themselves read the protocol (`http/protobuf` by default, or `http/json`), headers and
//! timeouts; the SDK reads sampling (`OTEL_TRACES_SAMPLER`, `_ARG`), the batch delay
//! (`OTEL_BSP_*`), the export interval (`OTEL_METRIC_EXPORT_INTERVAL`) and the resource
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).

use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use crate::scrape::Scrape;

/// Keeps the providers alive; dropping it flushes the spans and metrics still buffered.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    scrape: Scrape,
}

impl Telemetry {
    pub(crate) fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer.as_ref()
    }

    /// The metrics as Prometheus text, for the `/metrics` endpoint.
    pub fn scrape(&self) -> Scrape {
        self.scrape.clone()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer.take() {
            let _ = provider.shutdown();
        }
        if let Some(provider) = self.meter.take() {
            let _ = provider.shutdown();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn exporter_variable(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_TRACES_EXPORTER",
            Signal::Metrics => "OTEL_METRICS_EXPORTER",
        }
    }

    fn endpoint_variable(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        }
    }

    /// Whether this signal goes out over OTLP.
    fn exported(self, var: impl Fn(&str) -> Option<String>) -> bool {
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return false;
        }
        let named = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
        let endpoint = named("OTEL_EXPORTER_OTLP_ENDPOINT") || named(self.endpoint_variable());
        match var(self.exporter_variable()).as_deref().map(str::trim) {
            None | Some("" | "otlp") => endpoint,
            Some("none") => false,
            Some(other) => {
                eprintln!("{}={other:?} is not supported (otlp or none); not exporting", self.exporter_variable());
                false
            }
        }
    }
}

/// Starts the providers: the tracer when traces are exported, the meter always (the Prometheus
/// reader), with an OTLP reader beside it when metrics are exported.
pub(crate) fn start(service: &'static str) -> Telemetry {
    let var = |name: &str| std::env::var(name).ok();
    let resource = if var("OTEL_SERVICE_NAME").is_some() {
        Resource::builder().build()
    } else {
        Resource::builder().with_service_name(service).build()
    };
    let tracer = Signal::Traces.exported(var).then(|| tracer_provider(resource.clone())).and_then(|built| match built {
        Ok(provider) => Some(provider),
        Err(e) => {
            eprintln!("{service}: trace export disabled: {e}");
            None
        }
    });
    crate::trace::set_exporting(tracer.is_some());
    let registry = prometheus::Registry::new();
    let meter = match meter_provider(resource, registry.clone(), Signal::Metrics.exported(var)) {
        Ok(provider) => {
            opentelemetry::global::set_meter_provider(provider.clone());
            Some(provider)
        }
        Err(e) => {
            eprintln!("{service}: metrics disabled: {e}");
            None
        }
    };
    crate::metrics::observe_process_memory();
    Telemetry { tracer, meter, scrape: Scrape::new(registry) }
}

/// The errors that turn an exporter off (the process runs on without it).
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error(transparent)]
    Otlp(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("the Prometheus reader: {0}")]
    Prometheus(#[from] opentelemetry_sdk::error::OTelSdkError),
}

/// OTLP to the collector the `OTEL_EXPORTER_OTLP_*` variables name, over the protocol they name.
fn tracer_provider(resource: Resource) -> Result<SdkTracerProvider, ExportError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().build()?;
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

fn meter_provider(resource: Resource, registry: prometheus::Registry, otlp: bool) -> Result<SdkMeterProvider, ExportError> {
    // Scope labels would repeat `otel_scope_name="scimledger"` on every series for nothing.
    let prometheus = opentelemetry_prometheus::exporter().with_registry(registry).scope_info_enabled(false).build()?;
    let mut builder = SdkMeterProvider::builder().with_resource(resource).with_reader(prometheus);
    if otlp {
        let exporter = opentelemetry_otlp::MetricExporter::builder().build()?;
        builder = builder.with_reader(PeriodicReader::builder(exporter).build());
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn exported(signal: Signal, vars: &[(&str, &str)]) -> bool {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        signal.exported(|name| vars.get(name).map(|v| v.to_string()))
    }

    #[test]
    fn an_endpoint_turns_export_on_and_none_or_disabled_turns_it_off() {
        assert!(!exported(Signal::Traces, &[]));
        assert!(exported(Signal::Traces, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]));
        assert!(exported(Signal::Metrics, &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://collector:4318/v1/metrics")]));
        assert!(!exported(Signal::Traces, &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://collector:4318/v1/metrics")]));
        assert!(!exported(Signal::Traces, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_TRACES_EXPORTER", "none")]));
        assert!(!exported(Signal::Metrics, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]));
        assert!(!exported(Signal::Metrics, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRICS_EXPORTER", "console")]));
    }
}
