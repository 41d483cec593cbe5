//! Following the log in commit order from a saved checkpoint: the one log reader behind both
//! the in-process bus and the NATS relay. A [`Sink`] takes batches of envelopes; what it took is
//! checkpointed (after every batch, or at most once per interval), and what it refused is offered
//! again after a pause. A crash loses at most the unsaved checkpoint, never an event: the events
//! after the checkpoint are offered again (at least once; consumers dedupe on the envelope id).
//! Each follower reports how far behind the log's head it is (`scimledger_follower_lag_*`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use store::{LogCursor, RecordedEvent, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::Envelope;

/// The longest pause between offers of a batch a sink keeps refusing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How often a follower reports its lag: a scrape reads the gauges seconds apart, and each
/// report costs a look-up of the log's head.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// Where the events go.
#[async_trait]
pub trait Sink: Send {
    /// Takes `batch` (in commit order, never empty), or says how many of its first events it
    /// did take before it failed; the rest are offered again. `from[i]` is the checkpoint from
    /// which `batch[i]` would be offered again, for a sink that finishes some events later.
    async fn take(&mut self, batch: &[Envelope], from: &[LogCursor]) -> Result<(), Refusal>;

    /// The checkpoint may not pass this: the `from` of the oldest event the sink took and has not
    /// finished yet (the mailer's deferred emails), so that a restart offers it again.
    fn hold(&self) -> Option<LogCursor> {
        None
    }
}

/// A sink took the first `taken` events of a batch, and then failed.
#[derive(Debug)]
pub struct Refusal {
    pub taken: usize,
    pub error: anyhow::Error,
}

/// How a follower reads and checkpoints.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The checkpoint's name: stable, one per follower.
    pub name: String,
    /// Events read per round trip.
    pub batch: u32,
    /// How often to look at the log when nothing woke the follower (writes by other processes).
    pub poll: Duration,
    /// Zero saves the checkpoint after every batch; more saves at most once per this interval
    /// (and when stopping), trading a few re-deliveries after a crash for fewer writes.
    pub checkpoint_every: Duration,
}

