//! Given / when / then for every group command and every refusal.

use cqrs_es::test::TestFramework;
use scim::document::Document;
use scim::patch::PatchRequest;
use scim::schema::GROUP_RESOURCE;
use scim::ScimType;
use serde_json::{json, Value};

use super::{Group, GroupCommand, GroupEvent, Member};
use crate::event::{decode, encode};
use crate::{DomainError, GroupName, Owner, ResourceId};
use uuid::Uuid;

type Given = TestFramework<Group>;

/// The connection that creates the groups of these tests.
const OKTA: Owner = Owner::Connection(Uuid::from_u128(1));

fn doc(value: Value) -> Document {
    Document::parse(&value, &GROUP_RESOURCE).unwrap()
}

fn name(text: &str) -> GroupName {
    GroupName::parse(text).unwrap()
}

fn ids<const N: usize>() -> [ResourceId; N] {
    std::array::from_fn(|_| ResourceId::new())
}

fn created(members: &[ResourceId]) -> GroupEvent {
    GroupEvent::Created {
        display_name: name("Engineering"),
        profile: Document::default(),
        members: members.iter().map(|&id| Member::user(id)).collect(),
        owner: OKTA,
    }
}

fn patch(body: Value) -> GroupCommand {
    GroupCommand::Patch { request: PatchRequest::parse(&body).unwrap() }
}

