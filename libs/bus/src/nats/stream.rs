//! The JetStream stream the relay publishes to, and the connection to NATS.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, stream};

/// How long a JetStream request (a publish ack, a stream update) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The stream, as configured; applied at start-up (created, or updated to match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    pub name: String,
    /// Subjects the stream captures; they must cover `scimledger.<tenant>.>` of every tenant.
    pub subjects: Vec<String>,
    pub replicas: usize,
    /// Messages older than this are removed.
    pub max_age: Duration,
    /// How long JetStream remembers a `Nats-Msg-Id`: a re-publish within it is dropped. It must
    /// outlast a relay's restart (see docs/operations.md).
    pub duplicate_window: Duration,
}

impl StreamSettings {
    fn config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            num_replicas: self.replicas,
            max_age: self.max_age,
            duplicate_window: self.duplicate_window,
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            ..Default::default()
        }
    }
}

/// A JetStream context on `url` (or several, comma-separated: the seeds of a cluster, any of
/// which may be down). It connects in the background and reconnects for ever, so a NATS that is
/// down at start-up or goes away later delays events but never stops the server.
pub async fn connect(url: &str) -> anyhow::Result<jetstream::Context> {
    let seeds: Vec<&str> = url.split(',').map(str::trim).filter(|seed| !seed.is_empty()).collect();
    let client = async_nats::ConnectOptions::new()
        .name("scimledger")
        .retry_on_initial_connect()
        .connect(seeds)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    Ok(jetstream::context::ContextBuilder::new()
        .timeout(REQUEST_TIMEOUT)
        // Wait for room rather than fail when many acks are outstanding.
        .backpressure_on_inflight(true)
        .build(client))
}

/// Creates the stream, or updates it to the settings.
pub async fn ensure(js: &jetstream::Context, settings: &StreamSettings) -> anyhow::Result<()> {
    js.create_or_update_stream(settings.config()).await.with_context(|| format!("creating or updating stream {}", settings.name))?;
    Ok(())
}
