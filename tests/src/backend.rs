//! Fresh databases for each test.

use std::path::PathBuf;
use std::sync::Arc;

/// Where a test's server keeps its data.
pub enum Backend {
    /// `keys` holds the master key file the server and the CLI share.
    Postgres {
        url: String,
        keys: Arc<tempfile::TempDir>,
    },
    Sqlite {
        dir: Arc<tempfile::TempDir>,
    },
}

impl Backend {
    pub async fn postgres() -> Self {
        let keys = tempfile::tempdir().expect("a temporary directory");
        // Made before any process starts: a configured master key file must exist.
        store::shred::master::KeyFile::open_or_create(&keys.path().join(store::shred::master::DEFAULT_FILE)).expect("a master key file");
        Backend::Postgres { url: store::testing::fresh_postgres_url().await, keys: Arc::new(keys) }
    }

    pub fn sqlite() -> Self {
        Backend::Sqlite { dir: Arc::new(tempfile::tempdir().expect("a temporary directory")) }
    }

    /// The environment that points a scimledger process at this backend.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Postgres { url, .. } => {
                vec![("SCIMLEDGER_DATABASE_URL", url.clone()), ("SCIMLEDGER_MASTER_KEY_FILE", self.master_key_file().display().to_string())]
            }
            Backend::Sqlite { dir } => {
                vec![("SCIMLEDGER_DATA_DIR", dir.path().display().to_string()), ("SCIMLEDGER_DATABASE_URL", String::new())]
            }
        }
    }

    /// The master key's file: given to PostgreSQL servers, made beside the embedded database.
    pub fn master_key_file(&self) -> PathBuf {
        match self {
            Backend::Postgres { keys, .. } => keys.path().join(store::shred::master::DEFAULT_FILE),
            Backend::Sqlite { dir } => dir.path().join(store::shred::master::DEFAULT_FILE),
        }
    }

    pub fn data_dir(&self) -> Option<PathBuf> {
        match self {
            Backend::Sqlite { dir } => Some(dir.path().to_path_buf()),
            Backend::Postgres { .. } => None,
        }
    }

    /// The store itself, opened beside the server (as the CLI does), to inspect the log: user
    /// events' personal fields decrypted with the server's master keys.
    pub async fn open_store(&self) -> Arc<dyn store::Store> {
        let keys = store::shred::master::KeyFile::open_or_create(&self.master_key_file()).expect("the master key");
        Arc::new(store::shred::Shredding::open(self.open_stored().await, Arc::new(keys)).await.expect("the master keys open the database"))
    }

    /// The store as the database holds it: personal fields encrypted.
    pub async fn open_stored(&self) -> Arc<dyn store::Store> {
        let backend = match self {
            Backend::Postgres { url, .. } => store::Backend::Postgres { url: store::DatabaseUrl::new(url.clone()), pool_size: 4 },
            Backend::Sqlite { dir } => store::Backend::Sqlite { data_dir: dir.path().to_path_buf() },
        };
        store::open(&backend).await.expect("opening the store beside the server")
    }

    /// The log's user and group events (what SCIM requests append), in log order.
    pub async fn scim_events(&self) -> Vec<store::RecordedEvent> {
        let log = self.open_store().await.read_log(0, u32::MAX).await.expect("reading the log");
        log.into_iter().filter(|e| matches!(e.kind, domain::StreamKind::User | domain::StreamKind::Group)).collect()
    }

    /// How many user and group events the log holds.
    pub async fn event_count(&self) -> usize {
        self.scim_events().await.len()
    }

    /// Runs SQL statements on the backend's database, behind scimledger's back (a server's
    /// writers may be busy: SQLite waits for them).
    pub async fn execute(&self, sql: &str) {
        match self {
            Backend::Postgres { url, .. } => {
                let client = postgres_client(url).await;
                client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            Backend::Sqlite { .. } => {
                self.sqlite_connection().execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
    }

    /// The first column, as text, of each row `query` returns.
    pub async fn texts(&self, query: &str) -> Vec<String> {
        match self {
            Backend::Postgres { url, .. } => {
                let client = postgres_client(url).await;
                let rows = client.query(query, &[]).await.unwrap_or_else(|e| panic!("{query}: {e}"));
                rows.iter().map(|row| row.get(0)).collect()
            }
            Backend::Sqlite { .. } => {
                let db = self.sqlite_connection();
                let mut statement = db.prepare(query).unwrap_or_else(|e| panic!("{query}: {e}"));
                let rows = statement.query_map([], |row| row.get(0)).unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            }
        }
    }

    fn sqlite_connection(&self) -> rusqlite::Connection {
        let db = rusqlite::Connection::open(self.data_dir().expect("a SQLite backend").join("scimledger.db")).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        db
    }
}

async fn postgres_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connecting to the test database");
    tokio::spawn(connection);
    client
}
