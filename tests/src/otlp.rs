//! A real OTLP/HTTP receiver: it listens on 127.0.0.1, decodes each protobuf export request
//! (`POST /v1/traces`, `POST /v1/metrics`) as a collector does, and keeps what it received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

const PROTOBUF: &str = "application/x-protobuf";

#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    metrics: Vec<Metric>,
}

/// A receiver running until dropped.
pub struct Collector {
    pub endpoint: String,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Collector {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Received::default()));
        let router = Router::new().route("/v1/traces", post(traces)).route("/v1/metrics", post(metrics)).with_state(Arc::clone(&received));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the OTLP receiver");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the OTLP receiver serves");
        });
        Self { endpoint, received, task }
    }

    /// The standard variables that point a process at this receiver over OTLP/HTTP protobuf,
    /// with short batching and export intervals.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.endpoint.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500".into()),
        ]
    }

    /// Waits (at most `limit`) until spans of `trace_id` named each of `names` arrived, and
    /// returns every span of that trace received by then.
    pub async fn wait_for_trace(&self, trace_id: &[u8], names: &[&str], limit: Duration) -> Vec<Span> {
        let trace =
            || -> Vec<Span> { self.received.lock().expect("received").spans.iter().filter(|s| s.trace_id == trace_id).cloned().collect() };
        let complete = tokio::time::timeout(limit, async {
            while !names.iter().all(|name| trace().iter().any(|s| s.name == *name)) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        let spans = trace();
        let got: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert!(complete.is_ok(), "the receiver got spans {got:?} of trace {}, expected {names:?}", hex(trace_id));
        spans
    }

    /// Waits (at most `limit`) until a metric named `name` arrived with a data point whose
    /// attributes include `attributes`, and returns that metric.
    pub async fn wait_for_metric(&self, name: &str, attributes: &[(&str, &str)], limit: Duration) -> Metric {
        let find = || -> Option<Metric> {
            let received = self.received.lock().expect("received");
            received
                .metrics
                .iter()
                .rev()
                .find(|m| m.name == name && data_point_attributes(m).iter().any(|a| matches(a, attributes)))
                .cloned()
        };
        let found = tokio::time::timeout(limit, async {
            loop {
                if let Some(metric) = find() {
                    return metric;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("the receiver got no metric {name} with {attributes:?}"))
    }
}

async fn traces(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> Response {
    receive::<ExportTraceServiceRequest, ExportTraceServiceResponse>(body, |request| {
        let spans = request.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
        received.lock().expect("received").spans.extend(spans);
    })
}

async fn metrics(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> Response {
    receive::<ExportMetricsServiceRequest, ExportMetricsServiceResponse>(body, |request| {
        let metrics = request.resource_metrics.into_iter().flat_map(|r| r.scope_metrics).flat_map(|s| s.metrics);
        received.lock().expect("received").metrics.extend(metrics);
    })
}

/// Decodes an export request as a collector does, keeps it, and answers with an empty success.
fn receive<Request: Message + Default, Answer: Message + Default>(body: Bytes, keep: impl FnOnce(Request)) -> Response {
    match Request::decode(body) {
        Ok(request) => {
            keep(request);
            (StatusCode::OK, [(CONTENT_TYPE, PROTOBUF)], Answer::default().encode_to_vec()).into_response()
        }
        Err(_) => (StatusCode::BAD_REQUEST, [(CONTENT_TYPE, PROTOBUF)], Vec::new()).into_response(),
    }
}

/// The attributes of each of a metric's data points, as text.
fn data_point_attributes(metric: &Metric) -> Vec<HashMap<String, String>> {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let lists: Vec<&Vec<KeyValue>> = match &metric.data {
        Some(Data::Sum(sum)) => sum.data_points.iter().map(|p| &p.attributes).collect(),
        Some(Data::Gauge(gauge)) => gauge.data_points.iter().map(|p| &p.attributes).collect(),
        Some(Data::Histogram(histogram)) => histogram.data_points.iter().map(|p| &p.attributes).collect(),
        _ => Vec::new(),
    };
    lists.into_iter().map(|list| attributes(list)).collect()
}

/// Key-value attributes (of a span, a data point) as text.
pub fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                _ => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn matches(found: &HashMap<String, String>, wanted: &[(&str, &str)]) -> bool {
    wanted.iter().all(|(k, v)| found.get(*k).is_some_and(|found| found == v))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
