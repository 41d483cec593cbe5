//! The key table's SQL ([`crate::shred::table`]): data keys walked, re-wrapped and counted by
//! master key, and the canary.

use async_trait::async_trait;
use domain::master_key::{MasterKeyId, WrappedCount};
use domain::TenantSlug;
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use super::{backend, SqliteStore};
use crate::api::{StoreError, StoreResult};
use crate::shred::table::{cursor_parts, master_key_id, KeyCursor, KeyTable, Rewrap, UserKey, WrappedKey};

/// The wrapped key in column `at` and the id of its master key in the next.
pub(super) fn wrapped_key(row: &Row<'_>, at: usize) -> StoreResult<WrappedKey> {
    Ok(WrappedKey { wrapped: row.get(at).map_err(backend)?, master_key: master_key_id(row.get(at + 1).map_err(backend)?)? })
}

#[async_trait]
impl KeyTable for SqliteStore {
    async fn keys_not_under(&self, newest: &MasterKeyId, after: Option<&KeyCursor>, limit: u32) -> StoreResult<Vec<UserKey>> {
        let (tenant, user) = cursor_parts(after);
        let (tenant, user, newest) = (tenant.to_owned(), user.to_string(), newest.to_string());
        self.readers
            .run(move |db| {
                let mut stmt = db
                    .prepare_cached(
                        "SELECT tenant, user_id, wrapped, master_key FROM user_keys
                         WHERE (tenant, user_id) > (?1, ?2) AND master_key IS NOT ?3
                         ORDER BY tenant, user_id LIMIT ?4",
                    )
                    .map_err(backend)?;
                let mut rows = stmt.query(params![tenant, user, newest, limit]).map_err(backend)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(backend)? {
                    let (tenant, user): (String, String) = (row.get(0).map_err(backend)?, row.get(1).map_err(backend)?);
                    out.push(UserKey {
                        tenant: TenantSlug::from_log(&tenant).map_err(|e| StoreError::corrupt("a stored user key's tenant", e))?,
                        user: user.parse().map_err(|e| StoreError::corrupt("a stored user key's user", e))?,
                        key: wrapped_key(row, 2)?,
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn rewrap(&self, keys: Vec<Rewrap>) -> StoreResult<u64> {
        self.writer
            .run(move |db| {
                let tx = db.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
                let mut written = 0;
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "UPDATE user_keys SET wrapped = ?4, master_key = ?5 WHERE tenant = ?1 AND user_id = ?2 AND wrapped = ?3",
                        )
                        .map_err(backend)?;
                    for key in &keys {
                        let master_key = key.new.master_key.as_ref().map(MasterKeyId::as_str);
                        written += stmt
                            .execute(params![key.tenant.as_str(), key.user.to_string(), key.old, key.new.wrapped, master_key])
                            .map_err(backend)? as u64;
                    }
                }
                tx.commit().map_err(backend)?;
                Ok(written)
            })
            .await
    }

    async fn wrapped_counts(&self) -> StoreResult<Vec<WrappedCount>> {
        self.readers
            .run(|db| {
                let mut stmt = db
                    .prepare_cached("SELECT master_key, count(*) FROM user_keys GROUP BY master_key ORDER BY master_key")
                    .map_err(backend)?;
                let mut rows = stmt.query([]).map_err(backend)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(backend)? {
                    let keys: i64 = row.get(1).map_err(backend)?;
                    out.push(WrappedCount { master_key: master_key_id(row.get(0).map_err(backend)?)?, keys: keys as u64 });
                }
                Ok(out)
            })
            .await
    }

    async fn canary(&self) -> StoreResult<Option<WrappedKey>> {
        self.readers
            .run(|db| {
                let row = db
                    .query_row("SELECT wrapped, master_key FROM master_key_canary", [], |row| Ok(wrapped_key(row, 0)))
                    .optional()
                    .map_err(backend)?;
                row.transpose()
            })
            .await
    }

    async fn swap_canary(&self, old: Option<&[u8]>, new: &WrappedKey) -> StoreResult<bool> {
        let (old, new) = (old.map(<[u8]>::to_vec), new.clone());
        self.writer
            .run(move |db| {
                let master_key = new.master_key.as_ref().map(MasterKeyId::as_str);
                let written = match old {
                    None => db.execute(
                        "INSERT INTO master_key_canary (id, master_key, wrapped) VALUES (1, ?1, ?2) ON CONFLICT (id) DO NOTHING",
                        params![master_key, new.wrapped],
                    ),
                    Some(old) => db.execute(
                        "UPDATE master_key_canary SET master_key = ?1, wrapped = ?2 WHERE id = 1 AND wrapped = ?3",
                        params![master_key, new.wrapped, old],
                    ),
                }
                .map_err(backend)?;
                Ok(written == 1)
            })
            .await
    }
}
