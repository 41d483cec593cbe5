//! `scimledger rebuild [--verify]` end to end, beside a running server (docs/operations.md,
//! docs/adr/0053): a rebuild from the log equals the read models the commits wrote, table by
//! table; `--verify` names rows changed behind scimledger's back and a rebuild repairs them;
//! writes acknowledged while a rebuild swaps its tables in are all there afterwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use scimledger_e2e::client::Scim;
use scimledger_e2e::{on_both_backends, Backend, Server};
use serde_json::{json, Value};

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn id(created: &Value) -> String {
    created["id"].as_str().unwrap().to_owned()
}

/// Users, groups and memberships made, renamed, changed, deactivated and deleted, in two tenants;
/// a sub-tenant, and users moved between a parent's sub-tenants; a third tenant deleted.
async fn mixed_workload(server: &Server) {
    for slug in ["acme", "beta"] {
        let scim = server.tenant(slug).await;
        let mut users = Vec::new();
        for n in 0..24 {
            let body = json!({"userName": format!("u{n}"), "emails": [{"value": format!("u{n}@{slug}.com"), "type": "work"}],
                              "name": {"givenName": format!("U{n}")}});
            users.push(id(&scim.post("/Users", &body).await.expect(201)));
        }
        let mut groups = Vec::new();
        for g in 0..5 {
            let members: Vec<Value> = users.iter().skip(g).step_by(3).map(|u| json!({"value": u})).collect();
            groups.push(id(&scim.post("/Groups", &json!({"displayName": format!("g{g}"), "members": members})).await.expect(201)));
        }
        for (n, user) in users.iter().enumerate() {
            let path = format!("/Users/{user}");
            let (reply, status) = match n % 6 {
                0 => (scim.put(&path, &json!({"userName": format!("renamed{n}"), "title": "t"})).await, 200),
                1 => (scim.patch(&path, &patch(json!([{"op": "replace", "path": "active", "value": false}]))).await, 200),
                2 => (scim.delete(&path).await, 204),
                3 => {
                    let email = json!([{"op": "add", "path": "emails", "value": [{"value": format!("alt{n}@{slug}.com")}]}]);
                    (scim.patch(&path, &patch(email)).await, 200)
                }
                _ => continue,
            };
            reply.expect(status);
        }
        let live: Vec<&String> = users.iter().enumerate().filter(|(n, _)| n % 6 != 2).map(|(_, u)| u).collect();
        scim.patch(&format!("/Groups/{}", groups[0]), &patch(json!([{"op": "replace", "path": "displayName", "value": "renamed"}])))
            .await
            .expect(204);
        scim.patch(
            &format!("/Groups/{}", groups[1]),
            &patch(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", live[1])}])),
        )
        .await
        .expect(204);
        scim.patch(
            &format!("/Groups/{}", groups[1]),
            &patch(json!([{"op": "add", "path": "members", "value": [{"value": live[2]}, {"value": groups[3]}]}])),
        )
        .await
        .expect(204);
        scim.delete(&format!("/Groups/{}", groups[4])).await.expect(204);
    }
    server.cli(&["connection", "update", "acme", "okta", "--claim-manual"]).await;
    server.cli(&["operator", "create", "--name", "auditor"]).await;
    // A sub-tenant keeps its parent.
    server.cli(&["tenant", "create", "child", "--parent", "beta"]).await;
    // Devices: one assigned, one reassigned, one unassigned.
    let holder = id(&server.tenant("devices").await.post("/Users", &json!({"userName": "holder"})).await.expect(201));
    server.cli(&["device", "register", "devices", "--serial", "SN-1", "--name", "laptop", "--assign", &holder]).await;
    server.cli(&["device", "register", "devices", "--serial", "SN-2", "--assign", "holder"]).await;
    server.cli(&["device", "unassign", "devices", "SN-2"]).await;
    // Moves between a parent's sub-tenants (ADR 0074): one out of a group, one out and back.
    server.cli(&["tenant", "create", "parent"]).await;
    for sub in ["east", "west"] {
        server.cli(&["tenant", "create", sub, "--parent", "parent"]).await;
    }
    server
        .cli(&["tenant", "routing", "parent", "--attribute", "userType", "--map", "E=east", "--map", "W=west", "--group-map", "g=east"])
        .await;
    let parent = server.connect("parent", "entra").await;
    let movers: Vec<String> = movers_in_east(&parent).await;
    parent.post("/Groups", &json!({"displayName": "g", "members": [{"value": movers[0]}, {"value": movers[1]}]})).await.expect(201);
    for (mover, hops) in movers.iter().zip([&["W"][..], &["W", "E"][..]]) {
        for hop in hops {
            parent
                .patch(&format!("/Users/{mover}"), &patch(json!([{"op": "replace", "path": "userType", "value": hop}])))
                .await
                .expect(200);
        }
    }
    // A deleted tenant's rows go; its events stay in the log.
    let gone = server.tenant("gone").await;
    let user = id(&gone.post("/Users", &json!({"userName": "left"})).await.expect(201));
    gone.post("/Groups", &json!({"displayName": "left", "members": [{"value": user}]})).await.expect(201);
    server.cli(&["connection", "disable", "gone", "okta"]).await;
    server.cli(&["tenant", "delete", "gone"]).await;
}

/// Two users of the parent's sub-tenant `east`.
async fn movers_in_east(parent: &Scim) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..2 {
        ids.push(id(&parent.post("/Users", &json!({"userName": format!("mover{n}"), "userType": "E"})).await.expect(201)));
    }
    ids
}

