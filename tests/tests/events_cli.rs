//! `scimledger events tail` and `events republish`, run as the built binary against a server
//! whose relay publishes to real NATS JetStream.

use std::process::Stdio;
use std::time::Duration;

use scimledger_e2e::nats::{assert_exactly_the_log, Events};
use scimledger_e2e::server::binary;
use scimledger_e2e::{Backend, Scim, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

const DELIVERY: Duration = Duration::from_secs(60);

fn deactivate() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line =
        tokio::time::timeout(DELIVERY, lines.next_line()).await.expect("tail prints the event").expect("reading tail").expect("a line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("tail prints JSON envelopes ({e}): {line}"))
}

/// A server on a fresh PostgreSQL database whose relay publishes to a stream of the test's own,
/// and a client of the tenant that stream captures.
async fn relaying_server() -> (Backend, Events, Server, Scim) {
    let backend = Backend::postgres().await;
    let events = Events::shared();
    let server = Server::start_with(&backend, events.settings()).await;
    let scim = server.tenant(&events.tenant).await;
    (backend, events, server, scim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_the_live_deactivations_of_one_tenant_with_what_a_consumer_needs() {
    let (backend, events, server, scim) = relaying_server().await;
    let manager = scim.post("/Users", &json!({"userName": "boss"})).await.expect(201)["id"].as_str().unwrap().to_owned();
    // The relay has created the stream once it carries the first event.
    events.wait_for_stored(1, DELIVERY).await;

    let mut tail = Command::new(binary())
        .args(["events", "tail", "--tenant", &events.tenant, "--type", "user.deactivated"])
        .envs(server.env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawning events tail");
    let mut stderr = BufReader::new(tail.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(DELIVERY, async {
        while let Some(line) = stderr.next_line().await.expect("its stderr") {
            if line.starts_with("following stream") {
                return line;
            }
        }
        panic!("tail ended before it followed the stream");
    })
    .await
    .expect("tail starts");
    assert!(ready.contains(&format!("scimledger.{}.user.deactivated", events.tenant)), "{ready}");
    let mut out = BufReader::new(tail.stdout.take().unwrap()).lines();

    let mut deactivated = Vec::new();
    for name in ["bjensen", "jsmith"] {
        let body = json!({
            "userName": name,
            "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": manager}},
        });
        let id = scim.post("/Users", &body).await.expect(201)["id"].as_str().unwrap().to_owned();
        scim.patch(&format!("/Users/{id}"), &deactivate()).await.expect(200);
        deactivated.push(id);
    }
    let connection = backend.open_store().await.connections(&domain::TenantSlug::parse(&events.tenant).unwrap()).await.unwrap()[0].id;
    // Only the deactivations print: the provisionings between them are filtered out.
    for (name, id) in ["bjensen", "jsmith"].iter().zip(&deactivated) {
        let envelope = next_line(&mut out).await;
        assert_eq!(envelope["type"], "scimledger.user.deactivated.v1", "{envelope}");
        assert_eq!(envelope["subject"], format!("users/{id}"));
        assert_eq!(envelope["tenant"], events.tenant.as_str());
        assert_eq!(envelope["actor"], format!("connection:{connection}"));
        assert_eq!(envelope["resourceversion"], 2);
        let data = &envelope["data"];
        assert_eq!(data["id"], id.as_str());
        assert_eq!(data["user_name"], *name);
        assert_eq!(data["emails"], json!([format!("{name}@example.com")]));
        assert_eq!(data["manager"], manager.as_str());
        assert_eq!(data["connection"], connection.to_string());
    }
    tail.kill().await.expect("stopping tail");
    events.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republish_sends_a_range_again_and_jetstream_drops_every_copy() {
    let (backend, events, server, scim) = relaying_server().await;
    for n in 0..10 {
        scim.post("/Users", &json!({"userName": format!("u{n}")})).await.expect(201);
    }
    // The tenant's and the connection's events come first.
    events.wait_for_stored(12, DELIVERY).await;
    let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
    let (first, last) = (log[0].position, log[11].position);

    let printed = server.cli(&["events", "republish", "--from", &first.to_string()]).await;
    assert!(printed.contains("re-published 12 events") && printed.contains("0 stored, 12 already in stream"), "{printed}");
    let printed = server.cli(&["events", "republish", "--from", &log[3].position.to_string(), "--to", &log[5].position.to_string()]).await;
    assert!(printed.contains("re-published 3 events") && printed.contains("0 stored, 3 already in stream"), "{printed}");
    assert_eq!(events.stored().await, 12, "no copy was stored");
    assert_exactly_the_log(&events.read_all().await, &log);

    let refused = Command::new(binary())
        .args(["events", "republish", "--from", &last.to_string(), "--to", &first.to_string()])
        .envs(server.env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--to no less than it"));
    events.remove().await;
}
