//! The store's promises, proved on PostgreSQL and on SQLite alike.

mod support;

use domain::connection::{Connection, ConnectionCommand, ReadScope, SettingsChange};
use domain::event::encode;
use domain::group::{Group, GroupCommand, MemberKind};
use domain::secret::NewSecret;
use domain::user::{User, UserCommand, UserEvent};
use domain::{DomainError, Owner, Principal, ResourceId, StreamKind, UserName};
use futures::future::join_all;
use scim::list::ListQuery;
use scim::patch::PatchRequest;
use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::json;
use store::commands::{self, CommandError};
use store::projection::user_commit;
use store::{Commit, StoreError, LOGIN};
use support::{group_doc, operator, user_doc, Fixture};

fn query(params: &[(&str, &str)]) -> ListQuery {
    ListQuery::from_params(params.iter().copied(), &USER_RESOURCE).expect("a valid query")
}

/// A commit that renames `id` (at `version`) to `new_name`, built by hand so tests can make it
/// stale or collide on purpose.
fn rename_commit(fixture: &Fixture, id: ResourceId, version: i64, old_name: &str, new_name: &str) -> Commit {
    let mut user = User::default();
    cqrs_es::Aggregate::apply(
        &mut user,
        UserEvent::Provisioned {
            user_name: UserName::parse(old_name).unwrap(),
            active: Some(true),
            profile: Default::default(),
            owner: Owner::Operator,
        },
    );
    let before = user.clone();
    let event = UserEvent::Renamed { from: UserName::parse(old_name).unwrap(), to: UserName::parse(new_name).unwrap() };
    cqrs_es::Aggregate::apply(&mut user, event.clone());
    let (reservations, read_model) = user_commit(&before, &user);
    Commit {
        tenant: fixture.tenant.clone(),
        kind: domain::StreamKind::User,
        stream: id,
        expected_version: version,
        events: vec![encode(&event)],
        metadata: operator(),
        recorded_at: time::OffsetDateTime::now_utc(),
        reservations,
        read_model,
        secrets: Vec::new(),
        key: None,
        held: false,
    }
}

