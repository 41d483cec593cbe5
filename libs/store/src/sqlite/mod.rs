//! The embedded backend: one SQLite file (ADR 0004).
//!
//! - `threads`: connections owned by dedicated threads (a writer, a few readers).
//! - `migrations`: the schema, applied at open.
//! - `append`: the appender thread: commits in groups, one transaction and one sync each.
//! - `read`: the read models, the log, checkpoints.
//! - `directory`: tenants and connections.
//! - [`dialect`]: the filter compiler's SQLite spelling.
//! - `time_text`: sortable time text.
//! - [`ServerLock`]: one server per file.

mod append;
pub mod dialect;
mod directory;
mod migrations;
mod read;
mod threads;
mod time_text;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use domain::group::MemberKind;
use domain::{ResourceId, TenantSlug};
use fs2::FileExt;
use rusqlite::functions::FunctionFlags;
use scim::list::ListQuery;

use crate::api::*;
use crate::query::Target;
use threads::ConnectionThreads;

pub const DB_FILE: &str = "scimledger.db";
const LOCK_FILE: &str = "scimledger.lock";
const READERS: usize = 4;

pub struct SqliteStore {
    appender: append::Appender,
    writer: ConnectionThreads,
    readers: ConnectionThreads,
    appended: tokio::sync::watch::Sender<i64>,
}

