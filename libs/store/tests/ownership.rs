//! Ownership on both backends: who may change what, claims and the events they leave, what
//! each scope reads, and purges (docs/adr/0040, 0041).

mod support;

use std::collections::HashSet;

use domain::group::{Group, GroupCommand};
use domain::user::{User, UserCommand};
use domain::{DomainError, Owner, Principal, ResourceId, StreamKind};
use scim::list::{ListQuery, Paging};
use scim::schema::{ResourceType, GROUP_RESOURCE, USER_RESOURCE};
use serde_json::{json, Value};
use store::commands::{self, CommandError};
use store::{Actor, EventMetadata, Page, Scope, CONNECTION_DISABLED};
use support::{group_doc, operator, user_doc, Fixture};
use uuid::Uuid;

fn query(rt: &ResourceType, params: &[(&str, &str)]) -> ListQuery {
    ListQuery::from_params(params.iter().copied(), rt).expect("a valid query")
}

fn names(page: &Page, attribute: &str) -> Vec<String> {
    page.records.iter().map(|r| r.document[attribute].as_str().unwrap().to_owned()).collect()
}

fn by(connection: Uuid) -> EventMetadata {
    EventMetadata::by(Actor::Connection(connection))
}

fn plain(connection: Uuid) -> Principal {
    Principal::Connection { id: connection, claim_manual: false }
}

impl Fixture {
    /// A connection of the tenant, which connections need to exist (its row is their parent).
    async fn connection(&self, name: &str) -> Uuid {
        match store::directory::create_tenant(&*self.store, &self.tenant, None, operator()).await {
            Ok(()) | Err(CommandError::Store(store::StoreError::Uniqueness { kind: store::TENANT, .. })) => {}
            Err(e) => panic!("creating the tenant: {e}"),
        }
        self.create_connection(name, rand_hash()).await.unwrap()
    }

    /// A user provisioned through `connection` (`Fixture::provision` is an operator's).
    async fn user_of(&self, connection: Uuid, name: &str) -> ResourceId {
        let command = UserCommand::Provision { resource: user_doc(json!({"userName": name})), owner: Owner::Connection(connection) };
        commands::create::<User>(&*self.store, &self.tenant, command, by(connection)).await.unwrap().id
    }

    async fn group_of(&self, connection: Uuid, name: &str) -> ResourceId {
        let command = GroupCommand::Create { resource: group_doc(json!({"displayName": name})), owner: Owner::Connection(connection) };
        commands::create::<Group>(&*self.store, &self.tenant, command, by(connection)).await.unwrap().id
    }

    async fn rename(&self, id: ResourceId, principal: Principal, name: &str) -> Result<(), CommandError> {
        let command = UserCommand::Replace { resource: user_doc(json!({"userName": name})) };
        let metadata = match principal {
            Principal::Connection { id, .. } => by(id),
            Principal::Operator => operator(),
        };
        commands::change::<User>(&*self.store, &self.tenant, id, command, &principal, metadata, None).await.map(|_| ())
    }

    async fn event_types(&self, kind: StreamKind, id: ResourceId) -> Vec<String> {
        self.store.stream(&self.tenant, kind, id).await.unwrap().into_iter().map(|e| e.payload.event_type).collect()
    }

    async fn owned_by(&self, kind: StreamKind, owner: Owner) -> Vec<ResourceId> {
        self.store.owned(&self.tenant, kind, owner, 0, 10_000).await.unwrap().into_iter().map(|(id, _)| id).collect()
    }
}

fn rand_hash() -> [u8; 32] {
    *Uuid::new_v4().as_bytes().repeat(2).first_chunk().unwrap()
}

