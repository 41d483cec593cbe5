//! Changes the CLI commits while a server runs, and waiting until that server heard of them
//! (ADR 0021): what a test of a connection's settings or credentials needs before its next
//! request may count on the change.

use std::time::Duration;

use serde_json::Value;

use crate::{Backend, Server};

/// What a PostgreSQL server logs when it hears a credentials change (ADR 0021).
pub const HEARD: &str = "heard a secrets change";

/// A server that logs each credentials change it hears, for [`heard`] to count.
pub async fn start(backend: &Backend, mut settings: Vec<(&'static str, String)>) -> Server {
    settings.push(("RUST_LOG", "warn,store::postgres::listen=debug".into()));
    Server::start_with(backend, settings).await
}

/// How many changes the server has heard of so far.
pub fn heard(server: &Server) -> usize {
    server.logged(HEARD).len()
}

/// On PostgreSQL, waits until the server heard of the change made since `mark` (the NOTIFY its
/// commit sent): from then on its cache cannot hold what the change ended. On SQLite nothing
/// is cached, so nothing is waited for.
pub async fn wait_heard(server: &Server, backend: &Backend, mark: usize) {
    if backend.data_dir().is_some() {
        return;
    }
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        while heard(server) <= mark {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(outcome.is_ok(), "the server never heard of the change");
}

/// Runs a CLI command that commits a change (with `--json`) and waits until the server heard it.
pub async fn changed(server: &Server, backend: &Backend, args: &[&str]) -> Value {
    let mark = heard(server);
    let printed = server.cli_json(args).await;
    wait_heard(server, backend, mark).await;
    printed
}
