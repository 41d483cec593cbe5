//! The scale-out test (`make scale-test`, issue 14 §5): on one machine, without containers, two
//! API processes (each with its relay, one active) behind a round-robin proxy, on one PostgreSQL
//! database, publishing to a three-node NATS JetStream cluster with R3 streams. An IdP-like load
//! runs through the proxy while the API process whose relay is active and then one NATS node are
//! killed with SIGKILL. Afterwards every acknowledged write is in the log and in its read model,
//! every event is on the stream once and in per-resource order, and the load saw no answer but
//! success and retryable failures.
//!
//! Ignored by `cargo test` (it runs for minutes); `make scale-test` runs it. `SCIMLEDGER_SCALE_USERS`
//! sets the load (default 10,000 users, one group per 100, each user added to its group).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{ResourceId, TenantSlug};
use scimledger_e2e::nats::{assert_exactly_the_log, Events, NatsCluster};
use scimledger_e2e::{Backend, Server};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

const WRITERS: usize = 16;
const USERS_PER_GROUP: usize = 100;
const TAKEOVER: Duration = Duration::from_secs(60);
const DELIVERY: Duration = Duration::from_secs(180);

/// A TCP proxy handing each new connection to the next backend in turn, and to the one after
/// when that one refuses: what a load balancer without health checks does.
async fn round_robin_proxy(backends: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a proxy port");
    let address = listener.local_addr().expect("its address");
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let (backends, next) = (backends.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                let first = next.fetch_add(1, Ordering::Relaxed);
                for n in 0..backends.len() {
                    if let Ok(mut outbound) = TcpStream::connect(&backends[(first + n) % backends.len()]).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    format!("http://{address}")
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    /// Users whose creation was acknowledged (201), with their group.
    users: Vec<(ResourceId, String, usize)>,
    /// Memberships whose PATCH was acknowledged: (group index, user id).
    members: Vec<(usize, ResourceId)>,
    retryable: usize,
    /// Answers that are neither success nor retryable: must stay empty.
    wrong: Vec<String>,
    /// When each acknowledged write was answered, for throughput around the kills.
    acknowledged_at: Vec<Instant>,
}

/// Sends one write until it is answered for good: a 5xx or a broken connection is retried (a
/// process died under it); after such a failure a create may find its name taken (the first try
/// committed) and a member may already be in (409/204 both fine). Returns the final answer.
async fn write(tally: &Mutex<Tally>, request: impl Fn() -> reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let mut failed_before = false;
    for _ in 0..200 {
        match request().send().await {
            Ok(response) if response.status().is_server_error() => {
                tally.lock().unwrap().retryable += 1;
                failed_before = true;
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                if status == 409 && failed_before {
                    return None; // the try that failed had committed
                }
                return Some((status, body));
            }
            Err(_) => {
                tally.lock().unwrap().retryable += 1;
                failed_before = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tally.lock().unwrap().wrong.push("a write failed 200 times in a row".into());
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "minutes long: run by `make scale-test`"]
async fn two_api_processes_two_relays_and_a_nats_cluster_lose_nothing_when_nodes_die() {
    let users: usize = std::env::var("SCIMLEDGER_SCALE_USERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let groups = users.div_ceil(USERS_PER_GROUP);
    let backend = Backend::postgres().await;
    let mut nats = NatsCluster::start().await;
    let events = Events::on(nats.url());
    let mut settings = events.settings();
    settings.push(("SCIMLEDGER_NATS_REPLICAS", "3".into()));
    settings.push(("RUST_LOG", "warn,bus=info".into()));
    let a = Server::start_with(&backend, settings.clone()).await;
    a.wait_for_log("relay active", TAKEOVER).await;
    let b = Server::start_with(&backend, settings).await;
    b.wait_for_log("relay standing by", TAKEOVER).await;
    a.cli(&["tenant", "create", &events.tenant]).await;
    let (issued, by_a) = a.issue_connection(&events.tenant, "okta", &[]).await;
    by_a.with_base(&format!("{}/scim/v2/{}", b.base, events.tenant)).wait_taken().await;
    let token = issued["token"].as_str().unwrap().to_owned();
    let proxy =
        round_robin_proxy(vec![a.base.trim_start_matches("http://").to_owned(), b.base.trim_start_matches("http://").to_owned()]).await;
    let base = format!("{proxy}/scim/v2/{}", events.tenant);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    // The groups first, then the load: each writer creates its share of users and adds each to
    // its group (Okta's push: user, then group membership).
    let mut group_ids = Vec::new();
    for g in 0..groups {
        let (status, body) = write(&Mutex::default(), || {
            http.post(format!("{base}/Groups")).bearer_auth(&token).json(&json!({"displayName": format!("team-{g}")}))
        })
        .await
        .expect("a group");
        assert_eq!(status, 201, "{body}");
        group_ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let tally = Arc::new(Mutex::new(Tally::default()));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let load = (0..WRITERS).map(|w| {
        let (http, tally, done, base, token, group_ids) = (http.clone(), Arc::clone(&tally), Arc::clone(&done), base.clone(), token.clone(), group_ids.clone());
        tokio::spawn(async move {
            for n in (w..users).step_by(WRITERS) {
                let name = format!("user{n:06}@example.com");
                let group = n / USERS_PER_GROUP;
                let created = write(&tally, || http.post(format!("{base}/Users")).bearer_auth(&token).json(&json!({"userName": name, "active": true}))).await;
                let id = match created {
                    Some((201, body)) => body["id"].as_str().unwrap().parse::<ResourceId>().unwrap(),
                    Some((status, body)) => {
                        tally.lock().unwrap().wrong.push(format!("POST /Users {name}: {status} {body}"));
                        continue;
                    }
                    None => continue, // committed by a try whose answer was lost: not acknowledged
                };
                {
                    let mut t = tally.lock().unwrap();
                    t.users.push((id, name.clone(), group));
                    t.acknowledged_at.push(Instant::now());
                }
                let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": [{"value": id.to_string()}]}]});
                match write(&tally, || http.patch(format!("{base}/Groups/{}", group_ids[group])).bearer_auth(&token).json(&patch)).await {
                    Some((200 | 204, _)) => {
                        let mut t = tally.lock().unwrap();
                        t.members.push((group, id));
                        t.acknowledged_at.push(Instant::now());
                    }
                    Some((status, body)) => tally.lock().unwrap().wrong.push(format!("PATCH group {group}: {status} {body}")),
                    None => {}
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    let load: Vec<_> = load.collect();

    // Relay lag (events in the log not yet on the stream), sampled through the run.
    let store = backend.open_store().await;
    let sampling = Arc::new(AtomicBool::new(true));
    let lag_peak = tokio::spawn({
        let (store, sampling, jetstream) = (store.clone(), Arc::clone(&sampling), events.jetstream().await);
        let stream = events.stream.clone();
        async move {
            let mut peak = 0i64;
            while sampling.load(Ordering::Relaxed) {
                if let (Ok(head), Ok(mut info)) = (store.head().await, jetstream.get_stream(&stream).await) {
                    if let Ok(info) = info.info().await {
                        peak = peak.max(head - info.state.messages as i64);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            peak
        }
    });

    let wait_for = |share: usize| {
        let done = Arc::clone(&done);
        async move {
            while done.load(Ordering::Relaxed) < users * share / 4 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Instant::now()
        }
    };
    // A quarter in: the API process whose relay is active dies; the standby takes over.
    let first_kill = wait_for(1).await;
    a.kill().await;
    let took_over = Instant::now();
    b.wait_for_log("relay active", TAKEOVER).await;
    let takeover = took_over.elapsed();
    // Half-way: a NATS node dies; the R3 stream goes on with two.
    let second_kill = wait_for(2).await;
    nats.kill(0).await;
    for writer in load {
        writer.await.expect("a writer");
    }
    let finished = Instant::now();

    let tally = Arc::try_unwrap(tally).ok().expect("the writers are done").into_inner().unwrap();
    assert!(tally.wrong.is_empty(), "answers that are neither success nor retryable: {:#?}", &tally.wrong[..tally.wrong.len().min(10)]);

    // Every acknowledged write is in the log and in its read model.
    let tenant = TenantSlug::parse(&events.tenant).unwrap();
    let log = store.read_log(0, u32::MAX).await.expect("the log");
    let provisioned: std::collections::HashSet<ResourceId> =
        log.iter().filter(|e| e.payload.event_type == "user.provisioned").map(|e| e.stream).collect();
    for (id, name, _) in &tally.users {
        assert!(provisioned.contains(id), "acknowledged user {name} is in the log");
        let row = store.user(&tenant, *id).await.unwrap().unwrap_or_else(|| panic!("acknowledged user {name} is in the read model"));
        assert_eq!(row.document["userName"], name.as_str());
    }
    for (group, id) in &tally.members {
        let groups_of = store.groups_of(&tenant, &[*id]).await.unwrap();
        let names: Vec<&str> = groups_of.get(id).map(|refs| refs.iter().filter_map(|r| r.display.as_deref()).collect()).unwrap_or_default();
        assert!(names.contains(&format!("team-{group}").as_str()), "acknowledged membership of {id} in team-{group}: {names:?}");
    }

    // Every event reached the stream once, in per-resource order, through both kills.
    events.wait_for_stored(log.len() as u64, DELIVERY).await;
    sampling.store(false, Ordering::Relaxed);
    let peak = lag_peak.await.unwrap();
    let envelopes = events.read_all().await;
    assert_exactly_the_log(&envelopes, &log);
    assert_eq!(events.stored().await, log.len() as u64, "the stream holds no duplicate");

    let rate = |from: Instant, to: Instant| {
        let n = tally.acknowledged_at.iter().filter(|t| **t >= from && **t < to).count();
        n as f64 / to.duration_since(from).as_secs_f64().max(0.001)
    };
    eprintln!(
        "scale-out: {} users and {} memberships acknowledged, {} events, {} retried failures",
        tally.users.len(),
        tally.members.len(),
        log.len(),
        tally.retryable
    );
    eprintln!(
        "scale-out: acknowledged writes/s: {:.0} before the API+relay kill, {:.0} between it and the NATS node kill, {:.0} after",
        rate(started, first_kill),
        rate(first_kill, second_kill),
        rate(second_kill, finished)
    );
    eprintln!("scale-out: the standby relay took over {:.2} s after the kill; relay lag peaked at {peak} events", takeover.as_secs_f64());
}