on_both_backends! {
    async fn a_connection_may_not_change_what_another_owns_and_leaves_no_event(fixture: Fixture) {
        let (okta, entra) = (fixture.connection("okta").await, fixture.connection("entra").await);
        let bob = fixture.user_of(okta, "bob").await;
        let before = fixture.event_count().await;
        let refused = fixture.rename(bob, Principal::Connection { id: entra, claim_manual: true }, "robert").await;
        assert!(matches!(refused, Err(CommandError::Domain(DomainError::NotOwner { manual: false }))), "{refused:?}");
        let delete = commands::change::<User>(&*fixture.store, &fixture.tenant, bob, UserCommand::Delete, &plain(entra), by(entra), None).await;
        assert!(matches!(delete, Err(CommandError::Domain(DomainError::NotOwner { manual: false }))));
        assert_eq!(fixture.event_count().await, before, "a refusal appends nothing");
        assert_eq!(fixture.store.user(&fixture.tenant, bob).await.unwrap().unwrap().document["userName"], "bob");
        fixture.rename(bob, plain(okta), "robert").await.unwrap();
        fixture.rename(bob, Principal::Operator, "rob").await.unwrap();
        assert_eq!(fixture.owned_by(StreamKind::User, Owner::Connection(okta)).await, vec![bob], "an operator's change takes nothing over");
    }

    async fn a_manual_user_is_refused_without_claims_and_claimed_with_them(fixture: Fixture) {
        let okta = fixture.connection("okta").await;
        let ada = fixture.provision(json!({"userName": "ada"})).await.unwrap();
        let refused = fixture.rename(ada, plain(okta), "ada.l").await;
        assert!(matches!(refused, Err(CommandError::Domain(DomainError::NotOwner { manual: true }))), "{refused:?}");
        assert_eq!(fixture.event_types(StreamKind::User, ada).await, ["user.provisioned"]);

        let claiming = Principal::Connection { id: okta, claim_manual: true };
        fixture.rename(ada, claiming, "ada").await.unwrap();
        assert_eq!(fixture.event_types(StreamKind::User, ada).await, ["user.provisioned"], "a sync that changes nothing claims nothing");
        fixture.rename(ada, claiming, "ada.l").await.unwrap();
        let events = fixture.store.stream(&fixture.tenant, StreamKind::User, ada).await.unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.payload.event_type.as_str()).collect();
        assert_eq!(types, ["user.provisioned", "user.claimed", "user.renamed"]);
        assert_eq!(events[1].payload.data, json!({"from": "operator", "to": okta.to_string()}));
        assert_eq!(events[1].metadata["connection_id"], okta.to_string());
        assert_eq!(fixture.owned_by(StreamKind::User, Owner::Connection(okta)).await, vec![ada]);
        assert!(fixture.owned_by(StreamKind::User, Owner::Operator).await.is_empty());
        // The kept counts follow the claim (ADR 0049): the user is counted as okta's now, and
        // once only in the tenant's total.
        let everything = query(&USER_RESOURCE, &[]);
        let total = |scope| fixture.store.users_in(&fixture.tenant, scope, &everything, false);
        assert_eq!(total(Scope::Owned { connection: okta, manual: false }).await.unwrap().total, 1);
        assert_eq!(total(Scope::Owned { connection: Uuid::new_v4(), manual: true }).await.unwrap().total, 0, "no operator's user is left");
        assert_eq!(total(Scope::Tenant).await.unwrap().total, 1);
        // Claimed, it is the connection's own: no further claim.
        fixture.rename(ada, plain(okta), "ada.lovelace").await.unwrap();
        assert_eq!(fixture.event_types(StreamKind::User, ada).await.len(), 4);
    }

    async fn a_manual_group_is_claimed_with_its_change(fixture: Fixture) {
        let okta = fixture.connection("okta").await;
        let staff = fixture.create_group(json!({"displayName": "Staff"})).await.unwrap();
        let rename = GroupCommand::Rename { display_name: domain::GroupName::parse("All staff").unwrap() };
        let claiming = Principal::Connection { id: okta, claim_manual: true };
        commands::change::<Group>(&*fixture.store, &fixture.tenant, staff, rename, &claiming, by(okta), None).await.unwrap();
        assert_eq!(fixture.event_types(StreamKind::Group, staff).await, ["group.created", "group.claimed", "group.renamed"]);
        assert_eq!(fixture.owned_by(StreamKind::Group, Owner::Connection(okta)).await, vec![staff]);
    }

    async fn a_scope_reads_what_it_owns_and_with_claims_what_operators_made(fixture: Fixture) {
        let (okta, entra) = (fixture.connection("okta").await, fixture.connection("entra").await);
        let mut mine = Vec::new();
        for i in 0..5 {
            mine.push(fixture.user_of(okta, &format!("okta{i}")).await);
            fixture.user_of(entra, &format!("entra{i}")).await;
        }
        let manual = fixture.provision(json!({"userName": "manual"})).await.unwrap();
        let theirs = fixture.user_of(entra, "entra-late").await;
        let own = Scope::Owned { connection: okta, manual: false };
        let with_manual = Scope::Owned { connection: okta, manual: true };
        let tenant = &fixture.tenant;

        // GET: another connection's user is absent; a manual one only to a claiming scope.
        assert!(fixture.store.user_in(tenant, own, mine[0]).await.unwrap().is_some());
        assert!(fixture.store.user_in(tenant, own, theirs).await.unwrap().is_none());
        assert!(fixture.store.user_in(tenant, own, manual).await.unwrap().is_none());
        assert!(fixture.store.user_in(tenant, with_manual, manual).await.unwrap().is_some());
        assert!(fixture.store.user_in(tenant, Scope::Tenant, theirs).await.unwrap().is_some());

        // Index pages and totalResults.
        let page = fixture.store.users_in(tenant, own, &query(&USER_RESOURCE, &[("count", "3")]), false).await.unwrap();
        assert_eq!((page.total, names(&page, "userName")), (5, vec!["okta0".to_owned(), "okta1".to_owned(), "okta2".to_owned()]));
        let page = fixture.store.users_in(tenant, own, &query(&USER_RESOURCE, &[("count", "3"), ("startIndex", "4")]), false).await.unwrap();
        assert_eq!((page.total, names(&page, "userName")), (5, vec!["okta3".to_owned(), "okta4".to_owned()]));
        let page = fixture.store.users_in(tenant, with_manual, &query(&USER_RESOURCE, &[]), false).await.unwrap();
        assert_eq!(page.total, 6);
        assert!(names(&page, "userName").contains(&"manual".to_owned()));
        assert_eq!(fixture.store.users_in(tenant, own, &query(&USER_RESOURCE, &[("count", "0")]), false).await.unwrap().total, 5);
        assert_eq!(fixture.store.users_in(tenant, Scope::Tenant, &query(&USER_RESOURCE, &[]), false).await.unwrap().total, 12);

        // Filters: another connection's user is not found, whatever the filter.
        for filter in ["userName eq \"entra1\"", "userName sw \"entra\"", "userName eq \"manual\""] {
            let page = fixture.store.users_in(tenant, own, &query(&USER_RESOURCE, &[("filter", filter)]), false).await.unwrap();
            assert_eq!((page.total, page.records.len()), (0, 0), "{filter}");
        }
        let page = fixture.store.users_in(tenant, own, &query(&USER_RESOURCE, &[("filter", "userName eq \"okta3\"")]), false).await.unwrap();
        assert_eq!((page.total, names(&page, "userName")), (1, vec!["okta3".to_owned()]));
        let page = fixture.store.users_in(tenant, with_manual, &query(&USER_RESOURCE, &[("filter", "userName eq \"manual\"")]), false).await.unwrap();
        assert_eq!(page.total, 1);
        let page = fixture.store.users_in(tenant, own, &query(&USER_RESOURCE, &[("filter", "userName sw \"o\""), ("count", "2")]), false).await.unwrap();
        assert_eq!((page.total, page.records.len()), (5, 2), "a full filtered page is counted in scope");

        // Cursor pages, forwards to the end, with the total in scope.
        let mut cursor = query(&USER_RESOURCE, &[("count", "2"), ("cursor", "")]);
        let mut seen = Vec::new();
        loop {
            let page = fixture.store.users_in(tenant, own, &cursor, false).await.unwrap();
            assert_eq!(page.total, 5);
            seen.extend(names(&page, "userName"));
            let Some(next) = page.next else { break };
            cursor.paging = Paging::Cursor(Some(next));
        }
        assert_eq!(seen, (0..5).map(|i| format!("okta{i}")).collect::<Vec<_>>());
    }

    async fn a_scope_reads_groups_as_it_reads_users(fixture: Fixture) {
        let (okta, entra) = (fixture.connection("okta").await, fixture.connection("entra").await);
        let ours = fixture.group_of(okta, "Ours").await;
        let theirs = fixture.group_of(entra, "Theirs").await;
        let own = Scope::Owned { connection: okta, manual: false };
        assert!(fixture.store.group_in(&fixture.tenant, own, ours).await.unwrap().is_some());
        assert!(fixture.store.group_in(&fixture.tenant, own, theirs).await.unwrap().is_none());
        let page = fixture.store.groups_in(&fixture.tenant, own, &query(&GROUP_RESOURCE, &[])).await.unwrap();
        assert_eq!((page.total, names(&page, "displayName")), (1, vec!["Ours".to_owned()]));
        let page = fixture.store.groups_in(&fixture.tenant, own, &query(&GROUP_RESOURCE, &[("filter", "displayName eq \"Theirs\"")])).await.unwrap();
        assert_eq!(page.total, 0);
    }

    async fn a_purge_deletes_what_the_connection_owns_under_another_connections_writes(fixture: Fixture) {
        let (okta, entra) = (fixture.connection("okta").await, fixture.connection("entra").await);
        let mut purged = HashSet::new();
        for i in 0..60 {
            purged.insert(fixture.user_of(okta, &format!("okta{i}")).await);
        }
        for i in 0..3 {
            purged.insert(fixture.group_of(okta, &format!("Okta {i}")).await);
        }
        let mut kept = Vec::new();
        for i in 0..10 {
            kept.push(fixture.user_of(entra, &format!("entra{i}")).await);
        }
        let entra_group = fixture.group_of(entra, "Entra").await;
        let manual = fixture.provision(json!({"userName": "manual"})).await.unwrap();

        // Entra keeps writing its own users, and tries okta's, while okta is purged.
        let writer = {
            let (store, tenant, kept, okta_user) = (fixture.store.clone(), fixture.tenant.clone(), kept.clone(), *purged.iter().next().unwrap());
            tokio::spawn(async move {
                let mut refused = 0;
                for round in 0..20 {
                    for (i, id) in kept.iter().enumerate() {
                        let command = UserCommand::Replace { resource: user_doc(json!({"userName": format!("entra{i}"), "title": format!("r{round}")})) };
                        commands::change::<User>(&*store, &tenant, *id, command, &plain(entra), by(entra), None).await.unwrap();
                    }
                    let command = UserCommand::Replace { resource: user_doc(json!({"userName": "taken-over"})) };
                    match commands::change::<User>(&*store, &tenant, okta_user, command, &plain(entra), by(entra), None).await {
                        Err(CommandError::Domain(DomainError::NotOwner { .. } | DomainError::NotFound)) => refused += 1,
                        other => panic!("entra may not write okta's user: {:?}", other.map(|o| o.id)),
                    }
                }
                refused
            })
        };
        let done = store::purge::disable_and_purge(&*fixture.store, &fixture.tenant, okta, operator()).await.unwrap();
        assert_eq!(writer.await.unwrap(), 20);
        assert_eq!((done.users, done.groups), (60, 3));

        assert!(fixture.owned_by(StreamKind::User, Owner::Connection(okta)).await.is_empty());
        assert!(fixture.owned_by(StreamKind::Group, Owner::Connection(okta)).await.is_empty());
        for id in &kept {
            let user = fixture.store.user(&fixture.tenant, *id).await.unwrap().expect("entra's users are untouched");
            assert_eq!(user.document["title"], "r19");
        }
        assert!(fixture.store.group(&fixture.tenant, entra_group).await.unwrap().is_some());
        assert!(fixture.store.user(&fixture.tenant, manual).await.unwrap().is_some());

        // Every purged resource has its delete, saying why; nothing else was deleted.
        let deletes: Vec<_> = fixture
            .store
            .read_log(0, u32::MAX)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.payload.event_type.ends_with(".deleted"))
            .collect();
        assert_eq!(deletes.iter().map(|e| e.stream).collect::<HashSet<_>>(), purged);
        assert_eq!(deletes.len(), purged.len());
        for event in &deletes {
            assert_eq!(event.metadata["reason"], CONNECTION_DISABLED);
            assert_eq!(event.metadata["purged_connection_id"], okta.to_string());
            assert_eq!(event.metadata.get("connection_id"), None::<&Value>);
        }

        // Done: nothing pending, and a second run deletes nothing.
        assert!(fixture.store.pending_purges().await.unwrap().is_empty());
        assert_eq!(store::purge::purge(&*fixture.store, &fixture.tenant, okta).await.unwrap(), store::purge::Purged::default());
        let connections = fixture.store.connections(&fixture.tenant).await.unwrap();
        assert!(connections.iter().any(|c| c.id == okta && c.disabled.is_some()), "a purged connection is disabled");
    }

    async fn a_purge_marked_but_not_run_is_pending_until_resumed(fixture: Fixture) {
        let okta = fixture.connection("okta").await;
        for i in 0..3 {
            fixture.user_of(okta, &format!("okta{i}")).await;
        }
        // As a crash right after the disable leaves it.
        store::purge::request(&*fixture.store, &fixture.tenant, okta, operator()).await.unwrap();
        assert_eq!(fixture.store.pending_purges().await.unwrap(), vec![(fixture.tenant.clone(), okta)]);
        store::purge::resume(fixture.store.clone()).await.unwrap();
        assert!(fixture.store.pending_purges().await.unwrap().is_empty());
        assert!(fixture.owned_by(StreamKind::User, Owner::Connection(okta)).await.is_empty());
        let unknown = store::purge::request(&*fixture.store, &fixture.tenant, Uuid::now_v7(), operator()).await;
        assert!(matches!(unknown, Err(CommandError::Domain(DomainError::NotFound))), "{unknown:?}");
    }
}

