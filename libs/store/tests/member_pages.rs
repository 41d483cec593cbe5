//! A group's members walked a page at a time from one snapshot (ADR 0076), on both backends:
//! the pages list what `members_of` lists, in the same order; a walk read while the group
//! changes lists the members of the version it started at; a walk its reader stops draining
//! ends and frees its connection or reader thread.

mod support;

use std::time::Duration;

use domain::group::{Group, GroupCommand, Member};
use domain::user::{User, UserCommand};
use domain::{Principal, ResourceId};
use futures::StreamExt;
use serde_json::json;
use store::commands;
use store::postgres::PgStore;
use store::sqlite::SqliteStore;
use store::{MemberPages, Options, Reference, Scope};
use support::{operator, Fixture};

async fn users(fixture: &Fixture, count: usize) -> Vec<ResourceId> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(fixture.provision(json!({"userName": format!("member{i}@example.com")})).await.unwrap());
    }
    ids
}

async fn change(fixture: &Fixture, group: ResourceId, command: GroupCommand) -> i64 {
    commands::change::<Group>(&*fixture.store, &fixture.tenant, group, command, &Principal::Operator, operator(), None)
        .await
        .unwrap()
        .version
}

fn add(ids: &[ResourceId]) -> GroupCommand {
    GroupCommand::AddMembers { members: ids.iter().copied().map(Member::user).collect() }
}

/// Every page to the end, each checked against the page size.
async fn drain(mut pages: MemberPages, size: u32) -> Vec<Reference> {
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("a page");
        assert!(!page.is_empty() && page.len() <= size as usize, "a page of {} members", page.len());
        all.extend(page);
    }
    all
}

on_both_backends! {
    async fn the_pages_list_the_members_in_the_order_they_were_added(fixture: Fixture) {
        let ids = users(&fixture, 11).await;
        let nested = fixture.create_group(json!({"displayName": "Nested"})).await.unwrap();
        let group = fixture.create_group(json!({"displayName": "All"})).await.unwrap();
        change(&fixture, group, add(&ids[5..])).await;
        change(&fixture, group, GroupCommand::AddMembers { members: vec![Member { value: nested, kind: None }] }).await;
        change(&fixture, group, add(&ids[..5])).await;
        // A member whose user is gone is left out, as members_of leaves it out.
        commands::change::<User>(&*fixture.store, &fixture.tenant, ids[7], UserCommand::Delete, &Principal::Operator, operator(), None)
            .await
            .unwrap();
        let expected = fixture.store.members_of(&fixture.tenant, &[group]).await.unwrap().remove(&group).unwrap();
        assert_eq!(expected.len(), 11);
        let record = fixture.store.group(&fixture.tenant, group).await.unwrap().unwrap();
        for size in [1, 4, 11, 12, 100] {
            let (walked, pages) = fixture.store.group_with_members(&fixture.tenant, Scope::Tenant, group, size).await.unwrap().unwrap();
            assert_eq!(walked, record);
            assert_eq!(drain(pages, size).await, expected, "in pages of {size}");
        }
        let (_, pages) = fixture.store.group_with_members(&fixture.tenant, Scope::Tenant, nested, 10).await.unwrap().unwrap();
        assert_eq!(drain(pages, 10).await, vec![], "a group with no members has no pages");
        assert!(fixture.store.group_with_members(&fixture.tenant, Scope::Tenant, ids[0], 10).await.unwrap().is_none(), "a user is no group");
        let other = Scope::Owned { connection: uuid::Uuid::new_v4(), manual: false };
        assert!(fixture.store.group_with_members(&fixture.tenant, other, group, 10).await.unwrap().is_none(), "the scope applies");
    }

    async fn a_walk_lists_the_members_of_the_version_it_started_at(fixture: Fixture) {
        let ids = users(&fixture, 30).await;
        let group = fixture.create_group(json!({"displayName": "All"})).await.unwrap();
        let version = change(&fixture, group, add(&ids[..20])).await;
        let before = fixture.store.members_of(&fixture.tenant, &[group]).await.unwrap().remove(&group).unwrap();

        let (record, mut pages) = fixture.store.group_with_members(&fixture.tenant, Scope::Tenant, group, 3).await.unwrap().unwrap();
        assert_eq!(record.version, version);
        let mut walked = pages.next().await.unwrap().unwrap();
        // While the walk waits for its reader: members added, removed, one of them deleted.
        change(&fixture, group, add(&ids[20..])).await;
        change(&fixture, group, GroupCommand::RemoveMembers { members: ids[..10].to_vec() }).await;
        commands::change::<User>(&*fixture.store, &fixture.tenant, ids[15], UserCommand::Delete, &Principal::Operator, operator(), None)
            .await
            .unwrap();
        walked.extend(drain(pages, 3).await);
        assert_eq!(walked, before, "the members of version {version}");
        let now = fixture.store.members_of(&fixture.tenant, &[group]).await.unwrap().remove(&group).unwrap();
        assert_eq!(now.len(), 19, "the changes did commit meanwhile");
    }
}

/// A store whose statements, and member pages, wait at most a second.
const PATIENCE: Duration = Duration::from_secs(1);

/// Walks left undrained past the statement timeout end with an error rather than a short list,
/// and the pool's one connection (PostgreSQL) or every reader thread (SQLite) reads again.
async fn stalled_walks_end_and_free_what_they_held(fixture: Fixture, walks: usize) {
    let ids = users(&fixture, 10).await;
    let group = fixture.create_group(json!({"displayName": "All"})).await.unwrap();
    change(&fixture, group, add(&ids)).await;
    let mut stalled = Vec::new();
    for _ in 0..walks {
        let (_, mut pages) = fixture.store.group_with_members(&fixture.tenant, Scope::Tenant, group, 1).await.unwrap().unwrap();
        pages.next().await.unwrap().unwrap();
        stalled.push(pages);
    }
    // Past the wait a page is allowed before its walk gives up.
    tokio::time::sleep(3 * PATIENCE).await;
    assert_eq!(fixture.store.members_of(&fixture.tenant, &[group]).await.unwrap()[&group].len(), 10);
    for mut pages in stalled {
        let mut outcome = Ok(());
        while let Some(page) = pages.next().await {
            if let Err(e) = page {
                outcome = Err(e);
            }
        }
        assert!(outcome.is_err(), "a walk cut short says so");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stalled_walks_end_and_free_their_connection() {
    let url = store::testing::fresh_postgres_url().await;
    let store = PgStore::connect_with(&url, 1, &Options { statement_timeout: PATIENCE }).await.unwrap();
    stalled_walks_end_and_free_what_they_held(support::with_tenant(std::sync::Arc::new(store), None).await, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_stalled_walks_end_and_free_their_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path(), &Options { statement_timeout: PATIENCE }).await.unwrap();
    // As many as there are reader threads.
    stalled_walks_end_and_free_what_they_held(support::with_tenant(std::sync::Arc::new(store), Some(dir)).await, 4).await;
}
