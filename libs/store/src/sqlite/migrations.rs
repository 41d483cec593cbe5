//! Schema migrations, numbered and applied in order, each once.

use rusqlite::{params, Connection, TransactionBehavior};

use super::{backend, time_text};
use crate::api::StoreResult;

/// (version, SQL). Append only: a released migration is never edited.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("migrations/0001_init.sql")), (2, include_str!("migrations/0002_logins.sql"))];

/// Applies the migrations the file lacks. `BEGIN IMMEDIATE` takes the write lock first, so two
/// processes opening a new file together apply each migration once.
pub fn run(connection: &mut Connection) -> StoreResult<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        .map_err(backend)?;
    for (version, sql) in MIGRATIONS {
        let applied: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| r.get(0)).map_err(backend)?;
        if !applied {
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, time_text::format(crate::api::now())],
            )
            .map_err(backend)?;
            tracing::info!(version, "applied migration");
        }
    }
    tx.commit().map_err(backend)
}
