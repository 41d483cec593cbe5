//! Rebuilding the read models from the log (docs/adr/0053-read-models-are-rebuilt-beside-the-live-ones-and-copied-in.md).
//!
//! Every event of a stream with a read model is folded into its aggregate, and the read-model
//! change the commit path derives from it (`Resource::commit_parts`) is written to a shadow: an
//! empty copy of the schema beside the database (a PostgreSQL schema, a SQLite file). Its
//! plan of a commit of that event, without appending the event again: `write_plan::replay`)
//! is applied to the read models in memory ([`Tables`]) as the backends' SQL applies it, so a
//! rebuild runs the one projection there is, and the whole log's rows are loaded into the
//! shadow at once, each row once, in the backend's fastest multi-row writes. The events
//! committed after that are replayed into the shadow by the backends' own SQL, a batch of them
//! per transaction. Then the shadow is compared with the live read models table by table, or
//! copied over them in one transaction that holds writers back only for the copy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::connection::Connection;
use domain::device::Device;
use domain::group::Group;
use domain::operator::Operator;
use domain::tenant::Tenant;
use domain::user::User;
use domain::{ResourceId, StreamKind, TenantSlug};

use crate::api::{Actor, Commit, EventMetadata, LogCursor, ReadModelChange, RecordedEvent, Store, StoreResult};
use crate::commands::Resource;

mod tables;
pub use tables::{Key, Tables};

/// Events read from the log per round trip, and replayed in the shadow per transaction: large
/// enough that a transaction's cost is spread thin, small enough to keep a batch's commits in
/// memory.
const BATCH: u32 = 5000;

/// Events read from the log per round trip while folding in memory, which keeps no batch
/// after it is folded.
const FOLD_BATCH: u32 = 20_000;

/// How many times a swap finds the log moved on (writes committed since the last catch-up)
/// and catches up again before it gives up.
const SWAP_ATTEMPTS: u32 = 100;

/// The read models a rebuild writes, with the columns compared and copied and, for those that
/// grow with the tenants' users and groups, the key whose rows a swap replaces when any of them
/// differs (the others are rewritten whole), in an order that inserts a row after the rows it
/// refers to. Reservations, credentials, checkpoints, seals and secrets are not read models:
/// the log does not hold what they hold (secret hashes) or they are the log's own bookkeeping,
/// so a rebuild keeps them.
pub const READ_MODELS: [(&str, &str, Option<&str>); 10] = [
    ("tenants", "slug, created_at, parent", None),
    ("operators", "id, name, created_at", None),
    ("connections", "id, tenant, name, created_at, disabled_at, auth, login, settings, purge_requested_at", None),
    (
        "users",
        "tenant, id, seq, user_name, user_name_key, external_id, active, document, version, created_at, last_modified, groups, owner",
        Some("tenant, id"),
    ),
    ("user_values", "tenant, user_id, attribute, value_type, value_key", Some("tenant, user_id")),
    (
        "groups",
        "tenant, id, seq, display_name, display_name_key, external_id, document, version, created_at, last_modified, owner",
        Some("tenant, id"),
    ),
    // `added` only orders a group's members, and is not compared: a group whose memberships
    // differ gets all of the shadow's, in the shadow's order, numbered by the live identity.
    ("memberships", "tenant, group_id, member_id, member_kind", Some("tenant, group_id")),
    ("resource_counts", "tenant, kind, owner, stripe, total", None),
    ("resource_blocks", "tenant, kind, owner, block, stripe, total", None),
    ("devices", "tenant, id, serial, name, kind, policy, assigned, updated_at", None),
];

/// One row that is in one side only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub table: &'static str,
    /// The row is in the live table and not in the rebuilt one (`true`), or the other way.
    pub live_only: bool,
    /// The row's compared columns, as a JSON array.
    pub row: String,
}

/// Writes replayed commits in a shadow.
#[async_trait::async_trait]
pub trait Replayer: Send + Sync {
    /// Writes every row of `tables` into the shadow's empty read models, in one transaction.
    async fn load(&self, tables: Tables) -> StoreResult<()>;
    /// Writes the read-model changes of `commits` (each with the log position of its first
    /// event), in order, in one transaction, by the plan of each (`write_plan::replay`).
    async fn replay(&self, commits: Vec<(Commit, i64)>) -> StoreResult<()>;
}

