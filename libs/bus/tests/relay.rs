//! The relay as a library, on a fresh PostgreSQL database and the shared NATS: an event whose
//! transaction took its position first but commits last is published, not skipped; and NATS
//! consumers get the very envelopes in-process subscribers get.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use async_trait::async_trait;
use bus::nats::{Relay, RelaySettings, StreamSettings};
use bus::{Envelope, InProcessBus, Subscriber};
use domain::user::{User, UserCommand};
use domain::TenantSlug;
use futures::StreamExt;
use scim::document::Document;
use scim::schema::USER_RESOURCE;
use serde_json::{json, Value};
use store::commands;
use store::postgres::PgStore;
use store::{Actor, EventMetadata, Store};
use tokio_postgres::NoTls;

#[derive(Default)]
struct Recorder(Mutex<Vec<Value>>);

#[async_trait]
impl Subscriber for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn handle(&self, envelope: &Envelope, _: store::LogCursor) -> anyhow::Result<()> {
        self.0.lock().unwrap().push(envelope.json.clone());
        Ok(())
    }
}

async fn stored(js: &jetstream::Context, stream: &str) -> u64 {
    match js.get_stream(stream).await {
        Ok(mut stream) => stream.info().await.expect("stream info").state.messages,
        Err(_) => 0,
    }
}

async fn read_all(js: &jetstream::Context, stream: &str, count: usize) -> Vec<Value> {
    let stream = js.get_stream(stream).await.expect("the stream");
    let consumer = stream.create_consumer(jetstream::consumer::pull::OrderedConfig::default()).await.expect("a consumer");
    let messages = consumer.messages().await.expect("messages");
    messages.take(count).map(|m| serde_json::from_slice(&m.expect("a message").payload).expect("JSON")).collect().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_is_published_and_in_process_subscribers_get_the_same_envelopes() {
    let url = store::testing::fresh_postgres_url().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url, 4).await.expect("the store"));
    let nats_url =
        std::env::var("SCIMLEDGER_TEST_NATS_URL").expect("SCIMLEDGER_TEST_NATS_URL is not set: run under scripts/with-test-services.sh");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let tenant = TenantSlug::parse(&format!("t{}", &id[..12])).unwrap();
    let settings = RelaySettings {
        max_resource_bytes: bus::nats::relay::DEFAULT_MAX_RESOURCE_BYTES,
        url: nats_url.clone(),
        stream: StreamSettings {
            name: format!("TEST_{}", &id[..12]),
            subjects: vec![format!("scimledger.{tenant}.>")],
            replicas: 1,
            max_age: Duration::from_secs(3600),
            duplicate_window: Duration::from_secs(600),
        },
        checkpoint_every: Duration::ZERO,
    };

    // A slow writer takes its position, and stays open.
    let (slow, connection) = tokio_postgres::connect(&url, NoTls).await.expect("a second session");
    tokio::spawn(connection);
    slow.batch_execute("BEGIN").await.unwrap();
    let late = uuid::Uuid::now_v7();
    slow.execute(
        "INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
         VALUES ($1, $2, 'user', $3, 1, 'user.provisioned', 1, '{\"user_name\": \"late\", \"active\": true, \"profile\": {}}', '{\"operator\": \"test\"}', now())",
        &[&late, &tenant.as_str(), &uuid::Uuid::now_v7()],
    )
    .await
    .unwrap();

    // A fast one takes a later position and commits first.
    let resource = Document::parse(&json!({"userName": "early"}), &USER_RESOURCE).unwrap();
    let metadata = EventMetadata::by(Actor::Operator("test".into()));
    commands::create::<User>(&*store, &tenant, UserCommand::Provision { resource, owner: domain::Owner::Operator }, metadata)
        .await
        .unwrap();
    let log = store.read_log(0, 10).await.unwrap();
    assert_eq!(log.len(), 1, "only the fast writer's event is committed");
    assert!(log[0].position > 1, "the slow writer holds the earlier position");

    let relay = Relay::start(Arc::clone(&store), settings.clone());
    let recorder = Arc::new(Recorder::default());
    let mut bus = InProcessBus::new(Arc::clone(&store));
    bus.subscribe(recorder.clone());
    slow.batch_execute("COMMIT").await.unwrap();
    let js = jetstream::new(async_nats::connect(&nats_url).await.unwrap());
    tokio::time::timeout(Duration::from_secs(60), async {
        while stored(&js, &settings.stream.name).await < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("both events are published");
    let envelopes = read_all(&js, &settings.stream.name, 2).await;
    let mut names: Vec<&str> = envelopes.iter().map(|e| e["data"]["user_name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["early", "late"], "the late commit is not skipped");
    assert!(envelopes.iter().any(|e| e["id"] == late.to_string() && e["position"] == 1));
    relay.stop().await;
    tokio::time::timeout(Duration::from_secs(60), async {
        while recorder.0.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the in-process subscriber gets both events");
    bus.stop().await;
    assert_eq!(*recorder.0.lock().unwrap(), envelopes, "the same envelopes, in the same order");
    assert_eq!(stored(&js, &settings.stream.name).await, 2);
    js.delete_stream(&settings.stream.name).await.expect("deleting the test's stream");
}
