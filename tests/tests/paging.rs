//! Paging while the set changes: Okta's index-paged import, index pages jumped to at any depth,
//! RFC 9865 cursor pages (forwards, backwards, with a filter, over /.search), and the cursors
//! that are refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use scimledger_e2e::client::encode;
use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::{json, Value};

/// Creates users `<prefix>-0…` through /Bulk, 100 to a request, and returns their ids in order.
async fn create_users(scim: &Scim, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let operations: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("{i}"), "data": {"userName": format!("{prefix}-{i}")}}))
            .collect();
        let response = scim.post("/Bulk", &json!({"Operations": operations})).await.expect(200);
        for op in response["Operations"].as_array().unwrap() {
            assert_eq!(op["status"], "201", "{op}");
            ids.push(op["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned());
        }
    }
    ids
}

/// Keeps creating users until told to stop; returns how many it made.
fn background_writer(scim: Scim, prefix: &'static str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut made = 0;
        while !stop.load(Ordering::Relaxed) && made < 300 {
            scim.post("/Users", &json!({"userName": format!("{prefix}-{made}")})).await.expect(201);
            made += 1;
        }
        made
    })
}

fn ids_of(page: &Value) -> Vec<String> {
    page["Resources"].as_array().expect("Resources").iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

/// Every resource of `path` in creation order, read by cursor pages (keyset pages over `seq`).
async fn creation_order(scim: &Scim, path: &str) -> Vec<String> {
    let mut order = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = scim.get(&format!("{path}?count=1000&cursor={cursor}")).await.expect(200);
        order.extend(ids_of(&page));
        match page.get("nextCursor") {
            Some(next) => cursor = next.as_str().unwrap().to_owned(),
            None => return order,
        }
    }
}

/// Asserts that the index page of `count` at each of `starts` is the slice of `order` there,
/// with the whole set's total.
async fn assert_index_pages(scim: &Scim, path: &str, order: &[String], starts: &[usize], count: usize) {
    for &start in starts {
        let page = scim.get(&format!("{path}?startIndex={start}&count={count}")).await.expect(200);
        let expected = &order[(start - 1).min(order.len())..(start - 1 + count).min(order.len())];
        assert_eq!(ids_of(&page), expected, "{path} page at startIndex {start}");
        assert_eq!((page["totalResults"].clone(), page["startIndex"].clone()), (json!(order.len()), json!(start)));
    }
}

fn tally(seen: &mut HashMap<String, usize>, ids: &[String]) {
    for id in ids {
        *seen.entry(id.clone()).or_default() += 1;
    }
}

