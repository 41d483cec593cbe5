//! What may be asked of a group.

use scim::document::Document;
use scim::patch::PatchRequest;

use super::Member;
use crate::{GroupName, Owner, ResourceId};

#[derive(Debug, Clone, PartialEq)]
pub enum GroupCommand {
    /// POST /Groups, by `owner`.
    Create {
        resource: Document,
        owner: Owner,
    },
    /// PUT /Groups/{id}.
    Replace {
        resource: Document,
    },
    /// PATCH /Groups/{id}: resolved against the current resource.
    Patch {
        request: PatchRequest,
    },
    Rename {
        display_name: GroupName,
    },
    AddMembers {
        members: Vec<Member>,
    },
    RemoveMembers {
        members: Vec<ResourceId>,
    },
    ReplaceMembers {
        members: Vec<Member>,
    },
    /// DELETE /Groups/{id}.
    Delete,
}
