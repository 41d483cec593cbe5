//! A group command's starting point without its stream (docs/adr/0066-group-commands-resume-
//! from-the-group-row.md): the group's row, which every group commit writes at the stream's
//! version, holds its state but its members; of the members, a command reads those it names
//! (an add, a removal, a PATCH of Okta's or Entra ID's shape), or all of them when it replaces
//! the list. The append's version check is the stream's, as after a replay: a commit to the
//! group after the row was read fails it, and the command is decided again.

use domain::group::{Group, GroupCommand, Member};
use domain::{GroupName, ResourceId, TenantSlug};
use scim::document::Document;
use serde_json::Value;

use crate::api::{GroupSnapshot, Store, StoreError, StoreResult};
use crate::commands::Resumed;

/// The group as `command` needs it; a default (non-existent) group when no live group has `id`.
pub async fn resume(store: &dyn Store, tenant: &TenantSlug, id: ResourceId, command: &GroupCommand) -> StoreResult<Resumed<Group>> {
    let named = members_needed(command);
    let Some(snapshot) = store.group_snapshot(tenant, id, named.as_deref()).await? else {
        return Ok(Resumed { aggregate: Group::default(), version: 0, created: None, last_modified: None });
    };
    let GroupSnapshot { record, owner, members } = snapshot;
    let Value::Object(mut document) = record.document else {
        return Err(StoreError::corrupt(format!("group {id}'s row"), "its document is not a JSON object"));
    };
    let display_name = match document.remove("displayName") {
        Some(Value::String(name)) => GroupName::parse(&name).map_err(|e| StoreError::corrupt(format!("group {id}'s row"), e))?,
        _ => return Err(StoreError::corrupt(format!("group {id}'s row"), "it has no displayName")),
    };
    let profile: Document =
        serde_json::from_value(Value::Object(document)).map_err(|e| StoreError::corrupt(format!("group {id}'s row"), e))?;
    let members = members.into_iter().map(|(value, kind)| Member { value, kind }).collect();
    Ok(Resumed {
        aggregate: Group::resumed(display_name, profile, members, owner),
        version: record.version,
        created: Some(record.created),
        last_modified: Some(record.last_modified),
    })
}

/// The members whose presence decides `command`: the ids it names, or `None` for every member.
fn members_needed(command: &GroupCommand) -> Option<Vec<ResourceId>> {
    match command {
        GroupCommand::AddMembers { members } => Some(members.iter().map(|m| m.value).collect()),
        GroupCommand::RemoveMembers { members } => Some(members.clone()),
        // A value that is no id scimledger hands out names no member (`Member::list_from`).
        GroupCommand::Patch { request } => request.named_members().map(|named| named.iter().filter_map(|v| v.parse().ok()).collect()),
        GroupCommand::Replace { .. } | GroupCommand::ReplaceMembers { .. } => None,
        GroupCommand::Create { .. } | GroupCommand::Rename { .. } | GroupCommand::Delete => Some(Vec::new()),
    }
}