/// Held by `serve` for its lifetime: a second server on the same file is refused.
pub struct ServerLock {
    _file: File,
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/scimledger.db` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Backend(format!("creating {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DB_FILE);
        let writer = ConnectionThreads::start("sqlite-writer", 1, || connect(&path))?;
        writer.run(migrations::run).await?;
        let appender = append::Appender::start(connect(&path)?)?;
        let readers = ConnectionThreads::start("sqlite-reader", READERS, || connect(&path))?;
        Ok(Self { appender, writer, readers, appended: tokio::sync::watch::Sender::new(0) })
    }

    /// Takes the server lock of `data_dir`, or says clearly who holds it.
    pub fn lock_for_server(data_dir: &Path) -> StoreResult<ServerLock> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Backend(format!("creating {}: {e}", data_dir.display())))?;
        let lock_path: PathBuf = data_dir.join(LOCK_FILE);
        let file = File::create(&lock_path).map_err(|e| StoreError::Backend(format!("opening {}: {e}", lock_path.display())))?;
        file.try_lock_exclusive().map_err(|_| {
            StoreError::Backend(format!(
                "another scimledger server is already using {} (the lock {} is held); stop it or choose another SCIMLEDGER_DATA_DIR",
                data_dir.join(DB_FILE).display(),
                lock_path.display()
            ))
        })?;
        Ok(ServerLock { _file: file })
    }
}

fn connect(path: &Path) -> StoreResult<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path).map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
    // FULL: an acknowledged commit is on disk before the API answers (ADR 0004).
    connection
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
        .map_err(backend)?;
    connection
        .create_scalar_function("scim_fold", 1, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
            let text: Option<String> = ctx.get(0)?;
            Ok(text.map(|t| domain::names::fold_case(&t)))
        })
        .map_err(backend)?;
    Ok(connection)
}

pub(crate) fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// The constraint a failed statement violated, from SQLite's message
/// (`UNIQUE constraint failed: reservations.tenant, …`).
pub(crate) fn violated(error: &rusqlite::Error) -> Option<&str> {
    match error {
        rusqlite::Error::SqliteFailure(e, Some(message)) if e.code == rusqlite::ErrorCode::ConstraintViolation => Some(message.as_str()),
        _ => None,
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn appended(&self) -> tokio::sync::watch::Receiver<i64> {
        self.appended.subscribe()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.readers.run(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend)).await
    }

    async fn create_tenant(&self, slug: &TenantSlug) -> StoreResult<Tenant> {
        let slug = slug.clone();
        self.writer.run(move |c| directory::create_tenant(c, &slug)).await
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.readers.run(directory::tenants).await
    }

    async fn create_connection(&self, tenant: &TenantSlug, name: &str, token_sha256: [u8; 32]) -> StoreResult<Connection> {
        let (tenant, name) = (tenant.clone(), name.to_owned());
        self.writer.run(move |c| directory::create_connection(c, &tenant, &name, token_sha256)).await
    }

    async fn connections(&self, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| directory::connections(c, &tenant)).await
    }

    async fn authenticate(&self, tenant: &TenantSlug, token_sha256: [u8; 32]) -> StoreResult<Option<Connection>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| directory::authenticate(c, &tenant, token_sha256)).await
    }

    async fn append(&self, commit: Commit) -> StoreResult<Appended> {
        let appended = self.appender.append(commit).await?;
        self.appended.send_replace(appended.last_position);
        Ok(appended)
    }

    async fn stream(&self, tenant: &TenantSlug, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| read::stream(c, &tenant, stream)).await
    }

    async fn read_log(&self, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>> {
        self.readers.run(move |c| read::log(c, after_position, limit)).await
    }

    async fn read_committed(&self, after: LogCursor, limit: u32) -> StoreResult<Vec<(LogCursor, RecordedEvent)>> {
        let events = self.readers.run(move |c| read::log(c, after.position, limit)).await?;
        Ok(events.into_iter().map(|e| (LogCursor { transaction: e.position, position: e.position }, e)).collect())
    }

    async fn checkpoint(&self, name: &str) -> StoreResult<LogCursor> {
        let name = name.to_owned();
        self.readers.run(move |c| read::checkpoint(c, &name)).await
    }

    async fn save_checkpoint(&self, name: &str, cursor: LogCursor) -> StoreResult<()> {
        let name = name.to_owned();
        self.writer.run(move |c| read::save_checkpoint(c, &name, cursor)).await
    }

    async fn user(&self, tenant: &TenantSlug, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| read::one(c, Target::Users, &tenant, id)).await
    }

    async fn users(&self, tenant: &TenantSlug, query: &ListQuery) -> StoreResult<Page> {
        let (tenant, query) = (tenant.clone(), query.clone());
        self.readers.run(move |c| read::page(c, Target::Users, &tenant, &query)).await
    }

    async fn group(&self, tenant: &TenantSlug, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        let tenant = tenant.clone();
        self.readers.run(move |c| read::one(c, Target::Groups, &tenant, id)).await
    }

    async fn groups(&self, tenant: &TenantSlug, query: &ListQuery) -> StoreResult<Page> {
        let (tenant, query) = (tenant.clone(), query.clone());
        self.readers.run(move |c| read::page(c, Target::Groups, &tenant, &query)).await
    }

    async fn groups_of(&self, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        let (tenant, users) = (tenant.clone(), users.to_vec());
        self.readers.run(move |c| read::groups_of(c, &tenant, &users)).await
    }

    async fn members_of(&self, tenant: &TenantSlug, groups: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        let (tenant, groups) = (tenant.clone(), groups.to_vec());
        self.readers.run(move |c| read::members_of(c, &tenant, &groups)).await
    }

    async fn resource_kinds(&self, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, MemberKind>> {
        let (tenant, ids) = (tenant.clone(), ids.to_vec());
        self.readers.run(move |c| read::resource_kinds(c, &tenant, &ids)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_server_lock_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SqliteStore::lock_for_server(dir.path()).unwrap();
        let Err(StoreError::Backend(message)) = SqliteStore::lock_for_server(dir.path()) else { panic!("the lock was taken twice") };
        assert!(message.contains("another scimledger server is already using"), "{message}");
    }

    #[tokio::test]
    async fn scim_fold_folds_beyond_ascii() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let folded: String =
            store.readers.run(|c| c.query_row("SELECT scim_fold('ÄRGER@X')", [], |r| r.get(0)).map_err(backend)).await.unwrap();
        assert_eq!(folded, "ärger@x");
    }
}
