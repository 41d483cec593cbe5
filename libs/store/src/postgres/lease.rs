//! Leases: a session-level advisory lock, on a connection of its own. PostgreSQL releases it as
//! soon as that session ends (the process died, the network broke), so a standby takes over;
//! the holder pings its session so that it notices the loss too, and stops.

use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config};

use super::backend;
use super::tls::Tls;
use crate::api::{Lease, StoreResult};

/// How often the holder checks that its session is alive.
const PING: Duration = Duration::from_secs(1);
/// A ping slower than this counts as a lost session: the server may have dropped it meanwhile.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn try_take(config: &Config, tls: &Tls, job: &str) -> StoreResult<Option<Box<dyn Lease>>> {
    let (client, session) = tls.connect(config).await.map_err(backend)?;
    // The server notices a silently vanished holder (a cut network, no FIN) in seconds rather
    // than after the kernel's default two hours of keepalive idleness.
    client
        .batch_execute("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3")
        .await
        .map_err(backend)?;
    let held: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key(job)]).await.map_err(backend)?.get(0);
    if !held {
        session.abort();
        return Ok(None);
    }
    Ok(Some(Box::new(PgLease { client, session, ended: false })))
}

/// Advisory locks are named by a 64-bit number: the job's name, hashed.
fn key(job: &str) -> i64 {
    let digest = Sha256::digest(format!("scimledger lease {job}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

struct PgLease {
    client: Client,
    session: JoinHandle<()>,
    ended: bool,
}

#[async_trait]
impl Lease for PgLease {
    async fn lost(&mut self) {
        while !self.ended {
            tokio::select! {
                _ = &mut self.session => self.ended = true,
                _ = tokio::time::sleep(PING) => {
                    let alive = tokio::time::timeout(PING_TIMEOUT, self.client.simple_query("SELECT 1")).await;
                    self.ended = !matches!(alive, Ok(Ok(_)));
                }
            }
        }
    }
}

impl Drop for PgLease {
    fn drop(&mut self) {
        // Ending the session releases the lock at once.
        self.session.abort();
    }
}
