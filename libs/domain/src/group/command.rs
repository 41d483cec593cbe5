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

impl GroupCommand {
    /// The members the command puts into the group (a removal puts in nobody). A value that is
    /// no id scimledger hands out names nobody, as in `Member::list_from`. A parent that routes
    /// users by the groups naming them moves these into the group's sub-tenant first (ADR 0074).
    pub fn joining(&self) -> Vec<ResourceId> {
        let ids = |values: &mut dyn Iterator<Item = &str>| values.filter_map(|v| v.parse().ok()).collect();
        match self {
            GroupCommand::Create { resource, .. } | GroupCommand::Replace { resource } => ids(&mut resource.values_of("members")),
            GroupCommand::Patch { request } => ids(&mut request.added_members().iter().map(String::as_str)),
            GroupCommand::AddMembers { members } | GroupCommand::ReplaceMembers { members } => members.iter().map(|m| m.value).collect(),
            GroupCommand::Rename { .. } | GroupCommand::RemoveMembers { .. } | GroupCommand::Delete => Vec::new(),
        }
    }
}
