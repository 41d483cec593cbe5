//! Roles per tenant, end to end (issue 11 §1): the catalogue, group mappings with precedence
//! (by displayName, also before the group is pushed), the default role, the connection's
//! on-create role and locks, set through the CLI and the admin API; every change of a user's
//! effective roles, whatever caused it, is a `role.assigned` / `role.revoked` event with its
//! cause, in the log and on NATS.

use std::time::Duration;

use scimledger_e2e::nats::Events;
use scimledger_e2e::{on_both_backends, Backend, Scim, Server};
use serde_json::{json, Value};

/// The `data` of the `role.*` events of `user`, in log order.
async fn role_events(backend: &Backend, user: &str) -> Vec<Value> {
    let log = backend.open_store().await.read_log(0, u32::MAX).await.expect("reading the log");
    log.into_iter()
        .filter(|e| e.kind == domain::StreamKind::RoleAssignment && e.payload.data["user"] == user)
        .map(|e| {
            let mut data = e.payload.data.clone();
            data["type"] = e.payload.event_type.clone().into();
            data
        })
        .collect()
}

/// Waits until the user's last `role.*` event leaves it with `roles` (strongest first), and
/// returns the events appended since `seen` of them.
async fn settled(backend: &Backend, user: &str, seen: &mut usize, roles: &[&str]) -> Vec<Value> {
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let events = role_events(backend, user).await;
            let now: Vec<&str> =
                events.last().map(|e| e["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect()).unwrap_or_default();
            if events.len() > *seen && now == roles {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let Ok(events) = outcome else { panic!("{user} never held {roles:?}: {:#?}", role_events(backend, user).await) };
    let new = events[*seen..].to_vec();
    *seen = events.len();
    new
}

/// Each event of `new` as `+role <cause>` or `-role <cause>`.
fn moves(new: &[Value]) -> Vec<String> {
    new.iter()
        .map(|e| {
            let sign = if e["type"] == "role.assigned" { "+" } else { "-" };
            format!("{sign}{} {}", e["role"].as_str().unwrap(), e["cause"]["event"].as_str().unwrap())
        })
        .collect()
}

async fn user(scim: &Scim, name: &str, aliases: &[&str]) -> String {
    let aliases: Vec<Value> = aliases.iter().map(|a| json!({"value": a, "type": "email"})).collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "aliases": aliases});
    scim.post("/Users", &body).await.expect(201)["id"].as_str().unwrap().to_owned()
}

async fn group(scim: &Scim, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members});
    scim.post("/Groups", &body).await.expect(201)["id"].as_str().unwrap().to_owned()
}

async fn patch_group(scim: &Scim, group: &str, operation: Value) {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [operation]});
    let reply = scim.patch(&format!("/Groups/{group}"), &body).await;
    assert!(reply.status.is_success(), "{}: {}", reply.status, reply.body);
}

async fn add_member(scim: &Scim, group: &str, user: &str) {
    patch_group(scim, group, json!({"op": "add", "path": "members", "value": [{"value": user}]})).await;
}

async fn remove_member(scim: &Scim, group: &str, user: &str) {
    patch_group(scim, group, json!({"op": "remove", "path": format!("members[value eq \"{user}\"]")})).await;
}

async fn patch_user(scim: &Scim, user: &str, operations: Value) {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
    scim.patch(&format!("/Users/{user}"), &body).await.expect(200);
}

