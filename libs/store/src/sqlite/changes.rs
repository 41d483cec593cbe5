//! The embedded default's credentials feed (ADR 0021): every tenant, connection, access-token,
//! operator or routing commit moves `credential_changes.generation` on in its own transaction.
//! A thread of this process reads it every [`POLL`] and moves the feed's generation on when it
//! moved, which tells the authentication cache to forget; this process's own such commits move
//! the feed at once, before their callers hear they committed. Another process's (the CLI's)
//! change is so heard within a poll. While the file cannot be read, the feed says `None`: nothing
//! may be cached until it can.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::backend;
use crate::api::{SecretChanges, StoreResult};

/// How often the generation is read: the longest a change committed by another process goes
/// unheard.
pub const POLL: Duration = Duration::from_millis(50);

pub struct Changes {
    path: PathBuf,
    feed: Arc<watch::Sender<Option<u64>>>,
    poller: OnceLock<()>,
}

impl Changes {
    pub fn new(path: PathBuf) -> Self {
        Self { path, feed: Arc::new(watch::Sender::new(None)), poller: OnceLock::new() }
    }

    /// The feed; its poller starts with the first subscriber and stops with the store.
    pub fn subscribe(&self) -> SecretChanges {
        self.poller.get_or_init(|| {
            let (path, feed) = (self.path.clone(), Arc::downgrade(&self.feed));
            let started = std::thread::Builder::new().name("sqlite-changes".into()).spawn(move || poll(&path, &feed));
            if let Err(error) = started {
                tracing::warn!(%error, "cannot start reading the credentials feed; authentication caches nothing");
            }
        });
        self.feed.subscribe()
    }

    /// A commit of this process changed credentials: whatever was cached before it is stale.
    pub fn committed_here(&self) {
        move_on(&self.feed);
    }
}

fn move_on(feed: &watch::Sender<Option<u64>>) {
    feed.send_if_modified(|generation| match generation {
        Some(generation) => {
            *generation += 1;
            true
        }
        None => false,
    });
}

/// Reads the generation every [`POLL`] until the store is dropped.
fn poll(path: &std::path::Path, feed: &Weak<watch::Sender<Option<u64>>>) {
    let mut connection = None;
    let mut last = None;
    // Where the feed stood before it went down: it resumes past it, so that nothing cached
    // before an outage counts as current after it.
    let mut before_outage = 0;
    while let Some(feed) = feed.upgrade() {
        match read(path, &mut connection) {
            Ok(generation) => {
                match last {
                    // Whatever was cached before the feed could be read may be stale.
                    None => {
                        feed.send_modify(|seen| *seen = Some(seen.unwrap_or(before_outage) + 1));
                    }
                    // Moved on before it is told: whoever reads the line may count on it.
                    Some(last) if last != generation => {
                        move_on(&feed);
                        tracing::debug!("heard a secrets change: generation {generation}");
                    }
                    Some(_) => {}
                }
                last = Some(generation);
            }
            Err(error) => {
                if last.is_some() {
                    tracing::warn!(%error, "cannot read the credentials feed; authentication caches nothing until it can");
                }
                connection = None;
                last = None;
                if let Some(seen) = feed.send_replace(None) {
                    before_outage = seen;
                }
            }
        }
        drop(feed);
        std::thread::sleep(POLL);
    }
}

fn read(path: &std::path::Path, connection: &mut Option<rusqlite::Connection>) -> StoreResult<i64> {
    let connection = match connection {
        Some(connection) => connection,
        None => connection.insert(super::open_reader(path)?),
    };
    connection
        .prepare_cached("SELECT generation FROM credential_changes")
        .map_err(backend)?
        .query_row([], |row| row.get(0))
        .map_err(backend)
}
