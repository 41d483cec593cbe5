//! The NATS relay end to end: the built server, real PostgreSQL (or SQLite) and real NATS
//! JetStream. Every event of the log arrives on the stream exactly once, each resource's in
//! version order, through concurrent writes, a relay killed before its checkpoint, NATS going
//! away for a while, and a relay that dies while another stands by.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use scimledger_e2e::nats::{assert_exactly_the_log, Events, ThrowawayNats};
use scimledger_e2e::{on_both_backends, Backend, Scim, Server};
use serde_json::json;
use store::LogCursor;

/// Generous bounds for things that normally take well under a second on a quiet machine.
const DELIVERY: Duration = Duration::from_secs(60);
const TAKEOVER: Duration = Duration::from_secs(30);
/// Settings that have a test server also log the relay's life cycle and its duplicates, as
/// JSON lines (fields spelled `"name":value`).
fn with_relay_log(mut settings: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    settings.push(("RUST_LOG", "warn,bus=info".into()));
    settings.push(("SCIMLEDGER_LOG_FORMAT", "json".into()));
    settings
}

fn patch(operations: serde_json::Value) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// One writer's life: provision a user, deactivate it, reactivate it, rename it, and add it to
/// the shared group (many writers change that one resource), until `stop`; every write must
/// succeed. Returns how many writes it made.
async fn write_until(scim: Scim, writer: String, group: String, stop: Arc<AtomicBool>) -> usize {
    let mut writes = 0;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let body = json!({"userName": format!("w{writer}-{n}@example.com"), "emails": [{"value": format!("w{writer}-{n}@example.com"), "primary": true}]});
        let id = scim.post("/Users", &body).await.expect(201)["id"].as_str().unwrap().to_owned();
        let path = format!("/Users/{id}");
        scim.patch(&path, &patch(json!([{"op": "replace", "path": "active", "value": false}]))).await.expect(200);
        scim.patch(&path, &patch(json!([{"op": "replace", "path": "active", "value": true}]))).await.expect(200);
        scim.patch(&path, &patch(json!([{"op": "replace", "path": "userName", "value": format!("w{writer}-{n}-renamed")}])))
            .await
            .expect(200);
        scim.patch(&format!("/Groups/{group}"), &patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])))
            .await
            .expect(204);
        writes += 5;
        n += 1;
    }
    writes
}

/// Runs `writers` concurrent writers on `scim` until `stop`; `tag` keeps their userNames apart
/// from those of other loads.
async fn load(scim: &Scim, tag: &str, writers: usize, group: &str, stop: Arc<AtomicBool>) -> usize {
    join_all((0..writers).map(|w| tokio::spawn(write_until(scim.clone(), format!("{tag}{w}"), group.to_owned(), Arc::clone(&stop)))))
        .await
        .into_iter()
        .map(|writes| writes.expect("a writer"))
        .sum()
}

async fn stop_after(duration: Duration) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    tokio::spawn(async move {
        tokio::time::sleep(duration).await;
        flag.store(true, Ordering::Relaxed);
    });
    stop
}

async fn shared_group(scim: &Scim) -> String {
    scim.post("/Groups", &json!({"displayName": "Everyone"})).await.expect(201)["id"].as_str().unwrap().to_owned()
}

/// Waits until the stream holds every event of the log, then checks it holds nothing else.
async fn assert_stream_is_the_log(events: &Events, backend: &Backend) {
    let log = backend.open_store().await.read_log(0, u32::MAX).await.expect("the log");
    events.wait_for_stored(log.len() as u64, DELIVERY).await;
    let envelopes = events.read_all().await;
    assert_exactly_the_log(&envelopes, &log);
    assert_eq!(events.stored().await, log.len() as u64, "the stream holds no duplicate");
    eprintln!("{} events in the log, each once on the stream, in order per resource", log.len());
}

