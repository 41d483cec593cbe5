//! Cursor pages (RFC 9865) at the store, on PostgreSQL and SQLite alike: forwards, backwards,
//! filtered, past the end, and for groups.

// Each test crate uses a part of the shared fixtures.
#[allow(dead_code)]
mod support;

use scim::cursor::Position;
use scim::list::ListQuery;
use scim::schema::{ResourceType, GROUP_RESOURCE, USER_RESOURCE};
use serde_json::json;
use store::Page;

fn query(resource: &ResourceType, params: &[(&str, &str)]) -> ListQuery {
    ListQuery::from_params(params.iter().copied(), resource).expect("a valid query")
}

fn names(page: &Page, attribute: &str) -> Vec<String> {
    page.records.iter().map(|r| r.document[attribute].as_str().unwrap().to_owned()).collect()
}

/// The query that follows `position` of `page`'s query, as a client would send it.
fn follow(resource: &ResourceType, first: &ListQuery, position: Position, params: &[(&str, &str)]) -> ListQuery {
    let cursor = first.cursor(position);
    let mut params = params.to_vec();
    params.push(("cursor", &cursor));
    query(resource, &params)
}

on_both_backends! {
    async fn an_index_walk_resumes_where_its_last_page_ended(fixture: Fixture) {
        let mut ids = Vec::new();
        for i in 0..250 {
            ids.push(fixture.provision(json!({"userName": format!("user{i:03}")})).await.unwrap());
        }
        let page = |start: &'static str| {
            let store = fixture.store.clone();
            let tenant = fixture.tenant.clone();
            async move { store.users(&tenant, &query(&USER_RESOURCE, &[("startIndex", start), ("count", "100")]), false).await.unwrap() }
        };
        let first = page("1").await;
        assert_eq!(names(&first, "userName"), (0..100).map(|i| format!("user{i:03}")).collect::<Vec<_>>());

        // A user the walk has passed is deleted: OFFSET would now skip user100 (everything
        // moved up one); the walk resumes after user099 instead, skipping and repeating nothing.
        let delete = domain::user::UserCommand::Delete;
        store::commands::change::<domain::user::User>(&*fixture.store, &fixture.tenant, ids[50], delete, &domain::Principal::Operator, support::operator(), None)
            .await
            .unwrap();
        let second = page("101").await;
        assert_eq!(names(&second, "userName"), (100..200).map(|i| format!("user{i:03}")).collect::<Vec<_>>());
        assert_eq!(second.total, 249);
        let third = page("201").await;
        assert_eq!(names(&third, "userName"), (200..250).map(|i| format!("user{i:03}")).collect::<Vec<_>>());

        // A page no walk reached is OFFSET's: the 151st user of the 249 left is user151.
        let jumped = page("151").await;
        assert_eq!(names(&jumped, "userName").first().map(String::as_str), Some("user151"));
        assert_eq!(jumped.records.len(), 99);
    }

    async fn cursor_pages_walk_forwards_and_back(fixture: Fixture) {
        for i in 0..25 {
            fixture.provision(json!({"userName": format!("user{i:02}")})).await.unwrap();
        }
        let params = [("count", "10")];
        let first_query = query(&USER_RESOURCE, &[("count", "10"), ("cursor", "")]);
        let first = fixture.store.users(&fixture.tenant, &first_query, false).await.unwrap();
        assert_eq!((first.total, first.records.len(), first.previous), (25, 10, None));
        let second = fixture.store.users(&fixture.tenant, &follow(&USER_RESOURCE, &first_query, first.next.unwrap(), &params), false).await.unwrap();
        let third = fixture.store.users(&fixture.tenant, &follow(&USER_RESOURCE, &first_query, second.next.unwrap(), &params), false).await.unwrap();
        assert_eq!(third.total, 25);
        assert_eq!(third.next, None, "the last page has no next cursor");
        let all: Vec<String> = [&first, &second, &third].iter().flat_map(|p| names(p, "userName")).collect();
        assert_eq!(all, (0..25).map(|i| format!("user{i:02}")).collect::<Vec<_>>());

        // Backwards: the page before the third is the second, and before that the first,
        // which has no previous page.
        let back = fixture.store.users(&fixture.tenant, &follow(&USER_RESOURCE, &first_query, third.previous.unwrap(), &params), false).await.unwrap();
        assert_eq!(names(&back, "userName"), names(&second, "userName"));
        let front = fixture.store.users(&fixture.tenant, &follow(&USER_RESOURCE, &first_query, back.previous.unwrap(), &params), false).await.unwrap();
        assert_eq!(names(&front, "userName"), names(&first, "userName"));
        assert_eq!(front.previous, None);
        assert!(front.next.is_some());

        // Past the end (a cursor after every resource there is): nothing, the total still
        // counted, a way back.
        let end = fixture.store.users(&fixture.tenant, &follow(&USER_RESOURCE, &first_query, Position::After(i64::MAX - 1), &params), false).await.unwrap();
        assert_eq!((end.records.len(), end.total, end.next), (0, 25, None));
        assert!(end.previous.is_some());
    }

    async fn cursor_pages_keep_their_filter_and_serve_groups(fixture: Fixture) {
        for i in 0..25 {
            fixture.provision(json!({"userName": format!("user{i:02}")})).await.unwrap();
        }
        let params = [("count", "4"), ("filter", "userName sw \"user1\"")];
        let first_query = query(&USER_RESOURCE, &[params[0], params[1], ("cursor", "")]);
        let mut page = fixture.store.users(&fixture.tenant, &first_query, false).await.unwrap();
        let mut seen = names(&page, "userName");
        while let Some(next) = page.next {
            page = fixture.store.users(&fixture.tenant, &follow(&USER_RESOURCE, &first_query, next, &params), false).await.unwrap();
            assert_eq!(page.total, 10);
            seen.extend(names(&page, "userName"));
        }
        assert_eq!(seen, (10..20).map(|i| format!("user{i}")).collect::<Vec<_>>());

        for name in ["G1", "G2", "G3"] {
            fixture.create_group(json!({"displayName": name})).await.unwrap();
        }
        let groups_query = query(&GROUP_RESOURCE, &[("count", "2"), ("cursor", "")]);
        let first = fixture.store.groups(&fixture.tenant, &groups_query).await.unwrap();
        let rest = fixture.store.groups(&fixture.tenant, &follow(&GROUP_RESOURCE, &groups_query, first.next.unwrap(), &[("count", "2")])).await.unwrap();
        assert_eq!((names(&first, "displayName"), names(&rest, "displayName")), (vec!["G1".to_owned(), "G2".to_owned()], vec!["G3".to_owned()]));
        assert_eq!((first.total, rest.next), (3, None));
    }
}
