//! What may be asked of a user.

use scim::document::Document;
use scim::patch::PatchRequest;

use crate::{Owner, TenantSlug};

#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// POST /Users, by `owner`.
    Provision {
        resource: Document,
        owner: Owner,
    },
    /// PUT /Users/{id}: the whole resource.
    Replace {
        resource: Document,
    },
    /// PATCH /Users/{id}: resolved against the current resource.
    Patch {
        request: PatchRequest,
    },
    Deactivate,
    Reactivate,
    /// DELETE /Users/{id}.
    Delete,
    /// A subscriber's deletion, as a connection's `on_deactivate` asks (`remove_user`): the
    /// event says why and which event caused it.
    Remove {
        reason: String,
        cause: uuid::Uuid,
    },
    /// A parent's change routed the user here from `from`, another of its sub-tenants
    /// (ADR 0074): `resource` is the user as the change left it, `owner` its owner there.
    MoveIn {
        resource: Document,
        owner: Owner,
        from: TenantSlug,
    },
    /// The second half of a move: the user, moved into `to`, leaves this sub-tenant.
    MoveOut {
        to: TenantSlug,
    },
    /// An operator's erasure (`audit erase`): deletes the user if it is live, then records
    /// that its personal data is to be made unreadable.
    Erase,
}
