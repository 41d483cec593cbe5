//! The rebuild's shadow on SQLite: a second database file in the data directory, which the
//! live writer attaches to compare with it and to copy it in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};

use super::{append, backend, time_text, SqliteStore, DB_FILE};
use crate::api::{Commit, StoreError, StoreResult};
use crate::rebuild::{sql, Difference, Replayer, Shadow, Tables};

/// The shadow's directory under the data directory, and its name once attached.
const SHADOW: &str = "rebuild";

impl SqliteStore {
    fn shadow_dir(&self) -> PathBuf {
        self.data_dir.join(SHADOW)
    }
}

#[async_trait]
impl Shadow for SqliteStore {
    async fn open_shadow(&self) -> StoreResult<Arc<dyn Replayer>> {
        self.drop_shadow().await?;
        let shadow = SqliteStore::open(&self.shadow_dir()).await?;
        // The shadow is thrown away if the rebuild stops: its commits need not wait for the disk.
        shadow.writer.run(|c| c.pragma_update(None, "synchronous", "OFF").map_err(backend)).await?;
        Ok(Arc::new(shadow))
    }

    async fn shadow_differences(&self) -> StoreResult<Vec<Difference>> {
        let file = self.shadow_dir().join(DB_FILE);
        self.writer
            .run(move |c| {
                attached(c, &file, |c| {
                    let tx = c.transaction().map_err(backend)?;
                    let mut differences = Vec::new();
                    for (table, query) in sql::differences(SHADOW, "json_array") {
                        let mut statement = tx.prepare(&query).map_err(backend)?;
                        let rows = statement
                            .query_map([], |row| Ok(Difference { table, live_only: row.get(0)?, row: row.get(1)? }))
                            .map_err(backend)?;
                        for row in rows {
                            differences.push(row.map_err(backend)?);
                        }
                    }
                    tx.commit().map_err(backend)?;
                    Ok(differences)
                })
            })
            .await
    }

    async fn swap_in_shadow(&self, events: i64) -> StoreResult<bool> {
        let file = self.shadow_dir().join(DB_FILE);
        let swapped = self
            .writer
            .run(move |c| {
                attached(c, &file, |c| {
                    // The one writer of the file: other processes' writers wait (busy timeout)
                    // until the copy commits; readers go on seeing the old rows until then.
                    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
                    let logged: i64 = tx.query_row("SELECT count(*) FROM main.events", [], |row| row.get(0)).map_err(backend)?;
                    if logged != events {
                        return Ok(false);
                    }
                    for statement in sql::copy(SHADOW) {
                        tx.execute_batch(&statement).map_err(backend)?;
                    }
                    // Connections and operators were rewritten: the servers' credential caches reload.
                    tx.execute_batch("UPDATE main.credential_changes SET generation = generation + 1").map_err(backend)?;
                    tx.commit().map_err(backend)?;
                    Ok(true)
                })
            })
            .await?;
        if swapped {
            self.changes.committed_here();
        }
        Ok(swapped)
    }

    async fn drop_shadow(&self) -> StoreResult<()> {
        match std::fs::remove_dir_all(self.shadow_dir()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Config(format!("removing {}: {e}", self.shadow_dir().display())))
            }
            _ => Ok(()),
        }
    }
}

/// The shadow's store replays on its writer thread.
#[async_trait]
impl Replayer for SqliteStore {
    async fn replay(&self, commits: Vec<(Commit, i64)>) -> StoreResult<()> {
        self.writer.run(move |c| append::replay_all(c, &commits)).await
    }

    async fn load(&self, tables: Tables) -> StoreResult<()> {
        self.writer.run(move |c| load(c, &tables)).await
    }
}

