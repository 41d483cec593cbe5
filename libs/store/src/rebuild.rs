//! Rebuilding the read models from the log (docs/adr/0053-read-models-are-rebuilt-beside-the-live-ones-and-copied-in.md).
//!
//! Every event of a stream with a read model is folded into its aggregate and appended, with
//! the read-model change the commit path derives from it (`Resource::commit_parts`), to a
//! shadow: an empty copy of the schema beside the database (a PostgreSQL schema, a SQLite file).
//! The backends' own append writes the shadow's rows, so a rebuild runs the one projection
//! there is. Then the shadow is compared with the live read models table by table, or copied
//! over them in one transaction that holds writers back only for the copy.

use std::collections::HashMap;
use std::sync::Arc;

use domain::connection::Connection;
use domain::device::Device;
use domain::group::Group;
use domain::operator::Operator;
use domain::tenant::Tenant;
use domain::user::User;
use domain::{ResourceId, StreamKind, TenantSlug};

use crate::api::{Actor, Commit, EventMetadata, LogCursor, ReadModelChange, RecordedEvent, Store, StoreResult};
use crate::commands::Resource;

/// Events read from the log per round trip.
const BATCH: u32 = 1000;

/// How many times a swap finds the log moved on (writes committed since the last catch-up)
/// and catches up again before it gives up.
const SWAP_ATTEMPTS: u32 = 100;

