//! Choosing the backend: a PostgreSQL URL, or else the SQLite file in the data directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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

/// How the store bounds the work it is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The longest a statement runs: PostgreSQL's `statement_timeout` on every pooled
    /// connection, and an interrupt of an SQLite read. `serve` sets it to the request timeout,
    /// so no statement outlives the request that asked for it.
    pub statement_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { statement_timeout: Duration::from_secs(30) }
    }
}

/// Opens the store (creating or migrating its schema). `serve` also takes the embedded file's
/// server lock, with [`SqliteStore::lock_for_server`], so two servers never share one file.
pub async fn open(backend: &Backend) -> StoreResult<Arc<dyn Store>> {
    open_with(backend, &Options::default()).await
}

/// [`open`] with other [`Options`].
pub async fn open_with(backend: &Backend, options: &Options) -> StoreResult<Arc<dyn Store>> {
    Ok(match backend {
        Backend::Postgres { url, pool_size } => Arc::new(PgStore::connect_with(url.expose(), *pool_size, options).await?),
        Backend::Sqlite { data_dir } => Arc::new(SqliteStore::open_with(data_dir, options).await?),
    })
}
