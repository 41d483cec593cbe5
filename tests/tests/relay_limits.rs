//! The relay and NATS's message size limit (issue 10, item 4; ADR 0046). The relay publishes the
//! log in commit order as a chain (ADR 0008), so it can neither skip an event NATS refuses nor
//! let later events (another tenant's among them) overtake it: it stops there and says so, at
//! error in the log and as "degraded" on /readyz (no internals in the body), and goes on, in
//! order, once NATS takes the event. And at start-up, a NATS whose max_payload cannot carry an
//! event of the largest resource the API accepts gets nothing published until that is fixed.

use std::time::Duration;

use scimledger_e2e::nats::{assert_exactly_the_log, Events, ThrowawayNats};
use scimledger_e2e::{on_both_backends, Server};
use serde_json::json;

const DELIVERY: Duration = Duration::from_secs(60);
const SMALL: usize = 64 * 1024;
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

fn with_relay_log(mut settings: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    settings.push(("RUST_LOG", "warn,bus=info".into()));
    settings.push(("SCIMLEDGER_LOG_FORMAT", "json".into()));
    settings
}

async fn readyz(server: &Server) -> String {
    let reply = reqwest::get(format!("{}/readyz", server.base)).await.expect("GET /readyz");
    assert_eq!(reply.status().as_u16(), 200, "a stalled relay leaves the API serving");
    reply.text().await.expect("a body")
}

/// Waits until /readyz no longer says degraded.
async fn wait_until_not_degraded(server: &Server) {
    let recovered = tokio::time::timeout(DELIVERY, async {
        while readyz(server).await.contains("degraded") {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(recovered.is_ok(), "/readyz still says degraded");
}

/// Restarts `nats` with another max_payload, keeping its JetStream storage.
async fn restart_with(nats: &mut ThrowawayNats, max_payload: usize) {
    nats.stop().await;
    nats.max_payload = Some(max_payload);
    nats.resume().await;
}

on_both_backends! {
    async fn a_nats_too_small_for_the_largest_resource_gets_nothing_until_it_grows(backend: Backend) {
        let mut nats = ThrowawayNats::start_with(Some(SMALL)).await;
        let events = Events::on(nats.url());
        let server = Server::start_with(&backend, with_relay_log(events.settings())).await;
        let line = server.wait_for_log("relay stalled", DELIVERY).await;
        assert!(line.contains("\"level\":\"ERROR\"") && line.contains(&format!("max_payload ({SMALL} bytes)")), "{line}");
        let ready = readyz(&server).await;
        assert!(ready.contains("degraded") && !ready.contains("max_payload") && !ready.contains(&SMALL.to_string()), "{ready}");

        let scim = server.tenant(&events.tenant).await;
        scim.post("/Users", &json!({"userName": "ann@example.com"})).await.expect(201);
        assert_eq!(events.stored().await, 0, "nothing is published to a NATS that cannot carry every event");

        restart_with(&mut nats, DEFAULT_MAX_PAYLOAD).await;
        events.wait_for_stored(1, DELIVERY).await;
        wait_until_not_degraded(&server).await;
        assert_exactly_the_log(&events.read_all().await, &backend.open_store().await.read_log(0, u32::MAX).await.unwrap());
    }

    async fn an_event_nats_refuses_holds_the_events_behind_it_loudly_and_in_order(backend: Backend) {
        let mut nats = ThrowawayNats::start().await;
        let events = Events::on(nats.url());
        let other = format!("{}x", events.tenant);
        let mut settings = events.settings();
        settings.retain(|(name, _)| *name != "SCIMLEDGER_NATS_SUBJECTS");
        settings.push(("SCIMLEDGER_NATS_SUBJECTS", format!("scimledger.{}.>,scimledger.{other}.>", events.tenant)));
        let server = Server::start_with(&backend, with_relay_log(settings)).await;
        let acme = server.tenant(&events.tenant).await;
        let beta = server.tenant(&other).await;
        acme.post("/Users", &json!({"userName": "ann@example.com"})).await.expect(201);
        events.wait_for_stored(1, DELIVERY).await;

        // An operator lowers NATS's limit under the running relay; then a resource within the
        // API's cap makes an event over it, and another tenant writes after it.
        restart_with(&mut nats, SMALL).await;
        let bob = acme.post("/Users", &json!({"userName": "bob@example.com", "title": "b".repeat(100_000)})).await.expect(201);
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let refused = log.iter().find(|e| e.stream.to_string() == bob["id"].as_str().unwrap()).expect("bob's event").position;
        let line = server.wait_for_log("relay stalled", DELIVERY).await;
        assert!(line.contains("\"level\":\"ERROR\"") && line.contains(&format!("log position {refused} ")), "{line}");
        beta.post("/Users", &json!({"userName": "cy@example.com"})).await.expect(201);
        // Once the relay has tried again after the other tenant's write, that write is still
        // behind the refused event: nothing overtook it, nothing was skipped.
        let retries = server.logged("delivery failed").len();
        let retried = tokio::time::timeout(DELIVERY, async {
            while server.logged("delivery failed").len() < retries + 2 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(retried.is_ok(), "the relay keeps offering the refused event");
        // Everything before the refused event (both tenants' creation, their connections, ann)
        // went out; nothing after it did.
        let before_refused = log.iter().filter(|e| e.position < refused).count() as u64;
        assert_eq!(events.stored().await, before_refused);
        assert!(readyz(&server).await.contains("degraded"));

        restart_with(&mut nats, DEFAULT_MAX_PAYLOAD).await;
        events.wait_for_stored(before_refused + 2, DELIVERY).await;
        wait_until_not_degraded(&server).await;
        assert_exactly_the_log(&events.read_all().await, &backend.open_store().await.read_log(0, u32::MAX).await.unwrap());
    }
}
