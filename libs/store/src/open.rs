//! Choosing the backend: a PostgreSQL URL, or else the SQLite file in the data directory.

use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{Store, StoreResult};
use crate::database_url::DatabaseUrl;
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `postgres://…`
    Postgres { url: DatabaseUrl, pool_size: usize },
    /// The embedded default: `<dir>/scimledger.db`.
    Sqlite { data_dir: PathBuf },
}

impl Backend {
    pub fn describe(&self) -> String {
        match self {
            Backend::Postgres { .. } => "postgres".to_owned(),
            Backend::Sqlite { data_dir } => format!("sqlite file {}", data_dir.join(crate::sqlite::DB_FILE).display()),
        }
    }
}

/// Opens the store (creating or migrating its schema). `serve` also takes the embedded file's
/// server lock, with [`SqliteStore::lock_for_server`], so two servers never share one file.
pub async fn open(backend: &Backend) -> StoreResult<Arc<dyn Store>> {
    Ok(match backend {
        Backend::Postgres { url, pool_size } => Arc::new(PgStore::connect(url.expose(), *pool_size).await?),
        Backend::Sqlite { data_dir } => Arc::new(SqliteStore::open(data_dir).await?),
    })
}
