//! Changes the CLI commits while a server runs, and waiting until that server heard of them
//! (ADR 0021): what a test of a connection's settings or credentials needs before its next
//! request may count on the change.

use std::time::Duration;

use serde_json::Value;

use crate::{Backend, Server};

/// What a server logs when it hears a credentials change (ADR 0021); on SQLite, with the
/// generation it read.
pub const HEARD: &str = "heard a secrets change";

/// A server that logs each credentials change it hears, for [`heard`] to count.
pub async fn start(backend: &Backend, mut settings: Vec<(&'static str, String)>) -> Server {
    settings.push(("RUST_LOG", "warn,store::postgres::listen=debug,store::sqlite::changes=debug".into()));
    Server::start_with(backend, settings).await
}

/// How many changes the server has heard of so far.
pub fn heard(server: &Server) -> usize {
    server.logged(HEARD).len()
}

/// Waits until the server heard of the change made since `mark`: on PostgreSQL the NOTIFY its
/// commit sent, on SQLite the file's credentials generation as it stands now. From then on the
/// server's cache cannot hold what the change ended.
pub async fn wait_heard(server: &Server, backend: &Backend, mark: usize) {
    let generation = backend.data_dir().map(|dir| credentials_generation(&dir));
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let caught_up = match generation {
                Some(generation) => heard_generation(server) >= Some(generation),
                None => heard(server) > mark,
            };
            if caught_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(outcome.is_ok(), "the server never heard of the change");
}

/// The generation of a SQLite file's credentials feed.
fn credentials_generation(dir: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join("scimledger.db")).expect("the server's database file opens");
    db.query_row("SELECT generation FROM credential_changes", [], |row| row.get(0)).expect("the file has a credentials generation")
}

/// The newest generation a SQLite server logged hearing.
fn heard_generation(server: &Server) -> Option<i64> {
    let generation = |line: &String| {
        let after = line.split("generation ").nth(1)?;
        after[..after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len())].parse().ok()
    };
    server.logged(HEARD).iter().filter_map(generation).max()
}

/// Runs a CLI command that commits a change (with `--json`) and waits until the server heard it.
pub async fn changed(server: &Server, backend: &Backend, args: &[&str]) -> Value {
    let mark = heard(server);
    let printed = server.cli_json(args).await;
    wait_heard(server, backend, mark).await;
    printed
}