on_both_backends! {
    async fn fifty_concurrent_writers_for_ten_seconds_every_event_once_in_order(backend: Backend) {
        let events = Events::shared();
        let server = Server::start_with(&backend, events.settings()).await;
        let scim = server.tenant(&events.tenant).await;
        let group = shared_group(&scim).await;
        let writes = load(&scim, "w", 50, &group, stop_after(Duration::from_secs(10)).await).await;
        assert!(writes > 50, "the writers wrote ({writes} writes)");
        assert_stream_is_the_log(&events, &backend).await;
        events.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_between_publish_and_checkpoint_republishes_and_nothing_is_duplicated() {
    let backend = Backend::postgres().await;
    let events = Events::shared();
    // A checkpoint saved once an hour: everything the first relay publishes stays unsaved.
    let mut settings = events.settings();
    settings.push(("SCIMLEDGER_RELAY_CHECKPOINT_MS", "3600000".into()));
    let first = Server::start_with(&backend, settings).await;
    let scim = first.tenant(&events.tenant).await;
    for n in 0..20 {
        scim.post("/Users", &json!({"userName": format!("before-{n}")})).await.expect(201);
    }
    // Every event of the log, the tenant's and the connection's too.
    let published = backend.open_store().await.read_log(0, u32::MAX).await.expect("the log").len() as u64;
    events.wait_for_stored(published, DELIVERY).await;
    let store = backend.open_store().await;
    assert_eq!(store.checkpoint(&events.relay_job()).await.unwrap(), LogCursor::default(), "published, not yet checkpointed");
    first.kill().await;

    let second = Server::start_with(&backend, with_relay_log(events.settings())).await;
    let scim = scim.with_base(&format!("{}/scim/v2/{}", second.base, events.tenant));
    for n in 0..5 {
        scim.post("/Users", &json!({"userName": format!("after-{n}")})).await.expect(201);
    }
    // The restarted relay starts again from the start of the log: JetStream drops what it has.
    let line = second.wait_for_log("dropped as duplicates", DELIVERY).await;
    assert!(line.contains(&format!("\"duplicates\":{published}")), "every unsaved event re-published once: {line}");
    assert_stream_is_the_log(&events, &backend).await;
    events.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stopped_for_ten_seconds_writes_go_on_and_every_event_arrives_in_order() {
    let backend = Backend::postgres().await;
    let mut nats = ThrowawayNats::start().await;
    let events = Events::on(nats.url());
    let server = Server::start_with(&backend, events.settings()).await;
    let scim = server.tenant(&events.tenant).await;
    let group = shared_group(&scim).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers = tokio::spawn({
        let (scim, group, stop) = (scim.clone(), group.clone(), Arc::clone(&stop));
        async move { load(&scim, "w", 8, &group, stop).await }
    });
    events.wait_for_stored(20, DELIVERY).await;
    nats.stop().await;
    let stopped_at = Instant::now();
    let during = backend.event_count().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(backend.event_count().await > during, "writes went on while NATS was away");
    nats.resume().await;
    eprintln!("NATS was away for {:?}", stopped_at.elapsed());
    assert!(!server.logged("delivery failed; retrying").is_empty(), "the relay did find NATS away");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    // Every write succeeded: a failed one fails its writer.
    writers.await.expect("every write succeeded");
    assert_stream_is_the_log(&events, &backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_relays_one_publishes_and_the_other_takes_over_when_it_dies() {
    let backend = Backend::postgres().await;
    let events = Events::shared();
    let settings = with_relay_log(events.settings());
    let a = Server::start_with(&backend, settings.clone()).await;
    a.wait_for_log("relay active", TAKEOVER).await;
    let b = Server::start_with(&backend, settings).await;
    b.wait_for_log("relay standing by", TAKEOVER).await;
    let scim_a = a.tenant(&events.tenant).await;
    let scim_b = scim_a.with_base(&format!("{}/scim/v2/{}", b.base, events.tenant));
    let group = shared_group(&scim_a).await;
    // Writes through both servers; the one active relay publishes them all.
    let stop = stop_after(Duration::from_secs(3)).await;
    let (x, y) = tokio::join!(load(&scim_a, "a", 4, &group, Arc::clone(&stop)), load(&scim_b, "b", 4, &group, stop));
    assert!(x + y > 0);
    assert_stream_is_the_log(&events, &backend).await;
    assert!(b.logged("relay active").is_empty(), "the standby did not publish");

    a.kill().await;
    // Writes go on through the survivor, whose relay takes over.
    let stop = stop_after(Duration::from_secs(3)).await;
    let writes = tokio::spawn({
        let (scim, group) = (scim_b.clone(), group.clone());
        async move { load(&scim, "c", 4, &group, stop).await }
    });
    b.wait_for_log("relay active", TAKEOVER).await;
    writes.await.expect("every write succeeded");
    assert_stream_is_the_log(&events, &backend).await;
    events.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_nats_seeds_reaches_the_cluster_through_the_one_that_answers() {
    let backend = Backend::sqlite();
    let events = Events::shared();
    // A port nothing listens on, first: the relay must get through on the other seed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
    let mut settings = events.settings();
    settings.retain(|(name, _)| *name != "SCIMLEDGER_NATS_URL");
    settings.push(("SCIMLEDGER_NATS_URL", format!("nats://127.0.0.1:{dead}, {}", events.url)));
    let server = Server::start_with(&backend, settings).await;
    let scim = server.tenant(&events.tenant).await;
    for n in 0..5 {
        scim.post("/Users", &json!({"userName": format!("seeded-{n}")})).await.expect(201);
    }
    assert_stream_is_the_log(&events, &backend).await;
    events.remove().await;
}
