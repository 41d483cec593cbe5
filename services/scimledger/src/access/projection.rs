//! The access projection (docs/adr/0061-the-access-projection-is-in-memory.md): [`Model`]
//! built at start-up from the log and then following it in commit order, so that a look-up is a
//! map access under a read lock, never a query. A look-up waits until the projection has read
//! what this process appended before it (read-your-writes in one process); what other
//! processes append arrives within the poll interval, and the lag is reported
//! (`scimledger_follower_lag_seconds{follower="access"}` and `GET /access/v1/status`).
//!
//! A second task derives `role.assigned` / `role.revoked`: once the projection has read to the
//! head of the log, it asks the model which users' assignment streams lag their effective roles
//! and, while it holds the deployment's `role-assignments` lease, appends their events, a
//! bounded number of users per round, one short transaction per user, and waits until the
//! projection has read them back. Look-ups never wait for it. A mapping
//! change for a group of 100,000 members thus streams out in rounds beside the requests, and a
//! restart resumes it: the log says which users' streams are level.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use domain::role::assignment::Assignment;
use domain::TenantSlug;
use store::commands::{self, Expect};
use store::{AccessSecret, Actor, EventMetadata, Lease, LogCursor, Store, StoreResult};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use tokio::sync::watch;

use super::model::{Answer, Model};

/// Events read per round trip while catching up.
const BATCH: u32 = 2_000;
/// Users whose `role.*` events are appended per round, before the log is read again.
const ASSIGNMENTS_PER_ROUND: usize = 200;
/// How often the log is read when nothing this process appended woke the follower.
const POLL: Duration = Duration::from_millis(100);
/// The longest wait for a round's events to be read back before the next round.
const ROUND_READ_BACK: Duration = Duration::from_secs(5);
/// How often a process without the lease asks for it.
const LEASE_RETRY: Duration = Duration::from_secs(1);
/// The lease that makes one process of the deployment the one that appends `role.*` events.
pub const LEASE: &str = "role-assignments";
/// The follower's name in the lag metric.
const FOLLOWER: &str = "access";

/// Where the projection is: the log positions it has applied, and whether it reached the head
/// once (it answers nothing before).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub ready: bool,
    /// The highest log position applied.
    pub position: i64,
    /// How long ago the newest event applied was recorded, when the last read found events;
    /// zero at the head.
    pub lag: Duration,
}

/// Where the token list stood when it was read: the projection's generation of the tenant's
/// tokens (ADR 0063) and the store's change feed's (ADR 0021), `None` without one.
type Generation = (u64, Option<u64>);

/// Token secrets, and the generation they were read at.
type Hashes = (Generation, Arc<Vec<AccessSecret>>);

pub struct Projection {
    model: RwLock<Model>,
    /// The hashes of each tenant's access tokens, and of the operators' tokens (key `None`),
    /// with the generation they were read at (ADR 0063).
    tokens: Mutex<HashMap<Option<TenantSlug>, Hashes>>,
    progress: watch::Sender<Progress>,
    started: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum NotCaughtUp {
    #[error("the access projection is still loading")]
    Loading,
    #[error("the access projection has not yet read this process's latest writes")]
    Behind,
}

impl Projection {
    /// Starts following the log of `store` in the background.
    pub fn start(store: Arc<dyn Store>) -> Arc<Self> {
        let projection = Arc::new(Self {
            model: RwLock::default(),
            tokens: Mutex::default(),
            progress: watch::Sender::new(Progress::default()),
            started: Instant::now(),
        });
        tokio::spawn(follow(Arc::clone(&store), Arc::clone(&projection)));
        tokio::spawn(derive(store, Arc::clone(&projection)));
        projection
    }

    pub fn progress(&self) -> Progress {
        *self.progress.borrow()
    }

    /// Waits (at most `limit`) until the projection has applied everything this process
    /// appended so far.
    pub async fn caught_up(&self, store: &dyn Store, limit: Duration) -> Result<(), NotCaughtUp> {
        let target = *store.appended().borrow();
        let mut progress = self.progress.subscribe();
        let reached = tokio::time::timeout(limit, progress.wait_for(|p| p.ready && p.position >= target)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            _ if self.progress().ready => Err(NotCaughtUp::Behind),
            _ => Err(NotCaughtUp::Loading),
        }
    }

    pub fn look_up(&self, tenant: &TenantSlug, login: &str) -> Option<Answer> {
        self.read().look_up(tenant, login)
    }

    /// Answers for many logins under one read lock.
    pub fn look_up_all<'a>(&self, tenant: &TenantSlug, logins: impl Iterator<Item = &'a str>) -> Vec<Option<Answer>> {
        let model = self.read();
        logins.map(|login| model.look_up(tenant, login)).collect()
    }

    /// Users whose `role.*` events are still to be appended.
    pub fn pending(&self) -> usize {
        self.read().dirty()
    }

    /// Whether `hash` is the hash of a live access token of `tenant` or of an operator's
    /// token. The hashes are read from the store only when the projection has seen a token
    /// made, rotated or revoked since they were read, or the store's change feed (`changes`,
    /// read before this call) moved on: a wrong token costs no query, and a revocation by
    /// another process counts at once where the store has a feed (ADR 0021, 0077). The end of
    /// a grace period is checked on every call.
    pub async fn admits(&self, store: &dyn Store, tenant: &TenantSlug, hash: &[u8; 32], changes: Option<u64>) -> StoreResult<bool> {
        let (tokens, operators) = {
            let model = self.read();
            (model.tokens(tenant), model.operators())
        };
        // A tenant without tokens (or that does not exist) costs no query: nobody can make
        // the cache read, or grow, by naming tenants at random.
        if let Some(tokens) = tokens {
            if self.known(store, Some(tenant), (tokens, changes), hash).await? {
                return Ok(true);
            }
        }
        self.known(store, None, (operators, changes), hash).await
    }

