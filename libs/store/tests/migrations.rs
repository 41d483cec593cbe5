//! A database made by an earlier release gains the later migrations when opened, with its data
//! carried over: each user's groups backfilled from the memberships (migration 3), each
//! connection's token turned into a credential with a `connection.created` event (migration 5),
//! each resource's owner from its first event (migration 32), whose payload predates
//! ownership, and the counts per block of the creation order (migration 58).

use std::collections::HashMap;

use domain::connection::{AuthMode, Connection, ConnectionCommand, ReadScope};
use domain::secret::NewSecret;
use domain::{ResourceId, TenantSlug};
use scim::list::ListQuery;
use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use store::commands;
use store::postgres::PgStore;
use store::sqlite::SqliteStore;
use store::Store;
use tokio_postgres::NoTls;
use uuid::Uuid;

const POSTGRES_INIT: &str = include_str!("../src/postgres/migrations/0001_init.sql");
const SQLITE_INIT: &str = include_str!("../src/sqlite/migrations/0001_init.sql");

/// Two users, two groups; `ada` joined `staff` then `admins`, `bob` only `staff`.
struct Release1 {
    ada: Uuid,
    bob: Uuid,
    staff: Uuid,
    admins: Uuid,
    okta: Uuid,
}

const ROWS: &str = "
    INSERT INTO tenants VALUES ('acme', '2026-01-01T00:00:00.000000Z');
    INSERT INTO users (tenant, id, seq, user_name, user_name_key, active, document, version, created_at, last_modified)
        VALUES ('acme', 'ADA', 1, 'ada', 'ada', TRUE, '{}', 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
               ('acme', 'BOB', 2, 'bob', 'bob', TRUE, '{}', 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
    INSERT INTO groups (tenant, id, seq, display_name, display_name_key, document, version, created_at, last_modified)
        VALUES ('acme', 'STAFF', 3, 'Staff', 'staff', '{}', 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'),
               ('acme', 'ADMINS', 4, 'Admins', 'admins', '{}', 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
    INSERT INTO memberships (tenant, group_id, member_id) VALUES ('acme', 'STAFF', 'ADA'), ('acme', 'STAFF', 'BOB'), ('acme', 'ADMINS', 'ADA');
    INSERT INTO connections (id, tenant, name, token_sha256, created_at) VALUES ('OKTA', 'acme', 'okta', HASH, '2026-01-01T00:00:00.000000Z');";

impl Release1 {
    fn new() -> Self {
        Self { ada: Uuid::now_v7(), bob: Uuid::now_v7(), staff: Uuid::now_v7(), admins: Uuid::now_v7(), okta: Uuid::now_v7() }
    }

    fn rows(&self) -> String {
        ROWS.replace("'ADA'", &format!("'{}'", self.ada))
            .replace("'BOB'", &format!("'{}'", self.bob))
            .replace("'STAFF'", &format!("'{}'", self.staff))
            .replace("'ADMINS'", &format!("'{}'", self.admins))
            .replace("'OKTA'", &format!("'{}'", self.okta))
    }

    async fn check(&self, store: &dyn Store) {
        let tenant = TenantSlug::parse("acme").unwrap();
        let [ada, bob] = [self.ada, self.bob].map(ResourceId::from_uuid);
        let groups: HashMap<ResourceId, Vec<(Uuid, String)>> = store
            .groups_of(&tenant, &[ada, bob])
            .await
            .unwrap()
            .into_iter()
            .map(|(user, refs)| (user, refs.into_iter().map(|r| (r.id.as_uuid(), r.display.unwrap())).collect()))
            .collect();
        assert_eq!(groups[&ada], vec![(self.staff, "Staff".to_owned()), (self.admins, "Admins".to_owned())]);
        assert_eq!(groups[&bob], vec![(self.staff, "Staff".to_owned())]);

        // The token still authenticates; the connection keeps today's read scope.
        let secrets = store.connection_secrets(&tenant, store::now()).await.unwrap();
        assert_eq!(
            secrets.iter().map(|s| (s.connection.id, s.credential_id, s.hash)).collect::<Vec<_>>(),
            [(self.okta, self.okta, [7u8; 32])]
        );
        assert_eq!((secrets[0].connection.auth, secrets[0].connection.settings.read_scope), (AuthMode::Bearer, ReadScope::All));
        // Its history starts in the log, so it can be rotated like a new one.
        let history = store.stream(&tenant, domain::StreamKind::Connection, ResourceId::from_uuid(self.okta)).await.unwrap();
        assert_eq!(history[0].payload.event_type, "connection.created");
        assert_eq!(history[0].metadata["system"], "migration 5");
        let metadata = store::EventMetadata::by(store::Actor::Operator("test".into()));
        let rotate = ConnectionCommand::Rotate { secret: NewSecret::new([8u8; 32]), grace: time::Duration::ZERO, at: store::now() };
        commands::change::<Connection>(
            store,
            &tenant,
            ResourceId::from_uuid(self.okta),
            rotate,
            &domain::Principal::Operator,
            metadata,
            None,
        )
        .await
        .unwrap();
        let hashes: Vec<[u8; 32]> = store.connection_secrets(&tenant, store::now()).await.unwrap().into_iter().map(|s| s.hash).collect();
        assert_eq!(hashes, [[8u8; 32]]);
        // The tenant's counts are backfilled (migration 31): unfiltered totals come from them.
        let everyone = ListQuery::from_params(std::iter::empty::<(&str, &str)>(), &USER_RESOURCE).unwrap();
        assert_eq!(store.users(&tenant, &everyone, false).await.unwrap().total, 2);
        let all_groups = ListQuery::from_params(std::iter::empty::<(&str, &str)>(), &GROUP_RESOURCE).unwrap();
        assert_eq!(store.groups(&tenant, &all_groups).await.unwrap().total, 2);
        // And so are their blocks of the creation order (migration 58): a page jumped to
        // starts there.
        let second = ListQuery::from_params([("startIndex", "2")], &USER_RESOURCE).unwrap();
        let page = store.users(&tenant, &second, false).await.unwrap();
        assert_eq!((page.records.iter().map(|r| r.id.as_uuid()).collect::<Vec<_>>(), page.total), (vec![self.bob], 2));
        let second = ListQuery::from_params([("startIndex", "2")], &GROUP_RESOURCE).unwrap();
        let page = store.groups(&tenant, &second).await.unwrap();
        assert_eq!(page.records.iter().map(|r| r.id.as_uuid()).collect::<Vec<_>>(), vec![self.admins]);
    }
}

/// A PostgreSQL database as release 1 left it, holding `rows`; opened by this release.
async fn postgres_from_release_1(rows: &str) -> PgStore {
    let url = store::testing::fresh_postgres_url().await;
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(POSTGRES_INIT).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                        INSERT INTO schema_migrations (version) VALUES (1);",
        )
        .await
        .unwrap();
    let rows = rows.replace("'2026-01-01T00:00:00.000000Z'", "now()").replace("HASH", &format!("'\\x{}'::bytea", "07".repeat(32)));
    client.batch_execute(&rows).await.unwrap();
    PgStore::connect(&url, 2).await.unwrap()
}

/// A SQLite file in `dir` as release 1 left it, holding `rows`; opened by this release.
async fn sqlite_from_release_1(dir: &tempfile::TempDir, rows: &str) -> SqliteStore {
    {
        let db = rusqlite::Connection::open(dir.path().join("scimledger.db")).unwrap();
        db.execute_batch(SQLITE_INIT).unwrap();
        db.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
             INSERT INTO schema_migrations VALUES (1, '2026-01-01T00:00:00.000000Z');",
        )
        .unwrap();
        db.execute_batch(&rows.replace("TRUE", "1").replace("HASH", &format!("X'{}'", "07".repeat(32)))).unwrap();
    }
    SqliteStore::open(dir.path()).await.unwrap()
}

#[tokio::test]
async fn postgres_backfills_each_users_groups() {
    let release1 = Release1::new();
    release1.check(&postgres_from_release_1(&release1.rows()).await).await;
}

#[tokio::test]
async fn sqlite_backfills_each_users_groups() {
    let dir = tempfile::tempdir().unwrap();
    let release1 = Release1::new();
    release1.check(&sqlite_from_release_1(&dir, &release1.rows()).await).await;
}

/// A log from before ownership: `ada` provisioned by a connection, `Staff` by an operator, their
/// founding events without an `owner`.
const BEFORE_OWNERSHIP: &str = r#"
    INSERT INTO tenants VALUES ('acme', NOW);
    INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
        VALUES ('EV1', 'acme', 'user', 'ADA', 1, 'user.provisioned', 1, '{"user_name": "ada", "active": true, "profile": {}}', '{"connection_id": "CONN"}', NOW),
               ('EV2', 'acme', 'group', 'STAFF', 1, 'group.created', 1, '{"display_name": "Staff", "profile": {}, "members": []}', '{"operator": "root"}', NOW);
    INSERT INTO users (tenant, id, seq, user_name, user_name_key, active, document, version, created_at, last_modified)
        VALUES ('acme', 'ADA', 1, 'ada', 'ada', TRUE, '{"userName": "ada", "active": true}', 1, NOW, NOW);
    INSERT INTO groups (tenant, id, seq, display_name, display_name_key, document, version, created_at, last_modified)
        VALUES ('acme', 'STAFF', 2, 'Staff', 'staff', '{"displayName": "Staff"}', 1, NOW, NOW);
    INSERT INTO reservations VALUES ('acme', 'login', 'ada', 'ADA'), ('acme', 'group.displayName', 'staff', 'STAFF');"#;

struct BeforeOwnership {
    ada: Uuid,
    staff: Uuid,
    connection: Uuid,
}

impl BeforeOwnership {
    fn new() -> Self {
        Self { ada: Uuid::now_v7(), staff: Uuid::now_v7(), connection: Uuid::now_v7() }
    }

    fn rows(&self) -> String {
        BEFORE_OWNERSHIP
            .replace("'EV1'", &format!("'{}'", Uuid::now_v7()))
            .replace("'EV2'", &format!("'{}'", Uuid::now_v7()))
            .replace("'ADA'", &format!("'{}'", self.ada))
            .replace("'STAFF'", &format!("'{}'", self.staff))
            .replace("CONN", &self.connection.to_string())
            .replace("NOW", "'2026-01-01T00:00:00.000000Z'")
    }

    async fn check(&self, store: &dyn Store) {
        use domain::user::{User, UserCommand};
        use domain::{DomainError, Owner, Principal, StreamKind};
        use store::commands::{self, CommandError};

        let tenant = TenantSlug::parse("acme").unwrap();
        let [ada, staff] = [self.ada, self.staff].map(ResourceId::from_uuid);
        let tenant = &tenant;
        let owned = |kind, owner| async move {
            store.owned(tenant, kind, owner, 0, 10).await.unwrap().into_iter().map(|(id, _)| id).collect::<Vec<_>>()
        };
        assert_eq!(owned(StreamKind::User, Owner::Connection(self.connection)).await, vec![ada]);
        assert_eq!(owned(StreamKind::Group, Owner::Operator).await, vec![staff]);

        // The old stream decodes, owned by the connection that provisioned it.
        let rename = |name: &str| UserCommand::Replace {
            resource: scim::document::Document::parse(&serde_json::json!({"userName": name}), &scim::schema::USER_RESOURCE).unwrap(),
        };
        let metadata = store::EventMetadata::by(store::Actor::Connection(self.connection));
        let other = Principal::Connection { id: Uuid::now_v7(), claim_manual: true };
        let refused = commands::change::<User>(store, tenant, ada, rename("eve"), &other, metadata.clone(), None).await;
        assert!(matches!(refused, Err(CommandError::Domain(DomainError::NotOwner { manual: false }))), "{:?}", refused.map(|o| o.id));
        let owner = Principal::Connection { id: self.connection, claim_manual: false };
        commands::change::<User>(store, tenant, ada, rename("ada.l"), &owner, metadata, None).await.unwrap();
        assert_eq!(owned(StreamKind::User, Owner::Connection(self.connection)).await, vec![ada]);
    }
}

#[tokio::test]
async fn postgres_owns_each_resource_by_its_first_events_actor() {
    let before = BeforeOwnership::new();
    before.check(&postgres_from_release_1(&before.rows()).await).await;
}

#[tokio::test]
async fn sqlite_owns_each_resource_by_its_first_events_actor() {
    let dir = tempfile::tempdir().unwrap();
    let before = BeforeOwnership::new();
    before.check(&sqlite_from_release_1(&dir, &before.rows()).await).await;
}

/// A log from before the member history (migration 56): `ada` added to `Staff` when it was
/// created, `bob` later, then removed; `Admins` created empty.
const BEFORE_MEMBER_HISTORY: &str = r#"
    INSERT INTO tenants VALUES ('acme', NOW);
    INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
        VALUES ('EV1', 'acme', 'group', 'STAFF', 1, 'group.created', 1, '{"display_name": "Staff", "profile": {}, "members": [{"value": "ADA", "kind": "user"}]}', '{"operator": "root"}', NOW),
               ('EV2', 'acme', 'group', 'STAFF', 2, 'group.members_added', 1, '{"members": [{"value": "BOB"}]}', '{"operator": "root"}', NOW),
               ('EV3', 'acme', 'group', 'STAFF', 3, 'group.members_removed', 1, '{"members": [{"value": "BOB"}]}', '{"operator": "root"}', NOW),
               ('EV4', 'acme', 'group', 'ADMINS', 1, 'group.created', 1, '{"display_name": "Admins", "profile": {}, "members": []}', '{"operator": "root"}', NOW);"#;

/// The groups that ever added `ada` and `bob`, from the member history the migration filled.
async fn check_member_history(store: &dyn Store, [ada, bob, staff]: [Uuid; 3]) {
    let tenant = TenantSlug::parse("acme").unwrap();
    for member in [ada, bob] {
        let groups = store.groups_naming(&tenant, ResourceId::from_uuid(member)).await.unwrap();
        assert_eq!(groups, vec![ResourceId::from_uuid(staff)], "a member removed since is still in the history");
    }
}

fn before_member_history([ada, bob, staff, admins]: [Uuid; 4]) -> String {
    let mut rows = BEFORE_MEMBER_HISTORY
        .replace("ADA", &ada.to_string())
        .replace("BOB", &bob.to_string())
        .replace("STAFF", &staff.to_string())
        .replace("ADMINS", &admins.to_string())
        .replace("NOW", "'2026-01-01T00:00:00.000000Z'");
    for event in ["EV1", "EV2", "EV3", "EV4"] {
        rows = rows.replace(event, &Uuid::now_v7().to_string());
    }
    rows
}

#[tokio::test]
async fn postgres_fills_the_member_history_from_the_log() {
    let ids = [(); 4].map(|_| Uuid::now_v7());
    let store = postgres_from_release_1(&before_member_history(ids)).await;
    check_member_history(&store, [ids[0], ids[1], ids[2]]).await;
}

#[tokio::test]
async fn sqlite_fills_the_member_history_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [(); 4].map(|_| Uuid::now_v7());
    let store = sqlite_from_release_1(&dir, &before_member_history(ids)).await;
    check_member_history(&store, [ids[0], ids[1], ids[2]]).await;
}
