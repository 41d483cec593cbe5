//! The access look-up, end to end (issue 11 §2): SCIM writes through one connection, then
//! `GET /access/v1/{tenant}/logins/{login}` and `POST …/logins:batch` on the same server see
//! them at once (read-your-writes), with the roles of docs/adr/0060-role-precedence.md; changes
//! the CLI makes in another process are seen once the projection has read them; a restart
//! rebuilds the projection and answers the same; tokens are per tenant.

use std::time::Duration;

use reqwest::header::WWW_AUTHENTICATE;
use scimledger_e2e::{hearing, on_both_backends, Scim, Server};
use serde_json::{json, Value};

/// A client of the tenant's look-up with `token`.
fn access(server: &Server, tenant: &str, token: &str) -> Scim {
    Scim::new(&format!("{}/access/v1/{tenant}", server.base), token)
}

async fn look_up(access: &Scim, login: &str) -> (u16, Value) {
    let reply = access.get(&format!("/logins/{}", scimledger_e2e::client::encode(login))).await;
    (reply.status.as_u16(), reply.body)
}

/// The answer for `login`, which must be found.
async fn found(access: &Scim, login: &str) -> Value {
    let (status, body) = look_up(access, login).await;
    assert_eq!(status, 200, "{login}: {body}");
    body
}

fn roles(answer: &Value) -> Vec<&str> {
    answer["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect()
}

fn groups(answer: &Value) -> Vec<&str> {
    answer["groups"].as_array().unwrap().iter().map(|g| g["displayName"].as_str().unwrap()).collect()
}

/// Waits until the look-up of `login` satisfies `test` (a change another process made), and
/// returns that answer.
async fn eventually(access: &Scim, login: &str, test: impl Fn(&Value) -> bool) -> Value {
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (status, body) = look_up(access, login).await;
            if status == 200 && test(&body) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    outcome.unwrap_or_else(|_| panic!("the look-up of {login} never changed as expected"))
}

async fn access_token(server: &Server, tenant: &str, name: &str) -> String {
    let issued = server.cli_json(&["access-token", "create", tenant, "--name", name]).await;
    assert_eq!(issued["access_url"], format!("{}/access/v1/{tenant}", server.base));
    issued["token"].as_str().unwrap().to_owned()
}

/// The token works once the server has read its creation (another process made it).
async fn ready(access: &Scim) {
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        while look_up(access, "nobody-at-all").await.0 != 404 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(outcome.is_ok(), "the access token never worked");
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn patched(scim: &Scim, path: &str, operations: Value) {
    let reply = scim.patch(path, &patch(operations)).await;
    assert!(reply.status.is_success(), "{path}: {} {}", reply.status, reply.body);
}

async fn create(scim: &Scim, path: &str, body: Value) -> String {
    scim.post(path, &body).await.expect(201)["id"].as_str().unwrap().to_owned()
}

fn user(name: &str, aliases: &[&str]) -> Value {
    let aliases: Vec<Value> = aliases.iter().map(|a| json!({"value": a})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "aliases": aliases})
}

fn group(name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})
}

/// A tenant with roles and a connection that gives new users `viewer`.
async fn tenant_with_roles(server: &Server, tenant: &str) -> Scim {
    server.cli(&["tenant", "create", tenant]).await;
    let scim = server.connect_with(tenant, "okta", &["--on-create-role", "viewer"]).await;
    for role in ["admin", "editor", "viewer", "member"] {
        server.cli(&["role", "create", tenant, role]).await;
    }
    server.cli(&["role", "map", tenant, "--group", "Admins", "--role", "admin", "--precedence", "10"]).await;
    server.cli(&["role", "map", tenant, "--group", "Engineering", "--role", "editor", "--precedence", "20"]).await;
    scim
}