/// What a backend does for a rebuild besides replaying.
#[async_trait::async_trait]
pub trait Shadow: Send + Sync {
    /// A writer on a fresh, empty shadow schema beside the database (dropping any left over).
    async fn open_shadow(&self) -> StoreResult<Arc<dyn Replayer>>;
    /// Every row of [`READ_MODELS`] in which the live tables and the shadow's differ.
    async fn shadow_differences(&self) -> StoreResult<Vec<Difference>>;
    /// Replaces every live read model by the shadow's in one transaction, unless the log
    /// holds another number of events than `events` (writes came in since): then `false`.
    async fn swap_in_shadow(&self, events: i64) -> StoreResult<bool>;
    async fn drop_shadow(&self) -> StoreResult<()>;
}

/// What a rebuild did.
#[derive(Debug, Default)]
pub struct Report {
    /// Events read from the log.
    pub events: i64,
    /// Rows that differed before a swap (empty after a swap, which copies them over).
    pub differences: Vec<Difference>,
    pub swapped: bool,
    /// Where the time went.
    pub phases: Phases,
}

/// The time a rebuild spent in each of its phases, for operators and benchmarks to see what
/// bounds its rate.
#[derive(Debug, Default, Clone, Copy)]
pub struct Phases {
    /// Reading the log.
    pub read: Duration,
    /// Decoding events and folding them into aggregates (with their read-model changes).
    pub fold: Duration,
    /// Writing the shadow's rows.
    pub write: Duration,
    /// Comparing the shadow with the live tables, or copying it over them.
    pub finish: Duration,
}

/// Rebuilds the read models from the log; with `verify`, compares them with the live ones and
/// swaps nothing, else swaps them in. `progress` is told how many events were read so far.
pub async fn rebuild(store: &dyn Store, shadow: &dyn Shadow, verify: bool, progress: &(dyn Fn(i64) + Sync)) -> StoreResult<Report> {
    // Two rebuilds would share one shadow (on PostgreSQL, the lease keeps it to one; on SQLite
    // it is always granted).
    let _one_at_a_time = store
        .try_lease("rebuild")
        .await?
        .ok_or_else(|| crate::api::StoreError::Unavailable("another rebuild of this database is running".into()))?;
    let target = shadow.open_shadow().await?;
    let result = run(store, shadow, &*target, verify, progress).await;
    drop(target);
    let dropped = shadow.drop_shadow().await;
    let report = result?;
    dropped?;
    Ok(report)
}

async fn run(
    store: &dyn Store,
    shadow: &dyn Shadow,
    target: &dyn Replayer,
    verify: bool,
    progress: &(dyn Fn(i64) + Sync),
) -> StoreResult<Report> {
    let mut replay = Replay::default();
    let tables = replay.fold(store, progress).await?;
    let loading = Instant::now();
    target.load(tables).await?;
    replay.phases.write += loading.elapsed();
    replay.catch_up(store, target, progress).await?;
    let finishing = Instant::now();
    if verify {
        let differences = shadow.shadow_differences().await?;
        replay.phases.finish += finishing.elapsed();
        return Ok(Report { events: replay.events, differences, swapped: false, phases: replay.phases });
    }
    for attempt in 0..SWAP_ATTEMPTS {
        let swapping = Instant::now();
        let swapped = shadow.swap_in_shadow(replay.events).await?;
        replay.phases.finish += swapping.elapsed();
        if swapped {
            return Ok(Report { events: replay.events, differences: Vec::new(), swapped: true, phases: replay.phases });
        }
        // The writes that moved the log on may not be readable in commit order yet (an
        // earlier transaction still running): a pause lets them settle.
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20)) * 10)).await;
        replay.catch_up(store, target, progress).await?;
    }
    Err(crate::api::StoreError::Unavailable(format!(
        "the log kept moving on during {SWAP_ATTEMPTS} attempts to swap the rebuilt read models in; try again when writes are fewer"
    )))
}