on_both_backends! {
    async fn every_cause_of_a_role_change_is_an_event_with_its_cause(backend: Backend) {
        let events = Events::shared();
        let t = events.tenant.clone();
        let server = Server::start_with(&backend, events.settings()).await;
        server.cli(&["tenant", "create", &t]).await;
        let okta = server.connect_with(&t, "okta", &["--on-create-role", "viewer"]).await;
        let entra = server.connect_with(&t, "entra", &[]).await;
        for role in ["admin", "editor", "viewer", "member"] {
            let created = server.cli_json(&["role", "create", &t, role, "--description", &format!("the {role}s")]).await;
            assert_eq!(created["name"], role);
        }
        server.cli_json(&["role", "map", &t, "--group", "Admins", "--role", "admin", "--precedence", "10"]).await;
        server.cli_json(&["role", "map", &t, "--group", "Engineering", "--role", "editor", "--precedence", "20"]).await;
        let staff_mapping = server.cli_json(&["role", "map", &t, "--group", "Staff", "--role", "viewer"]).await;
        assert_eq!(staff_mapping["precedence"], 100);
        assert_eq!(server.cli_json(&["role", "default", &t, "member"]).await["default_role"], "member");

        // On-create role: okta gives its users `viewer` until a mapped group says otherwise.
        let alice = user(&okta, "alice@example.com", &["ali@example.com"]).await;
        let mut seen_alice = 0;
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &["viewer"]).await), ["+viewer user.provisioned"]);
        // Default role: entra sets none, so its users get the tenant's default.
        let dave = user(&entra, "dave@example.com", &[]).await;
        let mut seen_dave = 0;
        assert_eq!(moves(&settled(&backend, &dave, &mut seen_dave, &["member"]).await), ["+member user.provisioned"]);

        // Precedence across several mapped groups: the strongest first, whatever the order.
        let engineering = group(&okta, "Engineering", &[&alice]).await;
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &["editor"]).await), ["-viewer group.created", "+editor group.created"]);
        let admins = group(&okta, "Admins", &[]).await;
        add_member(&okta, &admins, &alice).await;
        let new = settled(&backend, &alice, &mut seen_alice, &["admin", "editor"]).await;
        assert_eq!(moves(&new), ["+admin group.members_added"]);
        // Member removal.
        remove_member(&okta, &admins, &alice).await;
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &["editor"]).await), ["-admin group.members_removed"]);

        // Group rename: out of the mapping's name, alice falls back to her on-create role.
        patch_group(&okta, &engineering, json!({"op": "replace", "path": "displayName", "value": "R&D"})).await;
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &["viewer"]).await), ["-editor group.renamed", "+viewer group.renamed"]);
        // Mapping change: mapping the new name gives the role back; unmapping takes it.
        server.cli_json(&["role", "map", &t, "--group", "r&d", "--role", "editor", "--precedence", "20"]).await;
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &["editor"]).await), ["-viewer role.mapped", "+editor role.mapped"]);
        server.cli_json(&["role", "unmap", &t, "--group", "R&D"]).await;
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &["viewer"]).await), ["-editor role.unmapped", "+viewer role.unmapped"]);

        // A mapping to a group not pushed yet applies once it is pushed.
        server.cli_json(&["role", "map", &t, "--group", "Contractors", "--role", "editor", "--precedence", "5"]).await;
        let contractors = group(&entra, "Contractors", &[&dave]).await;
        assert_eq!(moves(&settled(&backend, &dave, &mut seen_dave, &["editor"]).await), ["-member group.created", "+editor group.created"]);
        // Group delete.
        entra.delete(&format!("/Groups/{contractors}")).await.expect(204);
        assert_eq!(moves(&settled(&backend, &dave, &mut seen_dave, &["member"]).await), ["-editor group.deleted", "+member group.deleted"]);
        // Default change.
        server.cli_json(&["role", "default", &t, "--none"]).await;
        assert_eq!(moves(&settled(&backend, &dave, &mut seen_dave, &[]).await), ["-member role.default_changed"]);
        server.cli_json(&["role", "default", &t, "member"]).await;
        settled(&backend, &dave, &mut seen_dave, &["member"]).await;

        // Lock, by alias: nothing moves the role until it is unlocked, not even a deactivation.
        let locked = server.cli_json(&["role", "lock", &t, "ALI@example.com", "admin"]).await;
        assert_eq!(locked["user_id"], alice.as_str());
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &["admin"]).await), ["-viewer role.locked", "+admin role.locked"]);
        patch_user(&okta, &alice, json!([{"op": "replace", "path": "active", "value": false}])).await;
        add_member(&okta, &admins, &alice).await;
        server.cli_json(&["role", "default", &t, "viewer"]).await;
        server.cli_json(&["role", "unlock", &t, "alice@example.com"]).await;
        // Unlocked and inactive: no role.
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &[]).await), ["-admin role.unlocked"]);
        settled(&backend, &dave, &mut seen_dave, &["viewer"]).await;
        // Reactivation gives the mapped roles back.
        patch_user(&okta, &alice, json!([{"op": "replace", "path": "active", "value": true}])).await;
        assert_eq!(moves(&settled(&backend, &alice, &mut seen_alice, &["admin"]).await), ["+admin user.reactivated"]);
        // Deactivation revokes.
        patch_user(&entra, &dave, json!([{"op": "replace", "path": "active", "value": false}])).await;
        assert_eq!(moves(&settled(&backend, &dave, &mut seen_dave, &[]).await), ["-viewer user.deactivated"]);

        // The list shows what was set, mappings strongest first.
        let listed = server.cli_json(&["role", "list", &t]).await;
        assert_eq!(listed["roles"].as_array().unwrap().len(), 4, "{listed}");
        let mapped: Vec<&str> = listed["mappings"].as_array().unwrap().iter().map(|m| m["group"].as_str().unwrap()).collect();
        assert_eq!(mapped, ["Contractors", "Admins", "Engineering", "Staff"]);
        assert_eq!(listed["default_role"], "viewer");
        assert_eq!(listed["locks"], json!([]));

        // NATS consumers see the same role events, with the causes.
        let log: Vec<store::RecordedEvent> = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        // (id, type, user, role, cause) of each role event, as the log holds it.
        let in_log: Vec<(String, String, Value, Value, Value)> = log
            .iter()
            .filter(|e| e.kind == domain::StreamKind::RoleAssignment)
            .map(|e| {
                let d = &e.payload.data;
                (e.event_id.to_string(), format!("scimledger.{}.v1", e.payload.event_type), d["user"].clone(), d["role"].clone(), d["cause"].clone())
            })
            .collect();
        let total = log.iter().filter(|e| e.tenant.as_str() == t).count();
        events.wait_for_stored(total as u64, Duration::from_secs(30)).await;
        let envelopes = events.read_all().await;
        let on_nats: Vec<&Value> =
            envelopes.iter().filter(|e| e["type"] == "scimledger.role.assigned.v1" || e["type"] == "scimledger.role.revoked.v1").collect();
        let seen: Vec<(String, String, Value, Value, Value)> = on_nats
            .iter()
            .map(|e| {
                let d = &e["data"];
                (e["id"].as_str().unwrap().to_owned(), e["type"].as_str().unwrap().to_owned(), d["user"].clone(), d["role"].clone(), d["cause"].clone())
            })
            .collect();
        assert_eq!(seen, in_log, "NATS carries every role event of the log, in order, with its cause");
        let revoked = on_nats.iter().find(|e| e["type"] == "scimledger.role.revoked.v1").unwrap();
        assert_eq!(revoked["actor"], "system:roles");
        assert!(revoked["data"]["cause"]["event_id"].is_string(), "{revoked}");
        assert!(revoked["subject"].as_str().unwrap().starts_with("role_assignments/"));
        let mapped = envelopes.iter().find(|e| e["type"] == "scimledger.role.mapped.v1").unwrap();
        assert_eq!(mapped["actor"], "operator:cli");
        events.remove().await;
    }

    async fn the_admin_api_sets_roles_and_refuses_bad_input(backend: Backend) {
        let server = Server::start(&backend).await;
        let okta = server.tenant("acme").await;
        let operator = server.cli_json(&["operator", "create", "--name", "ops"]).await;
        let token = operator["token"].as_str().unwrap().to_owned();
        let admin = Scim::new(&format!("{}/admin/v1/tenants/acme", server.base), &token);
        admin.post("/roles", &json!({"name": "editor", "description": "edits"})).await.expect(201);
        // The same role again is no change; another description is a conflict.
        admin.post("/roles", &json!({"name": "editor", "description": "edits"})).await.expect(201);
        assert_eq!(admin.post("/roles", &json!({"name": "editor"})).await.expect(409)["code"], "already_exists");
        let before = backend.open_store().await.head().await.unwrap();
        // A mapping to a role not in the catalogue, a group named twice or not at all, a lock
        // of nobody and an unmap of no mapping change nothing.
        assert_eq!(admin.post("/role-mappings", &json!({"group": "Eng", "role": "admin"})).await.expect(400)["code"], "invalid_value");
        assert_eq!(admin.post("/role-mappings", &json!({"group": "Eng", "group_id": "x", "role": "editor"})).await.expect(400)["code"], "invalid_value");
        assert_eq!(admin.post("/role-mappings", &json!({"role": "editor"})).await.expect(400)["code"], "invalid_value");
        assert_eq!(admin.send(reqwest::Method::PUT, "/users/nobody@example.com/role-lock", Some(&json!({"role": "editor"}))).await.expect(404)["code"], "unknown_user");
        assert_eq!(admin.delete("/role-mappings?group=Eng").await.expect(404)["code"], "unknown_mapping");
        assert_eq!(admin.send(reqwest::Method::PATCH, "/settings", Some(&json!({"default_role": "boss"}))).await.expect(400)["code"], "invalid_value");
        assert_eq!(Scim::new(&format!("{}/admin/v1/tenants/nope", server.base), &token).get("/roles").await.expect(404)["code"], "unknown_tenant");
        assert_eq!(backend.open_store().await.head().await.unwrap(), before, "refusals append nothing");

        let mapped = admin.post("/role-mappings", &json!({"group": "Eng", "role": "editor", "precedence": 3})).await.expect(200);
        assert_eq!(mapped, json!({"group": "Eng", "role": "editor", "precedence": 3}));
        assert_eq!(admin.get("/role-mappings").await.expect(200), json!([mapped]));
        assert_eq!(admin.send(reqwest::Method::PATCH, "/settings", Some(&json!({"default_role": "editor"}))).await.expect(200), json!({"default_role": "editor"}));
        assert_eq!(admin.get("/settings").await.expect(200), json!({"default_role": "editor"}));
        let bob = user(&okta, "bob@example.com", &[]).await;
        let locked = admin.send(reqwest::Method::PUT, &format!("/users/{bob}/role-lock"), Some(&json!({"role": "editor"}))).await.expect(200);
        assert_eq!(locked, json!({"user_id": bob, "role": "editor"}));
        assert_eq!(admin.get("/users/bob@example.com/role-lock").await.expect(200), locked);
        assert_eq!(admin.delete(&format!("/users/{bob}/role-lock")).await.expect(200), json!({"user_id": bob, "role": null}));
        let unmapped = admin.delete("/role-mappings?group=eng").await.expect(200);
        assert_eq!(unmapped["mappings"], json!([]));
        // Each change is an event of the operator.
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let policy: Vec<(&str, &Value)> = log.iter().filter(|e| e.kind == domain::StreamKind::RolePolicy).map(|e| (e.payload.event_type.as_str(), &e.metadata)).collect();
        let types: Vec<&str> = policy.iter().map(|(t, _)| *t).collect();
        assert_eq!(types, ["role.defined", "role.mapped", "role.default_changed", "role.locked", "role.unlocked", "role.unmapped"]);
        assert!(policy.iter().all(|(_, m)| m["operator"] == "ops"));
        let openapi = reqwest::get(format!("{}/admin/v1/openapi.json", server.base)).await.unwrap().json::<Value>().await.unwrap();
        assert!(openapi["paths"]["/admin/v1/tenants/{tenant}/users/{user}/role-lock"]["put"].is_object());
    }
}