on_both_backends! {
    async fn look_ups_see_scim_writes_and_their_roles_at_once(backend: Backend) {
        // A server that logs the credential changes it hears, for the connection made midway.
        let server = hearing::start(&backend, Vec::new()).await;
        let scim = tenant_with_roles(&server, "acme").await;
        let token = access_token(&server, "acme", "radius").await;
        let access = access(&server, "acme", &token);
        ready(&access).await;

        // On-create role, alias logins in any case.
        let alice = create(&scim, "/Users", user("alice@example.com", &["ali@example.com"])).await;
        let answer = found(&access, "ALI@Example.com").await;
        assert_eq!(answer, json!({"id": alice, "userName": "alice@example.com", "active": true, "groups": [],
            "roles": ["viewer"], "roleLocked": false, "provisionedBy": "okta", "version": 1}));
        assert_eq!(found(&access, "Alice@Example.COM").await["id"], alice.as_str());

        // Precedence across several mapped groups.
        let engineering = create(&scim, "/Groups", group("Engineering", &[&alice])).await;
        assert_eq!(roles(&found(&access, "alice@example.com").await), ["editor"]);
        let admins = create(&scim, "/Groups", group("Admins", &[])).await;
        patched(&scim, &format!("/Groups/{admins}"), json!([{"op": "add", "path": "members", "value": [{"value": alice}]}])).await;
        let answer = found(&access, "alice@example.com").await;
        assert_eq!(roles(&answer), ["admin", "editor"]);
        assert_eq!(groups(&answer).len(), 2);
        // Member removal.
        patched(&scim, &format!("/Groups/{admins}"), json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}])).await;
        assert_eq!(roles(&found(&access, "alice@example.com").await), ["editor"]);
        // Group rename, then delete.
        patched(&scim, &format!("/Groups/{engineering}"), json!([{"op": "replace", "path": "displayName", "value": "R&D"}])).await;
        let answer = found(&access, "alice@example.com").await;
        assert_eq!((roles(&answer), groups(&answer)), (vec!["viewer"], vec!["R&D"]));
        scim.delete(&format!("/Groups/{engineering}")).await.expect(204);
        assert_eq!(groups(&found(&access, "alice@example.com").await), Vec::<&str>::new());

        // Deactivate: answered, inactive, no role; reactivate.
        patched(&scim, &format!("/Users/{alice}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
        let answer = found(&access, "ali@example.com").await;
        assert_eq!((answer["active"].clone(), roles(&answer)), (json!(false), vec![]));
        patched(&scim, &format!("/Users/{alice}"), json!([{"op": "replace", "path": "active", "value": true}])).await;
        let answer = found(&access, "ali@example.com").await;
        assert_eq!((answer["active"].clone(), roles(&answer), answer["version"].clone()), (json!(true), vec!["viewer"], json!(3)));

        // Default role (CLI, another process): for users their connection gave no role.
        let entra = hearing::changed(&server, &backend, &["connection", "create", "acme", "--name", "entra"]).await;
        let entra = Scim::new(entra["base_url"].as_str().unwrap(), entra["token"].as_str().unwrap());
        create(&entra, "/Users", user("dave@example.com", &[])).await;
        assert_eq!(roles(&found(&access, "dave@example.com").await), Vec::<&str>::new());
        server.cli(&["role", "default", "acme", "member"]).await;
        let answer = eventually(&access, "dave@example.com", |a| a["roles"] == json!(["member"])).await;
        assert_eq!(answer["provisionedBy"], "entra");

        // Lock and unlock (CLI).
        server.cli(&["role", "lock", "acme", "alice@example.com", "admin"]).await;
        let answer = eventually(&access, "alice@example.com", |a| a["roleLocked"] == json!(true)).await;
        assert_eq!(roles(&answer), ["admin"]);
        server.cli(&["role", "unlock", "acme", "ali@example.com"]).await;
        eventually(&access, "alice@example.com", |a| a["roleLocked"] == json!(false) && a["roles"] == json!(["viewer"])).await;

        // Mapping changes (CLI), also to a group pushed later.
        server.cli(&["role", "map", "acme", "--group", "Contractors", "--role", "admin", "--precedence", "5"]).await;
        eventually(&access, "alice@example.com", |a| a["roles"] == json!(["viewer"])).await;
        let contractors = create(&entra, "/Groups", group("Contractors", &[&alice])).await;
        assert_eq!(roles(&found(&access, "alice@example.com").await), ["admin"]);
        server.cli(&["role", "unmap", "acme", "--group", "contractors"]).await;
        eventually(&access, "alice@example.com", |a| a["roles"] == json!(["viewer"])).await;
        server.cli(&["role", "map", "acme", "--group-id", &contractors, "--role", "editor"]).await;
        eventually(&access, "alice@example.com", |a| a["roles"] == json!(["editor"])).await;

        // Unknown logins: 404 with a JSON error; batches answer in order.
        let (status, body) = look_up(&access, "nobody@example.com").await;
        assert_eq!((status, body["code"].clone()), (404, json!("not_found")));
        let batch = access.post("/logins:batch", &json!({"logins": ["ali@example.com", "nobody@example.com", "DAVE@example.com"]})).await.expect(200);
        let results = batch["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!((results[0]["id"].clone(), results[1].clone(), results[2]["userName"].clone()), (json!(alice), Value::Null, json!("dave@example.com")));
        assert_eq!(access.post("/logins:batch", &json!({"names": []})).await.expect(400)["code"], "invalid_request");
        let too_many: Vec<String> = (0..1_001).map(|i| format!("u{i}")).collect();
        assert_eq!(access.post("/logins:batch", &json!({"logins": too_many})).await.expect(400)["code"], "invalid_request");

        // A rename moves the login; an alias change too; a delete ends it.
        patched(&scim, &format!("/Users/{alice}"), json!([{"op": "replace", "path": "userName", "value": "alice.smith@example.com"},
            {"op": "replace", "path": "aliases", "value": [{"value": "as@example.com"}]}])).await;
        assert_eq!(look_up(&access, "alice@example.com").await.0, 404);
        assert_eq!(look_up(&access, "ali@example.com").await.0, 404);
        assert_eq!(found(&access, "AS@example.com").await["userName"], "alice.smith@example.com");
        scim.delete(&format!("/Users/{alice}")).await.expect(204);
        assert_eq!(look_up(&access, "alice.smith@example.com").await.0, 404);

        let status: Value = reqwest::get(format!("{}/access/v1/status", server.base)).await.unwrap().json().await.unwrap();
        assert_eq!(status["ready"], true, "{status}");
    }

    async fn tokens_of_another_tenant_get_401(backend: Backend) {
        let server = Server::start(&backend).await;
        let acme = server.tenant("acme").await;
        server.tenant("globex").await;
        create(&acme, "/Users", user("bob@example.com", &[])).await;
        let acme_token = access_token(&server, "acme", "radius").await;
        let globex_token = access_token(&server, "globex", "radius").await;
        ready(&access(&server, "acme", &acme_token)).await;
        ready(&access(&server, "globex", &globex_token)).await;
        assert_eq!(found(&access(&server, "acme", &acme_token), "bob@example.com").await["userName"], "bob@example.com");
        for (tenant, token) in [("globex", acme_token.as_str()), ("acme", globex_token.as_str()), ("nope", acme_token.as_str()), ("acme", "wrong")] {
            let reply = access(&server, tenant, token).get("/logins/bob@example.com").await;
            assert_eq!(reply.status.as_u16(), 401, "{tenant} with {token}");
            assert_eq!(reply.body["code"], "unauthorized");
            assert!(reply.headers.get(WWW_AUTHENTICATE).is_some());
        }
        let reply = access(&server, "acme", "x").with_token(None).get("/logins/bob@example.com").await;
        assert_eq!(reply.status.as_u16(), 401);
        // A SCIM connection's token is no access token.
        assert_eq!(access(&server, "acme", acme.token.as_deref().unwrap()).get("/logins/bob@example.com").await.status.as_u16(), 401);
        // An operator's token reads every tenant.
        let operator = server.cli_json(&["operator", "create", "--name", "ops"]).await;
        let operator = access(&server, "acme", operator["token"].as_str().unwrap());
        ready(&operator).await;
        assert_eq!(found(&operator, "bob@example.com").await["provisionedBy"], "okta");
        // Names are unique per tenant.
        assert!(server.cli_fails(&["access-token", "create", "acme", "--name", "radius"]).await.contains("already"));
        // A deleted tenant admits nobody, its own tokens neither.
        server.cli(&["connection", "disable", "globex", "okta"]).await;
        server.cli(&["tenant", "delete", "globex"]).await;
        let globex = access(&server, "globex", &globex_token);
        let outcome = tokio::time::timeout(Duration::from_secs(20), async {
            while look_up(&globex, "anyone@example.com").await.0 != 401 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(outcome.is_ok(), "the deleted tenant's token still worked");
    }

    async fn access_tokens_are_listed_revoked_and_rotated_with_a_grace_period(backend: Backend) {
        let server = hearing::start(&backend, Vec::new()).await;
        let acme = server.tenant("acme").await;
        create(&acme, "/Users", user("bob@example.com", &[])).await;
        let first = access_token(&server, "acme", "radius").await;
        let doomed = access_token(&server, "acme", "doomed").await;
        ready(&access(&server, "acme", &first)).await;
        ready(&access(&server, "acme", &doomed)).await;
        let operator = hearing::changed(&server, &backend, &["operator", "create", "--name", "ops"]).await;
        let admin = Scim::new(&format!("{}/admin/v1/tenants/acme", server.base), operator["token"].as_str().unwrap());
        let status = |token: String| {
            let server = &server;
            async move { look_up(&access(server, "acme", &token), "bob@example.com").await.0 }
        };

        // Listed by name and id, never with a secret.
        let listed = server.cli_json(&["access-token", "list", "acme"]).await;
        let names: Vec<&str> = listed.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["radius", "doomed"], "{listed}");
        assert!(!listed.to_string().contains(&first), "{listed}");
        let doomed_id = listed[1]["id"].as_str().unwrap().to_owned();

        // Revoked (through the admin API, by id): refused at once, the others still work.
        let revoked = admin.post(&format!("/access-tokens/{doomed_id}/revoke"), &json!({})).await.expect(200);
        assert_eq!((revoked["revoked"].as_bool(), revoked["credentials"][0]["live"].as_bool()), (Some(true), Some(false)), "{revoked}");
        assert_eq!(status(doomed.clone()).await, 401, "a revoked token");
        assert_eq!(status(first.clone()).await, 200);
        let again = server.cli_fails(&["access-token", "rotate", "acme", "doomed"]).await;
        assert!(again.contains("revoked"), "a revoked token takes no rotation: {again}");
        let unknown = admin.post("/access-tokens/nope/revoke", &json!({})).await.expect(404);
        assert_eq!(unknown["code"], "unknown_resource", "{unknown}");

        // Rotated with a grace period: the new secret works, and so does the old one, until
        // the grace period ends.
        let rotated = server.cli_json(&["access-token", "rotate", "acme", "radius", "--grace", "1h"]).await;
        let second = rotated["token"].as_str().unwrap().to_owned();
        let fresh = access(&server, "acme", &second);
        ready(&fresh).await;
        assert_eq!((status(first.clone()).await, status(second.clone()).await), (200, 200), "within the grace period");
        let bad = admin.post("/access-tokens/radius/rotate", &json!({"grace": "soon"})).await.expect(400);
        assert!(bad["detail"].as_str().unwrap().contains("grace"), "{bad}");
        // Rotated again without one (the admin API): every older secret stops at once.
        let third = admin.post("/access-tokens/radius/rotate", &json!({"grace": "0"})).await.expect(200)["token"].as_str().unwrap().to_owned();
        assert_eq!((status(first.clone()).await, status(second.clone()).await, status(third.clone()).await), (401, 401, 200));
        // A short grace period ends by itself, with no event to tell the servers.
        let fourth = admin.post("/access-tokens/radius/rotate", &json!({"grace": "2s"})).await.expect(200)["token"].as_str().unwrap().to_owned();
        assert_eq!(status(fourth.clone()).await, 200);
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            while status(third.clone()).await != 401 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(ended.is_ok(), "the grace period never ended");
        assert_eq!(status(fourth.clone()).await, 200);
        let listed = admin.get("/access-tokens").await.expect(200);
        let live: Vec<bool> = listed[0]["credentials"].as_array().unwrap().iter().map(|c| c["live"].as_bool().unwrap()).collect();
        assert_eq!(live, [false, false, false, true], "{listed}");

        // Revoked by another process (the CLI): the server refuses it once it has heard of it.
        hearing::changed(&server, &backend, &["access-token", "revoke", "acme", "radius"]).await;
        let refused = tokio::time::timeout(Duration::from_secs(20), async {
            while status(fourth.clone()).await != 401 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(refused.is_ok(), "the token revoked by the CLI still worked");

        // Each change is an event of the operator that made it.
        let log = server.cli_json(&["audit", "log", "acme", "--type", "access_token.secret_rotated"]).await;
        let actors: Vec<&str> = log["events"].as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
        assert_eq!(actors, ["operator:cli", "operator:ops", "operator:ops"], "{log}");
        let log = server.cli_json(&["audit", "log", "acme", "--type", "access_token.revoked"]).await;
        assert_eq!(log["events"].as_array().unwrap().len(), 2, "{log}");
        let openapi = reqwest::get(format!("{}/admin/v1/openapi.json", server.base)).await.unwrap().json::<Value>().await.unwrap();
        assert!(openapi["paths"]["/admin/v1/tenants/{tenant}/access-tokens/{token}/rotate"]["post"].is_object());
    }

    async fn a_restart_rebuilds_the_projection_and_answers_the_same(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = tenant_with_roles(&server, "acme").await;
        server.cli(&["role", "default", "acme", "member"]).await;
        let mut users = Vec::new();
        for i in 0..20 {
            users.push(create(&scim, "/Users", user(&format!("user{i}@example.com"), &[&format!("alias{i}@example.com")])).await);
        }
        create(&scim, "/Groups", group("Engineering", &users[..10].iter().map(String::as_str).collect::<Vec<_>>())).await;
        create(&scim, "/Groups", group("Admins", &users[5..8].iter().map(String::as_str).collect::<Vec<_>>())).await;
        patched(&scim, &format!("/Users/{}", users[3]), json!([{"op": "replace", "path": "active", "value": false}])).await;
        server.cli(&["role", "lock", "acme", &users[15], "admin"]).await;
        let token = access_token(&server, "acme", "radius").await;
        let before_access = access(&server, "acme", &token);
        ready(&before_access).await;
        eventually(&before_access, "user15@example.com", |a| a["roleLocked"] == json!(true)).await;
        let logins: Vec<String> = (0..20).map(|i| format!("ALIAS{i}@example.com")).chain(["missing@example.com".to_owned()]).collect();
        let before = before_access.post("/logins:batch", &json!({"logins": logins})).await.expect(200);
        assert_eq!(before["results"][6]["roles"], json!(["admin", "editor"]));
        assert_eq!(before["results"][3]["active"], false);
        server.kill().await;

        let server = Server::start(&backend).await;
        let after_access = access(&server, "acme", &token);
        let after = after_access.post("/logins:batch", &json!({"logins": logins})).await.expect(200);
        assert_eq!(after, before);
    }
}

/// Two servers on one PostgreSQL: a write through one is seen by the other's look-up once its
/// projection has read it (its lag is reported), and only one of them appends the role events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_sees_writes_and_one_process_derives_roles() {
    let backend = scimledger_e2e::Backend::postgres().await;
    let first = Server::start(&backend).await;
    let second = Server::start(&backend).await;
    let scim = tenant_with_roles(&first, "acme").await;
    let token = access_token(&first, "acme", "radius").await;
    let (on_first, on_second) = (access(&first, "acme", &token), access(&second, "acme", &token));
    ready(&on_first).await;
    ready(&on_second).await;
    let bob = create(&scim, "/Users", user("bob@example.com", &[])).await;
    create(&scim, "/Groups", group("Admins", &[&bob])).await;
    assert_eq!(roles(&found(&on_first, "bob@example.com").await), ["admin"]);
    let seen = eventually(&on_second, "bob@example.com", |a| a["roles"] == json!(["admin"])).await;
    assert_eq!(seen, found(&on_first, "bob@example.com").await);
    for server in [&first, &second] {
        let status: Value = reqwest::get(format!("{}/access/v1/status", server.base)).await.unwrap().json().await.unwrap();
        assert!(status["lag_seconds"].is_number() && status["ready"] == true, "{status}");
    }
    // Both processes saw the change; the log has its role events once.
    let store = backend.open_store().await;
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let log = store.read_log(0, u32::MAX).await.unwrap();
            let last = log.iter().rfind(|e| e.kind == domain::StreamKind::RoleAssignment).map(|e| e.payload.data["roles"].clone());
            if last == Some(json!(["admin"])) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let log = outcome.expect("bob's role events end with the mapped role");
    let types: Vec<&str> =
        log.iter().filter(|e| e.kind == domain::StreamKind::RoleAssignment).map(|e| e.payload.event_type.as_str()).collect();
    // viewer on creation (possibly folded into the group's), then admin: never twice.
    assert!(types == ["role.assigned", "role.revoked", "role.assigned"] || types == ["role.assigned"], "{types:?}");
}
