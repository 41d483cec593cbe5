//! The in-process bus: the subscribers this process runs (all of them inside `serve`, or one in
//! `scimledger worker NAME`). Each follows the log from its own checkpoint, in commit order, and
//! gets every event at least once (an event handled just before a crash, whose checkpoint was
//! not yet saved, comes again: subscribers dedupe, by recording what they did on the log).
//!
//! One process per database runs each subscriber: it holds the store's lease named after the
//! subscriber, and the others stand by and take over when its holder dies (ADR 0056).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use store::{FollowerRecord, LogCursor, Store, StoreResult};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::follow::{self, pause, Follow, Refusal, Sink};
use crate::Envelope;

/// Events read per round trip.
const BATCH: u32 = 256;
/// How often a follower looks at the log when nothing woke it (writes by other processes).
const POLL: Duration = Duration::from_millis(250);
/// How often a standby tries to take the lease.
const RETRY: Duration = Duration::from_secs(1);

#[async_trait]
pub trait Subscriber: Send + Sync + 'static {
    /// Stable: the checkpoint and the lease are kept under this name.
    fn name(&self) -> &str;
    /// Handles one event; an error has it delivered again, after a pause. `from` is the
    /// checkpoint that delivers it again: a subscriber that finishes the event later, on its own
    /// schedule, keeps it and answers it in [`Subscriber::hold`] until then.
    async fn handle(&self, envelope: &Envelope, from: LogCursor) -> anyhow::Result<()>;

    /// The `from` of the oldest event handed over and not finished yet: the checkpoint stays
    /// before it, so a restart delivers it again.
    fn hold(&self) -> Option<LogCursor> {
        None
    }

    /// This process stopped running the subscriber (shutdown, or the lease was lost): work it
    /// still had in hand must stop, since another process may now deliver the same events.
    async fn stop(&self) {}
}

/// How a subscriber of this process is doing, for `/readyz` and `worker status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubscriberHealth {
    pub name: String,
    /// Whether this process holds the subscriber's lease (else another process runs it).
    pub active: bool,
    /// Events handled since the process started.
    pub handled: u64,
    /// Deliveries that failed since the process started (each is retried).
    pub failures: u64,
    /// The last failure, while the event it failed on is still being retried.
    pub retrying: Option<String>,
}

/// Runs subscribers against a store. Dropping the bus stops them.
pub struct InProcessBus {
    store: Arc<dyn Store>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    health: Vec<Arc<Mutex<SubscriberHealth>>>,
}

impl InProcessBus {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, shutdown: watch::channel(false).0, tasks: Vec::new(), health: Vec::new() }
    }

    /// Starts delivering to `subscriber` from its checkpoint, once this process holds its lease.
    pub fn subscribe(&mut self, subscriber: Arc<dyn Subscriber>) {
        let health = Arc::new(Mutex::new(SubscriberHealth { name: subscriber.name().to_owned(), ..Default::default() }));
        self.health.push(Arc::clone(&health));
        let store = Arc::clone(&self.store);
        let shutdown = self.shutdown.subscribe();
        self.tasks.push(tokio::spawn(run(store, OneByOne { subscriber, health }, shutdown)));
    }

    /// A handle on the subscribers' health that outlives the bus's borrow.
    pub fn health(&self) -> BusHealth {
        BusHealth(self.health.clone())
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

/// The health of a bus's subscribers.
#[derive(Clone, Default)]
pub struct BusHealth(Vec<Arc<Mutex<SubscriberHealth>>>);

impl BusHealth {
    pub fn subscribers(&self) -> Vec<SubscriberHealth> {
        self.0.iter().map(|h| h.lock().unwrap_or_else(|p| p.into_inner()).clone()).collect()
    }
}

/// Where a subscriber got to, how far behind the log's head that is (in positions, which
/// rolled-back appends also take: a close estimate), and how its deliveries fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lag {
    pub name: String,
    pub checkpoint: i64,
    pub head: i64,
    pub behind: i64,
    /// Deliveries that failed, in all, by whichever process ran the subscriber.
    pub failures: i64,
    /// While the subscriber retries one event: since when, and the last error.
    pub retrying: Option<RetryingNow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryingNow {
    #[serde(with = "time::serde::rfc3339")]
    pub since: time::OffsetDateTime,
    pub error: String,
}

/// The lag of the subscriber `name`, from what is kept with its checkpoint (so any process can
/// tell).
pub async fn lag(store: &dyn Store, name: &str) -> StoreResult<Lag> {
    let FollowerRecord { cursor: LogCursor { position, .. }, failures, retrying } = store.follower(name).await?;
    let head = store.head().await?;
    Ok(Lag {
        name: name.to_owned(),
        checkpoint: position,
        head,
        behind: (head - position).max(0),
        failures,
        retrying: retrying.map(|r| RetryingNow { since: r.since, error: r.last_error }),
    })
}

async fn run(store: Arc<dyn Store>, mut sink: OneByOne, mut shutdown: watch::Receiver<bool>) {
    let name = sink.subscriber.name().to_owned();
    let follow = Follow { name: name.clone(), batch: BATCH, poll: POLL, checkpoint_every: Duration::ZERO };
    let mut standing_by = false;
    loop {
        match store.try_lease(&name).await {
            Ok(Some(mut lease)) => {
                tracing::info!(subscriber = %name, "subscriber active");
                standing_by = false;
                sink.set_active(true);
                tokio::select! {
                    () = follow::run(Arc::clone(&store), follow.clone(), &mut sink, shutdown.clone()) => {}
                    () = lease.lost() => tracing::warn!(subscriber = %name, "lost the lease; standing by"),
                }
                sink.subscriber.stop().await;
                sink.set_active(false);
            }
            Ok(None) if !standing_by => {
                tracing::info!(subscriber = %name, "subscriber standing by: another process runs it");
                standing_by = true;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(subscriber = %name, error = %e, "cannot take the subscriber's lease; retrying"),
        }
        if pause(&mut shutdown, RETRY).await {
            return;
        }
    }
}

/// Hands a subscriber one event at a time; the first it refuses ends the batch.
struct OneByOne {
    subscriber: Arc<dyn Subscriber>,
    health: Arc<Mutex<SubscriberHealth>>,
}

impl OneByOne {
    fn update(&self, change: impl FnOnce(&mut SubscriberHealth)) {
        change(&mut self.health.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn set_active(&self, active: bool) {
        self.update(|h| h.active = active);
    }
}

#[async_trait]
impl Sink for OneByOne {
    async fn take(&mut self, batch: &[Envelope], from: &[LogCursor]) -> Result<(), Refusal> {
        for (taken, (envelope, &from)) in batch.iter().zip(from).enumerate() {
            if let Err(error) = self.subscriber.handle(envelope, from).await {
                let error = error.context(format!("subscriber {} on event {}", self.subscriber.name(), envelope.id));
                self.update(|h| {
                    h.failures += 1;
                    h.retrying = Some(format!("{error:#}"));
                });
                telemetry::metrics::subscriber_failed(self.subscriber.name());
                return Err(Refusal { taken, error });
            }
            self.update(|h| {
                h.handled += 1;
                h.retrying = None;
            });
        }
        Ok(())
    }

    fn hold(&self) -> Option<LogCursor> {
        self.subscriber.hold()
    }
}
