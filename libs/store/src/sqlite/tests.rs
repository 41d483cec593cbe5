//! What the embedded backend promises beyond the cross-backend suite (libs/store/tests): the
//! server lock, the connection settings, the SQL function, group commit, and a file shared
//! with another process.

use domain::event::encode;
use domain::user::{User, UserEvent};
use domain::{StreamKind, UserName};

use super::*;
use crate::projection::user_commit;

fn tenant() -> TenantSlug {
    TenantSlug::parse("acme").unwrap()
}

/// A commit that provisions `name` on `stream`, decided at `expected_version`.
fn provision(stream: ResourceId, expected_version: i64, name: &str) -> Commit {
    let event = UserEvent::Provisioned {
        user_name: UserName::parse(name).unwrap(),
        active: Some(true),
        profile: Default::default(),
        owner: domain::Owner::Operator,
    };
    let mut user = User::default();
    cqrs_es::Aggregate::apply(&mut user, event.clone());
    let (reservations, read_model) = user_commit(&User::default(), &user);
    Commit {
        tenant: tenant(),
        kind: StreamKind::User,
        stream,
        expected_version,
        events: vec![encode(&event)],
        metadata: EventMetadata::by(Actor::Operator("test".into())),
        recorded_at: crate::api::now(),
        reservations,
        read_model,
        secrets: Vec::new(),
        key: None,
        held: false,
    }
}

#[test]
fn a_second_server_lock_is_refused_with_a_clear_message_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::lock_for_server(dir.path()).unwrap();
    let Err(StoreError::Config(message)) = SqliteStore::lock_for_server(dir.path()) else { panic!("the lock was taken twice") };
    let expected = format!(
        "another scimledger server is already using {} (lock {} is held); stop it or choose another SCIMLEDGER_DATA_DIR",
        dir.path().join(DB_FILE).display(),
        dir.path().join(LOCK_FILE).display()
    );
    assert_eq!(message, expected);
    drop(first);
    SqliteStore::lock_for_server(dir.path()).expect("a dropped lock is free");
}

#[tokio::test]
async fn scim_fold_folds_unicode_on_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let sql = "SELECT scim_fold('Ä'), scim_fold('ÄRGER@Example.COM'), lower('Ä'), scim_fold(NULL) IS NULL,
                      scim_fold(json_extract('{\"primary\": true}', '$.primary'))";
    let read =
        |c: &rusqlite::Connection| c.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).map_err(backend);
    let expected = ("ä".to_owned(), "ärger@example.com".to_owned(), "Ä".to_owned(), true, 1);
    let on_reader: (String, String, String, bool, i64) = store.readers.run(read).await.unwrap();
    let on_writer: (String, String, String, bool, i64) = store.writer.run(move |c| read(c)).await.unwrap();
    assert_eq!(on_reader, expected, "SQLite's own lower() folds only ASCII");
    assert_eq!(on_writer, expected);
}

#[tokio::test]
async fn connections_use_wal_full_sync_foreign_keys_and_a_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let sql = "SELECT (SELECT journal_mode FROM pragma_journal_mode), (SELECT synchronous FROM pragma_synchronous),
                      (SELECT foreign_keys FROM pragma_foreign_keys), (SELECT timeout FROM pragma_busy_timeout),
                      (SELECT query_only FROM pragma_query_only)";
    let read =
        |c: &rusqlite::Connection| c.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).map_err(backend);
    let on_writer: (String, i64, i64, i64, i64) = store.writer.run(move |c| read(c)).await.unwrap();
    let on_reader: (String, i64, i64, i64, i64) = store.readers.run(read).await.unwrap();
    // synchronous 2 is FULL.
    assert_eq!(on_writer, ("wal".to_owned(), 2, 1, 5000, 0));
    assert_eq!(on_reader, ("wal".to_owned(), 2, 1, 5000, 1), "readers cannot write");
}

#[tokio::test]
async fn a_refused_commit_in_a_group_rolls_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let (a, d) = (ResourceId::new(), ResourceId::new());
    let group = vec![
        provision(a, 0, "alice"),
        // Stale: stream `a` is at version 1 by now. Its claim of "carol" must roll back with it.
        provision(a, 0, "carol"),
        provision(ResourceId::new(), 0, "ALICE"),
        provision(d, 0, "carol"),
    ];
    let results = store.writer.run(move |c| Ok(append::append_group(c, &group))).await.unwrap();
    assert!(matches!(results[0], Ok(Appended { version: 1, .. })), "{results:?}");
    assert!(matches!(results[1], Err(StoreError::Conflict)), "{results:?}");
    assert!(matches!(results[2], Err(StoreError::Uniqueness { kind: LOGIN, ref value }) if value == "alice"), "{results:?}");
    assert!(matches!(results[3], Ok(Appended { version: 1, .. })), "{results:?}");

    let log = store.read_log(0, 10).await.unwrap();
    assert_eq!(log.iter().map(|e| e.stream).collect::<Vec<_>>(), vec![a, d]);
    let reservations = store
        .readers
        .run(|c| {
            let mut stmt = c.prepare("SELECT key, owner FROM reservations ORDER BY key").map_err(backend)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(backend)?;
            rows.collect::<Result<Vec<(String, String)>, _>>().map_err(backend)
        })
        .await
        .unwrap();
    assert_eq!(reservations, vec![("alice".to_owned(), a.to_string()), ("carol".to_owned(), d.to_string())]);
    let everyone = ListQuery::from_params(std::iter::empty::<(&str, &str)>(), &scim::schema::USER_RESOURCE).unwrap();
    assert_eq!(store.users(&tenant(), &everyone, false).await.unwrap().total, 2);
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let result = store
        .writer
        .run(|c| -> StoreResult<()> {
            let tx = c.transaction().map_err(backend)?;
            tx.execute("INSERT INTO tenants (slug, created_at) VALUES ('ghost', 'x')", []).map_err(backend)?;
            panic!("a bug mid-transaction")
        })
        .await;
    assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
    crate::directory::create_tenant(&store, &tenant(), None, crate::EventMetadata::by(crate::Actor::Operator("test".into())))
        .await
        .expect("the writer still serves");
    let slugs: Vec<String> = store.tenants().await.unwrap().into_iter().map(|t| t.slug.to_string()).collect();
    assert_eq!(slugs, ["acme"], "the panicking job's transaction rolled back");
}

