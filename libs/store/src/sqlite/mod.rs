//! The embedded backend: one SQLite file (ADR 0004), with the PostgreSQL backend's semantics.
//!
//! - `writer`: the one writer connection, on its own thread; commits waiting together share a
//!   transaction (group commit).
//! - `readers`: a few reader connections, each on its own thread, reading WAL snapshots; one
//!   more of its own for authentication, so that slow reads never hold sign-ins up.
//! - `migrations`: the schema, applied at open.
//! - `append`: a group of commits in one `BEGIN IMMEDIATE` transaction, each in a savepoint.
//! - `errors`: rusqlite failures as store errors, by result code.
//! - `read`: the read models, the log, checkpoints.
//! - `directory`: tenants, connections, operators and their secrets.
//! - `changes`: the credentials feed, which tells the authentication cache when to forget.
//! - `keys`: the data keys walked and re-wrapped by master key, and the master key canary.
//! - [`dialect`]: the filter compiler's SQLite spelling.
//! - `time_text`: times as fixed-width text that sorts like the instants.
//! - [`ServerLock`]: one server per file.
//!
//! Another process (the CLI creating a tenant while a server runs) may write the same file:
//! SQLite's own locking (WAL, a busy timeout) serialises the writers; what servers cache of
//! credentials, `changes` tells them to forget when any process changes them.

mod append;
mod changes;
pub mod dialect;
mod directory;
mod errors;
mod keys;
mod migrations;
mod read;
mod readers;
mod rebuild;
mod time_text;
mod writer;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use domain::group::MemberKind;
use domain::{Owner, ResourceId, StreamKind, TenantSlug};
use fs2::FileExt;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use scim::list::ListQuery;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::*;
use crate::member_pages::{self, MemberPages};
use crate::open::Options;
use crate::paging::Span;
use crate::query::Target;
pub(crate) use errors::{backend, violation, Violation};
use readers::Readers;
use writer::Writer;

pub const DB_FILE: &str = "scimledger.db";
const LOCK_FILE: &str = "scimledger.lock";
/// Enough for the API's concurrent look-ups on a laptop; each is a short indexed query.
const READERS: usize = 4;
/// Token look-ups: one indexed row each, and the token cache spares most requests one.
const AUTH_READERS: usize = 1;
/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    /// The directory of the database file, where a rebuild puts its shadow.
    data_dir: std::path::PathBuf,
    writer: Writer,
    readers: Readers,
    auth_readers: Readers,
    appended: tokio::sync::watch::Sender<i64>,
    changes: changes::Changes,
    /// Where index walks of this database left off (ADR 0065).
    resume: crate::paging::ResumePoints,
}

/// Held by `serve` for its lifetime (the lock is released when it is dropped): a second server
/// on the same file is refused.
pub struct ServerLock {
    _file: File,
}

struct ServerLease;

