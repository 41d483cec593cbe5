//! A value PostgreSQL refuses to store (a NUL character, a value too large for its index) is
//! the request's fault: 400 invalidValue with a detail, nothing appended, and the refused
//! userName still free. It was once a 503 "the store is unavailable; retry", which a client
//! retries for ever. (The parse layer may refuse such values first; this is the safety net.
//! SQLite stores both, so the promise is PostgreSQL's.)

use scimledger_e2e::{Backend, Server};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_postgres_cannot_store_is_400_invalid_value_and_changes_nothing() {
    let backend = Backend::postgres().await;
    let server = Server::start(&backend).await;
    let scim = server.tenant("acme").await;
    let before = backend.event_count().await;

    scim.post("/Users", &json!({"userName": "nul", "title": "a\u{0}b"})).await.expect_error(400, Some("invalidValue"));
    // Random, so that PostgreSQL cannot compress it under its index row limit (~2.7 kB).
    let long: String = (0..200).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
    scim.post("/Users", &json!({"userName": long})).await.expect_error(400, Some("invalidValue"));

    assert_eq!(backend.event_count().await, before, "nothing was appended");
    scim.post("/Users", &json!({"userName": "nul"})).await.expect(201);
}
