//! The PostgreSQL backend (tokio-postgres with a deadpool pool).
//!
//! - [`migrations`]: the schema, applied at start-up under an advisory lock.
//! - `append`: a commit in one transaction.
//! - `read`: the read models and the log.
//! - `directory`: tenants, connections, operators and their secrets.
//! - `keys`: the data keys walked and re-wrapped by master key, and the master key canary.
//! - `errors`: driver and pool failures as store errors, by SQLSTATE and kind.
//! - `lease`: one process per job, through a session advisory lock.
//! - `listen`: the channel that tells authentication caches what changed.
//! - `session`: pooled connections with a statement timeout, closed rather than handed back
//!   while a query of an abandoned request still runs; authentication has a pool of its own.
//! - [`tls`]: TLS with rustls, as the URL's `sslmode` asks.
//! - [`dialect`]: the filter compiler's PostgreSQL spelling.

/// The NOTIFY channel of tenant, connection and operator commits (a macro, so that the
/// statements naming it stay literals).
macro_rules! secrets_channel {
    () => {
        "scimledger_secrets"
    };
}

mod append;
pub mod dialect;
mod directory;
mod errors;
mod keys;
mod lease;
mod listen;
pub mod migrations;
mod read;
mod rebuild;
mod session;
mod stream_hold;
pub mod tls;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use domain::group::MemberKind;
use domain::{Owner, ResourceId, StreamKind, TenantSlug};
use scim::list::ListQuery;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::*;
use crate::member_pages::{self, MemberPages};
use crate::open::Options;
use crate::paging::{self, Span};
use crate::query::Target;
use session::{on_session, Planning, Session};

/// Connections of the authentication pool: token look-ups are one indexed row each, and the
/// API's token cache spares most requests one.
const AUTH_POOL_SIZE: usize = 2;
pub(crate) use errors::{backend, violated_constraint};

pub struct PgStore {
    /// Every statement planned for its parameters and the tables as they are (ADR 0078).
    pool: Pool,
    /// Reads of users and groups by one key (an id, a userName…), whose plans are kept: a quarter
    /// as many connections as `pool`, as each read holds one for a single index look-up.
    key_pool: Pool,
    /// Authentication's own connections, so that slow reads filling `pool` never hold sign-ins up.
    auth_pool: Pool,
    /// For sessions of their own, outside the pool (leases).
    config: tokio_postgres::Config,
    tls: tls::Tls,
    appended: tokio::sync::watch::Sender<i64>,
    /// Where index walks of this database left off (ADR 0065).
    resume: paging::ResumePoints,
    /// How long a statement may run, and a page of a group's members wait to be read.
    statement_timeout: Duration,
}

impl PgStore {
    /// Connects, and brings the schema up to date.
    pub async fn connect(url: &str, pool_size: usize) -> StoreResult<Self> {
        Self::connect_with(url, pool_size, &Options::default()).await
    }

    /// [`PgStore::connect`] with statements bounded by `options.statement_timeout`.
    pub async fn connect_with(url: &str, pool_size: usize, options: &Options) -> StoreResult<Self> {
        let (config, mode) = tls::read_url(url)?;
        Self::from_config(config, tls::Tls::for_mode(&mode)?, pool_size, options).await
    }