on_both_backends! {
    async fn a_commit_writes_its_events_and_read_model_together(fixture: Fixture) {
        let id = fixture.provision(json!({"userName": "bjensen", "emails": [{"value": "b@example.com"}]})).await.unwrap();
        let record = fixture.store.user(&fixture.tenant, id).await.unwrap().expect("the read model has the user");
        assert_eq!(record.document["userName"], "bjensen");
        assert_eq!(record.version, 1);
        let log = fixture.store.read_log(0, 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].stream, log[0].stream_version, log[0].payload.event_type.as_str()), (id, 1, "user.provisioned"));
        assert_eq!(fixture.store.stream(&fixture.tenant, StreamKind::User, id).await.unwrap(), log);
    }

    async fn a_refused_commit_leaves_no_event_row_or_reservation(fixture: Fixture) {
        let id = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        // Stale version: the rename's reservation of "carol" must roll back with it.
        let stale = rename_commit(&fixture, id, 0, "alice", "carol");
        assert!(matches!(fixture.store.append(stale).await, Err(StoreError::Conflict)));
        assert_eq!(fixture.event_count().await, 1);
        assert_eq!(fixture.store.user(&fixture.tenant, id).await.unwrap().unwrap().document["userName"], "alice");
        fixture.provision(json!({"userName": "carol"})).await.expect("carol was never reserved");
        // A taken name: no event, and the row keeps its old name.
        let taken = rename_commit(&fixture, id, 1, "alice", "CAROL");
        assert!(matches!(fixture.store.append(taken).await, Err(StoreError::Uniqueness { kind: LOGIN, .. })));
        assert_eq!(fixture.event_count().await, 2);
        assert_eq!(fixture.store.user(&fixture.tenant, id).await.unwrap().unwrap().version, 1);
    }

    async fn of_two_appends_at_one_version_exactly_one_wins(fixture: Fixture) {
        let id = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        let a = rename_commit(&fixture, id, 1, "alice", "alice-a");
        let b = rename_commit(&fixture, id, 1, "alice", "alice-b");
        let (ra, rb) = tokio::join!(fixture.store.append(a), fixture.store.append(b));
        let outcomes = [ra, rb];
        assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1, "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|r| matches!(r, Err(StoreError::Conflict))).count(), 1, "{outcomes:?}");
        assert_eq!(fixture.event_count().await, 2);
        let loser = if outcomes[0].is_ok() { "alice-b" } else { "alice-a" };
        fixture.provision(json!({"userName": loser})).await.expect("the loser's reservation rolled back");
    }

    async fn twenty_concurrent_creates_of_one_user_name_make_one_user(fixture: Fixture) {
        let names = ["bjensen", "BJENSEN", "BJensen", "bJensen"];
        let attempts = (0..20).map(|i| fixture.provision(json!({"userName": names[i % names.len()]})));
        let results = join_all(attempts).await;
        let created = results.iter().filter(|r| r.is_ok()).count();
        let refused = results.iter().filter(|r| matches!(r, Err(CommandError::Store(StoreError::Uniqueness { .. })))).count();
        assert_eq!((created, refused), (1, 19), "{results:?}");
        assert_eq!(fixture.event_count().await, 1);
        assert_eq!(fixture.store.users(&fixture.tenant, &query(&[]), false).await.unwrap().total, 1);
    }

    async fn twenty_concurrent_claims_of_one_login_make_one_owner(fixture: Fixture) {
        // Half claim `robert@acme.com` as an alias, half as a userName: one login namespace.
        let attempts = (0..20).map(|i| match i % 2 {
            0 => fixture.provision(json!({"userName": format!("user{i}"), "aliases": [{"value": "Robert@acme.com", "type": "email"}]})),
            _ => fixture.provision(json!({"userName": "ROBERT@acme.com"})),
        });
        let results = join_all(attempts).await;
        let created = results.iter().filter(|r| r.is_ok()).count();
        let refused =
            results.iter().filter(|r| matches!(r, Err(CommandError::Store(StoreError::Uniqueness { kind: LOGIN, value })) if value == "robert@acme.com")).count();
        assert_eq!((created, refused), (1, 19), "{results:?}");
        assert_eq!(fixture.event_count().await, 1);
    }

    async fn an_alias_is_freed_in_the_commit_that_drops_it(fixture: Fixture) {
        let bob = fixture.provision(json!({"userName": "bob", "aliases": [{"value": "b@acme.com"}, {"value": "bobby"}]})).await.unwrap();
        assert!(fixture.provision(json!({"userName": "b@acme.com"})).await.is_err());
        let keep_one = user_doc(json!({"userName": "bob", "aliases": [{"value": "bobby"}]}));
        commands::change::<User>(&*fixture.store, &fixture.tenant, bob, UserCommand::Replace { resource: keep_one }, &Principal::Operator, operator(), None).await.unwrap();
        fixture.provision(json!({"userName": "b@acme.com"})).await.unwrap();
        assert!(fixture.provision(json!({"userName": "carol", "aliases": [{"value": "BOBBY"}]})).await.is_err());
        commands::change::<User>(&*fixture.store, &fixture.tenant, bob, UserCommand::Delete, &Principal::Operator, operator(), None).await.unwrap();
        fixture.provision(json!({"userName": "carol", "aliases": [{"value": "BOBBY"}]})).await.unwrap();
    }

    async fn renaming_and_deleting_free_the_name(fixture: Fixture) {
        let id = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        commands::change::<User>(&*fixture.store, &fixture.tenant, id, UserCommand::Replace { resource: user_doc(json!({"userName": "Alicia"})) }, &Principal::Operator, operator(), None).await.unwrap();
        let again = fixture.provision(json!({"userName": "ALICE"})).await.expect("the old name is free");
        assert!(fixture.provision(json!({"userName": "alicia"})).await.is_err());
        commands::change::<User>(&*fixture.store, &fixture.tenant, again, UserCommand::Delete, &Principal::Operator, operator(), None).await.unwrap();
        assert!(fixture.store.user(&fixture.tenant, again).await.unwrap().is_none());
        fixture.provision(json!({"userName": "alice"})).await.expect("deleting frees the name");
        assert_eq!(fixture.store.stream(&fixture.tenant, StreamKind::User, again).await.unwrap().len(), 2, "the log keeps the deleted user's history");
    }

    async fn a_user_name_changed_only_in_case_stays_reserved(fixture: Fixture) {
        let id = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        commands::change::<User>(&*fixture.store, &fixture.tenant, id, UserCommand::Replace { resource: user_doc(json!({"userName": "Alice"})) }, &Principal::Operator, operator(), None).await.unwrap();
        assert!(fixture.provision(json!({"userName": "ALICE"})).await.is_err());
    }

    async fn pages_are_stable_complete_and_counted(fixture: Fixture) {
        for i in 0..25 {
            fixture.provision(json!({"userName": format!("user{i:02}")})).await.unwrap();
        }
        let mut seen = Vec::new();
        for start in ["1", "11", "21"] {
            let page = fixture.store.users(&fixture.tenant, &query(&[("startIndex", start), ("count", "10")]), false).await.unwrap();
            assert_eq!(page.total, 25);
            seen.extend(page.records.iter().map(|r| r.document["userName"].as_str().unwrap().to_owned()));
        }
        let expected: Vec<String> = (0..25).map(|i| format!("user{i:02}")).collect();
        assert_eq!(seen, expected, "creation order, each user once");
        let past_end = fixture.store.users(&fixture.tenant, &query(&[("startIndex", "26")]), false).await.unwrap();
        assert_eq!((past_end.total, past_end.records.len()), (25, 0));
        let count_only = fixture.store.users(&fixture.tenant, &query(&[("count", "0"), ("filter", "userName sw \"user1\"")]), false).await.unwrap();
        assert_eq!((count_only.total, count_only.records.len()), (10, 0));
        let sorted = fixture.store.users(&fixture.tenant, &query(&[("sortBy", "userName"), ("sortOrder", "descending"), ("count", "2")]), false).await.unwrap();
        let names: Vec<&str> = sorted.records.iter().map(|r| r.document["userName"].as_str().unwrap()).collect();
        assert_eq!(names, ["user24", "user23"]);
    }

    async fn filtered_pages_are_counted_however_full(fixture: Fixture) {
        for i in 0..25 {
            fixture.provision(json!({"userName": format!("user{i:02}")})).await.unwrap();
        }
        fixture.provision(json!({"userName": "someone"})).await.unwrap();
        let users = "userName sw \"user\"";
        // (startIndex, count) → (total, rows): full pages, a short last page, past the end, a
        // look-up's single match, and none.
        for (start, count, filter, expected) in [
            ("1", "10", users, (25, 10)),
            ("21", "5", users, (25, 5)),
            ("21", "10", users, (25, 5)),
            ("30", "10", users, (25, 0)),
            ("1", "100", "userName eq \"USER07\"", (1, 1)),
            ("1", "100", "userName eq \"nobody\"", (0, 0)),
        ] {
            let page = fixture.store.users(&fixture.tenant, &query(&[("startIndex", start), ("count", count), ("filter", filter)]), false).await.unwrap();
            assert_eq!((page.total, page.records.len()), expected, "startIndex={start} count={count} filter={filter}");
        }
    }

    async fn memberships_read_back_both_ways(fixture: Fixture) {
        let alice = fixture.provision(json!({"userName": "alice", "displayName": "Alice A."})).await.unwrap();
        let bob = fixture.provision(json!({"userName": "bob"})).await.unwrap();
        let group = fixture.create_group(json!({"displayName": "Engineering", "members": [{"value": alice.to_string()}, {"value": bob.to_string()}]})).await.unwrap();
        let members = fixture.store.members_of(&fixture.tenant, &[group]).await.unwrap().remove(&group).unwrap();
        let shown: Vec<(ResourceId, MemberKind)> = members.iter().map(|m| (m.id, m.kind)).collect();
        assert_eq!(shown, vec![(alice, MemberKind::User), (bob, MemberKind::User)], "in the order they were added");
        let groups = fixture.store.groups_of(&fixture.tenant, &[alice]).await.unwrap().remove(&alice).unwrap();
        assert_eq!((groups[0].id, groups[0].display.as_deref()), (group, Some("Engineering")));
        let by_member = ListQuery::from_params([("filter", format!("members.value eq \"{bob}\"").as_str())], &GROUP_RESOURCE).unwrap();
        assert_eq!(fixture.store.groups(&fixture.tenant, &by_member).await.unwrap().total, 1);
        commands::change::<User>(&*fixture.store, &fixture.tenant, bob, UserCommand::Delete, &Principal::Operator, operator(), None).await.unwrap();
        let members = fixture.store.members_of(&fixture.tenant, &[group]).await.unwrap().remove(&group).unwrap();
        assert_eq!(members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![alice], "a deleted user is no member");
        let kinds = fixture.store.resource_kinds(&fixture.tenant, &[alice, bob, group]).await.unwrap();
        assert_eq!(kinds.len(), 2);
    }

    async fn a_page_read_with_groups_carries_each_users_groups(fixture: Fixture) {
        let alice = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        let bob = fixture.provision(json!({"userName": "bob"})).await.unwrap();
        let carol = fixture.provision(json!({"userName": "carol"})).await.unwrap();
        let staff = fixture.create_group(json!({"displayName": "Staff", "members": [{"value": alice.to_string()}, {"value": bob.to_string()}]})).await.unwrap();
        let admins = fixture.create_group(json!({"displayName": "Admins", "members": [{"value": alice.to_string()}]})).await.unwrap();
        let sorted = query(&[("sortBy", "userName"), ("sortOrder", "descending")]);
        let page = fixture.store.users(&fixture.tenant, &sorted, true).await.unwrap();
        let order: Vec<ResourceId> = page.records.iter().map(|r| r.id).collect();
        assert_eq!(order, vec![carol, bob, alice], "the page keeps its order");
        let groups = page.groups.expect("groups were asked for");
        let of = |id: ResourceId| groups.get(&id).map(|refs| refs.iter().map(|r| (r.id, r.display.clone().unwrap())).collect::<Vec<_>>());
        assert_eq!(of(alice), Some(vec![(staff, "Staff".to_owned()), (admins, "Admins".to_owned())]), "in the order joined");
        assert_eq!(of(bob), Some(vec![(staff, "Staff".to_owned())]));
        assert_eq!(of(carol), None, "a user in no group has no entry");
        assert_eq!(groups, fixture.store.groups_of(&fixture.tenant, &[alice, bob, carol]).await.unwrap(), "the same as read on their own");
        let without = fixture.store.users(&fixture.tenant, &sorted, false).await.unwrap();
        assert_eq!((without.records.len(), without.groups), (3, None));
        let second = fixture.store.users(&fixture.tenant, &query(&[("startIndex", "2"), ("count", "1")]), true).await.unwrap();
        assert_eq!(second.records.iter().map(|r| r.id).collect::<Vec<_>>(), vec![bob], "only the page's rows");
        assert_eq!(second.groups.unwrap().keys().collect::<Vec<_>>(), vec![&bob]);
        let cursor_page = fixture.store.users(&fixture.tenant, &query(&[("count", "1"), ("cursor", "")]), true).await.unwrap();
        assert_eq!(cursor_page.records.iter().map(|r| r.id).collect::<Vec<_>>(), vec![alice]);
        assert_eq!(cursor_page.groups.unwrap().keys().collect::<Vec<_>>(), vec![&alice], "not the row read past the page");
    }

    async fn each_users_groups_follow_joins_leaves_renames_and_deletions(fixture: Fixture) {
        let [a, b, c] = [
            fixture.provision(json!({"userName": "a"})).await.unwrap(),
            fixture.provision(json!({"userName": "b"})).await.unwrap(),
            fixture.provision(json!({"userName": "c"})).await.unwrap(),
        ];
        let members = |ids: &[ResourceId]| ids.iter().map(|id| json!({"value": id.to_string()})).collect::<Vec<_>>();
        let one = fixture.create_group(json!({"displayName": "One", "members": members(&[a, b])})).await.unwrap();
        let two = fixture.create_group(json!({"displayName": "Two", "members": members(&[a])})).await.unwrap();
        let replace = |name: &str, ids: &[ResourceId]| GroupCommand::Replace { resource: group_doc(json!({"displayName": name, "members": members(ids)})) };
        let groups = |fixture: &Fixture| {
            let (store, tenant) = (fixture.store.clone(), fixture.tenant.clone());
            async move {
                let of = store.groups_of(&tenant, &[a, b, c]).await.unwrap();
                [a, b, c].map(|u| of.get(&u).map_or_else(Vec::new, |refs| refs.iter().map(|r| (r.id, r.display.clone().unwrap())).collect()))
            }
        };
        let named = |id: ResourceId, name: &str| (id, name.to_owned());
        assert_eq!(groups(&fixture).await, [vec![named(one, "One"), named(two, "Two")], vec![named(one, "One")], vec![]]);

        // One PUT: renamed, a leaves, c joins; b, who stays, sees the new name.
        commands::change::<Group>(&*fixture.store, &fixture.tenant, one, replace("Uno", &[b, c]), &Principal::Operator, operator(), None).await.unwrap();
        assert_eq!(groups(&fixture).await, [vec![named(two, "Two")], vec![named(one, "Uno")], vec![named(one, "Uno")]]);

        commands::change::<Group>(&*fixture.store, &fixture.tenant, two, GroupCommand::Delete, &Principal::Operator, operator(), None).await.unwrap();
        commands::change::<Group>(&*fixture.store, &fixture.tenant, one, replace("Uno", &[b, c, a]), &Principal::Operator, operator(), None).await.unwrap();
        assert_eq!(groups(&fixture).await, [vec![named(one, "Uno")], vec![named(one, "Uno")], vec![named(one, "Uno")]]);

        // The rows agree with the memberships they are kept beside.
        let from_memberships = fixture.store.members_of(&fixture.tenant, &[one]).await.unwrap().remove(&one).unwrap();
        assert_eq!(from_memberships.iter().map(|m| m.id).collect::<Vec<_>>(), vec![b, c, a]);
        let page = fixture.store.users(&fixture.tenant, &query(&[]), true).await.unwrap();
        assert_eq!(page.groups.unwrap(), fixture.store.groups_of(&fixture.tenant, &[a, b, c]).await.unwrap());
    }

    async fn members_that_do_not_exist_are_left_out(fixture: Fixture) {
        let alice = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        let ghost = ResourceId::new();
        let group = fixture.create_group(json!({"displayName": "G", "members": [{"value": ghost.to_string()}, {"value": alice.to_string()}]})).await.unwrap();
        let log = fixture.store.stream(&fixture.tenant, StreamKind::Group, group).await.unwrap();
        assert_eq!(log[0].payload.data["members"], json!([{"value": alice.to_string()}]), "the ghost never reaches the log");
        let members = fixture.store.members_of(&fixture.tenant, &[group]).await.unwrap().remove(&group).unwrap();
        assert_eq!(members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![alice]);
    }

    async fn group_display_names_are_unique_case_insensitively(fixture: Fixture) {
        fixture.create_group(json!({"displayName": "Engineering"})).await.unwrap();
        let result = fixture.create_group(json!({"displayName": "ENGINEERING"})).await;
        assert!(matches!(result, Err(CommandError::Store(StoreError::Uniqueness { .. }))), "{result:?}");
    }

    async fn tenants_do_not_see_each_other(fixture: Fixture) {
        let id = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        let other = domain::TenantSlug::parse("globex").unwrap();
        store::directory::create_tenant(&*fixture.store, &other, None, operator()).await.unwrap();
        assert!(fixture.store.user(&other, id).await.unwrap().is_none());
        assert_eq!(fixture.store.users(&other, &query(&[]), false).await.unwrap().total, 0);
        // The same userName is free in another tenant.
        let outcome = commands::create::<User>(&*fixture.store, &other, UserCommand::Provision { resource: user_doc(json!({"userName": "alice"})), owner: Owner::Operator }, operator()).await;
        assert!(outcome.is_ok());
    }

    async fn tenants_and_connection_names_are_unique(fixture: Fixture) {
        store::directory::create_tenant(&*fixture.store, &fixture.tenant, None, operator()).await.unwrap();
        let again = store::directory::create_tenant(&*fixture.store, &fixture.tenant, None, operator()).await;
        assert!(matches!(again, Err(CommandError::Store(StoreError::Uniqueness { kind: store::TENANT, .. }))), "{again:?}");
        fixture.create_connection("okta", [7u8; 32]).await.unwrap();
        let twice = fixture.create_connection("okta", [9u8; 32]).await;
        assert!(matches!(twice, Err(CommandError::Store(StoreError::Uniqueness { kind: store::CONNECTION_NAME, .. }))), "{twice:?}");
        assert_eq!(fixture.store.connections(&fixture.tenant).await.unwrap().len(), 1);
    }

    async fn connection_secrets_follow_rotation_revocation_and_disable(fixture: Fixture) {
        store::directory::create_tenant(&*fixture.store, &fixture.tenant, None, operator()).await.unwrap();
        let other = domain::TenantSlug::parse("globex").unwrap();
        store::directory::create_tenant(&*fixture.store, &other, None, operator()).await.unwrap();
        let id = fixture.create_connection("okta", [7u8; 32]).await.unwrap();
        let now = store::now();
        let live = fixture.store.connection_secrets(&fixture.tenant, now).await.unwrap();
        assert_eq!(live.iter().map(|s| (s.connection.id, s.hash)).collect::<Vec<_>>(), [(id, [7u8; 32])]);
        assert_eq!(live[0].connection.settings.read_scope, ReadScope::Own);
        assert!(fixture.store.connection_secrets(&other, now).await.unwrap().is_empty(), "another tenant sees none");

        // Rotated with a grace period: both work until it ends, then only the new one.
        let rotate = |hash, grace| ConnectionCommand::Rotate { secret: NewSecret::new(hash), grace, at: store::now() };
        change(&fixture, id, rotate([8u8; 32], time::Duration::hours(1))).await;
        let hashes = |secrets: Vec<store::ConnectionSecret>| secrets.into_iter().map(|s| s.hash).collect::<Vec<_>>();
        let mut both = hashes(fixture.store.connection_secrets(&fixture.tenant, store::now()).await.unwrap());
        both.sort();
        assert_eq!(both, [[7u8; 32], [8u8; 32]]);
        let later = store::now() + time::Duration::hours(2);
        assert_eq!(hashes(fixture.store.connection_secrets(&fixture.tenant, later).await.unwrap()), [[8u8; 32]]);

        // Rotated again, then revoked: only the newest is left at once.
        change(&fixture, id, rotate([9u8; 32], time::Duration::hours(24))).await;
        change(&fixture, id, ConnectionCommand::Revoke { at: store::now() }).await;
        assert_eq!(hashes(fixture.store.connection_secrets(&fixture.tenant, store::now()).await.unwrap()), [[9u8; 32]]);

        // Settings land in the read model.
        let settings = SettingsChange { read_scope: Some(ReadScope::All), claim_manual: Some(true), ..Default::default() };
        change(&fixture, id, ConnectionCommand::ChangeSettings(settings)).await;
        let listed = fixture.store.connections(&fixture.tenant).await.unwrap();
        assert_eq!((listed[0].settings.read_scope, listed[0].settings.claim_manual), (ReadScope::All, true));

        // Disabled: nothing of it authenticates any more, and the row says when.
        change(&fixture, id, ConnectionCommand::Disable { purge: false }).await;
        assert!(fixture.store.connection_secrets(&fixture.tenant, store::now()).await.unwrap().is_empty());
        assert!(fixture.store.connections(&fixture.tenant).await.unwrap()[0].disabled.is_some());
        let types: Vec<String> = fixture.store.stream(&fixture.tenant, domain::StreamKind::Connection, ResourceId::from_uuid(id)).await.unwrap().into_iter().map(|e| e.payload.event_type).collect();
        assert_eq!(types, ["connection.created", "connection.secret_rotated", "connection.secret_rotated", "connection.secrets_revoked", "connection.settings_changed", "connection.disabled"]);
        let log = fixture.store.read_log(0, 100).await.unwrap();
        assert!(log.iter().all(|e| !e.payload.data.to_string().contains(&"07".repeat(32))), "no hash reaches the log");
    }

    // An id names a user or a group, never both: commands of one kind on the other kind's id
    // find no resource (and never try to decode the other kind's events), and append nothing.
    async fn an_id_of_the_other_kind_is_not_found_and_nothing_is_appended(fixture: Fixture) {
        let user = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        let group = fixture.create_group(json!({"displayName": "Eng"})).await.unwrap();
        assert!(fixture.store.stream(&fixture.tenant, StreamKind::Group, user).await.unwrap().is_empty());
        assert!(fixture.store.stream(&fixture.tenant, StreamKind::User, group).await.unwrap().is_empty());
        let before = fixture.event_count().await;
        let patch = PatchRequest::parse(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]
        }))
        .unwrap();
        let (store, tenant) = (&*fixture.store, &fixture.tenant);
        for if_match in [None, Some(1)] {
            let user_commands = [
                UserCommand::Replace { resource: user_doc(json!({"userName": "x"})) },
                UserCommand::Patch { request: patch.clone() },
                UserCommand::Delete,
            ];
            for command in user_commands {
                let result = commands::change::<User>(store, tenant, group, command, &Principal::Operator, operator(), if_match).await;
                assert!(matches!(result, Err(CommandError::Domain(DomainError::NotFound))), "{:?}", result.err());
            }
            let group_commands = [
                GroupCommand::Replace { resource: group_doc(json!({"displayName": "x"})) },
                GroupCommand::Patch { request: patch.clone() },
                GroupCommand::Delete,
            ];
            for command in group_commands {
                let result = commands::change::<Group>(store, tenant, user, command, &Principal::Operator, operator(), if_match).await;
                assert!(matches!(result, Err(CommandError::Domain(DomainError::NotFound))), "{:?}", result.err());
            }
        }
        assert_eq!(fixture.event_count().await, before, "nothing was appended");
        assert_eq!(fixture.store.user(tenant, user).await.unwrap().unwrap().document["userName"], "alice");
        assert_eq!(fixture.store.group(tenant, group).await.unwrap().unwrap().document["displayName"], "Eng");
    }
}

