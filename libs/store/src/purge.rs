//! Purging a connection disabled with purge (issue 9 §2, docs/adr/0041-purge-is-resumable.md):
//! every user and group it owns is deleted through the normal delete command, recorded with
//! metadata `reason: connection_disabled`, so NATS consumers and auditors see each one.
//!
//! The purge is decided as the connection itself would decide a delete: ownership is checked
//! on each resource's stream at its version, so a resource another connection owns is never
//! touched, whatever runs beside the purge. It walks what the connection owns in bounded
//! keyset batches; a crash loses nothing but the batch in flight, and the mark that
//! `connection.disabled { purge: true }` leaves on the connection's row (a step of its commit)
//! makes `serve` resume it at start-up ([`resume`]).

use std::sync::Arc;

use domain::connection::{Connection, ConnectionCommand};
use domain::group::Group;
use domain::user::User;
use domain::{DomainError, Owner, Principal, ResourceId, TenantSlug};
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::api::{Actor, EventMetadata, Store};
use crate::commands::{self, CommandError, ScimResource};

/// How many resources one read of what the connection owns returns.
const BATCH: u32 = 500;
/// How many deletes run at once: enough to share commits, few enough to leave the store to
/// the connections still syncing.
const IN_FLIGHT: usize = 4;

/// What a purge deleted (0 for what was already gone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub users: u64,
    pub groups: u64,
}

/// Disables `connection` with purge (`metadata` names who asked), then purges it. Once the
/// disable is recorded, an error or the death of the process leaves the purge pending, and
/// [`resume`] finishes it.
pub async fn disable_and_purge(
    store: &dyn Store,
    tenant: &TenantSlug,
    connection: Uuid,
    metadata: EventMetadata,
) -> Result<Purged, CommandError> {
    request(store, tenant, connection, metadata).await?;
    purge(store, tenant, connection).await
}

/// Records `connection.disabled { purge: true }`: the connection stops at once, and its row
/// carries the mark [`resume`] looks for.
pub async fn request(store: &dyn Store, tenant: &TenantSlug, connection: Uuid, metadata: EventMetadata) -> Result<(), CommandError> {
    let disable = ConnectionCommand::Disable { purge: true };
    commands::change::<Connection>(store, tenant, ResourceId::from_uuid(connection), disable, &Principal::Operator, metadata, None).await?;
    Ok(())
}

/// Deletes every group, then every user, that `connection` owns in `tenant`. Idempotent.
pub async fn purge(store: &dyn Store, tenant: &TenantSlug, connection: Uuid) -> Result<Purged, CommandError> {
    let groups = purge_all::<Group>(store, tenant, connection).await?;
    let users = purge_all::<User>(store, tenant, connection).await?;
    tracing::info!(%tenant, %connection, users, groups, "purged what the connection owned");
    Ok(Purged { users, groups })
}

/// Finishes every purge a crash or a failure left pending. Run by `serve` at start-up.
pub async fn resume(store: Arc<dyn Store>) -> Result<(), CommandError> {
    for (tenant, connection) in store.pending_purges().await? {
        tracing::info!(%tenant, %connection, "resuming a purge");
        purge(&*store, &tenant, connection).await?;
    }
    Ok(())
}

async fn purge_all<A: ScimResource>(store: &dyn Store, tenant: &TenantSlug, connection: Uuid) -> Result<u64, CommandError> {
    let principal = Principal::Connection { id: connection, claim_manual: false };
    let metadata = EventMetadata::by(Actor::Purge { connection });
    let (mut after, mut deleted) = (0, 0);
    loop {
        let batch = store.owned(tenant, A::KIND, Owner::Connection(connection), after, BATCH).await?;
        let Some(&(_, last)) = batch.last() else { return Ok(deleted) };
        deleted += futures::stream::iter(batch)
            .map(|(id, _)| {
                let (principal, metadata) = (&principal, metadata.clone());
                async move {
                    match commands::change::<A>(store, tenant, id, A::delete(), principal, metadata, None).await {
                        Ok(_) => Ok(1),
                        // Deleted meanwhile by its connection, before the disable took hold.
                        Err(CommandError::Domain(DomainError::NotFound)) => Ok(0),
                        Err(e) => Err(e),
                    }
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_fold(0, |sum, n| async move { Ok(sum + n) })
            .await?;
        after = last;
    }
}