/// The read models a rebuild writes, with the columns compared and copied, in an order that
/// inserts a row after the rows it refers to. Reservations, credentials, checkpoints, seals
/// and secrets are not read models: the log does not hold what they hold (secret hashes) or
/// they are the log's own bookkeeping, so a rebuild keeps them.
pub const READ_MODELS: [(&str, &str); 9] = [
    ("tenants", "slug, created_at"),
    ("operators", "id, name, created_at"),
    ("connections", "id, tenant, name, created_at, disabled_at, auth, login, settings, purge_requested_at"),
    (
        "users",
        "tenant, id, seq, user_name, user_name_key, external_id, active, document, version, created_at, last_modified, groups, owner",
    ),
    ("user_values", "tenant, user_id, attribute, value_type, value_key"),
    ("groups", "tenant, id, seq, display_name, display_name_key, external_id, document, version, created_at, last_modified, owner"),
    // `added` only orders a group's members: the shadow's numbers keep the order, and are
    // copied with the rows, but differ from the live ones.
    ("memberships", "tenant, group_id, member_id, member_kind"),
    ("resource_counts", "tenant, kind, stripe, total"),
    ("devices", "tenant, id, serial, name, kind, policy, assigned, updated_at"),
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

/// What a backend does for a rebuild besides appending.
#[async_trait::async_trait]
pub trait Shadow: Send + Sync {
    /// A store on a fresh, empty shadow schema beside the database (dropping any left over).
    async fn open_shadow(&self) -> StoreResult<Arc<dyn Store>>;
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
    target: &dyn Store,
    verify: bool,
    progress: &(dyn Fn(i64) + Sync),
) -> StoreResult<Report> {
    let mut replay = Replay::default();
    replay.catch_up(store, target, progress).await?;
    if verify {
        let differences = shadow.shadow_differences().await?;
        return Ok(Report { events: replay.events, differences, swapped: false });
    }
    for attempt in 0..SWAP_ATTEMPTS {
        if shadow.swap_in_shadow(replay.events).await? {
            return Ok(Report { events: replay.events, differences: Vec::new(), swapped: true });
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
    streams: HashMap<(TenantSlug, ResourceId), Folded>,
}

enum Folded {
    User(User),
    Group(Group),
    Tenant(Tenant),
    Connection(Connection),
    Operator(Operator),
    Device(Device),
}

impl Replay {
    /// Reads the log in commit order from where it stopped to its end, appending each event
    /// with a read model to `target`.
    async fn catch_up(&mut self, store: &dyn Store, target: &dyn Store, progress: &(dyn Fn(i64) + Sync)) -> StoreResult<()> {
        loop {
            let batch = store.read_committed(self.cursor, BATCH).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for (cursor, event) in batch {
                if let Some(commit) = self.commit_of(&event)? {
                    target.append(commit).await?;
                }
                self.cursor = cursor;
                self.events += 1;
            }
            progress(self.events);
        }
    }

    /// The commit the event would be alone: the event and the read-model change the commit
    /// path derives from the stream before and after it. Reservations are left out: a rebuild
    /// keeps them.
    fn commit_of(&mut self, event: &RecordedEvent) -> StoreResult<Option<Commit>> {
        let key = (event.tenant.clone(), event.stream);
        let slot = match event.kind {
            StreamKind::User => self.streams.entry(key).or_insert_with(|| Folded::User(User::default())),
            StreamKind::Group => self.streams.entry(key).or_insert_with(|| Folded::Group(Group::default())),
            StreamKind::Tenant => self.streams.entry(key).or_insert_with(|| Folded::Tenant(Tenant::default())),
            StreamKind::Connection => self.streams.entry(key).or_insert_with(|| Folded::Connection(Connection::default())),
            StreamKind::Operator => self.streams.entry(key).or_insert_with(|| Folded::Operator(Operator::default())),
            StreamKind::Device => self.streams.entry(key).or_insert_with(|| Folded::Device(Device::default())),
            StreamKind::Enrollment
            | StreamKind::RolePolicy
            | StreamKind::RoleAssignment
            | StreamKind::AccessToken
            | StreamKind::OauthGrant => return Ok(None),
        };
        let read_model = match slot {
            Folded::User(user) => step(user, event)?,
            Folded::Group(group) => step(group, event)?,
            Folded::Tenant(tenant) => step(tenant, event)?,
            Folded::Connection(connection) => step(connection, event)?,
            Folded::Operator(operator) => step(operator, event)?,
            Folded::Device(device) => step(device, event)?,
        };
        Ok(Some(Commit {
            tenant: event.tenant.clone(),
            kind: event.kind,
            stream: event.stream,
            expected_version: event.stream_version - 1,
            events: vec![event.payload.clone()],
            metadata: EventMetadata::by(Actor::System("rebuild".into())),
            recorded_at: event.recorded_at,
            reservations: Vec::new(),
            read_model,
            secrets: Vec::new(),
            key: None,
            held: true,
        }))
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

    /// Sets each rebuilt row's `seq` to the live log position of its stream's first event:
    /// the shadow's own log numbered its copies afresh.
    pub fn fix_seq(shadow: &str) -> Vec<String> {
        ["users", "groups"]
            .iter()
            .map(|table| {
                format!(
                    "UPDATE {shadow}.{table} SET seq = (SELECT e.position FROM events e
                       WHERE e.tenant = {shadow}.{table}.tenant AND e.stream_id = {shadow}.{table}.id AND e.stream_version = 1)"
                )
            })
            .collect()
    }

    /// One query per read model whose rows are `(live_only, row as a JSON array)`.
    pub fn differences(shadow: &str, json_array: &str) -> Vec<(&'static str, String)> {
        READ_MODELS
            .iter()
            .map(|&(table, columns)| {
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

    /// Empties the live read models and fills them with the shadow's rows; `override_identity`
    /// is what lets PostgreSQL take `memberships.added` from the shadow.
    pub fn copy(shadow: &str, override_identity: &str) -> Vec<String> {
        let deletes = READ_MODELS.iter().rev().map(|(table, _)| format!("DELETE FROM {table}"));
        let inserts = READ_MODELS.iter().map(|&(table, columns)| {
            if table == "memberships" {
                format!("INSERT INTO {table} ({columns}, added) {override_identity} SELECT {columns}, added FROM {shadow}.{table}")
            } else {
                format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM {shadow}.{table}")
            }
        });
        deletes.chain(inserts).collect()
    }
}
