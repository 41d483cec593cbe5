//! The in-process bus: each subscriber follows the log from its own checkpoint, in commit
//! order, and gets every event at least once (an event handled just before a crash, whose
//! checkpoint was not yet saved, comes again: subscribers dedupe on the envelope id).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Envelope;

/// Events read per round trip.
const BATCH: u32 = 256;
/// How often a follower looks at the log when nothing woke it (writes by other processes).
const POLL: Duration = Duration::from_millis(250);
/// The longest pause between attempts to deliver an event a subscriber keeps refusing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[async_trait]
pub trait Subscriber: Send + Sync + 'static {
    /// Stable: the checkpoint is kept under this name.
    fn name(&self) -> &str;
    /// Handles one event; an error has it delivered again, after a pause.
    async fn handle(&self, envelope: &Envelope) -> anyhow::Result<()>;
}

/// Runs subscribers against a store. Dropping the bus stops them.
pub struct InProcessBus {
    store: Arc<dyn Store>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl InProcessBus {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, shutdown: watch::channel(false).0, tasks: Vec::new() }
    }

    /// Starts delivering to `subscriber` from its checkpoint.
    pub fn subscribe(&mut self, subscriber: Arc<dyn Subscriber>) {
        let follower = Follower { store: Arc::clone(&self.store), subscriber, shutdown: self.shutdown.subscribe() };
        self.tasks.push(tokio::spawn(follower.run()));
    }

    /// Stops every subscriber after the event it is handling, and waits for them.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for InProcessBus {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

struct Follower {
    store: Arc<dyn Store>,
    subscriber: Arc<dyn Subscriber>,
    shutdown: watch::Receiver<bool>,
}

impl Follower {
    async fn run(mut self) {
        let name = self.subscriber.name().to_owned();
        let mut appended = self.store.appended();
        let mut cursor = loop {
            match self.store.checkpoint(&name).await {
                Ok(cursor) => break cursor,
                Err(e) => {
                    tracing::warn!(subscriber = %name, error = %e, "cannot read checkpoint; retrying");
                    if self.pause(POLL).await {
                        return;
                    }
                }
            }
        };
        loop {
            if *self.shutdown.borrow() {
                return;
            }
            let batch = match self.store.read_committed(cursor, BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(subscriber = %name, error = %e, "cannot read the log; retrying");
                    if self.pause(POLL).await {
                        return;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = appended.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = self.shutdown.changed() => return,
                }
                continue;
            }
            for (next, event) in batch {
                if !self.deliver(&event).await {
                    return;
                }
                cursor = next;
            }
            if let Err(e) = self.store.save_checkpoint(&name, cursor).await {
                tracing::warn!(subscriber = %name, error = %e, "cannot save checkpoint; events may be delivered again");
            }
        }
    }

    /// Delivers one event until the subscriber takes it; false when shutting down first.
    async fn deliver(&mut self, event: &store::RecordedEvent) -> bool {
        let envelope = match Envelope::of(event) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::error!(position = event.position, error = %e, "cannot build an envelope; skipping the event");
                return true;
            }
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.subscriber.handle(&envelope).await {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(subscriber = self.subscriber.name(), position = event.position, error = %e, "delivery failed; retrying");
                    if self.pause(backoff).await {
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Sleeps; true if shutdown was asked for meanwhile.
    async fn pause(&mut self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => *self.shutdown.borrow(),
            _ = self.shutdown.changed() => true,
        }
    }
}
