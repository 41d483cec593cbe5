//! Fresh stores for the cross-backend suite: a new PostgreSQL database per test (on the server
//! `SCIMLEDGER_TEST_DATABASE_URL` names; `make test` provides one) or a new SQLite directory.

use std::sync::Arc;

use domain::group::{Group, GroupCommand};
use domain::user::{User, UserCommand};
use domain::{ResourceId, TenantSlug};
use scim::document::Document;
use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::Value;
use store::commands::{self, CommandError};
use store::postgres::PgStore;
use store::sqlite::SqliteStore;
use store::{Actor, EventMetadata, Store};
use tokio_postgres::NoTls;

/// A store under test, and what keeps its database alive.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub tenant: TenantSlug,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server tests create their databases on. Missing is a failure, not a skip:
/// `make test` always provides one.
pub fn postgres_admin_url() -> String {
    std::env::var("SCIMLEDGER_TEST_DATABASE_URL")
        .expect("SCIMLEDGER_TEST_DATABASE_URL is not set: run the tests with `make test` (scripts/with-test-services.sh starts PostgreSQL)")
}

/// Creates an empty database and returns its URL.
pub async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let (client, connection) = tokio_postgres::connect(&admin, NoTls).await.expect("connecting to the test PostgreSQL server");
    tokio::spawn(connection);
    let name = format!("scimledger_test_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("creating a test database");
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

pub async fn postgres() -> Fixture {
    let url = fresh_postgres_database().await;
    let store = PgStore::connect(&url, 32).await.expect("opening the PostgreSQL store");
    with_tenant(Arc::new(store), None).await
}

pub async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path()).await.expect("opening the SQLite store");
    with_tenant(Arc::new(store), Some(dir)).await
}

async fn with_tenant(store: Arc<dyn Store>, dir: Option<tempfile::TempDir>) -> Fixture {
    let tenant = TenantSlug::parse("acme").unwrap();
    store.create_tenant(&tenant).await.expect("creating the tenant");
    Fixture { store, tenant, _dir: dir }
}

/// Runs one async test body against each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($fixture:ident: Fixture) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($fixture: support::Fixture) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    body(support::postgres().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    body(support::sqlite().await).await
                }
            }
        )*
    };
}

pub fn operator() -> EventMetadata {
    EventMetadata { actor: Actor::Operator("test".into()), request_id: None, trace_id: None }
}

pub fn user_doc(value: Value) -> Document {
    Document::parse(&value, &USER_RESOURCE).expect("a valid user")
}

pub fn group_doc(value: Value) -> Document {
    Document::parse(&value, &GROUP_RESOURCE).expect("a valid group")
}

impl Fixture {
    pub async fn provision(&self, user: Value) -> Result<ResourceId, CommandError> {
        let outcome =
            commands::create::<User>(&*self.store, &self.tenant, UserCommand::Provision { resource: user_doc(user) }, operator()).await?;
        Ok(outcome.id)
    }

    pub async fn create_group(&self, group: Value) -> Result<ResourceId, CommandError> {
        let outcome =
            commands::create::<Group>(&*self.store, &self.tenant, GroupCommand::Create { resource: group_doc(group) }, operator()).await?;
        Ok(outcome.id)
    }

    pub async fn event_count(&self) -> usize {
        self.store.read_log(0, u32::MAX).await.expect("reading the log").len()
    }
}
