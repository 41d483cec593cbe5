//! Fresh databases for tests (feature `testing`): a new PostgreSQL database per test on the
//! server `SCIMLEDGER_TEST_DATABASE_URL` names (`make test` provides one), or a new SQLite
//! directory. A missing server fails the test loudly; tests are never skipped for want of one.

use std::sync::Arc;

use tokio_postgres::NoTls;

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::Store;

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres_url() -> String {
    create_postgres_database("").await
}

/// A store on a fresh PostgreSQL database whose default collation is English (ICU), as many
/// production servers have: text order there differs from code points ("ärger" < "j"), which
/// the query compiler must not let through.
pub async fn postgres_linguistic() -> Arc<dyn Store> {
    let url = create_postgres_database(" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'").await;
    Arc::new(PgStore::connect(&url, 8).await.expect("opening the PostgreSQL store"))
}

/// `CREATE DATABASE <fresh name><options>`; the database's URL.
async fn create_postgres_database(options: &str) -> String {
    let admin = std::env::var("SCIMLEDGER_TEST_DATABASE_URL").expect(
        "SCIMLEDGER_TEST_DATABASE_URL is not set: run the tests with `make test` (scripts/with-test-services.sh starts PostgreSQL)",
    );
    let (client, connection) = tokio_postgres::connect(&admin, NoTls).await.expect("connecting to the test PostgreSQL server");
    tokio::spawn(connection);
    // The run's id goes into the name so that `make test` drops only its own databases when it
    // ends, not those of another run on the same server.
    let run = std::env::var("SCIMLEDGER_TEST_RUN").unwrap_or_else(|_| "adhoc".to_owned());
    let name = format!("scimledger_test_{run}_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    client.batch_execute(&format!("CREATE DATABASE {name}{options}")).await.expect("creating a test database");
    let mut config: tokio_postgres::Config = admin.parse().expect("a valid test database URL");
    config.dbname(&name);
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    format!("postgres://{user}@{host}:{port}/{name}")
}

/// A store on a fresh PostgreSQL database.
pub async fn postgres() -> Arc<dyn Store> {
    Arc::new(PgStore::connect(&fresh_postgres_url().await, 32).await.expect("opening the PostgreSQL store"))
}

/// A store on a fresh SQLite directory, which lives as long as the returned guard.
pub async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path()).await.expect("opening the SQLite store");
    (Arc::new(store), dir)
}
