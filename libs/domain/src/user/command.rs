//! What may be asked of a user.

use scim::document::Document;
use scim::patch::PatchRequest;

#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// POST /Users.
    Provision {
        resource: Document,
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
}
