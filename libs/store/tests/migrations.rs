//! A database made by an earlier release gains the later migrations when opened, with its data
//! carried over: each user's groups backfilled from the memberships (migration 3), and each
//! connection's token turned into a credential with a `connection.created` event (migration 5).

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
        let metadata = store::EventMetadata { actor: store::Actor::Operator("test".into()), request_id: None, trace_id: None };
        let rotate = ConnectionCommand::Rotate { secret: NewSecret::new([8u8; 32]), grace: time::Duration::ZERO, at: store::now() };
        commands::change::<Connection>(store, &tenant, ResourceId::from_uuid(self.okta), rotate, metadata, None).await.unwrap();
        let hashes: Vec<[u8; 32]> = store.connection_secrets(&tenant, store::now()).await.unwrap().into_iter().map(|s| s.hash).collect();
        assert_eq!(hashes, [[8u8; 32]]);
        // The tenant's counts are backfilled (migration 31): unfiltered totals come from them.
        let everyone = ListQuery::from_params(std::iter::empty::<(&str, &str)>(), &USER_RESOURCE).unwrap();
        assert_eq!(store.users(&tenant, &everyone, false).await.unwrap().total, 2);
        let all_groups = ListQuery::from_params(std::iter::empty::<(&str, &str)>(), &GROUP_RESOURCE).unwrap();
        assert_eq!(store.groups(&tenant, &all_groups).await.unwrap().total, 2);
    }
}

#[tokio::test]
async fn postgres_backfills_each_users_groups() {
    let url = store::testing::fresh_postgres_url().await;
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let release1 = Release1::new();
    client.batch_execute(POSTGRES_INIT).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                        INSERT INTO schema_migrations (version) VALUES (1);",
        )
        .await
        .unwrap();
    let rows =
        release1.rows().replace("'2026-01-01T00:00:00.000000Z'", "now()").replace("HASH", &format!("'\\x{}'::bytea", "07".repeat(32)));
    client.batch_execute(&rows).await.unwrap();
    release1.check(&PgStore::connect(&url, 2).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_backfills_each_users_groups() {
    let dir = tempfile::tempdir().unwrap();
    let release1 = Release1::new();
    {
        let db = rusqlite::Connection::open(dir.path().join("scimledger.db")).unwrap();
        db.execute_batch(SQLITE_INIT).unwrap();
        db.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
             INSERT INTO schema_migrations VALUES (1, '2026-01-01T00:00:00.000000Z');",
        )
        .unwrap();
        db.execute_batch(&release1.rows().replace("TRUE", "1").replace("HASH", &format!("X'{}'", "07".repeat(32)))).unwrap();
    }
    release1.check(&SqliteStore::open(dir.path()).await.unwrap()).await;
}
