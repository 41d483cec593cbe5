//! The sealer seals in log order (ADR 0052): on PostgreSQL an event may commit after one with a
//! higher position is already visible, so sealing waits until no running transaction can still
//! commit a lower position; otherwise the late event would sit unsealed among sealed ones and
//! `verify` would call it inserted.

use domain::user::{User, UserCommand};
use domain::TenantSlug;
use scim::document::Document;
use scim::schema::USER_RESOURCE;
use serde_json::json;
use store::postgres::PgStore;
use store::{commands, seal, Actor, EventMetadata, Store};
use tokio_postgres::NoTls;

async fn provision(store: &dyn Store, tenant: &TenantSlug, name: &str) {
    let resource = Document::parse(&json!({"userName": name}), &USER_RESOURCE).unwrap();
    let metadata = EventMetadata::by(Actor::Operator("test".into()));
    commands::create::<User>(store, tenant, UserCommand::Provision { resource, owner: domain::Owner::Operator }, metadata).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_commits_late_with_a_lower_position_is_sealed_in_its_place() {
    let url = store::testing::fresh_postgres_url().await;
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(PgStore::connect(&url, 4).await.unwrap());
    let tenant = TenantSlug::parse("acme").unwrap();
    provision(&*store, &tenant, "first").await;

    // A writer takes the next position and stays open; a later one commits a higher position.
    let (late, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let held: i64 = {
        late.batch_execute("BEGIN").await.unwrap();
        let row = late
            .query_one(
                "INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
                 VALUES (gen_random_uuid(), 'acme', 'user', gen_random_uuid(), 1, 'user.provisioned', 1,
                         '{\"user_name\": \"late\", \"active\": null, \"profile\": {}, \"owner\": \"operator\"}', '{\"operator\": \"test\"}', now())
                 RETURNING position",
                &[],
            )
            .await
            .unwrap();
        row.get(0)
    };
    provision(&*store, &tenant, "second").await;
    assert!(store.head().await.unwrap() > held, "the later writer's event is visible above the held position");

    // Sealing now must not run ahead of the held position: it waits for the late commit.
    let sealing = tokio::spawn({
        let store = std::sync::Arc::clone(&store);
        async move { seal::seal_settled(&*store).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    late.batch_execute("COMMIT").await.unwrap();
    sealing.await.unwrap().unwrap();
    seal::seal_settled(&*store).await.unwrap();

    let verdict = seal::verify(&*store, &tenant, None).await.unwrap();
    assert_eq!(verdict.problem, None, "{verdict:?}");
    assert_eq!((verdict.verified, verdict.unsealed), (3, 0), "all three sealed, in log order: {verdict:?}");
}
