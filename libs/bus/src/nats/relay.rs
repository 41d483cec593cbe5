//! The outbox relay: the log is the outbox. It follows the log in commit order from its
//! checkpoint and publishes every event to JetStream, waiting for each ack before the event
//! counts as delivered (ADR 0008). Exactly one relay per database publishes: each holds the
//! store's lease on its job while it is active, and the others stand by and take the lease over
//! when its holder dies (ADR 0009).

use std::sync::Arc;
use std::time::Duration;

use store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::health::{RelayHealth, Stall};
use super::publisher::Publisher;
use super::stream::{self, StreamSettings};
use crate::follow::{self, pause, Follow};

/// Events read from the log, and published in one pipelined burst.
const BATCH: u32 = 512;
/// How often the log is read when no in-process append woke the relay (writes by other API
/// replicas): this bounds their commit-to-publish delay.
const POLL: Duration = Duration::from_millis(100);
/// How often a standby tries to take the lease, and a relay that cannot reach NATS retries.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub url: String,
    pub stream: StreamSettings,
    /// How often the relay saves its checkpoint (zero: after every batch). Events published
    /// after the last save are published again after a crash, and dropped by JetStream as
    /// duplicates.
    pub checkpoint_every: Duration,
    /// The largest resource the API accepts (its serialized size): every event must fit in the
    /// NATS server's `max_payload` with its envelope, checked whenever the relay connects.
    pub max_resource_bytes: usize,
}

/// The resource size cap's default, the SCIM layer's (256 KiB).
pub use scim::limits::DEFAULT_MAX_RESOURCE_BYTES;
/// What an envelope and its headers add to an event's largest payload (a whole resource): the
/// CloudEvents attributes, metadata, and the `Nats-Msg-Id` and predecessor headers.
pub const ENVELOPE_ALLOWANCE: usize = 16 * 1024;

impl RelaySettings {
    /// The name of the relay's checkpoint and lease: one relay per stream and database.
    pub fn job(&self) -> String {
        format!("nats-relay:{}", self.stream.name)
    }
}

/// A running relay (active or standing by). Dropping it stops it.
pub struct Relay {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    health: RelayHealth,
}

impl Relay {
    pub fn start(store: Arc<dyn Store>, settings: RelaySettings) -> Self {
        let shutdown = watch::channel(false).0;
        let health = RelayHealth::default();
        let task = tokio::spawn(run(store, settings, health.clone(), shutdown.subscribe()));
        Self { shutdown, task: Some(task), health }
    }

    /// Whether events reach NATS.
    pub fn health(&self) -> RelayHealth {
        self.health.clone()
    }

    /// Stops after the batch in flight, saving the checkpoint.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn run(store: Arc<dyn Store>, settings: RelaySettings, health: RelayHealth, mut shutdown: watch::Receiver<bool>) {
    let js = loop {
        match connect(&settings).await {
            Ok(js) => break js,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "relay: NATS not ready; retrying");
                if pause(&mut shutdown, RETRY).await {
                    return;
                }
            }
        }
    };
    let job = settings.job();
    let follow = Follow { name: job.clone(), batch: BATCH, poll: POLL, checkpoint_every: settings.checkpoint_every };
    let mut standing_by = false;
    loop {
        match store.try_lease(&job).await {
            Ok(Some(mut lease)) => {
                tracing::info!(stream = %settings.stream.name, "relay active: publishing the log to JetStream");
                standing_by = false;
                if !payload_fits(&js, &settings, &health, &mut shutdown).await {
                    return;
                }
                let mut publisher = Publisher::new(js.clone(), &settings.stream.name, health.clone());
                tokio::select! {
                    () = follow::run(Arc::clone(&store), follow.clone(), &mut publisher, shutdown.clone()) => {}
                    () = lease.lost() => tracing::warn!("relay: lost the lease; standing by"),
                }
                tracing::info!(stored = publisher.stored, duplicates = publisher.duplicates, "relay stopped publishing");
            }
            Ok(None) if !standing_by => {
                tracing::info!(stream = %settings.stream.name, "relay standing by: another process publishes");
                standing_by = true;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "relay: cannot take the lease; retrying"),
        }
        if pause(&mut shutdown, RETRY).await {
            return;
        }
    }
}

/// Waits until the NATS server's `max_payload` fits the largest event the API lets through; the
/// relay publishes nothing meanwhile (a raised limit is seen once NATS restarts and the client
/// reconnects). False if shutdown came first.
async fn payload_fits(
    js: &async_nats::jetstream::Context,
    settings: &RelaySettings,
    health: &RelayHealth,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let needed = settings.max_resource_bytes + ENVELOPE_ALLOWANCE;
    loop {
        let max_payload = js.client().max_payload();
        if max_payload >= needed {
            health.flowing();
            return true;
        }
        health.stalled(Stall::PayloadLimitTooSmall { max_payload, needed });
        if pause(shutdown, RETRY).await {
            return false;
        }
    }
}

async fn connect(settings: &RelaySettings) -> anyhow::Result<async_nats::jetstream::Context> {
    let js = stream::connect(&settings.url).await?;
    stream::ensure(&js, &settings.stream).await?;
    Ok(js)
}
