//! The in-process bus: each subscriber follows the log from its own checkpoint, in commit
//! order, and gets every event at least once (an event handled just before a crash, whose
//! checkpoint was not yet saved, comes again: subscribers dedupe on the envelope id).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::follow::{self, Follow, Refusal, Sink};
use crate::Envelope;

/// Events read per round trip.
const BATCH: u32 = 256;
/// How often a follower looks at the log when nothing woke it (writes by other processes).
const POLL: Duration = Duration::from_millis(250);

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
        let follow = Follow { name: subscriber.name().to_owned(), batch: BATCH, poll: POLL, checkpoint_every: Duration::ZERO };
        let store = Arc::clone(&self.store);
        let shutdown = self.shutdown.subscribe();
        self.tasks.push(tokio::spawn(async move {
            follow::run(store, follow, &mut OneByOne(subscriber), shutdown).await;
        }));
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

/// Hands a subscriber one event at a time; the first it refuses ends the batch.
struct OneByOne(Arc<dyn Subscriber>);

#[async_trait]
impl Sink for OneByOne {
    async fn take(&mut self, batch: &[Envelope]) -> Result<(), Refusal> {
        for (taken, envelope) in batch.iter().enumerate() {
            if let Err(error) = self.0.handle(envelope).await {
                return Err(Refusal { taken, error: error.context(format!("subscriber {}", self.0.name())) });
            }
        }
        Ok(())
    }
}