/// Inserts every row of `tables` in one transaction, each table's by one prepared statement,
/// with the values as the append's SQL binds them (sqlite/append.rs).
fn load(c: &mut Connection, tables: &Tables) -> StoreResult<()> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    let time = |t| time_text::format(t);
    {
        let mut s = tx.prepare("INSERT INTO tenants (slug, created_at, parent) VALUES (?1, ?2, ?3)").map_err(backend)?;
        for (slug, t) in &tables.tenants {
            s.execute(params![slug.as_str(), time(t.created_at), t.parent]).map_err(backend)?;
        }
        let mut s = tx.prepare("INSERT INTO operators (id, name, created_at) VALUES (?1, ?2, ?3)").map_err(backend)?;
        for (id, (name, at)) in &tables.operators {
            s.execute(params![id.to_string(), name, time(*at)]).map_err(backend)?;
        }
        let mut s = tx
            .prepare(
                "INSERT INTO connections (id, tenant, name, auth, login, settings, created_at, disabled_at, purge_requested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(backend)?;
        for (id, c) in &tables.connections {
            s.execute(params![
                id.to_string(),
                c.tenant.as_str(),
                c.row.name,
                c.row.auth.as_str(),
                c.row.login,
                c.row.settings.to_string(),
                time(c.created_at),
                c.disabled_at.map(time),
                c.purge_requested_at.map(time)
            ])
            .map_err(backend)?;
        }
        let mut s = tx
            .prepare(
                "INSERT INTO users (tenant, id, seq, user_name, user_name_key, external_id, active, document, version, created_at, last_modified, groups, owner)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, json(?12), ?13)",
            )
            .map_err(backend)?;
        for ((tenant, id), u) in &tables.users {
            s.execute(params![
                tenant.as_str(),
                id.to_string(),
                u.seq,
                u.row.user_name,
                u.row.user_name_key,
                u.row.external_id,
                u.row.active,
                u.row.document.to_string(),
                u.version,
                time(u.created_at),
                time(u.last_modified),
                Tables::groups_json(&u.groups).to_string(),
                u.row.owner.to_string()
            ])
            .map_err(backend)?;
        }
        let mut s = tx
            .prepare("INSERT INTO user_values (tenant, user_id, attribute, value_type, value_key) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(backend)?;
        for ((tenant, id), values) in &tables.user_values {
            let id = id.to_string();
            for v in values {
                s.execute(params![tenant.as_str(), id, v.attribute, v.value_type, v.key]).map_err(backend)?;
            }
        }
        let mut s = tx
            .prepare(
                "INSERT INTO groups (tenant, id, seq, display_name, display_name_key, external_id, document, version, created_at, last_modified, owner)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(backend)?;
        for ((tenant, id), g) in &tables.groups {
            s.execute(params![
                tenant.as_str(),
                id.to_string(),
                g.seq,
                g.row.display_name,
                g.row.display_name_key,
                g.row.external_id,
                g.row.document.to_string(),
                g.version,
                time(g.created_at),
                time(g.last_modified),
                g.row.owner.to_string()
            ])
            .map_err(backend)?;
        }
        let mut s = tx
            .prepare("INSERT INTO memberships (tenant, group_id, member_id, member_kind, added) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(backend)?;
        for ((tenant, group), member, kind, added) in tables.membership_rows() {
            s.execute(params![tenant.as_str(), group.to_string(), member.to_string(), kind, added]).map_err(backend)?;
        }
        let mut s =
            tx.prepare("INSERT INTO resource_counts (tenant, kind, owner, stripe, total) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(backend)?;
        for ((tenant, kind, owner, stripe), total) in &tables.resource_counts {
            s.execute(params![tenant.as_str(), kind, owner.to_string(), stripe, total]).map_err(backend)?;
        }
        let mut s = tx
            .prepare("INSERT INTO resource_blocks (tenant, kind, owner, block, stripe, total) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(backend)?;
        for ((tenant, kind, owner, block, stripe), total) in &tables.resource_blocks {
            s.execute(params![tenant.as_str(), kind, owner.to_string(), block, stripe, total]).map_err(backend)?;
        }
        let mut s = tx
            .prepare("INSERT INTO devices (tenant, id, serial, name, kind, policy, assigned, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
            .map_err(backend)?;
        for ((tenant, id), (d, at)) in &tables.devices {
            s.execute(params![
                tenant.as_str(),
                id.to_string(),
                d.serial,
                d.name,
                d.kind,
                d.policy,
                d.assigned.map(|u| u.to_string()),
                time(*at)
            ])
            .map_err(backend)?;
        }
    }
    tx.commit().map_err(backend)
}

/// Runs `work` with the shadow attached, and detaches it whatever the outcome.
fn attached<T>(c: &mut Connection, file: &Path, work: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
    c.execute("ATTACH DATABASE ?1 AS rebuild", [file.to_string_lossy()]).map_err(backend)?;
    let result = work(c);
    c.execute_batch("DETACH DATABASE rebuild").map_err(backend)?;
    result
}