on_both_backends! {
    async fn a_mapping_change_for_a_large_group_streams_out_in_rounds_once_per_member(backend: Backend) {
        let server = Server::start(&backend).await;
        let okta = server.tenant("acme").await;
        // More members than one round of appends takes (200).
        let operations: Vec<Value> = (0..450)
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("user{i}@example.com")}}))
            .collect();
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
        let answered = okta.post("/Bulk", &bulk).await.expect(200);
        let members: Vec<String> = answered["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
            .collect();
        assert_eq!(members.len(), 450);
        group(&okta, "Everyone", &members.iter().map(String::as_str).collect::<Vec<_>>()).await;
        server.cli(&["role", "create", "acme", "staff"]).await;
        server.cli(&["role", "map", "acme", "--group", "Everyone", "--role", "staff"]).await;

        let store = backend.open_store().await;
        let assigned = || async {
            let log = store.read_log(0, u32::MAX).await.unwrap();
            log.into_iter().filter(|e| e.payload.event_type == "role.assigned").collect::<Vec<_>>()
        };
        let outcome = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                let events = assigned().await;
                if events.len() >= members.len() {
                    return events;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        let events = outcome.expect("every member got its role");
        // Exactly one per member, each caused by the mapping, each in a commit of its own stream.
        let mut users: Vec<&str> = events.iter().map(|e| e.payload.data["user"].as_str().unwrap()).collect();
        users.sort_unstable();
        users.dedup();
        assert_eq!((events.len(), users.len()), (members.len(), members.len()));
        assert!(events.iter().all(|e| e.payload.data["cause"]["event"] == "role.mapped" && e.payload.data["roles"] == json!(["staff"])));
        assert!(events.iter().all(|e| e.stream_version == 1));
    }
}
