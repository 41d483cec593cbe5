//! Fresh databases for each test.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_postgres::NoTls;

/// Where a test's server keeps its data.
pub enum Backend {
    Postgres { url: String },
    Sqlite { dir: Arc<tempfile::TempDir> },
}

impl Backend {
    /// A new, empty PostgreSQL database. Without `SCIMLEDGER_TEST_DATABASE_URL` the test fails:
    /// `make test` always provides a server.
    pub async fn postgres() -> Self {
        let admin = std::env::var("SCIMLEDGER_TEST_DATABASE_URL").expect(
            "SCIMLEDGER_TEST_DATABASE_URL is not set: run the tests with `make test` (scripts/with-test-services.sh starts PostgreSQL)",
        );
        let (client, connection) = tokio_postgres::connect(&admin, NoTls).await.expect("connecting to the test PostgreSQL server");
        tokio::spawn(connection);
        let name = format!("scimledger_e2e_{}", uuid::Uuid::new_v4().simple());
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("creating a test database");
        let mut config: tokio_postgres::Config = admin.parse().expect("a valid test database URL");
        config.dbname(&name);
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        Backend::Postgres { url: format!("postgres://{user}@{host}:{port}/{name}") }
    }

    pub fn sqlite() -> Self {
        Backend::Sqlite { dir: Arc::new(tempfile::tempdir().expect("a temporary directory")) }
    }

    /// The environment that points a scimledger process at this backend.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Postgres { url } => vec![("SCIMLEDGER_DATABASE_URL", url.clone())],
            Backend::Sqlite { dir } => {
                vec![("SCIMLEDGER_DATA_DIR", dir.path().display().to_string()), ("SCIMLEDGER_DATABASE_URL", String::new())]
            }
        }
    }

    pub fn data_dir(&self) -> Option<PathBuf> {
        match self {
            Backend::Sqlite { dir } => Some(dir.path().to_path_buf()),
            Backend::Postgres { .. } => None,
        }
    }

    /// The store itself, opened beside the server (as the CLI does), to inspect the log.
    pub async fn open_store(&self) -> Arc<dyn store::Store> {
        let backend = match self {
            Backend::Postgres { url } => store::Backend::Postgres { url: url.clone(), pool_size: 4 },
            Backend::Sqlite { dir } => store::Backend::Sqlite { data_dir: dir.path().to_path_buf() },
        };
        store::open(&backend).await.expect("opening the store beside the server")
    }

    /// How many events the log holds.
    pub async fn event_count(&self) -> usize {
        self.open_store().await.read_log(0, u32::MAX).await.expect("reading the log").len()
    }
}
