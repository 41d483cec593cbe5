//! Holding a stream against other processes' commits (ADR 0051): a transaction-level advisory
//! lock named by the stream, taken by a hold on a pooled connection of its own and by every
//! commit to an existing stream as its first statement. A commit therefore waits while another
//! process holds the stream, and a hold waits for the commit in flight to end.

use deadpool_postgres::Object;
use domain::ResourceId;

use super::backend;
use crate::api::{StoreResult, StreamHold};

/// The advisory lock named by `stream`. Two streams sharing a key only queue behind each other.
pub fn key(stream: ResourceId) -> i64 {
    let (high, low) = stream.as_uuid().as_u64_pair();
    (high ^ low) as i64
}

/// Holds `stream` on `client` until the returned hold is dropped.
pub async fn hold(client: Object, stream: ResourceId) -> StoreResult<StreamHold> {
    // One round trip: the key is a number, so it can be spelled in the text.
    let held = HeldTransaction(Some(client));
    held.client().batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({})", key(stream))).await.map_err(backend)?;
    Ok(StreamHold::new(held))
}

/// A pooled connection inside the transaction that holds the lock; dropping it ends that
/// transaction, which releases the lock.
struct HeldTransaction(Option<Object>);

impl HeldTransaction {
    fn client(&self) -> &Object {
        self.0.as_ref().expect("held until dropped")
    }
}

impl Drop for HeldTransaction {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else { return };
        let rollback = async move {
            // A connection whose transaction could not be ended is closed, not pooled.
            if client.batch_execute("ROLLBACK").await.is_err() {
                drop(Object::take(client));
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(rollback)),
            Err(_) => drop(rollback),
        }
    }
}
