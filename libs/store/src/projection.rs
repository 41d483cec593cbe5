//! What a commit writes besides its events: the read-model change and the reservations,
//! derived from the domain's events and the aggregate's state after them. Both backends execute
//! the result; neither interprets events itself.

use std::collections::{BTreeSet, HashSet};

use domain::group::{Group, GroupEvent, GroupState, MemberKind};
use domain::names::fold_case;
use domain::user::{User, UserState};
use domain::{Owner, ResourceId};
use serde_json::Value;

use crate::api::{GroupRow, IndexedValue, ReadModelChange, Reservation, StoreError, StoreResult, UserRow, GROUP_DISPLAY_NAME, LOGIN};

/// Multi-valued user attributes whose values filters look up through an index.
pub const INDEXED_USER_VALUES: [&str; 2] = ["emails", "aliases"];

/// Reservations and read-model change of a user commit, from the user before and after it.
/// A user's logins (its userName and every alias) share one namespace (ADR 0012): the commit
/// releases the logins it dropped and claims the ones it gained, so a login the user keeps
/// (an alias equal to its own userName, a rename that only changes case) is never re-claimed.
pub fn user_commit(before: &User, after: &User) -> (Vec<Reservation>, ReadModelChange) {
    let (old, new) = (logins(before.state()), logins(after.state()));
    let reservations = old
        .difference(&new)
        .map(|key| release(LOGIN, key.clone()))
        .chain(new.difference(&old).map(|key| claim(LOGIN, key.clone())))
        .collect();
    let owner_before = before.state().map(|s| s.owner);
    let change = match (after.state(), owner_before) {
        (Some(state), _) => ReadModelChange::UpsertUser { row: user_row(state), owner_before },
        (None, Some(owner)) => ReadModelChange::DeleteUser { owner },
        (None, None) => ReadModelChange::Nothing,
    };
    (reservations, change)
}

/// The case-folded keys a user's logins reserve; none for a user that does not exist.
fn logins(state: Option<&UserState>) -> BTreeSet<String> {
    let Some(state) = state else { return BTreeSet::new() };
    std::iter::once(state.user_name.key())
        .chain(state.profile.values_of("aliases").filter(|alias| !alias.trim().is_empty()).map(fold_case))
        .collect()
}

/// Reservations and read-model change of a group commit.
pub fn group_commit(before: &Group, events: &[GroupEvent], after: &Group) -> (Vec<Reservation>, ReadModelChange) {
    let mut reservations = Vec::new();
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for event in events {
        match event {
            GroupEvent::Created { display_name, members, .. } => {
                reservations.push(claim(GROUP_DISPLAY_NAME, display_name.key()));
                added.extend(members.iter().map(|m| (m.value, m.kind)));
            }
            GroupEvent::Renamed { from, to } => {
                reservations.push(release(GROUP_DISPLAY_NAME, from.key()));
                reservations.push(claim(GROUP_DISPLAY_NAME, to.key()));
            }
            GroupEvent::MembersAdded { members } => {
                let joining: HashSet<ResourceId> = members.iter().map(|m| m.value).collect();
                removed.retain(|id| !joining.contains(id));
                added.extend(members.iter().map(|m| (m.value, m.kind)));
            }
            GroupEvent::MembersRemoved { members } => {
                let leaving: HashSet<ResourceId> = members.iter().map(|m| m.value).collect();
                added.retain(|(id, _)| !leaving.contains(id));
                removed.extend(members.iter().map(|m| m.value));
            }
            GroupEvent::Deleted { display_name } => reservations.push(release(GROUP_DISPLAY_NAME, display_name.key())),
            GroupEvent::ProfileUpdated { .. } | GroupEvent::Claimed { .. } => {}
        }
    }
    let renamed = events.iter().any(|e| matches!(e, GroupEvent::Renamed { .. }));
    let owner_before = before.state().map(|s| s.owner);
    let change = ReadModelChange::Group { row: after.state().map(group_row), added, removed, renamed, owner_before };
    (reservations, change)
}

pub fn user_row(state: &UserState) -> UserRow {
    let document = state.document();
    let values = INDEXED_USER_VALUES
        .iter()
        .flat_map(|&attribute| {
            document.get(attribute).and_then(Value::as_array).into_iter().flatten().filter_map(move |element| {
                let value = element.get("value")?.as_str()?;
                Some(IndexedValue {
                    attribute,
                    value_type: element.get("type").and_then(Value::as_str).map(fold_case),
                    key: fold_case(value),
                })
            })
        })
        .collect();
    UserRow {
        user_name: state.user_name.to_string(),
        user_name_key: state.user_name.key(),
        external_id: document.str("externalId").map(str::to_owned),
        active: state.is_active(),
        document: Value::Object(document.into_map()),
        values,
        owner: state.owner,
    }
}

pub fn group_row(state: &GroupState) -> GroupRow {
    let mut document = state.document();
    document.remove("members");
    GroupRow {
        display_name: state.display_name.to_string(),
        display_name_key: state.display_name.key(),
        external_id: document.str("externalId").map(str::to_owned),
        document: Value::Object(document.into_map()),
        owner: state.owner,
    }
}

fn claim(kind: &'static str, key: String) -> Reservation {
    Reservation::Claim { kind, key }
}

fn release(kind: &'static str, key: String) -> Reservation {
    Reservation::Release { kind, key }
}

/// A member's kind as the read model spells it (`None` where the IdP gave none).
pub fn member_kind_named(name: Option<&str>) -> StoreResult<Option<MemberKind>> {
    match name {
        None => Ok(None),
        Some("User") => Ok(Some(MemberKind::User)),
        Some("Group") => Ok(Some(MemberKind::Group)),
        Some(other) => Err(StoreError::corrupt("a membership", format!("'{other}' is no member kind"))),
    }
}

/// A group row's owner as the read model spells it.
pub fn owner_named(name: &str) -> StoreResult<Owner> {
    name.parse().map_err(|e| StoreError::corrupt("a group's owner", e))
}

/// How the read model spells a member's kind.
pub fn member_kind_name(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::User => "User",
        MemberKind::Group => "Group",
    }
}
