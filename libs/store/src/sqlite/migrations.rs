//! Schema migrations, numbered and applied in order, each once.

use rusqlite::Connection;

use super::backend;
use crate::api::StoreResult;

/// (version, SQL). Append only: a released migration is never edited.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("migrations/0001_init.sql"))];

pub fn run(connection: &mut Connection) -> StoreResult<()> {
    let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .map_err(backend)?;
    for (version, sql) in MIGRATIONS {
        let applied: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| r.get(0)).map_err(backend)?;
        if !applied {
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES (?1)", [version]).map_err(backend)?;
            tracing::info!(version, "applied migration");
        }
    }
    tx.commit().map_err(backend)
}
