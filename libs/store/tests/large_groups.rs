//! A membership change on a group of 100,000 members, on both backends: the shapes Okta and
//! Entra ID send, and a PUT that changes a few members, each emit only the changes they make,
//! and keep the memberships and each user's `groups` (ADR 0066). What this costs is measured
//! by scripts/bench-scale.sh, not here.

mod support;

use domain::group::{Group, GroupCommand, GroupEvent, Member};
use domain::{Principal, ResourceId};
use futures::stream::{self, StreamExt, TryStreamExt};
use scim::document::Document;
use scim::patch::PatchRequest;
use scim::schema::GROUP_RESOURCE;
use serde_json::{json, Value};
use store::commands;
use support::{operator, Fixture};

const MEMBERS: usize = 100_000;
/// Members per building command (the limit of one request is 5,000).
const CHUNK: usize = 5_000;

async fn seed_users(fixture: &Fixture, count: usize) -> Vec<ResourceId> {
    stream::iter(0..count)
        .map(|i| fixture.provision(json!({"userName": format!("member{i}@example.com")})))
        .buffered(32)
        .try_collect()
        .await
        .expect("seeding users")
}

async fn run(fixture: &Fixture, group: ResourceId, command: GroupCommand) -> Vec<GroupEvent> {
    let head = fixture.store.head().await.unwrap();
    commands::change::<Group>(&*fixture.store, &fixture.tenant, group, command, &Principal::Operator, operator(), None).await.unwrap();
    fixture.store.read_log(head, 1_000).await.unwrap().iter().map(|e| e.decode::<GroupEvent>().unwrap()).collect()
}

fn patch(operations: Value) -> GroupCommand {
    GroupCommand::Patch { request: PatchRequest::parse(&json!({ "Operations": operations })).unwrap() }
}

fn users(ids: &[ResourceId]) -> Vec<Member> {
    ids.iter().copied().map(Member::user).collect()
}

async fn member_count(fixture: &Fixture, group: ResourceId) -> usize {
    fixture.store.members_of(&fixture.tenant, &[group]).await.unwrap().get(&group).map_or(0, Vec::len)
}

/// Whether `user`'s row lists the group.
async fn in_groups_of(fixture: &Fixture, user: ResourceId, group: ResourceId) -> bool {
    let groups = fixture.store.groups_of(&fixture.tenant, &[user]).await.unwrap();
    groups.get(&user).into_iter().flatten().any(|r| r.id == group)
}

on_both_backends! {
    async fn a_membership_patch_on_a_group_of_100000_members(fixture: Fixture) {
        let ids = seed_users(&fixture, MEMBERS + 1).await;
        let (members, newcomer) = (&ids[..MEMBERS], ids[MEMBERS]);
        let group = fixture.create_group(json!({"displayName": "Everyone"})).await.unwrap();
        for chunk in members.chunks(CHUNK) {
            run(&fixture, group, GroupCommand::AddMembers { members: users(chunk) }).await;
        }
        assert_eq!(member_count(&fixture, group).await, MEMBERS);
        let first = members[0];

        // Okta: an add with a value list, a removal by filter.
        let added = run(&fixture, group, patch(json!([{"op": "add", "path": "members", "value": [{"value": newcomer.to_string()}]}]))).await;
        assert_eq!(added, vec![GroupEvent::MembersAdded { members: vec![Member { value: newcomer, kind: None }] }]);
        let removed = run(&fixture, group, patch(json!([{"op": "remove", "path": format!("members[value eq \"{first}\"]")}]))).await;
        assert_eq!(removed, vec![GroupEvent::MembersRemoved { members: users(&[first]) }]);
        assert_eq!(member_count(&fixture, group).await, MEMBERS);
        assert!(in_groups_of(&fixture, newcomer, group).await);
        assert!(!in_groups_of(&fixture, first, group).await);

        // An add of a member the group has, and a removal of one it has not, change nothing.
        let none = run(&fixture, group, patch(json!([
            {"op": "add", "path": "members", "value": [{"value": members[1].to_string()}]},
            {"op": "remove", "path": format!("members[value eq \"{first}\"]")}
        ]))).await;
        assert_eq!(none, vec![]);

        // Entra ID: capitalised ops, a removal by a value list.
        let entra = run(&fixture, group, patch(json!([
            {"op": "Add", "path": "members", "value": [{"value": first.to_string()}]},
            {"op": "Remove", "path": "members", "value": [{"value": newcomer.to_string()}]}
        ]))).await;
        assert_eq!(entra, vec![
            GroupEvent::MembersRemoved { members: vec![Member { value: newcomer, kind: None }] },
            GroupEvent::MembersAdded { members: vec![Member { value: first, kind: None }] },
        ]);
        assert_eq!(member_count(&fixture, group).await, MEMBERS);
        assert!(in_groups_of(&fixture, first, group).await);
        assert!(!in_groups_of(&fixture, newcomer, group).await);
        let record = fixture.store.group(&fixture.tenant, group).await.unwrap().unwrap();
        assert_eq!(record.version, 1 + (MEMBERS / CHUNK) as i64 + 4, "each change is one event on the stream");
    }

    async fn a_put_that_changes_a_few_members_of_a_big_group_emits_only_those(fixture: Fixture) {
        let ids = seed_users(&fixture, MEMBERS + 2).await;
        let group = fixture.create_group(json!({"displayName": "Everyone"})).await.unwrap();
        for chunk in ids[..MEMBERS].chunks(CHUNK) {
            run(&fixture, group, GroupCommand::AddMembers { members: users(chunk) }).await;
        }
        // The whole list but its first two members, and two newcomers; a new externalId.
        let wanted: Vec<Value> = ids[2..].iter().map(|id| json!({"value": id.to_string(), "type": "User"})).collect();
        let mut body = json!({"displayName": "Everyone", "externalId": "all-of-us"}).as_object().unwrap().clone();
        body.insert("members".into(), Value::Array(wanted));
        // PUT's command (its body's members are counted by the handler, not by this document).
        let resource = Document::from_edited(body, &GROUP_RESOURCE).unwrap();
        let events = run(&fixture, group, GroupCommand::Replace { resource }).await;
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(matches!(&events[0], GroupEvent::ProfileUpdated { profile } if profile.str("externalId") == Some("all-of-us")));
        assert_eq!(events[1], GroupEvent::MembersRemoved { members: users(&ids[..2]) });
        assert_eq!(events[2], GroupEvent::MembersAdded { members: users(&ids[MEMBERS..]) });
        assert_eq!(member_count(&fixture, group).await, MEMBERS);
        assert!(!in_groups_of(&fixture, ids[0], group).await);
        assert!(in_groups_of(&fixture, ids[MEMBERS + 1], group).await);
    }
}
