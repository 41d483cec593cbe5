//! A client that hangs up mid-write (an HTTP timeout drops the handler) must not leave a
//! PostgreSQL transaction half-done on a pooled connection: the append finishes on its own.

use std::time::Duration;

use domain::user::{User, UserCommand};
use domain::TenantSlug;
use scim::document::Document;
use scim::list::ListQuery;
use scim::schema::USER_RESOURCE;
use serde_json::json;
use store::commands;
use store::postgres::PgStore;
use store::{Actor, EventMetadata, Store};
use tokio_postgres::NoTls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_whose_caller_stops_waiting_commits_whole_and_frees_its_connection() {
    let url = store::testing::fresh_postgres_url().await;
    // One connection, so the second write below must reuse the one the first was on.
    let store = PgStore::connect(&url, 1).await.unwrap();
    let tenant = TenantSlug::parse("acme").unwrap();

    // Another session holds the users table, so the append blocks inside its transaction.
    let (blocker, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    blocker.batch_execute("BEGIN; LOCK TABLE users IN EXCLUSIVE MODE").await.unwrap();

    let create = |name: &str| {
        let resource = Document::parse(&json!({"userName": name}), &USER_RESOURCE).unwrap();
        let operator = EventMetadata::by(Actor::Operator("test".into()));
        commands::create::<User>(&store, &tenant, UserCommand::Provision { resource, owner: domain::Owner::Operator }, operator)
    };
    let gave_up = tokio::time::timeout(Duration::from_millis(300), create("first")).await;
    assert!(gave_up.is_err(), "the append was blocked, so the caller gave up first");
    blocker.batch_execute("COMMIT").await.unwrap();

    let second = create("second").await.expect("the connection came back usable");
    let log = store.read_log(0, 10).await.unwrap();
    assert_eq!(log.len(), 2, "the abandoned append committed, then the second");
    assert_eq!(log[1].stream, second.id);
    let by_name = ListQuery::from_params([("sortBy", "userName")], &USER_RESOURCE).unwrap();
    let names: Vec<String> = store
        .users(&tenant, &by_name, false)
        .await
        .unwrap()
        .records
        .iter()
        .map(|r| r.document["userName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["first", "second"], "each with its read-model row");
}