/// Follows the log from the checkpoint until `shutdown` turns true, saving the checkpoint then.
pub async fn run(store: Arc<dyn Store>, follow: Follow, sink: &mut dyn Sink, mut shutdown: watch::Receiver<bool>) {
    let name = follow.name.as_str();
    let mut appended = store.appended();
    let (mut cursor, mut retrying) = loop {
        match store.follower(name).await {
            Ok(record) => break (record.cursor, record.retrying.is_some()),
            Err(e) => {
                tracing::warn!(follower = %name, error = %e, "cannot read checkpoint; retrying");
                if pause(&mut shutdown, follow.poll).await {
                    return;
                }
            }
        }
    };
    let mut saved = cursor;
    let mut saved_at = Instant::now();
    let mut lag = Lag::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let safe = safe(&*sink, cursor);
        if saved != safe && saved_at.elapsed() >= follow.checkpoint_every {
            if save(&*store, name, safe).await {
                saved = safe;
            }
            saved_at = Instant::now();
        }
        let batch = match store.read_committed(cursor, follow.batch).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(follower = %name, error = %e, "cannot read the log; retrying");
                if pause(&mut shutdown, follow.poll).await {
                    break;
                }
                continue;
            }
        };
        lag.report(&*store, name, cursor, batch.first().map(|(_, event)| event.recorded_at)).await;
        if batch.is_empty() {
            tokio::select! {
                _ = appended.changed() => {}
                _ = tokio::time::sleep(follow.poll) => {}
                // A dropped sender means nobody can ask any more: stop as if asked.
                changed = shutdown.changed() => if changed.is_err() { break },
            }
            continue;
        }
        let end = batch.last().expect("not empty").0;
        let (cursors, envelopes) = envelopes(batch);
        let from: Vec<LogCursor> = std::iter::once(cursor).chain(cursors.iter().copied()).take(cursors.len()).collect();
        let mut offered = 0;
        let mut backoff = FIRST_BACKOFF;
        while offered < envelopes.len() {
            match sink.take(&envelopes[offered..], &from[offered..]).await {
                Ok(()) => offered = envelopes.len(),
                Err(refusal) => {
                    offered += refusal.taken;
                    if offered > 0 {
                        cursor = cursors[offered - 1];
                    }
                    let error = format!("{:#}", refusal.error);
                    tracing::warn!(follower = %name, error = %error, "delivery failed; retrying");
                    // Kept beside the checkpoint so that any process can tell (`worker status`).
                    if let Err(e) = store.record_failure(name, &error).await {
                        tracing::warn!(follower = %name, error = %e, "cannot record the failure");
                    }
                    retrying = true;
                    if pause(&mut shutdown, jittered(backoff)).await {
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if offered == envelopes.len() {
            cursor = end;
            if retrying {
                match store.clear_retrying(name).await {
                    Ok(()) => retrying = false,
                    Err(e) => tracing::warn!(follower = %name, error = %e, "cannot record the recovery"),
                }
            }
        }
    }
    let safe = safe(&*sink, cursor);
    if saved != safe {
        save(&*store, name, safe).await;
    }
}

/// The checkpoint to save: where the follower got to, unless the sink holds an earlier event.
fn safe(sink: &dyn Sink, cursor: LogCursor) -> LogCursor {
    sink.hold().map_or(cursor, |held| held.min(cursor))
}

/// A follower's lag, reported at most every [`LAG_EVERY`].
#[derive(Default)]
struct Lag {
    reported_at: Option<Instant>,
    /// Since when the follower has been behind without reading anything (on PostgreSQL, events
    /// wait behind a transaction that has not finished).
    stalled_since: Option<Instant>,
}

impl Lag {
    /// Reports how far `cursor` is behind the log's head; `oldest` is when the oldest event not
    /// yet delivered was recorded, when one was read.
    async fn report(&mut self, store: &dyn Store, name: &str, cursor: LogCursor, oldest: Option<OffsetDateTime>) {
        if self.reported_at.is_some_and(|at| at.elapsed() < LAG_EVERY) {
            return;
        }
        self.reported_at = Some(Instant::now());
        let head = match store.head().await {
            Ok(head) => head,
            Err(e) => return tracing::debug!(follower = %name, error = %e, "cannot read the log's head"),
        };
        // Positions that rolled-back appends took and never used count too: a close estimate.
        let events = u64::try_from(head - cursor.position).unwrap_or(0);
        let behind = match oldest {
            _ if events == 0 => Duration::ZERO,
            Some(recorded) => Duration::try_from(OffsetDateTime::now_utc() - recorded).unwrap_or_default(),
            None => self.stalled_since.get_or_insert_with(Instant::now).elapsed(),
        };
        if events == 0 || oldest.is_some() {
            self.stalled_since = None;
        }
        telemetry::metrics::follower_lag(name, events, behind);
    }
}

/// The batch as envelopes, each with its cursor. An event that cannot be put in an envelope (a
/// stored time out of range) is logged and passed over rather than halting delivery for every
/// event behind it.
fn envelopes(batch: Vec<(LogCursor, RecordedEvent)>) -> (Vec<LogCursor>, Vec<Envelope>) {
    let mut cursors = Vec::with_capacity(batch.len());
    let mut envelopes = Vec::with_capacity(batch.len());
    for (cursor, event) in batch {
        match Envelope::of(&event) {
            Ok(envelope) => {
                cursors.push(cursor);
                envelopes.push(envelope);
            }
            Err(e) => tracing::error!(position = event.position, error = %e, "cannot build an envelope; skipping the event"),
        }
    }
    (cursors, envelopes)
}

async fn save(store: &dyn Store, name: &str, cursor: LogCursor) -> bool {
    match store.save_checkpoint(name, cursor).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(follower = %name, error = %e, "cannot save checkpoint; events may be delivered again");
            false
        }
    }
}

/// Between half and all of `backoff`, so that processes retrying one failure spread out.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(rand::random_range(0.5..=1.0))
}

/// Sleeps; true if shutdown was asked for meanwhile.
pub async fn pause(shutdown: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}
