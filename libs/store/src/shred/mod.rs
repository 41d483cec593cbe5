//! Crypto-shredding (docs/adr/0068): the personal fields of user events are stored encrypted
//! under a key per user, kept wrapped by the deployment's master key in `user_keys`; erasing a
//! user destroys its key, and its events' personal fields then read as erased.
//!
//! [`Shredding`] is a [`Store`] around a backend: appends of user commits encrypt (and create
//! or destroy the user's key in the same transaction); every read of events decrypts, so the
//! aggregates, the audit, the relay and the subscribers see plaintext, or the erased markers.
//! [`Store::stored`] is the backend itself: the sealer hashes what is stored, so destroying a
//! key never breaks `audit verify`.
//!
//! - [`cipher`]: the master keys, the data keys, and the encryption of an event's fields.
//! - [`cache`]: the unwrapped keys appends use, bounded.
//! - [`master`]: the master keys' file.
//! - [`table`]: the data keys and the canary as backends keep them.
//! - [`canary`]: the check of a process's master keys against the database, at start.
//! - [`rotate`]: re-wrapping every data key under the newest master key.

pub mod cache;
pub mod canary;
pub mod cipher;
pub mod master;
pub mod rotate;
pub mod table;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use domain::group::MemberKind;
use domain::user::personal_fields;
use domain::{Owner, ResourceId, StreamKind, TenantSlug};
use scim::list::ListQuery;

use crate::query::Target;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::*;
use cache::KeyCache;
use cipher::{DataKey, Place, Unopened};
use master::KeyFile;
use table::WrappedKey;

/// The event type that destroys its user's key.
const ERASED: &str = "user.erased";

/// A backend whose user events' personal fields are encrypted.
pub struct Shredding {
    inner: Arc<dyn Store>,
    keys: Arc<KeyFile>,
    cache: KeyCache,
}

impl Shredding {
    /// The backend behind encryption under `keys`, once they are checked against the database's
    /// canary ([`canary::check`]): with keys that do not open it, a `Config` error naming the file.
    pub async fn open(inner: Arc<dyn Store>, keys: Arc<KeyFile>) -> StoreResult<Self> {
        canary::check(inner.key_table(), &keys).await?;
        Ok(Self { inner, keys, cache: KeyCache::default() })
    }

    /// A user's data key, opened with the master key that wrapped it.
    fn unwrap(&self, wrapped: &WrappedKey, tenant: &TenantSlug, user: ResourceId) -> StoreResult<DataKey> {
        let ring = match &wrapped.master_key {
            Some(id) => self.keys.ring_with(id),
            None => self.keys.ring(),
        };
        ring.unwrap(wrapped, tenant, user).map_err(|unopened| {
            let what = format!("the data key of user {user}");
            match unopened {
                Unopened::Unknown(id) => StoreError::corrupt(what, format!("its master key {id} is not in {}", self.keys.path().display())),
                Unopened::Refused => {
                    StoreError::corrupt(what, format!("it does not open with the master keys of {}", self.keys.path().display()))
                }
            }
        })
    }

    /// The user's key, from the cache or the key table; `None` if it has none.
    async fn key_for_append(&self, tenant: &TenantSlug, user: ResourceId) -> StoreResult<Option<DataKey>> {
        if let Some(key) = self.cache.get(tenant, user) {
            return Ok(Some(key));
        }
        match self.inner.user_keys(tenant, &[user]).await?.remove(&user) {
            Some(wrapped) => Ok(Some(self.unwrap(&wrapped, tenant, user)?)),
            None => Ok(None),
        }
    }