#[async_trait]
impl Lease for ServerLease {
    async fn lost(&mut self) {
        std::future::pending::<()>().await
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/scimledger.db` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        Self::open_with(data_dir, &Options::default()).await
    }

    /// [`SqliteStore::open`] with reads bounded by `options.statement_timeout`.
    pub async fn open_with(data_dir: &Path, options: &Options) -> StoreResult<Self> {
        create_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let writer = Writer::start(connect(&path)?)?;
        writer.run(migrations::run).await?;
        let reader = || open_reader(&path);
        let readers = Readers::start("sqlite-reader", READERS, options.statement_timeout, reader)?;
        let auth_readers = Readers::start("sqlite-auth", AUTH_READERS, options.statement_timeout, reader)?;
        Ok(Self {
            data_dir: data_dir.to_owned(),
            writer,
            readers,
            auth_readers,
            appended: tokio::sync::watch::Sender::new(0),
            changes: changes::Changes::new(path.clone()),
            resume: Default::default(),
        })
    }

    /// Writes a consistent copy of `<data_dir>/scimledger.db` to `to` (a new file), while
    /// servers keep reading and writing: `VACUUM INTO` copies one read snapshot, so the copy
    /// holds every commit up to a point and none after it. Returns the copy's size in bytes.
    pub fn backup(data_dir: &Path, to: &Path) -> StoreResult<u64> {
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::Config(format!("there is no database at {} to back up", path.display())));
        }
        if to.exists() {
            return Err(StoreError::Config(format!("{} exists: a backup is written to a new file", to.display())));
        }
        let target = to.to_str().ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", to.display())))?;
        connect(&path)?.execute("VACUUM INTO ?1", [target]).map_err(backend)?;
        std::fs::metadata(to).map(|m| m.len()).map_err(|e| StoreError::Config(format!("reading {}: {e}", to.display())))
    }

    /// Takes the server lock of `data_dir`, or says clearly that another server holds it.
    pub fn lock_for_server(data_dir: &Path) -> StoreResult<ServerLock> {
        create_dir(data_dir)?;
        let lock_path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Config(format!("opening {}: {e}", lock_path.display())))?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(ServerLock { _file: file }),
            Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => Err(StoreError::Config(format!(
                "another scimledger server is already using {} (lock {} is held); stop it or choose another SCIMLEDGER_DATA_DIR",
                data_dir.join(DB_FILE).display(),
                lock_path.display()
            ))),
            Err(e) => Err(StoreError::Config(format!("locking {}: {e}", lock_path.display()))),
        }
    }
}

fn create_dir(dir: &Path) -> StoreResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Config(format!("creating {}: {e}", dir.display())))
}

fn open_reader(path: &Path) -> StoreResult<rusqlite::Connection> {
    let connection = connect(path)?;
    // A reader that tried to write would take the write lock behind the writer's back.
    connection.pragma_update(None, "query_only", true).map_err(backend)?;
    Ok(connection)
}

fn connect(path: &Path) -> StoreResult<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path).map_err(|e| StoreError::Config(format!("opening {}: {e}", path.display())))?;
    // First, so that every statement after it (the journal mode switch included) waits for
    // another process's lock instead of failing at once.
    connection.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    // WAL: readers never block the writer, nor it them. The mode is kept in the file; a file
    // system that cannot do WAL answers with another mode, which would change those promises.
    let mode: String = connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(backend)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!("{} cannot use write-ahead logging (journal mode {mode})", path.display())));
    }
    // FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on power loss, and an
    // acknowledged write must survive it (ADR 0004).
    connection.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
    connection.pragma_update(None, "foreign_keys", true).map_err(backend)?;
    // Without the query planner stability guarantee, SQLite plans LIMIT and OFFSET by their
    // bound values, so binding new ones expires the statement: every cached page query was
    // parsed and planned again on every execution (a sixth of a look-up's CPU, measured).
    connection.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(backend)?;
    // SQLite's lower() folds only ASCII; filters compare keys folded by the domain's rule.
    // Like lower(), it passes anything but text through: sorting by `emails.primary` folds the
    // JSON boolean that json_extract() gives as 1 or 0.
    connection
        .create_scalar_function("scim_fold", 1, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(_) => Value::Text(domain::names::fold_case(&ctx.get::<String>(0)?)),
                other => Value::from(other),
            })
        })
        .map_err(backend)?;
    Ok(connection)
}

#[async_trait]
impl Store for SqliteStore {
    fn shadow(&self) -> &dyn crate::rebuild::Shadow {
        self
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn appended(&self) -> tokio::sync::watch::Receiver<i64> {
        self.appended.subscribe()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.readers.run(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend)).await
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.readers.run(directory::tenants).await
    }

    async fn connections(&self, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| directory::connections(c, &tenant)).await
    }

    async fn devices(&self, tenant: &TenantSlug, user: Option<ResourceId>) -> StoreResult<Vec<DeviceRow>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| directory::devices(c, &tenant, user)).await
    }

    async fn credentials(&self, tenant: &TenantSlug) -> StoreResult<Vec<Credential>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| directory::credentials(c, &tenant)).await
    }

    async fn connection_secrets(&self, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<ConnectionSecret>> {
        let tenant = tenant.clone();
        self.auth_readers.run(move |c| directory::connection_secrets(c, &tenant, at)).await
    }

    async fn operator_secrets(&self) -> StoreResult<Vec<OperatorSecret>> {
        self.auth_readers.run(directory::operator_secrets).await
    }

    async fn access_secrets(&self, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<AccessSecret>> {
        let tenant = tenant.clone();
        self.auth_readers.run(move |db| directory::access_secrets(db, &tenant, at)).await
    }

    /// Read from the file a few times a second, and moved on at once by this process's own
    /// credential commits (`changes`).
    async fn secret_changes(&self) -> Option<SecretChanges> {
        Some(self.changes.subscribe())
    }

    async fn secret(&self, name: &str) -> StoreResult<[u8; 32]> {
        let name = name.to_owned();
        self.writer.run(move |c| directory::secret(c, &name)).await
    }

    fn stored(&self) -> &dyn Store {
        self
    }

    fn key_table(&self) -> &dyn crate::shred::table::KeyTable {
        self
    }

    async fn user_keys(
        &self,
        tenant: &TenantSlug,
        users: &[ResourceId],
    ) -> StoreResult<HashMap<ResourceId, crate::shred::table::WrappedKey>> {
        let (tenant, users) = (tenant.clone(), users.to_vec());
        self.readers.run(move |c| directory::user_keys(c, &tenant, &users)).await
    }

    async fn append(&self, commit: Commit) -> StoreResult<Appended> {
        let signals = crate::write_plan::signals_credentials(&commit);
        let appended = self.writer.append(commit).await?;
        if signals {
            self.changes.committed_here();
        }
        self.appended.send_replace(appended.last_position);
        Ok(appended)
    }

    /// The embedded default is one process's file: its commands already queue per stream.
    async fn hold_stream(&self, _stream: ResourceId) -> StoreResult<Option<StreamHold>> {
        Ok(None)
    }

    async fn stream(&self, tenant: &TenantSlug, kind: StreamKind, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| read::stream(c, &tenant, kind, stream)).await
    }

    async fn head(&self) -> StoreResult<i64> {
        self.readers.run(read::head).await
    }

    async fn read_log(&self, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>> {
        self.readers.run(move |c| read::log(c, after_position, limit)).await
    }

    async fn audit_log(&self, query: &crate::audit::AuditQuery) -> StoreResult<Vec<RecordedEvent>> {
        let query = query.clone();
        self.readers.run(move |c| read::audit_log(c, &query)).await
    }

    async fn users_by_login(&self, tenant: &TenantSlug, key: &str) -> StoreResult<Vec<ResourceId>> {
        let (tenant, key) = (tenant.clone(), key.to_owned());
        self.readers.run(move |c| read::users_by_login(c, &tenant, &key)).await
    }

    async fn groups_naming(&self, tenant: &TenantSlug, member: ResourceId) -> StoreResult<Vec<ResourceId>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| read::groups_naming(c, &tenant, member)).await
    }

    /// SQLite has one writer at a time, across processes, and a commit's positions are taken
    /// inside its write transaction: position order is commit order, and no event can commit
    /// below a position already visible. So the cursor's transaction is the position, and no
    /// transaction id column is needed.
    async fn read_committed(&self, after: LogCursor, limit: u32) -> StoreResult<Vec<(LogCursor, RecordedEvent)>> {
        let events = self.readers.run(move |c| read::log(c, after.position, limit)).await?;
        Ok(events.into_iter().map(|e| (LogCursor { transaction: e.position, position: e.position }, e)).collect())
    }

    /// One writer commits at a time, in position order: what readers see is settled.
    async fn settled(&self) -> StoreResult<i64> {
        self.readers.run(read::head).await
    }

    async fn seal_head(&self, tenant: &TenantSlug, position: i64) -> StoreResult<Option<crate::seal::SealLink>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| read::seal_head(c, &tenant, position)).await
    }

    async fn seal_links(&self, tenant: &TenantSlug, after: i64, limit: u32) -> StoreResult<Vec<crate::seal::SealLink>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| read::seal_links(c, &tenant, after, limit)).await
    }

    async fn write_seals(&self, links: Vec<crate::seal::SealLink>, through: LogCursor) -> StoreResult<()> {
        self.writer.run(move |c| read::write_seals(c, &links, through)).await
    }

    async fn checkpoint(&self, name: &str) -> StoreResult<LogCursor> {
        let name = name.to_owned();
        self.readers.run(move |c| read::checkpoint(c, &name)).await
    }

    async fn save_checkpoint(&self, name: &str, cursor: LogCursor) -> StoreResult<()> {
        let name = name.to_owned();
        self.writer.run(move |c| read::save_checkpoint(c, &name, cursor)).await
    }

    async fn follower(&self, name: &str) -> StoreResult<FollowerRecord> {
        let name = name.to_owned();
        self.readers.run(move |c| read::follower(c, &name)).await
    }

    async fn record_failure(&self, name: &str, error: &str) -> StoreResult<()> {
        let (name, error) = (name.to_owned(), error.to_owned());
        self.writer.run(move |c| read::record_failure(c, &name, &error)).await
    }

    async fn clear_retrying(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        self.writer.run(move |c| read::clear_retrying(c, &name)).await
    }

    /// One server per file ([`ServerLock`]), so the server holds every lease, for good.
    async fn try_lease(&self, _job: &str) -> StoreResult<Option<Box<dyn Lease>>> {
        Ok(Some(Box::new(ServerLease)))
    }

    async fn user_in(&self, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        let tenant = tenant.clone();
        self.readers
            .run(move |c| read::one(c, Target::Users, &tenant, Span::Tenant, scope, id))
            .await
            .map(|found| found.into_iter().next().map(|(_, r)| r))
    }

    async fn users_in(&self, tenant: &TenantSlug, scope: Scope, query: &ListQuery, with_groups: bool) -> StoreResult<Page> {
        let (tenant, query) = (tenant.clone(), query.clone());
        let resume = self.resume.clone();
        self.readers.run(move |c| read::page(c, Target::Users, (&tenant, Span::Tenant), scope, &query, with_groups, &resume)).await
    }

    async fn group_in(&self, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        let tenant = tenant.clone();
        self.readers
            .run(move |c| read::one(c, Target::Groups, &tenant, Span::Tenant, scope, id))
            .await
            .map(|found| found.into_iter().next().map(|(_, r)| r))
    }

    async fn groups_in(&self, tenant: &TenantSlug, scope: Scope, query: &ListQuery) -> StoreResult<Page> {
        let (tenant, query) = (tenant.clone(), query.clone());
        let resume = self.resume.clone();
        self.readers.run(move |c| read::page(c, Target::Groups, (&tenant, Span::Tenant), scope, &query, false, &resume)).await
    }

    async fn routed_one(
        &self,
        parent: &TenantSlug,
        target: Target,
        scope: Scope,
        id: ResourceId,
    ) -> StoreResult<Vec<(TenantSlug, ResourceRecord)>> {
        let parent = parent.clone();
        self.readers.run(move |c| read::one(c, target, &parent, Span::SubTenants, scope, id)).await
    }

    async fn user_holders(&self, parent: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, TenantSlug>> {
        let (parent, users) = (parent.clone(), users.to_vec());
        self.readers.run(move |c| read::user_holders(c, &parent, &users)).await
    }

    async fn routed_page(
        &self,
        parent: &TenantSlug,
        target: Target,
        scope: Scope,
        query: &ListQuery,
        with_groups: bool,
    ) -> StoreResult<Page> {
        let (parent, query) = (parent.clone(), query.clone());
        let resume = self.resume.clone();
        self.readers.run(move |c| read::page(c, target, (&parent, Span::SubTenants), scope, &query, with_groups, &resume)).await
    }

    async fn groups_of(&self, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        let (tenant, users) = (tenant.clone(), users.to_vec());
        self.readers.run(move |c| read::groups_of(c, &tenant, &users)).await
    }

    async fn group_with_members(
        &self,
        tenant: &TenantSlug,
        scope: Scope,
        id: ResourceId,
        page: u32,
    ) -> StoreResult<Option<(ResourceRecord, MemberPages)>> {
        let (reply, head) = tokio::sync::oneshot::channel();
        let (sender, pages) = member_pages::channel(self.readers.statement_timeout());
        let tenant = tenant.clone();
        // The reader thread waits for each page to be taken; the runtime times that wait.
        let runtime = tokio::runtime::Handle::current();
        let walking = self.readers.spawn(move |c| {
            // One read transaction: the row and every page from the same WAL snapshot, until
            // the transaction is dropped at the job's end.
            let snapshot = match c.unchecked_transaction() {
                Ok(snapshot) => snapshot,
                Err(e) => return drop(reply.send(Err(backend(e)))),
            };
            let found =
                read::one(&snapshot, Target::Groups, &tenant, Span::Tenant, scope, id).map(|f| f.into_iter().next().map(|(_, r)| r));
            let walk = matches!(found, Ok(Some(_)));
            if reply.send(found).is_ok() && walk {
                runtime.block_on(member_pages::walk(sender, page, |after| {
                    std::future::ready(read::member_page(&snapshot, &tenant, id, after, page))
                }));
            }
        })?;
        let head = self.readers.answer(head).await.ok_or_else(|| self.readers.timed_out())??;
        // The stream holds the guard that interrupts the walk when its reader drops it.
        Ok(head.map(|record| (record, pages.into_stream(walking))))
    }

    async fn group_snapshot(
        &self,
        tenant: &TenantSlug,
        id: ResourceId,
        named: Option<&[ResourceId]>,
    ) -> StoreResult<Option<GroupSnapshot>> {
        let (tenant, named) = (tenant.clone(), named.map(<[ResourceId]>::to_vec));
        self.readers.run(move |c| read::group_snapshot(c, &tenant, id, named.as_deref())).await
    }

    async fn members_of(&self, tenant: &TenantSlug, groups: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        let (tenant, groups) = (tenant.clone(), groups.to_vec());
        self.readers.run(move |c| read::members_of(c, &tenant, &groups)).await
    }

    async fn resource_kinds(&self, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, MemberKind>> {
        let (tenant, ids) = (tenant.clone(), ids.to_vec());
        self.readers.run(move |c| read::resource_kinds(c, &tenant, &ids)).await
    }

    async fn owned(
        &self,
        tenant: &TenantSlug,
        kind: StreamKind,
        owner: Owner,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ResourceId, i64)>> {
        let tenant = tenant.clone();
        let target = Target::try_from(kind)?;
        self.readers.run(move |c| read::owned(c, target, &tenant, owner, after, limit)).await
    }

    async fn pending_purges(&self) -> StoreResult<Vec<(TenantSlug, Uuid)>> {
        self.readers.run(directory::pending_purges).await
    }
}

#[cfg(test)]
mod tests;