/// A connection's own unfiltered pages walk `(tenant, owner, seq)`: in order, only its rows,
/// whatever the others own (SQLite plans by the query's shape alone: ADR 0016).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_pages_a_scope_through_the_owner_index() {
    use store::paging::{PagePlan, Span};
    use store::query::{SqlValue, Target};

    let (store, dir) = store::testing::sqlite().await;
    let db = rusqlite::Connection::open(dir.path().join(store::sqlite::DB_FILE)).unwrap();
    let fixture = support::with_tenant(store, Some(dir)).await;
    let scope = Scope::Owned { connection: Uuid::now_v7(), manual: false };
    for (target, rt, index) in [(Target::Users, &USER_RESOURCE, "users_owner"), (Target::Groups, &GROUP_RESOURCE, "groups_owner")] {
        for params in [&[("count", "10")][..], &[("count", "10"), ("cursor", "")]] {
            let plan = PagePlan::new(
                &store::sqlite::dialect::Sqlite,
                target,
                (&fixture.tenant, Span::Tenant),
                scope,
                &query(rt, params),
                false,
                &Default::default(),
            )
            .unwrap();
            let values: Vec<rusqlite::types::Value> = plan
                .params
                .iter()
                .map(|value| match value {
                    SqlValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
                    SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
                    other => panic!("a page binds text and numbers, not {other:?}"),
                })
                .collect();
            let mut stmt = db.prepare(&format!("EXPLAIN QUERY PLAN {}", plan.rows_sql.as_deref().unwrap())).unwrap();
            let lines: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(values.iter()), |row| row.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let plan = lines.join("\n");
            let first = lines.first().unwrap();
            assert!(first.contains(index) && !plan.contains("TEMP B-TREE"), "{params:?} does not walk {index} in order:\n{plan}");
        }
    }
}