on_both_backends! {
    async fn okta_import_of_500_users_paged_by_100_sees_each_once_while_users_are_created(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let imported = create_users(&scim, "okta", 500).await;
        let stop = Arc::new(AtomicBool::new(false));
        let writer = background_writer(scim.clone(), "concurrent", stop.clone());

        let mut seen = HashMap::new();
        let mut start = 1;
        let mut pages = 0;
        loop {
            let page = scim.get(&format!("/Users?startIndex={start}&count=100")).await.expect(200);
            assert_eq!(page["startIndex"], json!(start));
            let ids = ids_of(&page);
            tally(&mut seen, &ids);
            pages += 1;
            // More users arrive between pages too, not only beside them.
            for i in 0..5 {
                scim.post("/Users", &json!({"userName": format!("between-{pages}-{i}")})).await.expect(201);
            }
            start += ids.len() as u64;
            if pages >= 5 {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.await.unwrap();

        for id in &imported {
            assert_eq!(seen.get(id), Some(&1), "user {id} seen once");
        }
        assert!(seen.values().all(|&n| n == 1), "no user is seen twice");
        assert_eq!(seen.len(), 500, "five pages of 100 are exactly the imported users");
    }

    // A page jumped to by startIndex starts from the kept counts of the creation order's
    // blocks (ADR 0080), not by skipping every row before it: it is still exactly the page at
    // that index, across blocks, tenants sharing them, deletions and the end of the set.
    async fn an_index_page_jumped_to_at_any_depth_is_the_page_at_that_index(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let other = server.tenant("other").await;
        // Over 1,024 log positions, so that the users span several blocks, which another
        // tenant's users share.
        let mut ids = Vec::new();
        for round in 0..3 {
            ids.extend(create_users(&scim, &format!("deep-{round}"), 500).await);
            create_users(&other, &format!("other-{round}"), 100).await;
        }
        let deleted: Vec<&String> = ids.iter().step_by(11).take(80).collect();
        for id in &deleted {
            scim.delete(&format!("/Users/{id}")).await.expect(204);
        }
        let order = creation_order(&scim, "/Users").await;
        assert_eq!(order.len(), ids.len() - deleted.len());
        assert!(deleted.iter().all(|id| !order.contains(id)));
        let last = order.len();
        assert_index_pages(&scim, "/Users", &order, &[2, 100, 600, 1023, 1024, 1025, 1111, 1337, last - 3, last, last + 1, last + 500], 50).await;

        for i in 0..30 {
            scim.post("/Groups", &json!({"displayName": format!("team-{i}")})).await.expect(201);
        }
        let groups = creation_order(&scim, "/Groups").await;
        scim.delete(&format!("/Groups/{}", groups[3])).await.expect(204);
        let groups = creation_order(&scim, "/Groups").await;
        assert_eq!(groups.len(), 29);
        assert_index_pages(&scim, "/Groups", &groups, &[2, 4, 17, 29, 30], 5).await;
    }

    async fn cursor_pages_over_a_changing_set_see_each_resource_once(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let config = scim.get("/ServiceProviderConfig").await.expect(200);
        assert_eq!(config["pagination"], json!({"cursor": true, "index": true, "defaultPaginationMethod": "index", "defaultPageSize": 100, "maxPageSize": 1000}));
        let originals = create_users(&scim, "user", 300).await;
        scim.post("/Users", &json!({"userName": "someone-else"})).await.expect(201);
        let stop = Arc::new(AtomicBool::new(false));
        let mut writer = Some(background_writer(scim.clone(), "user-concurrent", stop.clone()));

        let filter = encode("userName sw \"user\"");
        let mut seen = HashMap::new();
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut deleted = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = scim.get(&format!("/Users?filter={filter}&count=50&cursor={cursor}")).await.expect(200);
            assert!(page.get("startIndex").is_none(), "cursor pages have no startIndex: {page}");
            assert!(page["totalResults"].as_u64().unwrap() >= 50);
            assert_eq!(page.get("previousCursor").is_some(), !pages.is_empty(), "a previous page exists after the first");
            let ids = ids_of(&page);
            assert!(ids.len() <= 50);
            tally(&mut seen, &ids);
            pages.push(ids);
            // The set changes between pages: users come, and users not yet reached go.
            scim.post("/Users", &json!({"userName": format!("user-between-{}", pages.len())})).await.expect(201);
            if deleted.len() < 20 {
                let end = originals.len() - deleted.len();
                for id in &originals[end - 5..end] {
                    scim.delete(&format!("/Users/{id}")).await.expect(204);
                }
                deleted.extend_from_slice(&originals[end - 5..end]);
            }
            match page.get("nextCursor") {
                Some(next) => cursor = next.as_str().unwrap().to_owned(),
                None => break,
            }
            if pages.len() == 3 {
                stop.store(true, Ordering::Relaxed);
                writer.take().expect("the writer runs until the third page").await.unwrap();
            }
        }
        assert!(writer.is_none(), "more than three pages were read");

        for id in &originals {
            let expected = if deleted.contains(id) { None } else { Some(&1) };
            assert_eq!(seen.get(id), expected, "user {id}");
        }
        assert!(seen.values().all(|&n| n == 1), "no user is seen twice");
        assert!(seen.len() > originals.len() - deleted.len(), "users created meanwhile are reached too");

        // Back from the last page: the page before it, as it was read.
        let last = scim.get(&format!("/Users?filter={filter}&count=50&cursor={cursor}")).await.expect(200);
        assert!(last.get("nextCursor").is_none());
        let previous = last["previousCursor"].as_str().unwrap();
        let before = scim.get(&format!("/Users?filter={filter}&count=50&cursor={previous}")).await.expect(200);
        assert_eq!(ids_of(&before), pages[pages.len() - 2]);
        assert!(before["nextCursor"].is_string());

        // The same pages through /.search, with the cursor in the body.
        let searched = scim.post("/Users/.search", &json!({"filter": "userName sw \"user\"", "count": 50, "cursor": ""})).await.expect(200);
        assert_eq!(ids_of(&searched), pages[0]);
        let next = scim.post("/Users/.search", &json!({"filter": "userName sw \"user\"", "count": 50, "cursor": searched["nextCursor"]})).await.expect(200);
        assert_eq!(ids_of(&next), pages[1]);
        // count=0 gives the total alone.
        let total = scim.get("/Users?cursor=&count=0").await.expect(200);
        assert_eq!((total["itemsPerPage"].clone(), total.get("nextCursor")), (json!(0), None));
    }

    async fn bad_cursors_are_refused(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        create_users(&scim, "user", 3).await;
        let first = scim.get("/Users?cursor=&count=1").await.expect(200);
        let cursor = first["nextCursor"].as_str().unwrap().to_owned();
        scim.get(&format!("/Users?cursor={cursor}&count=1")).await.expect(200);

        let mut edited = cursor.clone().into_bytes();
        edited[4] = if edited[4] == b'0' { b'1' } else { b'0' };
        let edited = String::from_utf8(edited).unwrap();
        for bad in ["zzzz", "0102", edited.as_str(), &cursor[..cursor.len() - 1]] {
            scim.get(&format!("/Users?cursor={bad}&count=1")).await.expect_error(400, Some("invalidCursor"));
        }
        // A cursor belongs to its query: another filter, or another resource type, refuses it.
        scim.get(&format!("/Users?cursor={cursor}&count=1&filter={}", encode("userName sw \"u\""))).await.expect_error(400, Some("invalidCursor"));
        scim.get(&format!("/Groups?cursor={cursor}&count=1")).await.expect_error(400, Some("invalidCursor"));
        scim.post("/Users/.search", &json!({"cursor": 7})).await.expect_error(400, Some("invalidCursor"));
        // A cursor is sealed for its tenant (ADR 0045): another tenant's URL refuses it, and no
        // log position can be read from it.
        let beta = server.tenant("beta").await;
        create_users(&beta, "user", 3).await;
        beta.get(&format!("/Users?cursor={cursor}&count=1")).await.expect_error(400, Some("invalidCursor"));
        beta.post("/Users/.search", &json!({"cursor": cursor, "count": 1})).await.expect_error(400, Some("invalidCursor"));
        for position in 0..=20i64 {
            assert!(!cursor.contains(&format!("{position:016x}")), "position {position} shows in {cursor}");
        }
        // Cursors page in creation order, one resource type at a time, without startIndex.
        scim.get("/Users?cursor=&sortBy=userName").await.expect_error(400, Some("invalidValue"));
        scim.get("/Users?cursor=&startIndex=2").await.expect_error(400, Some("invalidValue"));
        scim.post("/.search", &json!({"cursor": ""})).await.expect_error(400, Some("invalidValue"));
    }
}
