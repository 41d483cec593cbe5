//! A request's database work ends when the request does (issue 10, item 3): a read that is
//! still running when its request times out is cancelled, the connection (PostgreSQL) or reader
//! thread (SQLite) that ran it serves the next request, and authentication has its own path, so
//! slow reads never hold sign-ins up.

use std::time::Duration;

use scimledger_e2e::{Backend, Server};
use serde_json::json;
use tokio_postgres::NoTls;

/// Generous bounds for what takes well under a second when nothing is stuck.
const SETTLE: Duration = Duration::from_secs(20);

fn short_timeout(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut settings = vec![("SCIMLEDGER_REQUEST_TIMEOUT_SECS", "1".to_owned())];
    settings.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    settings
}

/// PostgreSQL: look-ups blocked behind a table lock (statements that would wait for ever) are
/// cancelled on the server when their requests time out, and each pool's only connection serves
/// the next request while the lock is still held: the pool that plans each read, and the one that
/// keeps the plans of reads by one key (ADR 0078).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancels_a_timed_out_statement_and_reuses_its_connection() {
    let backend = Backend::postgres().await;
    let Backend::Postgres { url, .. } = &backend else { unreachable!() };
    let server = Server::start_with(&backend, short_timeout(&[("SCIMLEDGER_POOL_SIZE", "1")])).await;
    let scim = server.tenant("acme").await;
    let user = scim.post("/Users", &json!({"userName": "ann@example.com"})).await.expect(201)["id"].as_str().unwrap().to_owned();
    let group = scim.post("/Groups", &json!({"displayName": "Staff"})).await.expect(201)["id"].as_str().unwrap().to_owned();

    let fresh = server.connect("acme", "entra").await;
    let (mut admin, connection) = tokio_postgres::connect(url, NoTls).await.expect("an admin connection");
    tokio::spawn(connection);
    let lock = admin.transaction().await.expect("a transaction");
    lock.batch_execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await.expect("locking users");

    // Watched from a session of its own: inside the lock's transaction, PostgreSQL would show
    // the activity as it stood at the transaction's first look.
    let (watcher, connection) = tokio_postgres::connect(url, NoTls).await.expect("a watching connection");
    tokio::spawn(connection);
    let session = &watcher;

    // How many statements naming `$1` wait for a lock: the look-up's own, not a follower's.
    let waiting = "SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, $1) > 0";
    // Reads of groups only, which the lock does not hold up: one through each pool.
    let page = "/Groups?excludedAttributes=members".to_owned();
    let by_id = format!("/Groups/{group}?excludedAttributes=members");
    // One look-up by title (planned per execution), then one by userName (a key, ADR 0078),
    // each stuck until its request times out.
    // Each with a read through the same pool, and what that read answers.
    let cases = [
        (r#"title eq "Engineer""#, "title", &page, ("totalResults", json!(1))),
        (r#"userName eq "ann@example.com""#, "user_name_key", &by_id, ("id", json!(group))),
    ];
    for (filter, column, same_pool, (field, expected)) in cases {
        let slow = tokio::spawn({
            let scim = scim.clone();
            async move { scim.filter("/Users", filter, "").await.status.as_u16() }
        });
        wait_until(|| async move { session.query_one(waiting, &[&column]).await.unwrap().get::<_, i64>(0) == 1 }).await;
        // The look-up holds its pool's one connection; a connection nobody has used yet (made
        // before the lock, so its creation is not what waits) still authenticates, through
        // authentication's own pool.
        fresh.get("/ServiceProviderConfig").await.expect(200);
        assert_eq!(slow.await.unwrap(), 503, "the look-up {filter} outlived its request");
        wait_until(|| async move { session.query_one(waiting, &[&column]).await.unwrap().get::<_, i64>(0) == 0 }).await;
        // Still locked: the pool's one connection serves again. (The log's followers share the
        // pool and may be held by the lock for up to their own statement timeout: hence the
        // retries, which a connection handed back busy would never pass.)
        let served = tokio::time::timeout(SETTLE, async {
            loop {
                let reply = scim.get(same_pool).await;
                if reply.status == 200 {
                    break reply;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the pool's one connection serves again");
        assert_eq!(served.body[field], expected, "{}", served.body);
    }
    lock.rollback().await.expect("releasing the lock");
    scim.get(&format!("/Users/{user}")).await.expect(200);
}

/// SQLite: searches that scan large documents for minutes are interrupted when their requests
/// time out; every reader thread serves again right after, and a new token authenticates
/// meanwhile through authentication's own reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_interrupts_timed_out_reads_and_frees_its_readers() {
    let backend = Backend::sqlite();
    let server = Server::start_with(&backend, short_timeout(&[])).await;
    let scim = server.tenant("acme").await;
    // `instr` compares the needle at every place of the title: a few GB of comparisons per user,
    // a minute or more for them all on this machine, far beyond the request timeout. (The
    // interrupt is seen between rows, so each row stays well under it.)
    let title = "a".repeat(120_000);
    let mut ids = Vec::new();
    for i in 0..100 {
        let body = json!({"userName": format!("u{i}@example.com"), "title": title});
        ids.push(scim.post("/Users", &body).await.expect(201)["id"].as_str().unwrap().to_owned());
    }
    let needle = format!("{}b", "a".repeat(60_000));
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": format!("title co \"{needle}\"")});
    // One more than there are readers, so one also waits in the queue.
    let slow: Vec<_> = (0..5)
        .map(|_| {
            let (scim, search) = (scim.clone(), search.clone());
            tokio::spawn(async move { scim.post("/Users/.search", &search).await.status.as_u16() })
        })
        .collect();
    let fresh = server.connect("acme", "entra").await;
    fresh.get("/ServiceProviderConfig").await.expect(200);
    for search in slow {
        assert_eq!(search.await.unwrap(), 503, "the search outlived its request");
    }
    // Every reader serves again: as many reads at once as there are readers, and more.
    for id in ids.iter().take(8) {
        let path = format!("/Users/{id}");
        wait_until(|| {
            let (scim, path) = (scim.clone(), path.clone());
            async move { scim.get(&path).await.status.as_u16() == 200 }
        })
        .await;
    }
    let scim = &scim;
    let reads =
        futures::future::join_all(ids.iter().take(8).map(|id| async move { scim.get(&format!("/Users/{id}")).await.status.as_u16() }))
            .await;
    assert!(reads.iter().all(|status| *status == 200), "reads after the interrupted searches: {reads:?}");
}

async fn wait_until<F: std::future::Future<Output = bool>>(mut condition: impl FnMut() -> F) {
    let reached = tokio::time::timeout(SETTLE, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "the condition did not hold within {SETTLE:?}");
}
