//! The key table's SQL ([`crate::shred::table`]): data keys walked, re-wrapped and counted by
//! master key, and the canary.

use async_trait::async_trait;
use domain::master_key::{MasterKeyId, WrappedCount};
use domain::{ResourceId, TenantSlug};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{backend, on_session, PgStore};
use crate::api::{StoreError, StoreResult};
use crate::shred::table::{cursor_parts, master_key_id, KeyCursor, KeyTable, Rewrap, UserKey, WrappedKey};

/// The wrapped key in column `at` and the id of its master key in the next.
pub(super) fn wrapped_key(row: &Row, at: usize) -> StoreResult<WrappedKey> {
    Ok(WrappedKey { wrapped: row.get(at), master_key: master_key_id(row.get(at + 1))? })
}

#[async_trait]
impl KeyTable for PgStore {
    async fn keys_not_under(&self, newest: &MasterKeyId, after: Option<&KeyCursor>, limit: u32) -> StoreResult<Vec<UserKey>> {
        let (tenant, user) = cursor_parts(after);
        on_session!(&self.pool, &self.tls, |client| async move {
            let rows = client
                .query(
                    "SELECT tenant, user_id, wrapped, master_key FROM user_keys
                     WHERE (tenant, user_id) > ($1, $2) AND master_key IS DISTINCT FROM $3
                     ORDER BY tenant, user_id LIMIT $4",
                    &[&tenant, &user.as_uuid(), &newest.as_str(), &i64::from(limit)],
                )
                .await
                .map_err(backend)?;
            rows.iter()
                .map(|row| {
                    let tenant: String = row.get(0);
                    let tenant = TenantSlug::from_log(&tenant).map_err(|e| StoreError::corrupt("a stored user key's tenant", e))?;
                    Ok(UserKey { tenant, user: ResourceId::from_uuid(row.get::<_, Uuid>(1)), key: wrapped_key(row, 2)? })
                })
                .collect()
        })
    }

    async fn rewrap(&self, keys: Vec<Rewrap>) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let stmt = tx
            .prepare_cached("UPDATE user_keys SET wrapped = $4, master_key = $5 WHERE tenant = $1 AND user_id = $2 AND wrapped = $3")
            .await
            .map_err(backend)?;
        let mut written = 0;
        for key in &keys {
            let master_key = key.new.master_key.as_ref().map(MasterKeyId::as_str);
            written += tx
                .execute(&stmt, &[&key.tenant.as_str(), &key.user.as_uuid(), &key.old, &key.new.wrapped, &master_key])
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(written)
    }

    async fn wrapped_counts(&self) -> StoreResult<Vec<WrappedCount>> {
        on_session!(&self.pool, &self.tls, |client| async move {
            let rows = client
                .query("SELECT master_key, count(*) FROM user_keys GROUP BY master_key ORDER BY master_key NULLS FIRST", &[])
                .await
                .map_err(backend)?;
            rows.iter().map(|row| Ok(WrappedCount { master_key: master_key_id(row.get(0))?, keys: row.get::<_, i64>(1) as u64 })).collect()
        })
    }

    async fn canary(&self) -> StoreResult<Option<WrappedKey>> {
        on_session!(&self.pool, &self.tls, |client| async move {
            let row = client.query_opt("SELECT wrapped, master_key FROM master_key_canary", &[]).await.map_err(backend)?;
            row.map(|row| wrapped_key(&row, 0)).transpose()
        })
    }

    async fn swap_canary(&self, old: Option<&[u8]>, new: &WrappedKey) -> StoreResult<bool> {
        let master_key = new.master_key.as_ref().map(MasterKeyId::as_str);
        on_session!(&self.pool, &self.tls, |client| async move {
            let written = match old {
                None => {
                    client
                        .execute(
                            "INSERT INTO master_key_canary (id, master_key, wrapped) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
                            &[&master_key, &new.wrapped],
                        )
                        .await
                }
                Some(old) => {
                    client
                        .execute(
                            "UPDATE master_key_canary SET master_key = $1, wrapped = $2 WHERE id = 1 AND wrapped = $3",
                            &[&master_key, &new.wrapped, &old],
                        )
                        .await
                }
            }
            .map_err(backend)?;
            Ok(written == 1)
        })
    }
}