/// The aggregates of every stream with a read model, as far as the log was read.
#[derive(Default)]
struct Replay {
    cursor: LogCursor,
    events: i64,
    streams: Streams,
    phases: Phases,
}

/// Each stream's aggregate.
#[derive(Default)]
struct Streams(HashMap<(TenantSlug, ResourceId), Folded>);

enum Folded {
    User(User),
    Group(Group),
    Tenant(Tenant),
    Connection(Connection),
    Operator(Operator),
    Device(Device),
}

impl Replay {
    /// Reads the log in commit order to its end, applying each event with a read model to
    /// tables in memory. Each page is folded on a blocking thread while the next is read.
    async fn fold(&mut self, store: &dyn Store, progress: &(dyn Fn(i64) + Sync)) -> StoreResult<Tables> {
        let mut tables = Tables::default();
        let reading = Instant::now();
        let mut batch = store.read_committed(self.cursor, FOLD_BATCH).await?;
        self.phases.read += reading.elapsed();
        while let Some((last, _)) = batch.last() {
            self.cursor = *last;
            self.events += batch.len() as i64;
            let (mut streams, events) = (std::mem::take(&mut self.streams), std::mem::take(&mut batch));
            let started = Instant::now();
            let folding = tokio::task::spawn_blocking(move || {
                let folded = events.into_iter().try_for_each(|(_, event)| match streams.commit_of(event)? {
                    Some((commit, position)) => tables.apply(&commit, position),
                    None => Ok(()),
                });
                (streams, tables, folded, started.elapsed())
            });
            let next = store.read_committed(self.cursor, FOLD_BATCH).await;
            let read = started.elapsed();
            let (streams, folded_tables, folded, took) =
                folding.await.map_err(|e| crate::api::StoreError::Internal(format!("folding the log failed: {e}")))?;
            (self.streams, tables) = (streams, folded_tables);
            folded?;
            // Reading and folding overlap: reading is charged only the time it was waited for.
            self.phases.fold += took;
            self.phases.read += read.saturating_sub(took);
            batch = next?;
            progress(self.events);
        }
        Ok(tables)
    }

    /// Reads the log in commit order from where it stopped to its end, replaying each batch
    /// of events with a read model in `target`.
    async fn catch_up(&mut self, store: &dyn Store, target: &dyn Replayer, progress: &(dyn Fn(i64) + Sync)) -> StoreResult<()> {
        loop {
            let reading = Instant::now();
            let batch = store.read_committed(self.cursor, BATCH).await?;
            let folding = Instant::now();
            self.phases.read += folding - reading;
            let Some((last, _)) = batch.last() else { return Ok(()) };
            self.cursor = *last;
            self.events += batch.len() as i64;
            let mut commits = Vec::with_capacity(batch.len());
            for (_, event) in batch {
                commits.extend(self.streams.commit_of(event)?);
            }
            let writing = Instant::now();
            self.phases.fold += writing - folding;
            target.replay(commits).await?;
            self.phases.write += writing.elapsed();
            progress(self.events);
        }
    }
}

impl Streams {
    /// The commit the event would be alone: the event and the read-model change the commit
    /// path derives from the stream before and after it. Reservations are left out: a rebuild
    /// keeps them. With the log position of the event.
    fn commit_of(&mut self, event: RecordedEvent) -> StoreResult<Option<(Commit, i64)>> {
        let key = (event.tenant.clone(), event.stream);
        let slot = match event.kind {
            StreamKind::User => self.0.entry(key).or_insert_with(|| Folded::User(User::default())),
            StreamKind::Group => self.0.entry(key).or_insert_with(|| Folded::Group(Group::default())),
            StreamKind::Tenant => self.0.entry(key).or_insert_with(|| Folded::Tenant(Tenant::default())),
            StreamKind::Connection => self.0.entry(key).or_insert_with(|| Folded::Connection(Connection::default())),
            StreamKind::Operator => self.0.entry(key).or_insert_with(|| Folded::Operator(Operator::default())),
            StreamKind::Device => self.0.entry(key).or_insert_with(|| Folded::Device(Device::default())),
            StreamKind::Enrollment
            | StreamKind::RolePolicy
            | StreamKind::RoleAssignment
            | StreamKind::AccessToken
            | StreamKind::OauthGrant
            | StreamKind::MasterKey => return Ok(None),
        };
        let read_model = match slot {
            Folded::User(user) => step(user, &event)?,
            Folded::Group(group) => step(group, &event)?,
            Folded::Tenant(tenant) => step(tenant, &event)?,
            Folded::Connection(connection) => step(connection, &event)?,
            Folded::Operator(operator) => step(operator, &event)?,
            Folded::Device(device) => step(device, &event)?,
        };
        let commit = Commit {
            tenant: event.tenant,
            kind: event.kind,
            stream: event.stream,
            expected_version: event.stream_version - 1,
            events: vec![event.payload],
            metadata: EventMetadata::by(Actor::System("rebuild".into())),
            recorded_at: event.recorded_at,
            reservations: Vec::new(),
            read_model,
            secrets: Vec::new(),
            key: None,
            held: true,
        };
        Ok(Some((commit, event.position)))
    }
}

