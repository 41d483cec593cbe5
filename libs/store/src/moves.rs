//! Moving a user between a parent's sub-tenants (docs/adr/0074-a-parent-routes-by-a-rule-into-
//! sub-tenants.md): a change made through the parent whose result routes the user elsewhere.
//!
//! A commit is one tenant's, so a move is two: `user.moved_in` on the new sub-tenant's stream
//! of the id, then `user.moved_out` on the old one. In that order, a crash between leaves the
//! user in both rather than in neither; the parent's next write to it, which finds two holders,
//! ends the older stay ([`finish`]), and its reads show the newer holder alone meanwhile.
//! The commits of a move take the id's turn once, so that this process's other commands on the
//! user wait for the whole move.

use domain::ownership::Owned;
use domain::{DomainError, Principal, ResourceId, TenantSlug};
use tracing::Instrument;

use crate::api::{EventMetadata, Store};
use crate::commands::{decide, replayed, run_in_turn, stream_turn, CommandError, Expect, Moves, Outcome, ScimResource, Start};

/// Decides `change` on the resource `id` of `from` for `principal` (its owner, If-Match and
/// validity checked there, as any change's), then moves the resource as the change leaves it
/// into `to`. A login of it taken in `to` fails the move-in: nothing moves. Answers the
/// resource in `to`.
#[allow(clippy::too_many_arguments)]
pub async fn relocate<A: ScimResource + Owned>(
    store: &dyn Store,
    from: &TenantSlug,
    to: &TenantSlug,
    id: ResourceId,
    change: A::Command,
    principal: &Principal,
    metadata: EventMetadata,
    if_match: Option<i64>,
) -> Result<Outcome<A>, CommandError> {
    let moves = moves_of::<A>(from, to)?;
    let span = tracing::info_span!("move", resource = A::KIND.as_str(), %from, %to);
    async move {
        let _turn = stream_turn(id).await;
        let start = match A::resume(store, from, id, &change).await? {
            Some(resumed) => Start::Resumed(resumed),
            None => Start::Replay(store.stream(from, A::KIND, id).await?),
        };
        let expect = if_match.map_or(Expect::Existing, Expect::Version);
        let principal = *principal;
        let (_, changed, _) = crate::cpu::run(move || decide::<A>(start, change, principal, expect)).await??;
        // The principal was admitted above; the new stream has no owner to ask, the old one the same.
        carry(store, moves, (from, to), id, &changed, metadata).await
    }
    .instrument(span)
    .await
}

/// Moves the resource `id` of `from` into `to` as it is: a parent routing users by the groups
/// that name them moves a user a group of `to` takes in out of the sub-tenant where it waited
/// (ADR 0074). The move is the routing rule's, not a change the caller asks of the resource, so
/// no principal is asked. A login of it taken in `to` fails the move-in: nothing moves.
pub async fn transfer<A: ScimResource + Owned>(
    store: &dyn Store,
    from: &TenantSlug,
    to: &TenantSlug,
    id: ResourceId,
    metadata: EventMetadata,
) -> Result<Outcome<A>, CommandError> {
    let moves = moves_of::<A>(from, to)?;
    let span = tracing::info_span!("move", resource = A::KIND.as_str(), %from, %to);
    async move {
        let _turn = stream_turn(id).await;
        let history = store.stream(from, A::KIND, id).await?;
        let moving = crate::cpu::run(move || async move { replayed::<A>(&history) }).await??;
        carry(store, moves, (from, to), id, &moving, metadata).await
    }
    .instrument(span)
    .await
}

/// How `A` moves; a resource that does not move is refused with why.
fn moves_of<A: ScimResource>(from: &TenantSlug, to: &TenantSlug) -> Result<Moves<A>, CommandError> {
    A::moves().ok_or_else(|| {
        DomainError::invalid(format!(
            "this change routes the {} from sub-tenant '{from}' to '{to}'; a {0} stays in the sub-tenant that holds it",
            A::KIND.as_str()
        ))
        .into()
    })
}

/// The two commits of a move of `moving`, the resource `id` of `from`, into `to`; the caller
/// has the id's turn. Answers the resource in `to`.
async fn carry<A: ScimResource + Owned>(
    store: &dyn Store,
    moves: Moves<A>,
    (from, to): (&TenantSlug, &TenantSlug),
    id: ResourceId,
    moving: &A,
    metadata: EventMetadata,
) -> Result<Outcome<A>, CommandError> {
    let (Some(resource), Some(owner)) = (moving.document(), moving.owner()) else { return Err(DomainError::NotFound.into()) };
    let moved_in = (moves.move_in)(resource, owner, from.clone());
    let mut outcome = run_in_turn::<A>(store, to, id, moved_in, &Principal::Operator, metadata.clone(), Expect::Recorded).await?;
    leave::<A>(store, from, to, id, metadata).await?;
    // The row the move-in wrote is new, whatever the stream held before (a user moving back).
    outcome.created = outcome.last_modified;
    Ok(outcome)
}

/// Ends the stay of the resource `id` in `stale`, a sub-tenant it moved out of to `holder`
/// without the move's second commit (a crash between the two).
pub async fn finish<A: ScimResource>(
    store: &dyn Store,
    stale: &TenantSlug,
    holder: &TenantSlug,
    id: ResourceId,
    metadata: EventMetadata,
) -> Result<(), CommandError> {
    let _turn = stream_turn(id).await;
    tracing::warn!(%id, %stale, %holder, "finishing a move that stopped between its commits");
    leave::<A>(store, stale, holder, id, metadata).await
}

/// The move-out: done already (the resource is gone from `from`) is done.
async fn leave<A: ScimResource>(
    store: &dyn Store,
    from: &TenantSlug,
    to: &TenantSlug,
    id: ResourceId,
    metadata: EventMetadata,
) -> Result<(), CommandError> {
    let Some(moves) = A::moves() else { return Ok(()) };
    match run_in_turn::<A>(store, from, id, (moves.move_out)(to.clone()), &Principal::Operator, metadata, Expect::Existing).await {
        Ok(_) | Err(CommandError::Domain(DomainError::NotFound)) => Ok(()),
        Err(e) => Err(e),
    }
}