/// Every read model's rows, as text, in order: the table-by-table picture to compare.
async fn read_models(backend: &Backend) -> Vec<(&'static str, Vec<String>)> {
    let json_array = match backend {
        Backend::Postgres { .. } => "json_build_array",
        Backend::Sqlite { .. } => "json_array",
    };
    let mut tables = Vec::new();
    for (table, columns, _) in store::rebuild::READ_MODELS {
        let rows = backend.texts(&format!("SELECT CAST({json_array}({columns}) AS TEXT) AS r FROM {table} ORDER BY r")).await;
        tables.push((table, rows));
    }
    tables
}

/// How many of beta's users a filter on userName u4 finds.
async fn found_u4(scim: &Scim) -> u64 {
    let found = scim.filter("/Users", "userName eq \"u4\"", "").await.expect(200);
    found["totalResults"].as_u64().unwrap()
}

fn assert_same_tables(before: &[(&'static str, Vec<String>)], after: &[(&'static str, Vec<String>)]) {
    for ((table, rows), (_, again)) in before.iter().zip(after) {
        assert_eq!(rows, again, "table {table}");
    }
}

on_both_backends! {
    async fn a_rebuild_equals_the_live_read_models_names_what_was_tampered_with_and_repairs_it(backend: Backend) {
        let server = Server::start(&backend).await;
        mixed_workload(&server).await;
        let reader = server.connect_reading_all("beta", "reader").await;
        let written = read_models(&backend).await;
        assert!(written.iter().all(|(_, rows)| !rows.is_empty()), "every read model has rows: {written:?}");
        assert!(server.cli(&["rebuild", "--verify"]).await.contains("equal their rebuild"));

        // Behind scimledger's back: a user's look-up key changed (in both tenants), a membership gone.
        backend.execute("UPDATE users SET user_name_key = 'forged' WHERE user_name = 'u4'").await;
        backend.execute("DELETE FROM memberships WHERE member_id = (SELECT id FROM users WHERE user_name = 'u5' AND tenant = 'beta')").await;
        assert_eq!(found_u4(&reader).await, 0, "filters read the tampered column");
        let stderr = server.cli_fails(&["rebuild", "--verify"]).await;
        assert!(stderr.contains("users: 4") && stderr.contains("memberships: 1"), "{stderr}");
        assert_ne!(read_models(&backend).await, written, "--verify swaps nothing");

        assert!(server.cli(&["rebuild"]).await.contains("swapped in"));
        assert_same_tables(&written, &read_models(&backend).await);
        assert!(server.cli(&["rebuild", "--verify"]).await.contains("equal their rebuild"));
        // The server reads the rebuilt tables: u4 is found again.
        assert_eq!(found_u4(&reader).await, 1);
        // Nothing of the shadow is left.
        match &backend {
            Backend::Postgres { .. } => {
                let left = backend.texts("SELECT schema_name::text FROM information_schema.schemata WHERE schema_name = 'scimledger_rebuild'").await;
                assert!(left.is_empty(), "{left:?}");
            }
            Backend::Sqlite { .. } => assert!(!backend.data_dir().unwrap().join("rebuild").exists()),
        }
    }

    async fn a_rebuild_under_concurrent_scim_writes_loses_none(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        for n in 0..100 {
            scim.post("/Users", &json!({"userName": format!("seed{n}")})).await.expect(201);
        }
        let group = id(&scim.post("/Groups", &json!({"displayName": "all"})).await.expect(201));
        let done = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write_until(scim.clone(), group.clone(), done.clone()));
        for _ in 0..3 {
            assert!(server.cli(&["rebuild"]).await.contains("swapped in"));
        }
        done.store(true, Ordering::SeqCst);
        let acknowledged = writer.await.unwrap();
        assert!(!acknowledged.is_empty());
        let members = scim.get(&format!("/Groups/{group}")).await.expect(200)["members"].as_array().unwrap().len();
        assert_eq!(members, acknowledged.len(), "every acknowledged member is in the group");
        for user in &acknowledged {
            assert_eq!(scim.get(&format!("/Users/{user}")).await.expect(200)["groups"][0]["value"], group.as_str());
        }
        assert!(server.cli(&["rebuild", "--verify"]).await.contains("equal their rebuild"));
    }
}

/// Creates users and adds each to `group` until `done`; every request must succeed. Returns
/// the users whose both writes were acknowledged.
async fn write_until(scim: Scim, group: String, done: Arc<AtomicBool>) -> Vec<String> {
    let mut acknowledged = Vec::new();
    let mut n = 0;
    while !done.load(Ordering::SeqCst) || acknowledged.len() < 5 {
        n += 1;
        let user = id(&scim.post("/Users", &json!({"userName": format!("during{n}")})).await.expect(201));
        scim.patch(&format!("/Groups/{group}"), &patch(json!([{"op": "add", "path": "members", "value": [{"value": user}]}])))
            .await
            .expect(204);
        acknowledged.push(user);
    }
    acknowledged
}