/// Folds `event` into `aggregate`; the read-model change of a commit of that event alone.
fn step<A: Resource>(aggregate: &mut A, event: &RecordedEvent) -> StoreResult<ReadModelChange> {
    let decoded: A::Event = event.decode()?;
    let before = aggregate.clone();
    aggregate.apply(decoded.clone());
    Ok(A::commit_parts(&before, &[decoded], aggregate).1)
}

/// The SQL both backends run on the shadow, written once: `shadow` is the schema (PostgreSQL)
/// or attached database (SQLite) the shadow tables are in; unqualified tables are the live ones.
pub mod sql {
    use super::READ_MODELS;

    /// One query per read model whose rows are `(live_only, row as a JSON array)`.
    pub fn differences(shadow: &str, json_array: &str) -> Vec<(&'static str, String)> {
        READ_MODELS
            .iter()
            .map(|&(table, columns, _)| {
                let side = |live_only: bool, from: &str, other: &str| {
                    format!(
                        "SELECT {live_only}, {json_array}({columns}) FROM (SELECT {columns} FROM {from} EXCEPT SELECT {columns} FROM {other}) d"
                    )
                };
                let shadow_table = format!("{shadow}.{table}");
                (table, format!("{} UNION ALL {}", side(true, table, &shadow_table), side(false, &shadow_table, table)))
            })
            .collect()
    }

    /// Makes the live read models equal to the shadow's. A keyed one is changed only where it
    /// differs: the keys of its rows in one side only are gathered first, then the live rows
    /// of those keys are deleted and the shadow's inserted. The others are emptied and refilled.
    pub fn copy(shadow: &str) -> Vec<String> {
        let changed = |table: &str| format!("rebuild_changed_{table}");
        let keyed = || READ_MODELS.iter().filter_map(|&(table, columns, key)| key.map(|key| (table, columns, key)));
        let gather = keyed().map(|(table, columns, key)| {
            let side = |from: &str, other: &str| {
                format!("SELECT {key} FROM (SELECT {columns} FROM {from} EXCEPT SELECT {columns} FROM {other}) d")
            };
            let shadow_table = format!("{shadow}.{table}");
            format!("CREATE TEMP TABLE {} AS {} UNION {}", changed(table), side(table, &shadow_table), side(&shadow_table, table))
        });
        let deletes = READ_MODELS.iter().rev().map(|&(table, _, key)| match key {
            Some(key) => format!("DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {})", changed(table)),
            None => format!("DELETE FROM {table}"),
        });
        let inserts = READ_MODELS.iter().map(|&(table, columns, key)| match key {
            // In `added` order, so that a group's members keep theirs.
            Some(key) if table == "memberships" => format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM {shadow}.{table} WHERE ({key}) IN (SELECT {key} FROM {}) ORDER BY added",
                changed(table)
            ),
            Some(key) => format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM {shadow}.{table} WHERE ({key}) IN (SELECT {key} FROM {})",
                changed(table)
            ),
            None => format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM {shadow}.{table}"),
        });
        let drops = keyed().map(|(table, _, _)| format!("DROP TABLE {}", changed(table)));
        gather.chain(deletes).chain(inserts).chain(drops).collect()
    }
}
