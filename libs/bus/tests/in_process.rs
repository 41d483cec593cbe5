//! The in-process bus on both backends: every committed event, in commit order, once per
//! subscriber; a restarted subscriber resumes from its checkpoint; a refused event comes again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bus::{Envelope, InProcessBus, Subscriber};
use domain::user::{User, UserCommand};
use domain::TenantSlug;
use scim::document::Document;
use scim::schema::USER_RESOURCE;
use serde_json::json;
use store::commands;
use store::{Actor, EventMetadata, Store};

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Envelope>>,
    /// Refuse the first delivery of this many events, to prove redelivery.
    refusals_left: Mutex<usize>,
}

#[async_trait]
impl Subscriber for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn handle(&self, envelope: &Envelope, _: store::LogCursor) -> anyhow::Result<()> {
        let mut refusals = self.refusals_left.lock().unwrap();
        if *refusals > 0 {
            *refusals -= 1;
            anyhow::bail!("not now");
        }
        self.seen.lock().unwrap().push(envelope.clone());
        Ok(())
    }
}

impl Recorder {
    fn user_names(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|e| e.json["data"]["user_name"].as_str().unwrap_or("").to_owned()).collect()
    }

    async fn wait_for(&self, count: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.seen.lock().unwrap().len() < count {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("expected {count} events, got {:?}", self.user_names()));
    }
}

async fn provision(store: &dyn Store, tenant: &TenantSlug, name: &str) {
    let resource = Document::parse(&json!({"userName": name}), &USER_RESOURCE).unwrap();
    let metadata = EventMetadata::by(Actor::Operator("test".into()));
    commands::create::<User>(store, tenant, UserCommand::Provision { resource, owner: domain::Owner::Operator }, metadata).await.unwrap();
}

async fn delivers_in_order_and_resumes(store: Arc<dyn Store>) {
    let tenant = TenantSlug::parse("acme").unwrap();
    for name in ["a", "b", "c"] {
        provision(&*store, &tenant, name).await;
    }
    let first = Arc::new(Recorder { refusals_left: Mutex::new(1), ..Default::default() });
    let mut bus = InProcessBus::new(Arc::clone(&store));
    bus.subscribe(first.clone());
    first.wait_for(3).await;
    provision(&*store, &tenant, "d").await;
    first.wait_for(4).await;
    assert_eq!(first.user_names(), ["a", "b", "c", "d"], "in commit order, the refused one delivered again");
    let positions: Vec<i64> = first.seen.lock().unwrap().iter().map(|e| e.json["position"].as_i64().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(first.seen.lock().unwrap()[0].subject, "scimledger.acme.user.provisioned");
    bus.stop().await;

    // Events committed while no subscriber runs wait for it; a restart resumes at its checkpoint.
    provision(&*store, &tenant, "e").await;
    let second = Arc::new(Recorder::default());
    let mut bus = InProcessBus::new(Arc::clone(&store));
    bus.subscribe(second.clone());
    second.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(second.user_names(), ["e"]);
    bus.stop().await;
}

#[tokio::test]
async fn postgres() {
    delivers_in_order_and_resumes(store::testing::postgres().await).await;
}

#[tokio::test]
async fn sqlite() {
    let (store, _dir) = store::testing::sqlite().await;
    delivers_in_order_and_resumes(store).await;
}

/// Two processes of one PostgreSQL deployment run the same subscriber: one holds its lease and
/// handles every event; the other stands by, says so in its health, and takes over from the
/// saved checkpoint once the first stops.
#[tokio::test]
async fn one_process_runs_a_subscriber_and_another_takes_over() {
    let url = store::testing::fresh_postgres_url().await;
    let store: Arc<dyn Store> = Arc::new(store::postgres::PgStore::connect(&url, 4).await.unwrap());
    let other: Arc<dyn Store> = Arc::new(store::postgres::PgStore::connect(&url, 4).await.unwrap());
    let tenant = TenantSlug::parse("acme").unwrap();
    provision(&*store, &tenant, "a").await;
    let (first, second) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let mut active = InProcessBus::new(Arc::clone(&store));
    active.subscribe(first.clone());
    first.wait_for(1).await;
    let mut standby = InProcessBus::new(Arc::clone(&other));
    standby.subscribe(second.clone());
    provision(&*store, &tenant, "b").await;
    first.wait_for(2).await;
    let health = |bus: &InProcessBus| bus.health().subscribers().into_iter().map(|h| (h.active, h.handled)).collect::<Vec<_>>();
    assert_eq!(health(&active), [(true, 2)]);
    assert_eq!(health(&standby), [(false, 0)]);
    assert!(second.user_names().is_empty(), "the standby handled nothing");

    active.stop().await;
    provision(&*store, &tenant, "c").await;
    second.wait_for(1).await;
    assert_eq!(second.user_names(), ["c"], "taken over where the first left off");
    assert_eq!(health(&standby), [(true, 1)]);
    standby.stop().await;
}
