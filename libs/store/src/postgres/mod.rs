//! The PostgreSQL backend (tokio-postgres with a deadpool pool).
//!
//! - [`migrations`]: the schema, applied at start-up under an advisory lock.
//! - `append`: a commit in one transaction.
//! - `read`: the read models and the log.
//! - `directory`: tenants and connections.
//! - `errors`: driver and pool failures as store errors, by SQLSTATE and kind.
//! - `lease`: one process per job, through a session advisory lock.
//! - [`dialect`]: the filter compiler's PostgreSQL spelling.

mod append;
pub mod dialect;
mod directory;
mod errors;
mod lease;
pub mod migrations;
mod read;

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use domain::group::MemberKind;
use domain::{ResourceId, StreamKind, TenantSlug};
use scim::list::ListQuery;
use tokio_postgres::NoTls;

use crate::api::*;
use crate::query::Target;
pub(crate) use errors::{backend, violated_constraint};

pub struct PgStore {
    pool: Pool,
    /// For sessions of their own, outside the pool (leases).
    config: tokio_postgres::Config,
    appended: tokio::sync::watch::Sender<i64>,
}

impl PgStore {
    /// Connects, and brings the schema up to date.
    pub async fn connect(url: &str, pool_size: usize) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Config(format!("bad database URL: {e}")))?;
        let manager = Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool =
            Pool::builder(manager).max_size(pool_size).build().map_err(|e| StoreError::Config(format!("the connection pool: {e}")))?;
        let store = Self { pool, config, appended: tokio::sync::watch::Sender::new(0) };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(errors::pool)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        migrations::run(&mut client).await
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn appended(&self) -> tokio::sync::watch::Receiver<i64> {
        self.appended.subscribe()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client().await?.simple_query("SELECT 1").await.map_err(backend)?;
        Ok(())
    }

    async fn create_tenant(&self, slug: &TenantSlug) -> StoreResult<Tenant> {
        directory::create_tenant(&self.client().await?, slug).await
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        directory::tenants(&self.client().await?).await
    }

    async fn create_connection(&self, tenant: &TenantSlug, name: &str, token_sha256: [u8; 32]) -> StoreResult<Connection> {
        directory::create_connection(&self.client().await?, tenant, name, token_sha256).await
    }

    async fn connections(&self, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
        directory::connections(&self.client().await?, tenant).await
    }

    async fn authenticate(&self, tenant: &TenantSlug, token_sha256: [u8; 32]) -> StoreResult<Option<Connection>> {
        directory::authenticate(&self.client().await?, tenant, token_sha256).await
    }

    async fn append(&self, commit: Commit) -> StoreResult<Appended> {
        let appended = append::append(self.client().await?, commit).await?;
        self.appended.send_replace(appended.last_position);
        Ok(appended)
    }

    async fn stream(&self, tenant: &TenantSlug, kind: StreamKind, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>> {
        read::stream(&self.client().await?, tenant, kind, stream).await
    }

    async fn head(&self) -> StoreResult<i64> {
        read::head(&self.client().await?).await
    }

    async fn read_log(&self, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>> {
        read::log(&self.client().await?, after_position, limit).await
    }

    async fn read_committed(&self, after: LogCursor, limit: u32) -> StoreResult<Vec<(LogCursor, RecordedEvent)>> {
        read::committed(&self.client().await?, after, limit).await
    }

    async fn checkpoint(&self, name: &str) -> StoreResult<LogCursor> {
        read::checkpoint(&self.client().await?, name).await
    }

    async fn save_checkpoint(&self, name: &str, cursor: LogCursor) -> StoreResult<()> {
        read::save_checkpoint(&self.client().await?, name, cursor).await
    }

    async fn try_lease(&self, job: &str) -> StoreResult<Option<Box<dyn Lease>>> {
        lease::try_take(&self.config, job).await
    }

    async fn user(&self, tenant: &TenantSlug, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        read::one(&self.client().await?, Target::Users, tenant, id).await
    }

    async fn users(&self, tenant: &TenantSlug, query: &ListQuery, with_groups: bool) -> StoreResult<Page> {
        read::page(&self.client().await?, Target::Users, tenant, query, with_groups).await
    }

    async fn group(&self, tenant: &TenantSlug, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        read::one(&self.client().await?, Target::Groups, tenant, id).await
    }

    async fn groups(&self, tenant: &TenantSlug, query: &ListQuery) -> StoreResult<Page> {
        read::page(&self.client().await?, Target::Groups, tenant, query, false).await
    }

    async fn groups_of(&self, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        read::groups_of(&self.client().await?, tenant, users).await
    }

    async fn members_of(&self, tenant: &TenantSlug, groups: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        read::members_of(&self.client().await?, tenant, groups).await
    }

    async fn resource_kinds(&self, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, MemberKind>> {
        read::resource_kinds(&self.client().await?, tenant, ids).await
    }
}