/// The CLI opens the server's file without the server lock: both see each other's writes, and
/// neither hands out a position or a name the other already took.
#[tokio::test]
async fn two_stores_on_one_file_share_the_log_and_the_reservations() {
    let dir = tempfile::tempdir().unwrap();
    let server = SqliteStore::open(dir.path()).await.unwrap();
    let cli = SqliteStore::open(dir.path()).await.unwrap();
    crate::directory::create_tenant(&cli, &tenant(), None, crate::EventMetadata::by(crate::Actor::Operator("test".into()))).await.unwrap();
    assert_eq!(server.tenants().await.unwrap().len(), 1);
    let again =
        crate::directory::create_tenant(&server, &tenant(), None, crate::EventMetadata::by(crate::Actor::Operator("test".into()))).await;
    assert!(matches!(again, Err(crate::commands::CommandError::Store(StoreError::Uniqueness { kind: crate::TENANT, .. }))), "{again:?}");

    let mut positions = Vec::new();
    for (i, store) in [&server, &cli, &server, &cli].into_iter().enumerate() {
        positions.push(store.append(provision(ResourceId::new(), 0, &format!("user{i}"))).await.unwrap().last_position);
    }
    assert_eq!(positions, [2, 3, 4, 5], "after the tenant's event");
    assert_eq!(cli.read_log(0, 10).await.unwrap().len(), 5);
    let taken = server.append(provision(ResourceId::new(), 0, "USER1")).await;
    assert!(matches!(taken, Err(StoreError::Uniqueness { .. })), "{taken:?}");
}

/// A full disk makes SQLite roll back the whole transaction, not just the failing statement:
/// the commits after it in the group must not run in a transaction of their own (which would
/// write them while their callers hear of a failure).
#[tokio::test]
async fn a_group_rolled_back_by_sqlite_writes_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let mut too_big = provision(ResourceId::new(), 0, "bigger");
    let ReadModelChange::UpsertUser { row, .. } = &mut too_big.read_model else { unreachable!("a provisioning upserts") };
    row.document = serde_json::json!({"padding": "x".repeat(1_000_000)});
    let group = vec![provision(ResourceId::new(), 0, "alice"), too_big, provision(ResourceId::new(), 0, "carol")];
    let results = store
        .writer
        .run(move |c| {
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(backend)?;
            c.pragma_update(None, "max_page_count", pages + 50).map_err(backend)?;
            Ok(append::append_group(c, &group))
        })
        .await
        .unwrap();
    assert!(results.iter().all(|r| matches!(r, Err(StoreError::Unavailable(m)) if m.contains("rolled back"))), "{results:?}");
    assert_eq!(store.read_log(0, 10).await.unwrap(), vec![]);
}

/// The credentials feed (ADR 0021): a tenant created here moves it before the creation is
/// answered; one created by another process on the same file (the CLI) is heard within a poll;
/// a user's commit changes nothing the feed speaks for.
#[tokio::test]
async fn the_credentials_feed_hears_this_process_at_once_and_another_within_a_poll() {
    let dir = tempfile::tempdir().unwrap();
    let server = SqliteStore::open(dir.path()).await.unwrap();
    let cli = SqliteStore::open(dir.path()).await.unwrap();
    let mut feed = server.secret_changes().await.expect("the embedded default has a feed");
    let first = *tokio::time::timeout(Duration::from_secs(5), feed.wait_for(Option::is_some)).await.expect("the feed is read").unwrap();
    let by = || EventMetadata::by(Actor::Operator("test".into()));

    crate::directory::create_tenant(&server, &tenant(), None, by()).await.unwrap();
    let here = (*feed.borrow_and_update()).expect("the feed is up");
    assert!(here > first.unwrap(), "a credentials commit of this process moves the feed before it is answered");

    // The poller reads the same change again (a second, harmless forgetting); then it settles.
    tokio::time::sleep(changes::POLL * 4).await;
    let here = (*feed.borrow_and_update()).expect("the feed is up");
    server.append(provision(ResourceId::new(), 0, "ada@example.com")).await.unwrap();
    tokio::time::sleep(changes::POLL * 4).await;
    assert_eq!(*feed.borrow_and_update(), Some(here), "a user's commit is no credentials change");

    crate::directory::create_tenant(&cli, &TenantSlug::parse("globex").unwrap(), None, by()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), feed.wait_for(|generation| generation.is_some_and(|g| g > here)))
        .await
        .expect("another process's change is heard within a poll")
        .unwrap();
}