async fn change(fixture: &Fixture, id: uuid::Uuid, command: ConnectionCommand) {
    commands::change::<Connection>(
        &*fixture.store,
        &fixture.tenant,
        ResourceId::from_uuid(id),
        command,
        &Principal::Operator,
        operator(),
        None,
    )
    .await
    .unwrap();
}

/// Another process's commit to a held stream waits for the holder, whose own commit goes
/// first, even though the other was sent first: a command that lost one race cannot lose the
/// next (ADR 0051).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_a_commit_to_a_held_stream_goes_after_the_holders() {
    let url = store::testing::fresh_postgres_url().await;
    let pg: std::sync::Arc<dyn store::Store> = std::sync::Arc::new(store::postgres::PgStore::connect(&url, 8).await.unwrap());
    let fixture = support::with_tenant(pg, None).await;
    let id = fixture.provision(json!({"userName": "alice"})).await.unwrap();
    let hold = fixture.store.hold_stream(id).await.unwrap().expect("PostgreSQL holds streams");

    let other = tokio::spawn({
        let (store, commit) = (fixture.store.clone(), rename_commit(&fixture, id, 1, "alice", "alice-other"));
        async move { store.append(commit).await }
    });
    let (observer, session) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(session);
    while observer
        .query_one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted", &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(!other.is_finished(), "the other commit waits for the hold: {:?}", other.await);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let mine = Commit { held: true, ..rename_commit(&fixture, id, 1, "alice", "alice-mine") };
    fixture.store.append(mine).await.expect("the holder commits without waiting for itself");
    drop(hold);
    assert!(matches!(other.await.unwrap(), Err(StoreError::Conflict)), "the other commit finds the stream moved on");
    let user = fixture.store.user(&fixture.tenant, id).await.unwrap().unwrap();
    assert_eq!((user.document["userName"].as_str(), user.version), (Some("alice-mine"), 2));
}

#[tokio::test]
async fn on_sqlite_streams_are_not_held() {
    let fixture = support::sqlite().await;
    assert!(fixture.store.hold_stream(ResourceId::new()).await.unwrap().is_none(), "one process writes the file");
}