    async fn known(&self, store: &dyn Store, tenant: Option<&TenantSlug>, generation: Generation, hash: &[u8; 32]) -> StoreResult<bool> {
        let key = tenant.cloned();
        let cached =
            self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(&key).filter(|(at, _)| *at == generation).map(|(_, h)| Arc::clone(h));
        let hashes = match cached {
            Some(hashes) => hashes,
            None => {
                let read = match tenant {
                    Some(tenant) => store.access_secrets(tenant, store::now()).await?,
                    None => store.operator_secrets().await?.into_iter().map(|o| AccessSecret { hash: o.hash, expires_at: None }).collect(),
                };
                let read = Arc::new(read);
                self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (generation, Arc::clone(&read)));
                read
            }
        };
        let now = store::now();
        Ok(hashes.iter().any(|known| bool::from(known.hash.ct_eq(hash)) && known.live_at(now)))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Model> {
        self.model.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Model> {
        self.model.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn follow(store: Arc<dyn Store>, projection: Arc<Projection>) {
    let mut appended = store.appended();
    let mut cursor = LogCursor::default();
    let mut head_read_at: Option<Instant> = None;
    loop {
        let batch = match store.read_committed(cursor, BATCH).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "access projection: cannot read the log; retrying");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let full = batch.len() == BATCH as usize;
        if let Some((last, event)) = batch.last() {
            cursor = *last;
            let recorded = event.recorded_at;
            {
                let mut model = projection.write();
                for (_, event) in &batch {
                    if let Err(error) = model.apply(event) {
                        tracing::error!(%error, position = event.position, "access projection: an event does not decode; passed over");
                    }
                }
            }
            let lag = Duration::try_from(OffsetDateTime::now_utc() - recorded).unwrap_or_default();
            let position = batch.iter().map(|(_, e)| e.position).max().unwrap_or(0);
            projection.progress.send_modify(|p| {
                p.position = p.position.max(position);
                p.lag = lag;
            });
            // How many events are still to read costs a query: at most once a second.
            if head_read_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                head_read_at = Some(Instant::now());
                if let Ok(head) = store.head().await {
                    telemetry::metrics::follower_lag(FOLLOWER, u64::try_from(head - position).unwrap_or(0), lag);
                }
            }
            if full {
                continue;
            }
        }
        if !projection.progress().ready {
            tracing::info!(position = cursor.position, seconds = projection.started.elapsed().as_secs_f64(), "access projection ready");
        }
        projection.progress.send_modify(|p| {
            p.ready = true;
            p.lag = Duration::ZERO;
        });
        telemetry::metrics::follower_lag(FOLLOWER, 0, Duration::ZERO);
        tokio::select! {
            _ = appended.changed() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Appends the `role.*` events the projection finds missing, while this process holds the
/// lease: a task of its own, so that look-ups never wait for a round of appends.
async fn derive(store: Arc<dyn Store>, projection: Arc<Projection>) {
    let mut progress = projection.progress.subscribe();
    let mut lease: Option<Box<dyn Lease>> = None;
    loop {
        if lease.is_none() {
            lease = store.try_lease(LEASE).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "access projection: cannot take the role-assignments lease");
                None
            });
        }
        let ready = progress.borrow_and_update().ready;
        if ready && lease.is_some() && assign(&*store, &projection).await {
            // Wait until the projection has read the events back, so the next round does not
            // find the same users again.
            let target = *store.appended().borrow();
            let _ = tokio::time::timeout(ROUND_READ_BACK, progress.wait_for(|p| p.position >= target)).await;
            continue;
        }
        tokio::select! {
            _ = progress.changed() => {}
            // Without the lease: ask again now and then, in case its holder went away.
            _ = tokio::time::sleep(LEASE_RETRY), if lease.is_none() => {}
            () = lost(&mut lease) => {
                tracing::warn!("access projection: lost the role-assignments lease; another process appends role events");
                lease = None;
            }
        }
    }
}

/// Resolves when the lease held is lost; never without one.
async fn lost(lease: &mut Option<Box<dyn Lease>>) {
    match lease {
        Some(lease) => lease.lost().await,
        None => std::future::pending().await,
    }
}

/// Appends the `role.*` events of up to [`ASSIGNMENTS_PER_ROUND`] users whose assignment
/// streams lag; true if it appended anything.
async fn assign(store: &dyn Store, projection: &Projection) -> bool {
    let pending = projection.write().pending(ASSIGNMENTS_PER_ROUND);
    let mut appended = false;
    for (tenant, command) in pending {
        let stream = Assignment::stream_id(command.user);
        let metadata = EventMetadata::by(Actor::System("roles".into()));
        match commands::run::<Assignment>(store, &tenant, stream, command, &domain::Principal::Operator, metadata, Expect::Existing).await {
            Ok(outcome) => appended |= outcome.changed,
            Err(error) => tracing::warn!(%error, %tenant, "access projection: cannot append role events; retrying"),
        }
    }
    appended
}
