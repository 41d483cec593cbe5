//! What the store's errors say: a value the database refuses, a stored event that does not
//! decode, a database that cannot be reached, a setting that cannot work. Only an unreachable
//! database is `Unavailable` (the API's one 503).

#[allow(dead_code)]
mod support;

use domain::user::{User, UserCommand};
use domain::{EventPayload, Owner, Principal, ResourceId, StreamKind};
use serde_json::{json, Value};
use store::commands::{self, CommandError};
use store::postgres::PgStore;
use store::sqlite::SqliteStore;
use store::{Commit, ReadModelChange, Reservation, StoreError, Unstorable, UserRow, LOGIN};
use support::{operator, user_doc, Fixture};

/// A new user's commit, built by hand so that it can hold what the parse layer would refuse.
fn new_user(fixture: &Fixture, login: &str, document: Value) -> Commit {
    Commit {
        tenant: fixture.tenant.clone(),
        kind: StreamKind::User,
        stream: ResourceId::new(),
        expected_version: 0,
        events: vec![EventPayload { event_type: "user.provisioned".into(), type_version: 1, data: document.clone() }],
        metadata: operator(),
        recorded_at: store::now(),
        reservations: vec![Reservation::Claim { kind: LOGIN, key: login.to_owned() }],
        read_model: ReadModelChange::UpsertUser {
            row: UserRow {
                user_name: login.to_owned(),
                user_name_key: login.to_owned(),
                external_id: None,
                active: true,
                document,
                values: Vec::new(),
                owner: Owner::Operator,
            },
            owner_before: None,
        },
        secrets: Vec::new(),
        key: None,
        held: false,
    }
}

/// A value PostgreSQL refuses is the request's fault (the API's 400), and the refused commit
/// leaves nothing behind; SQLite stores the same values as they are.
async fn refused_by_postgres_kept_by_sqlite(fixture: &Fixture, commit: Commit, why: Unstorable) {
    let (tenant, id) = (fixture.tenant.clone(), commit.stream);
    let ReadModelChange::UpsertUser { row, .. } = &commit.read_model else { unreachable!("a new user") };
    let result = fixture.store.append(commit.clone()).await;
    match fixture.store.backend_name() {
        "postgres" => {
            assert!(matches!(result, Err(StoreError::Unstorable(w)) if w == why), "{result:?}");
            assert_eq!(fixture.event_count().await, 0);
            assert_eq!(fixture.store.user(&tenant, id).await.unwrap(), None);
        }
        _ => {
            result.expect("SQLite stores it");
            let stored = fixture.store.user(&tenant, id).await.unwrap().expect("the row");
            assert_eq!(stored.document, row.document);
        }
    }
}

on_both_backends! {
    async fn a_nul_character_is_unstorable_on_postgres(fixture: Fixture) {
        let commit = new_user(&fixture, "nul", json!({"userName": "nul", "title": "a\u{0}b"}));
        refused_by_postgres_kept_by_sqlite(&fixture, commit, Unstorable::Character).await;
        if fixture.store.backend_name() == "postgres" {
            // The refused claim was rolled back with the rest: the login is free.
            fixture.store.append(new_user(&fixture, "nul", json!({"userName": "nul"}))).await.expect("the login is free");
        }
    }

    async fn a_value_too_large_for_its_index_is_unstorable_on_postgres(fixture: Fixture) {
        // Random, so that PostgreSQL cannot compress it under its index row limit (~2.7 kB).
        let login: String = (0..200).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
        let commit = new_user(&fixture, &login, json!({"userName": login}));
        refused_by_postgres_kept_by_sqlite(&fixture, commit, Unstorable::TooLarge).await;
    }

    async fn a_stored_event_that_does_not_decode_is_corrupt_and_names_its_position(fixture: Fixture) {
        let id = fixture.provision(json!({"userName": "alice"})).await.unwrap();
        let mut bogus = new_user(&fixture, "bogus", json!({}));
        bogus.stream = id;
        bogus.expected_version = 1;
        bogus.reservations.clear();
        bogus.events[0].event_type = "user.nonsense".into();
        let position = fixture.store.append(bogus).await.unwrap().last_position;
        let command = UserCommand::Replace { resource: user_doc(json!({"userName": "alice"})) };
        let result = commands::change::<User>(&*fixture.store, &fixture.tenant, id, command, &Principal::Operator, operator(), None).await;
        assert!(
            matches!(&result, Err(CommandError::Store(StoreError::Corrupt { what, .. })) if *what == format!("the event at position {position}")),
            "{:?}",
            result.err()
        );
    }
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_unavailable() {
    // Port 1 is reserved (tcpmux) and nothing listens there: the connection is refused.
    let result = PgStore::connect("postgres://postgres@127.0.0.1:1/scimledger", 1).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{:?}", result.err());
}

#[tokio::test]
async fn a_bad_postgres_setting_is_a_config_error() {
    let result = PgStore::connect("postgres://127.0.0.1:5432/db?sslmode=nonsense", 1).await;
    assert!(matches!(result, Err(StoreError::Config(_))), "{:?}", result.err());
    let mut missing: tokio_postgres::Config = std::env::var("SCIMLEDGER_TEST_DATABASE_URL")
        .expect("SCIMLEDGER_TEST_DATABASE_URL (scripts/with-test-services.sh sets it)")
        .parse()
        .unwrap();
    missing.dbname("scimledger_no_such_database");
    let host = match missing.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let url = format!(
        "postgres://{}@{host}:{}/scimledger_no_such_database",
        missing.get_user().unwrap_or("postgres"),
        missing.get_ports().first().copied().unwrap_or(5432)
    );
    let result = PgStore::connect(&url, 1).await;
    assert!(matches!(result, Err(StoreError::Config(_))), "{:?}", result.err());
}

#[tokio::test]
async fn an_unusable_sqlite_data_directory_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let result = SqliteStore::open(&file).await;
    assert!(matches!(result, Err(StoreError::Config(_))), "{:?}", result.err());
}