    /// Encrypts a user commit's personal fields, and the recipient of an enrollment outcome
    /// under its user's key; says whose key to keep, and which, once it is appended.
    async fn encrypt(&self, commit: &mut Commit) -> StoreResult<Option<(ResourceId, DataKey)>> {
        if commit.kind == StreamKind::Enrollment {
            return self.encrypt_enrollment(commit).await;
        }
        let erasing = commit.events.iter().any(|event| event.event_type == ERASED);
        let personal = commit.events.iter().any(|event| !personal_fields(&event.event_type).is_empty());
        if commit.kind != StreamKind::User || !(erasing || personal) {
            return Ok(None);
        }
        // A new stream has no key yet: no look-up.
        let known = match commit.expected_version {
            0 => None,
            _ => self.key_for_append(&commit.tenant, commit.stream).await?,
        };
        let key = match known {
            Some(key) => key,
            // A user without a key (new, or written before encryption) gets its one key now;
            // an erasure needs none kept: what it encrypts is erased with it.
            None => {
                let key = DataKey::random();
                if !erasing {
                    commit.key = Some(KeyWrite::Create(self.keys.ring().wrap(&key, &commit.tenant, commit.stream)));
                }
                key
            }
        };
        if erasing {
            commit.key = Some(KeyWrite::Destroy);
        }
        for (i, event) in commit.events.iter_mut().enumerate() {
            let place = Place { tenant: &commit.tenant, user: commit.stream, version: commit.expected_version + 1 + i as i64 };
            cipher::encrypt(&key, place, event);
        }
        Ok((!erasing).then_some((commit.stream, key)))
    }

    /// An enrollment outcome names the user's address: encrypted under the user's key, so that
    /// erasing the user erases it too. A user without a key (erased before the mailer recorded
    /// its outcome) gets the erased marker in its place: there is no key to keep it under.
    async fn encrypt_enrollment(&self, commit: &mut Commit) -> StoreResult<Option<(ResourceId, DataKey)>> {
        let Some(user) = commit.events.iter().find_map(|event| enrollment_user(&event.data)) else { return Ok(None) };
        if commit.events.iter().all(|event| personal_fields(&event.event_type).is_empty()) {
            return Ok(None);
        }
        let key = self.key_for_append(&commit.tenant, user).await?;
        for (i, event) in commit.events.iter_mut().enumerate() {
            match &key {
                Some(key) => {
                    let place = Place { tenant: &commit.tenant, user, version: commit.expected_version + 1 + i as i64 };
                    cipher::encrypt(key, place, event);
                }
                None => cipher::erase(event),
            }
        }
        Ok(key.map(|key| (user, key)))
    }

    /// Decrypts the personal fields of `events`, reading the keys of their users in one query
    /// per tenant; the events of a user without a key read as erased.
    async fn decrypt<'e>(&self, events: impl Iterator<Item = &'e mut RecordedEvent>) -> StoreResult<()> {
        let events: Vec<(ResourceId, &mut RecordedEvent)> = events
            .filter(|event| cipher::is_encrypted(&event.payload))
            .filter_map(|event| key_owner(event).map(|user| (user, event)))
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        let mut users: HashMap<TenantSlug, HashSet<ResourceId>> = HashMap::new();
        for (user, event) in &events {
            users.entry(event.tenant.clone()).or_default().insert(*user);
        }
        let mut keys: HashMap<(TenantSlug, ResourceId), DataKey> = HashMap::new();
        for (tenant, ids) in users {
            let ids: Vec<ResourceId> = ids.into_iter().collect();
            for (user, wrapped) in self.inner.user_keys(&tenant, &ids).await? {
                let key = self.unwrap(&wrapped, &tenant, user)?;
                keys.insert((tenant.clone(), user), key);
            }
        }
        for (user, event) in events {
            let key = keys.get(&(event.tenant.clone(), user));
            let place = Place { tenant: &event.tenant, user, version: event.stream_version };
            cipher::decrypt(key, place, &mut event.payload)?;
        }
        Ok(())
    }
}

/// Whose key an event's personal fields are under: a user event's user, an enrollment outcome's.
fn key_owner(event: &RecordedEvent) -> Option<ResourceId> {
    match event.kind {
        StreamKind::User => Some(event.stream),
        StreamKind::Enrollment => enrollment_user(&event.payload.data),
        _ => None,
    }
}