fn refusal(result: Result<Vec<GroupEvent>, DomainError>) -> ScimType {
    match result {
        Err(DomainError::Invalid(e)) => e.scim_type.expect("a scimType"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn create_with_no_members_as_entra_does() {
    Given::with(())
        .given_no_previous_events()
        .when(GroupCommand::Create {
            resource: doc(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"], "displayName": "Engineering"})),
            owner: OKTA,
        })
        .then_expect_events(vec![created(&[])]);
}

#[test]
fn create_twice_is_refused() {
    Given::with(())
        .given(vec![created(&[])])
        .when(GroupCommand::Create { resource: doc(json!({"displayName": "Other"})), owner: OKTA })
        .then_expect_error(DomainError::AlreadyExists);
}

#[test]
fn a_member_value_that_is_not_an_id_names_nothing_and_is_left_out() {
    Given::with(())
        .given_no_previous_events()
        .when(GroupCommand::Create {
            resource: doc(json!({"displayName": "Engineering", "members": [{"value": "fake-member-id"}]})),
            owner: OKTA,
        })
        .then_expect_events(vec![created(&[])]);
}

#[test]
fn unknown_members_are_dropped_from_the_decided_events() {
    let [known, unknown] = ids();
    let added = GroupEvent::MembersAdded { members: vec![Member::user(known), Member::user(unknown)] };
    assert_eq!(added.without_members(&[unknown]), Some(GroupEvent::MembersAdded { members: vec![Member::user(known)] }));
    let only_unknown = GroupEvent::MembersAdded { members: vec![Member::user(unknown)] };
    assert_eq!(only_unknown.without_members(&[unknown]), None);
}

#[test]
fn rename() {
    Given::with(())
        .given(vec![created(&[])])
        .when(GroupCommand::Rename { display_name: name("Platform") })
        .then_expect_events(vec![GroupEvent::Renamed { from: name("Engineering"), to: name("Platform") }]);
}

#[test]
fn rename_to_the_same_name_changes_nothing() {
    Given::with(()).given(vec![created(&[])]).when(GroupCommand::Rename { display_name: name("Engineering") }).then_expect_events(vec![]);
}

#[test]
fn add_members_skips_those_already_in() {
    let [a, b] = ids();
    Given::with(())
        .given(vec![created(&[a])])
        .when(GroupCommand::AddMembers { members: vec![Member::user(a), Member::user(b), Member::user(b)] })
        .then_expect_events(vec![GroupEvent::MembersAdded { members: vec![Member::user(b)] }]);
}

#[test]
fn remove_members_ignores_those_not_in() {
    let [a, b, c] = ids();
    Given::with(())
        .given(vec![created(&[a, b])])
        .when(GroupCommand::RemoveMembers { members: vec![b, c] })
        .then_expect_events(vec![GroupEvent::MembersRemoved { members: vec![Member::user(b)] }]);
}

#[test]
fn replace_members_is_the_difference() {
    let [a, b, c] = ids();
    Given::with(())
        .given(vec![created(&[a, b])])
        .when(GroupCommand::ReplaceMembers { members: vec![Member::user(b), Member::user(c)] })
        .then_expect_events(vec![
            GroupEvent::MembersRemoved { members: vec![Member::user(a)] },
            GroupEvent::MembersAdded { members: vec![Member::user(c)] },
        ]);
}

#[test]
fn delete() {
    Given::with(())
        .given(vec![created(&[])])
        .when(GroupCommand::Delete)
        .then_expect_events(vec![GroupEvent::Deleted { display_name: name("Engineering") }]);
}

#[test]
fn every_command_on_a_deleted_group_is_not_found() {
    let deleted = GroupEvent::Deleted { display_name: name("Engineering") };
    for command in [
        GroupCommand::Replace { resource: doc(json!({"displayName": "x"})) },
        patch(json!({"Operations": [{"op": "replace", "value": {"displayName": "x"}}]})),
        GroupCommand::Rename { display_name: name("x") },
        GroupCommand::AddMembers { members: vec![] },
        GroupCommand::RemoveMembers { members: vec![] },
        GroupCommand::ReplaceMembers { members: vec![] },
        GroupCommand::Delete,
    ] {
        Given::with(()).given(vec![created(&[]), deleted.clone()]).when(command).then_expect_error(DomainError::NotFound);
    }
}

#[test]
fn okta_removes_by_filter_and_adds_in_one_patch() {
    let [u1, u2] = ids();
    Given::with(())
        .given(vec![created(&[u1])])
        .when(patch(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
            {"op": "add", "path": "members", "value": [{"value": u2.to_string(), "display": "x"}]}
        ]})))
        .then_expect_events(vec![
            GroupEvent::MembersRemoved { members: vec![Member::user(u1)] },
            GroupEvent::MembersAdded { members: vec![Member { value: u2, kind: None }] },
        ]);
}

#[test]
fn okta_renames_with_the_read_only_id_in_the_value() {
    Given::with(())
        .given(vec![created(&[])])
        .when(patch(json!({"Operations": [{"op": "replace", "value": {"id": ResourceId::new().to_string(), "displayName": "Platform"}}]})))
        .then_expect_events(vec![GroupEvent::Renamed { from: name("Engineering"), to: name("Platform") }]);
}

#[test]
fn okta_replaces_the_member_list() {
    let [a, b] = ids();
    Given::with(())
        .given(vec![created(&[a])])
        .when(patch(json!({"Operations": [{"op": "replace", "path": "members", "value": [{"value": b.to_string()}]}]})))
        .then_expect_events(vec![
            GroupEvent::MembersRemoved { members: vec![Member::user(a)] },
            GroupEvent::MembersAdded { members: vec![Member { value: b, kind: None }] },
        ]);
}

#[test]
fn entra_removes_members_by_value_list_and_keeps_the_rest() {
    let [a, b, c] = ids();
    Given::with(())
        .given(vec![created(&[a, b, c])])
        .when(patch(json!({"Operations": [{"op": "Remove", "path": "members", "value": [{"value": b.to_string()}]}]})))
        .then_expect_events(vec![GroupEvent::MembersRemoved { members: vec![Member::user(b)] }]);
}

#[test]
fn entra_adds_members_with_a_null_ref() {
    let [a] = ids();
    Given::with(())
        .given(vec![created(&[])])
        .when(patch(json!({"Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a.to_string()}]}]})))
        .then_expect_events(vec![GroupEvent::MembersAdded { members: vec![Member { value: a, kind: None }] }]);
}

#[test]
fn removing_the_display_name_is_refused() {
    let result = Given::with(())
        .given(vec![created(&[])])
        .when(patch(json!({"Operations": [{"op": "remove", "path": "displayName"}]})))
        .inspect_result();
    assert_eq!(refusal(result), ScimType::InvalidValue);
}

#[test]
fn events_round_trip_through_the_log_encoding() {
    let [a] = ids();
    for event in [
        created(&[a]),
        GroupEvent::Renamed { from: name("a"), to: name("b") },
        GroupEvent::MembersAdded { members: vec![Member::user(a)] },
        GroupEvent::MembersRemoved { members: vec![Member { value: a, kind: None }] },
        GroupEvent::Deleted { display_name: name("a") },
    ] {
        let payload = encode(&event);
        assert!(payload.event_type.starts_with("group."), "{}", payload.event_type);
        assert_eq!(decode::<GroupEvent>(&payload).unwrap(), event);
    }
}

#[test]
fn membership_changes_on_a_large_group_name_only_the_members_that_change() {
    let members: Vec<ResourceId> = (0..20_000).map(|_| ResourceId::new()).collect();
    let [newcomer] = ids();
    let leaving = &members[..999];
    // Okta's shape: one remove per member, then one add.
    let mut operations: Vec<Value> =
        leaving.iter().map(|id| json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})).collect();
    operations
        .push(json!({"op": "add", "path": "members", "value": [{"value": newcomer.to_string()}, {"value": members[5_000].to_string()}]}));
    Given::with(()).given(vec![created(&members)]).when(patch(json!({"Operations": operations}))).then_expect_events(vec![
        GroupEvent::MembersRemoved { members: leaving.iter().map(|&id| Member::user(id)).collect() },
        GroupEvent::MembersAdded { members: vec![Member { value: newcomer, kind: None }] },
    ]);
    Given::with(())
        .given(vec![created(&members)])
        .when(GroupCommand::AddMembers { members: vec![Member::user(members[7]), Member::user(newcomer), Member::user(newcomer)] })
        .then_expect_events(vec![GroupEvent::MembersAdded { members: vec![Member::user(newcomer)] }]);
}

#[test]
fn the_members_a_command_puts_in_are_those_it_adds_or_lists() {
    let [a, b, c] = ids();
    let listed = doc(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "x",
        "members": [{"value": a.to_string()}, {"value": "not-an-id"}]}));
    assert_eq!(GroupCommand::Create { resource: listed.clone(), owner: OKTA }.joining(), [a]);
    assert_eq!(GroupCommand::Replace { resource: listed }.joining(), [a]);
    let patched = patch(json!({"Operations": [
        {"op": "add", "path": "members", "value": [{"value": b.to_string()}]},
        {"op": "remove", "path": format!("members[value eq \"{c}\"]")}
    ]}));
    assert_eq!(patched.joining(), [b]);
    assert_eq!(GroupCommand::RemoveMembers { members: vec![c] }.joining(), []);
}
