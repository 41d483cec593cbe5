//! What each backend keeps for the master keys: users' data keys as wrapped, each with the id
//! of the master key that wrapped it, and the canary a process checks its keys against at
//! start. The SQL is the backends' (`postgres::keys`, `sqlite::keys`); what is wrapped how is
//! [`super::cipher`]'s.

use async_trait::async_trait;
use domain::master_key::{MasterKeyId, WrappedCount};
use domain::{ResourceId, TenantSlug};

use crate::api::{StoreError, StoreResult};

/// A key as stored: wrapped, and which master key wrapped it (`None` for keys wrapped before
/// master keys had ids: under the deployment's first master key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub master_key: Option<MasterKeyId>,
    pub wrapped: Vec<u8>,
}

/// One user's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKey {
    pub tenant: TenantSlug,
    pub user: ResourceId,
    pub key: WrappedKey,
}

/// A user's key wrapped anew, to be written only over the wrapping it was made from: a key
/// destroyed meanwhile (an erasure) stays destroyed.
#[derive(Debug, Clone)]
pub struct Rewrap {
    pub tenant: TenantSlug,
    pub user: ResourceId,
    pub old: Vec<u8>,
    pub new: WrappedKey,
}

/// Where a walk of the key table is: after this user of this tenant.
pub type KeyCursor = (TenantSlug, ResourceId);

#[async_trait]
pub trait KeyTable: Send + Sync {
    /// Up to `limit` keys after `after`, in (tenant, user) order, that `newest` does not wrap.
    async fn keys_not_under(&self, newest: &MasterKeyId, after: Option<&KeyCursor>, limit: u32) -> StoreResult<Vec<UserKey>>;
    /// Writes, in one transaction, each of `keys` whose row still holds its old wrapping;
    /// says how many it wrote.
    async fn rewrap(&self, keys: Vec<Rewrap>) -> StoreResult<u64>;
    /// How many keys each master key wraps, by id (keys without one first).
    async fn wrapped_counts(&self) -> StoreResult<Vec<WrappedCount>>;
    /// The canary, if any process made it yet.
    async fn canary(&self) -> StoreResult<Option<WrappedKey>>;
    /// Writes `new` as the canary if the stored one is still `old` (`None`: there is none);
    /// says whether it did.
    async fn swap_canary(&self, old: Option<&[u8]>, new: &WrappedKey) -> StoreResult<bool>;
}

/// The cursor a walk starts from: before every key (tenant slugs are never empty).
pub(crate) fn cursor_parts(after: Option<&KeyCursor>) -> (&str, ResourceId) {
    match after {
        Some((tenant, user)) => (tenant.as_str(), *user),
        None => ("", ResourceId::from_uuid(uuid::Uuid::nil())),
    }
}

/// A stored master key id, as backends read the column.
pub(crate) fn master_key_id(text: Option<String>) -> StoreResult<Option<MasterKeyId>> {
    text.map(|text| MasterKeyId::parse(&text).map_err(|e| StoreError::corrupt("a stored master key id", e))).transpose()
}
