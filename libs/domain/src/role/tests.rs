use cqrs_es::Aggregate;
use serde_json::json;

use super::assignment::{Assignment, AssignmentEvent};
use super::*;
use crate::{DomainError, ResourceId};

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

fn policy(events: Vec<RolePolicyEvent>) -> RolePolicy {
    let mut policy = RolePolicy::default();
    for event in events {
        policy.apply(event);
    }
    policy
}

fn defined(name: &str) -> RolePolicyEvent {
    RolePolicyEvent::Defined { name: role(name), description: None }
}

fn mapped(group: &str, name: &str, precedence: u32) -> RolePolicyEvent {
    RolePolicyEvent::Mapped { group: GroupRef::DisplayName(group.into()), role: role(name), precedence }
}

fn roles_of(
    policy: &RolePolicy,
    id: ResourceId,
    active: bool,
    groups: &[(ResourceId, &str)],
    created_with: Option<&RoleName>,
) -> Vec<String> {
    effective(policy, UserFacts { id, active, groups: groups.iter().copied(), created_with }).into_iter().map(String::from).collect()
}

#[test]
fn mapped_roles_come_strongest_first_whatever_the_order_of_the_groups() {
    let p = policy(vec![
        defined("admin"),
        defined("editor"),
        defined("viewer"),
        mapped("Staff", "viewer", 30),
        mapped("Eng", "editor", 20),
        mapped("Ops", "admin", 10),
    ]);
    let (staff, eng, ops) = (ResourceId::new(), ResourceId::new(), ResourceId::new());
    let user = ResourceId::new();
    let groups = [(staff, "staff"), (eng, "ENG"), (ops, "Ops")];
    assert_eq!(roles_of(&p, user, true, &groups, None), ["admin", "editor", "viewer"]);
    assert_eq!(roles_of(&p, user, true, &groups[..1], None), ["viewer"]);
}

#[test]
fn in_no_mapped_group_the_creation_role_comes_before_the_default() {
    let mut p = policy(vec![defined("viewer"), defined("member"), mapped("Eng", "viewer", 10)]);
    let user = ResourceId::new();
    assert!(roles_of(&p, user, true, &[], None).is_empty());
    p.apply(RolePolicyEvent::DefaultChanged { from: None, to: Some(role("member")) });
    assert_eq!(roles_of(&p, user, true, &[(ResourceId::new(), "Other")], None), ["member"]);
    assert_eq!(roles_of(&p, user, true, &[], Some(&role("Editor"))), ["Editor"]);
    assert_eq!(roles_of(&p, user, true, &[(ResourceId::new(), "eng")], Some(&role("Editor"))), ["viewer"]);
    assert!(roles_of(&p, user, false, &[(ResourceId::new(), "eng")], None).is_empty(), "inactive users hold no role");
}

#[test]
fn a_lock_outranks_everything_until_it_is_lifted() {
    let mut p = policy(vec![defined("viewer"), defined("admin"), mapped("Eng", "viewer", 10)]);
    let user = ResourceId::new();
    p.apply(RolePolicyEvent::Locked { user, role: role("admin") });
    assert_eq!(roles_of(&p, user, false, &[(ResourceId::new(), "Eng")], None), ["admin"]);
    p.apply(RolePolicyEvent::Unlocked { user, role: role("admin") });
    assert_eq!(roles_of(&p, user, true, &[(ResourceId::new(), "Eng")], None), ["viewer"]);
}

#[test]
fn mappings_and_locks_name_roles_of_the_catalogue() {
    let p = policy(vec![defined("viewer")]);
    let refused =
        p.decide(RolePolicyCommand::Map(Mapping { group: GroupRef::DisplayName("Eng".into()), role: role("admin"), precedence: 1 }));
    assert!(matches!(refused, Err(DomainError::Invalid(_))));
    assert!(matches!(p.decide(RolePolicyCommand::Lock { user: ResourceId::new(), role: role("admin") }), Err(DomainError::Invalid(_))));
    assert!(matches!(p.decide(RolePolicyCommand::Unmap { group: GroupRef::DisplayName("Eng".into()) }), Err(DomainError::NotFound)));
    // The same mapping again, the same default again and an unlock of no lock change nothing.
    let p = policy(vec![defined("viewer"), mapped("Eng", "viewer", 10)]);
    let again = Mapping { group: GroupRef::DisplayName("ENG".into()), role: role("viewer"), precedence: 10 };
    assert_eq!(p.decide(RolePolicyCommand::Map(again)).unwrap(), None);
    assert_eq!(p.decide(RolePolicyCommand::SetDefault { role: None }).unwrap(), None);
    assert_eq!(p.decide(RolePolicyCommand::Unlock { user: ResourceId::new() }).unwrap(), None);
}

#[test]
fn an_assignment_emits_only_what_moved_with_the_roles_after_each_event() {
    let user = ResourceId::new();
    let cause = json!({"event": "group.members_added"});
    let mut held = Assignment::default();
    let events = held.changes(user, &[role("admin"), role("viewer")], &cause);
    assert_eq!(events.len(), 2);
    for event in events {
        held.apply(event);
    }
    assert_eq!(held.roles(), [role("admin"), role("viewer")]);
    assert!(held.changes(user, &[role("viewer"), role("admin")], &cause).is_empty(), "order alone is no change");
    let events = held.changes(user, &[role("editor")], &cause);
    let kinds: Vec<_> = events
        .iter()
        .map(|e| match e {
            AssignmentEvent::Assigned { role, roles, .. } => format!("+{role} {}", roles.len()),
            AssignmentEvent::Revoked { role, roles, .. } => format!("-{role} {}", roles.len()),
        })
        .collect();
    assert_eq!(kinds, ["-admin 1", "-viewer 0", "+editor 1"]);
}
