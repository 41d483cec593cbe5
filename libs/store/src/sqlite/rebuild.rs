//! The rebuild's shadow on SQLite: a second database file in the data directory, which the
//! live writer attaches to compare with it and to copy it in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior};

use super::{append, backend, SqliteStore, DB_FILE};
use crate::api::{Commit, StoreError, StoreResult};
use crate::rebuild::{sql, Difference, Replayer, Shadow};

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
        self.writer
            .run(move |c| {
                attached(c, &file, |c| {
                    // The one writer of the file: other processes' writers wait (busy timeout)
                    // until the copy commits; readers go on seeing the old rows until then.
                    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
                    let logged: i64 = tx.query_row("SELECT count(*) FROM main.events", [], |row| row.get(0)).map_err(backend)?;
                    if logged != events {
                        return Ok(false);
                    }
                    for statement in sql::copy(SHADOW, "") {
                        tx.execute_batch(&statement).map_err(backend)?;
                    }
                    tx.commit().map_err(backend)?;
                    Ok(true)
                })
            })
            .await
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
}

/// Runs `work` with the shadow attached, and detaches it whatever the outcome.
fn attached<T>(c: &mut Connection, file: &Path, work: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
    c.execute("ATTACH DATABASE ?1 AS rebuild", [file.to_string_lossy()]).map_err(backend)?;
    let result = work(c);
    c.execute_batch("DETACH DATABASE rebuild").map_err(backend)?;
    result
}
