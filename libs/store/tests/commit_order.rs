//! PostgreSQL's commit-order reads (ADR 0001, 0008): a transaction still running in this
//! database holds later events back until it ends; one running in another database of the same
//! cluster does not.

use domain::user::{User, UserCommand};
use domain::TenantSlug;
use scim::document::Document;
use scim::schema::USER_RESOURCE;
use serde_json::json;
use store::commands;
use store::postgres::PgStore;
use store::{Actor, EventMetadata, LogCursor, Store};
use tokio_postgres::{Client, NoTls};

async fn session(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("a session");
    tokio::spawn(connection);
    client
}

/// A transaction that has taken a transaction id, and stays open until committed.
async fn open_transaction(client: &Client) {
    client.batch_execute("BEGIN; SELECT pg_current_xact_id();").await.unwrap();
}

async fn provision(store: &dyn Store, tenant: &TenantSlug, name: &str) {
    let resource = Document::parse(&json!({"userName": name}), &USER_RESOURCE).unwrap();
    let metadata = EventMetadata::by(Actor::Operator("test".into()));
    commands::create::<User>(store, tenant, UserCommand::Provision { resource, owner: domain::Owner::Operator }, metadata).await.unwrap();
}

async fn user_names(store: &dyn Store, after: LogCursor) -> Vec<String> {
    let events = store.read_committed(after, 100).await.unwrap();
    events.iter().map(|(_, e)| e.payload.data["user_name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_this_databases_running_transactions_hold_events_back() {
    let url = store::testing::fresh_postgres_url().await;
    let store = PgStore::connect(&url, 4).await.unwrap();
    let tenant = TenantSlug::parse("acme").unwrap();

    let elsewhere = session(&store::testing::fresh_postgres_url().await).await;
    open_transaction(&elsewhere).await;
    provision(&store, &tenant, "a").await;
    assert_eq!(user_names(&store, LogCursor::default()).await, ["a"], "another database's transaction does not hold it back");

    let here = session(&url).await;
    open_transaction(&here).await;
    provision(&store, &tenant, "b").await;
    let (after_a, _) = store.read_committed(LogCursor::default(), 1).await.unwrap()[0].clone();
    assert!(user_names(&store, after_a).await.is_empty(), "an older transaction of this database is still running");
    here.batch_execute("COMMIT").await.unwrap();
    assert_eq!(user_names(&store, after_a).await, ["b"]);
    elsewhere.batch_execute("COMMIT").await.unwrap();
}