fn enrollment_user(data: &serde_json::Value) -> Option<ResourceId> {
    data.get("user")?.as_str()?.parse().ok()
}

#[async_trait]
impl Store for Shredding {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn shadow(&self) -> &dyn crate::rebuild::Shadow {
        self.inner.shadow()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    fn appended(&self) -> tokio::sync::watch::Receiver<i64> {
        self.inner.appended()
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.inner.tenants().await
    }

    async fn connections(&self, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
        self.inner.connections(tenant).await
    }

    async fn connection_secrets(&self, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<ConnectionSecret>> {
        self.inner.connection_secrets(tenant, at).await
    }

    async fn operator_secrets(&self) -> StoreResult<Vec<OperatorSecret>> {
        self.inner.operator_secrets().await
    }

    async fn access_secrets(&self, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<AccessSecret>> {
        self.inner.access_secrets(tenant, at).await
    }

    async fn credentials(&self, tenant: &TenantSlug) -> StoreResult<Vec<Credential>> {
        self.inner.credentials(tenant).await
    }

    async fn devices(&self, tenant: &TenantSlug, user: Option<ResourceId>) -> StoreResult<Vec<DeviceRow>> {
        self.inner.devices(tenant, user).await
    }

    async fn secret_changes(&self) -> Option<SecretChanges> {
        self.inner.secret_changes().await
    }

    async fn secret(&self, name: &str) -> StoreResult<[u8; 32]> {
        self.inner.secret(name).await
    }

    fn stored(&self) -> &dyn Store {
        self.inner.stored()
    }

    async fn user_keys(&self, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, WrappedKey>> {
        self.inner.user_keys(tenant, users).await
    }

    fn key_table(&self) -> &dyn table::KeyTable {
        self.inner.key_table()
    }

    async fn append(&self, mut commit: Commit) -> StoreResult<Appended> {
        let key = self.encrypt(&mut commit).await?;
        let (tenant, user, destroyed) = (commit.tenant.clone(), commit.stream, commit.key == Some(KeyWrite::Destroy));
        let appended = self.inner.append(commit).await?;
        match key {
            Some((owner, key)) => self.cache.insert(&tenant, owner, key),
            None if destroyed => self.cache.forget(&tenant, user),
            None => {}
        }
        Ok(appended)
    }

    async fn hold_stream(&self, stream: ResourceId) -> StoreResult<Option<StreamHold>> {
        self.inner.hold_stream(stream).await
    }

    async fn stream(&self, tenant: &TenantSlug, kind: StreamKind, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>> {
        let mut events = self.inner.stream(tenant, kind, stream).await?;
        self.decrypt(events.iter_mut()).await?;
        Ok(events)
    }

    async fn head(&self) -> StoreResult<i64> {
        self.inner.head().await
    }

    async fn read_log(&self, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>> {
        let mut events = self.inner.read_log(after_position, limit).await?;
        self.decrypt(events.iter_mut()).await?;
        Ok(events)
    }

    async fn audit_log(&self, query: &crate::audit::AuditQuery) -> StoreResult<Vec<RecordedEvent>> {
        let mut events = self.inner.audit_log(query).await?;
        self.decrypt(events.iter_mut()).await?;
        Ok(events)
    }

    async fn users_by_login(&self, tenant: &TenantSlug, key: &str) -> StoreResult<Vec<ResourceId>> {
        self.inner.users_by_login(tenant, key).await
    }

    async fn groups_naming(&self, tenant: &TenantSlug, member: ResourceId) -> StoreResult<Vec<ResourceId>> {
        self.inner.groups_naming(tenant, member).await
    }

    async fn read_committed(&self, after: LogCursor, limit: u32) -> StoreResult<Vec<(LogCursor, RecordedEvent)>> {
        let mut events = self.inner.read_committed(after, limit).await?;
        self.decrypt(events.iter_mut().map(|(_, event)| event)).await?;
        Ok(events)
    }

    async fn settled(&self) -> StoreResult<i64> {
        self.inner.settled().await
    }

    async fn seal_head(&self, tenant: &TenantSlug, position: i64) -> StoreResult<Option<crate::seal::SealLink>> {
        self.inner.seal_head(tenant, position).await
    }

    async fn seal_links(&self, tenant: &TenantSlug, after: i64, limit: u32) -> StoreResult<Vec<crate::seal::SealLink>> {
        self.inner.seal_links(tenant, after, limit).await
    }

    async fn write_seals(&self, links: Vec<crate::seal::SealLink>, through: LogCursor) -> StoreResult<()> {
        self.inner.write_seals(links, through).await
    }

    async fn checkpoint(&self, name: &str) -> StoreResult<LogCursor> {
        self.inner.checkpoint(name).await
    }

    async fn save_checkpoint(&self, name: &str, cursor: LogCursor) -> StoreResult<()> {
        self.inner.save_checkpoint(name, cursor).await
    }

    async fn follower(&self, name: &str) -> StoreResult<FollowerRecord> {
        self.inner.follower(name).await
    }

    async fn record_failure(&self, name: &str, error: &str) -> StoreResult<()> {
        self.inner.record_failure(name, error).await
    }

    async fn clear_retrying(&self, name: &str) -> StoreResult<()> {
        self.inner.clear_retrying(name).await
    }

    async fn try_lease(&self, job: &str) -> StoreResult<Option<Box<dyn Lease>>> {
        self.inner.try_lease(job).await
    }

    async fn user_in(&self, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        self.inner.user_in(tenant, scope, id).await
    }

    async fn users_in(&self, tenant: &TenantSlug, scope: Scope, query: &ListQuery, with_groups: bool) -> StoreResult<Page> {
        self.inner.users_in(tenant, scope, query, with_groups).await
    }

    async fn group_in(&self, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        self.inner.group_in(tenant, scope, id).await
    }

    async fn group_with_members(
        &self,
        tenant: &TenantSlug,
        scope: Scope,
        id: ResourceId,
        page: u32,
    ) -> StoreResult<Option<(ResourceRecord, crate::member_pages::MemberPages)>> {
        self.inner.group_with_members(tenant, scope, id, page).await
    }

    async fn group_snapshot(
        &self,
        tenant: &TenantSlug,
        id: ResourceId,
        named: Option<&[ResourceId]>,
    ) -> StoreResult<Option<GroupSnapshot>> {
        self.inner.group_snapshot(tenant, id, named).await
    }

    async fn groups_in(&self, tenant: &TenantSlug, scope: Scope, query: &ListQuery) -> StoreResult<Page> {
        self.inner.groups_in(tenant, scope, query).await
    }

    async fn routed_one(
        &self,
        parent: &TenantSlug,
        target: Target,
        scope: Scope,
        id: ResourceId,
    ) -> StoreResult<Vec<(TenantSlug, ResourceRecord)>> {
        self.inner.routed_one(parent, target, scope, id).await
    }

    async fn user_holders(&self, parent: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, TenantSlug>> {
        self.inner.user_holders(parent, users).await
    }

    async fn routed_page(
        &self,
        parent: &TenantSlug,
        target: Target,
        scope: Scope,
        query: &ListQuery,
        with_groups: bool,
    ) -> StoreResult<Page> {
        self.inner.routed_page(parent, target, scope, query, with_groups).await
    }

    async fn groups_of(&self, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        self.inner.groups_of(tenant, users).await
    }

    async fn members_of(&self, tenant: &TenantSlug, groups: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
        self.inner.members_of(tenant, groups).await
    }

    async fn resource_kinds(&self, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, MemberKind>> {
        self.inner.resource_kinds(tenant, ids).await
    }

    async fn owned(
        &self,
        tenant: &TenantSlug,
        kind: StreamKind,
        owner: Owner,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ResourceId, i64)>> {
        self.inner.owned(tenant, kind, owner, after, limit).await
    }

    async fn pending_purges(&self) -> StoreResult<Vec<(TenantSlug, Uuid)>> {
        self.inner.pending_purges().await
    }
}