    async fn from_config(config: tokio_postgres::Config, tls: tls::Tls, pool_size: usize, options: &Options) -> StoreResult<Self> {
        let timeout = options.statement_timeout;
        let pool = session::pool(&config, &tls, pool_size, timeout, Planning::PerExecution)?;
        let key_pool = session::pool(&config, &tls, pool_size.div_ceil(4), timeout, Planning::Kept)?;
        let auth_pool = session::pool(&config, &tls, AUTH_POOL_SIZE, timeout, Planning::PerExecution)?;
        let config = session::with_session_settings(&config, timeout, Planning::PerExecution);
        let store = Self {
            pool,
            key_pool,
            auth_pool,
            config,
            tls,
            appended: tokio::sync::watch::Sender::new(0),
            resume: Default::default(),
            statement_timeout: options.statement_timeout,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// For writes, which run to their end once sent (a transaction half done is rolled back by
    /// the server when its connection closes, never committed).
    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(errors::pool)
    }

    /// Where a page of `query` is read: by one key through the kept plans of `key_pool`, else
    /// planned afresh.
    fn pages_pool(&self, target: Target, query: &ListQuery) -> &Pool {
        if crate::query::finds_by_key(target, query) {
            &self.key_pool
        } else {
            &self.pool
        }
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

    fn shadow(&self) -> &dyn crate::rebuild::Shadow {
        self
    }

    fn appended(&self) -> tokio::sync::watch::Receiver<i64> {
        self.appended.subscribe()
    }

    async fn ping(&self) -> StoreResult<()> {
        on_session!(&self.pool, &self.tls, |client| async { client.simple_query("SELECT 1").await.map_err(backend).map(drop) })
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        on_session!(&self.pool, &self.tls, |client| directory::tenants(client))
    }

    async fn connections(&self, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
        on_session!(&self.pool, &self.tls, |client| directory::connections(client, tenant))
    }

    async fn connection_secrets(&self, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<ConnectionSecret>> {
        on_session!(&self.auth_pool, &self.tls, |client| directory::connection_secrets(client, tenant, at))
    }

    async fn devices(&self, tenant: &TenantSlug, user: Option<ResourceId>) -> StoreResult<Vec<DeviceRow>> {
        on_session!(&self.pool, &self.tls, |client| directory::devices(client, tenant, user))
    }

    async fn credentials(&self, tenant: &TenantSlug) -> StoreResult<Vec<Credential>> {
        on_session!(&self.pool, &self.tls, |client| directory::credentials(client, tenant))
    }

    async fn operator_secrets(&self) -> StoreResult<Vec<OperatorSecret>> {
        on_session!(&self.auth_pool, &self.tls, |client| directory::operator_secrets(client))
    }

    async fn access_secrets(&self, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<AccessSecret>> {
        on_session!(&self.auth_pool, &self.tls, |client| directory::access_secrets(client, tenant, at))
    }

    /// Look-ups cost a round trip here, so they are cached, and every server LISTENs for
    /// the changes any process commits.
    async fn secret_changes(&self) -> Option<SecretChanges> {
        Some(listen::start(self.config.clone(), self.tls.clone()).await)
    }

    async fn secret(&self, name: &str) -> StoreResult<[u8; 32]> {
        on_session!(&self.pool, &self.tls, |client| directory::secret(client, name))
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
        on_session!(&self.pool, &self.tls, |client| directory::user_keys(client, tenant, users))
    }

    async fn append(&self, commit: Commit) -> StoreResult<Appended> {
        let appended = append::append(self.client().await?, commit).await?;
        self.appended.send_replace(appended.last_position);
        Ok(appended)
    }

    async fn hold_stream(&self, stream: ResourceId) -> StoreResult<Option<StreamHold>> {
        Ok(Some(stream_hold::hold(self.client().await?, stream).await?))
    }

    async fn stream(&self, tenant: &TenantSlug, kind: StreamKind, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>> {
        on_session!(&self.pool, &self.tls, |client| read::stream(client, tenant, kind, stream))
    }

    async fn head(&self) -> StoreResult<i64> {
        read::head(&self.client().await?).await
    }

    async fn read_log(&self, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>> {
        on_session!(&self.pool, &self.tls, |client| read::log(client, after_position, limit))
    }

    async fn audit_log(&self, query: &crate::audit::AuditQuery) -> StoreResult<Vec<RecordedEvent>> {
        on_session!(&self.pool, &self.tls, |client| read::audit_log(client, query))
    }

    async fn users_by_login(&self, tenant: &TenantSlug, key: &str) -> StoreResult<Vec<ResourceId>> {
        on_session!(&self.pool, &self.tls, |client| read::users_by_login(client, tenant, key))
    }

    async fn groups_naming(&self, tenant: &TenantSlug, member: ResourceId) -> StoreResult<Vec<ResourceId>> {
        on_session!(&self.pool, &self.tls, |client| read::groups_naming(client, tenant, member))
    }

    async fn read_committed(&self, after: LogCursor, limit: u32) -> StoreResult<Vec<(LogCursor, RecordedEvent)>> {
        on_session!(&self.pool, &self.tls, |client| read::committed(client, after, limit))
    }

    async fn settled(&self) -> StoreResult<i64> {
        read::settled(&self.client().await?).await
    }

    async fn seal_head(&self, tenant: &TenantSlug, position: i64) -> StoreResult<Option<crate::seal::SealLink>> {
        on_session!(&self.pool, &self.tls, |client| read::seal_head(client, tenant, position))
    }

    async fn seal_links(&self, tenant: &TenantSlug, after: i64, limit: u32) -> StoreResult<Vec<crate::seal::SealLink>> {
        on_session!(&self.pool, &self.tls, |client| read::seal_links(client, tenant, after, limit))
    }

    async fn write_seals(&self, links: Vec<crate::seal::SealLink>, through: LogCursor) -> StoreResult<()> {
        read::write_seals(&mut self.client().await?, links, through).await
    }

    async fn checkpoint(&self, name: &str) -> StoreResult<LogCursor> {
        on_session!(&self.pool, &self.tls, |client| read::checkpoint(client, name))
    }

    async fn save_checkpoint(&self, name: &str, cursor: LogCursor) -> StoreResult<()> {
        read::save_checkpoint(&self.client().await?, name, cursor).await
    }

    async fn follower(&self, name: &str) -> StoreResult<FollowerRecord> {
        on_session!(&self.pool, &self.tls, |client| read::follower(client, name))
    }

    async fn record_failure(&self, name: &str, error: &str) -> StoreResult<()> {
        read::record_failure(&self.client().await?, name, error).await
    }

    async fn clear_retrying(&self, name: &str) -> StoreResult<()> {
        read::clear_retrying(&self.client().await?, name).await
    }

    async fn try_lease(&self, job: &str) -> StoreResult<Option<Box<dyn Lease>>> {
        lease::try_take(&self.config, &self.tls, job).await
    }

    async fn user_in(&self, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        on_session!(&self.key_pool, &self.tls, |client| read::one(client, Target::Users, tenant, Span::Tenant, scope, id))
            .map(|found| found.into_iter().next().map(|(_, r)| r))
    }

    async fn users_in(&self, tenant: &TenantSlug, scope: Scope, query: &ListQuery, with_groups: bool) -> StoreResult<Page> {
        on_session!(self.pages_pool(Target::Users, query), &self.tls, |client| read::page(
            client,
            Target::Users,
            (tenant, Span::Tenant),
            scope,
            query,
            with_groups,
            &self.resume
        ))
    }

    async fn group_in(&self, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        on_session!(&self.key_pool, &self.tls, |client| read::one(client, Target::Groups, tenant, Span::Tenant, scope, id))
            .map(|found| found.into_iter().next().map(|(_, r)| r))
    }

    async fn groups_in(&self, tenant: &TenantSlug, scope: Scope, query: &ListQuery) -> StoreResult<Page> {
        on_session!(self.pages_pool(Target::Groups, query), &self.tls, |client| read::page(
            client,
            Target::Groups,
            (tenant, Span::Tenant),
            scope,
            query,
            false,
            &self.resume
        ))
    }

    async fn routed_one(
        &self,
        parent: &TenantSlug,
        target: Target,
        scope: Scope,
        id: ResourceId,
    ) -> StoreResult<Vec<(TenantSlug, ResourceRecord)>> {
        on_session!(&self.pool, &self.tls, |client| read::one(client, target, parent, Span::SubTenants, scope, id))
    }

    async fn user_holders(&self, parent: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, TenantSlug>> {
        on_session!(&self.pool, &self.tls, |client| read::user_holders(client, parent, users))
    }

    async fn routed_page(
        &self,
        parent: &TenantSlug,
        target: Target,
        scope: Scope,
        query: &ListQuery,
        with_groups: bool,
    ) -> StoreResult<Page> {
        on_session!(&self.pool, &self.tls, |client| read::page(
            client,
            target,
            (parent, Span::SubTenants),
            scope,
            query,
            with_groups,
            &self.resume
        ))
    }

    async fn groups_of(&self, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        on_session!(&self.pool, &self.tls, |client| read::groups_of(client, tenant, users))
    }

    async fn members_of(&self, tenant: &TenantSlug, groups: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        on_session!(&self.pool, &self.tls, |client| read::members_of(client, tenant, groups))
    }

    async fn group_with_members(
        &self,
        tenant: &TenantSlug,
        scope: Scope,
        id: ResourceId,
        page: u32,
    ) -> StoreResult<Option<(ResourceRecord, MemberPages)>> {
        let session = Session::from(&self.pool, &self.tls).await?;
        // One snapshot for the row and every page; read only, so it never conflicts with a
        // writer. The server ends the transaction if its walk stops without ending it.
        let idle = 2 * self.statement_timeout.as_millis();
        session
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL idle_in_transaction_session_timeout = {idle}"
            ))
            .await
            .map_err(backend)?;
        let Some((_, record)) = read::one(&session, Target::Groups, tenant, Span::Tenant, scope, id).await?.into_iter().next() else {
            session.batch_execute("COMMIT").await.map_err(backend)?;
            session.done();
            return Ok(None);
        };
        let (sender, pages) = member_pages::channel(self.statement_timeout);
        let tenant = tenant.clone();
        tokio::spawn(async move {
            let walk = member_pages::walk(sender, page, |after| read::member_page(&session, &tenant, id, after, page));
            // No statement runs once the walk returned, finished or not: the transaction ends and
            // the session goes back to the pool idle; if even that fails, it is closed instead.
            let end = if walk.await { "COMMIT" } else { "ROLLBACK" };
            if session.batch_execute(end).await.is_ok() {
                session.done();
            }
        });
        Ok(Some((record, pages.into_stream(()))))
    }

    async fn group_snapshot(
        &self,
        tenant: &TenantSlug,
        id: ResourceId,
        named: Option<&[ResourceId]>,
    ) -> StoreResult<Option<GroupSnapshot>> {
        on_session!(&self.pool, &self.tls, |client| read::group_snapshot(client, tenant, id, named))
    }

    async fn resource_kinds(&self, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, MemberKind>> {
        on_session!(&self.pool, &self.tls, |client| read::resource_kinds(client, tenant, ids))
    }

    async fn owned(
        &self,
        tenant: &TenantSlug,
        kind: StreamKind,
        owner: Owner,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ResourceId, i64)>> {
        on_session!(&self.pool, &self.tls, |client| read::owned(client, Target::try_from(kind)?, tenant, owner, after, limit))
    }

    async fn pending_purges(&self) -> StoreResult<Vec<(TenantSlug, Uuid)>> {
        on_session!(&self.pool, &self.tls, |client| directory::pending_purges(client))
    }
}
