//! A super tenant that routes users by group membership, end to end (issue 11 §3,
//! docs/adr/0074): an IdP creates a user before any group names it, so the user waits in the
//! rule's waiting sub-tenant; a write of a mapped group that names it (POST, PUT, PATCH add,
//! /Bulk) moves it into the group's sub-tenant first (`user.moved_in`, then `user.moved_out`),
//! a member another group routed elsewhere is refused before anything moves, and neither a
//! removal nor an attribute change moves anyone.

use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::{json, Value};
use store::RecordedEvent;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE], "userName": name,
        ENTERPRISE: {"organization": "Globex"}})
}

fn group(name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// `reftab`, the parent, with sub-tenants `lobby` (where users wait), `acme` and `globex`, and
/// a connection `entra`; its rule routes users by the groups "Acme Staff" (to acme) and
/// "Globex Staff" (to globex).
async fn super_tenant(server: &Server) -> Scim {
    server.cli(&["tenant", "create", "reftab"]).await;
    for sub in ["lobby", "acme", "globex"] {
        server.cli(&["tenant", "create", sub, "--parent", "reftab"]).await;
    }
    // The waiting sub-tenant is checked as the targets are, and no group may map there.
    server.cli(&["tenant", "create", "stranger"]).await;
    let refused = server.cli_fails(&["tenant", "routing", "reftab", "--users-wait-in", "stranger", "--group-map", "A=acme"]).await;
    assert!(refused.contains("no sub-tenant of 'reftab'"), "{refused}");
    let refused = server.cli_fails(&["tenant", "routing", "reftab", "--users-wait-in", "acme", "--group-map", "A=acme"]).await;
    assert!(refused.contains("no group may map there"), "{refused}");
    let refused = server.cli_fails(&["tenant", "routing", "reftab", "--users-wait-in", "lobby"]).await;
    assert!(refused.contains("at least one group"), "{refused}");
    let rule = server
        .cli_json(&[
            "tenant",
            "routing",
            "reftab",
            "--users-wait-in",
            "lobby",
            "--group-map",
            "Acme Staff=acme",
            "--group-map",
            "Globex Staff=globex",
        ])
        .await;
    assert_eq!(rule, json!({"tenant": "reftab", "users_wait_in": "lobby", "group_map": {"Acme Staff": "acme", "Globex Staff": "globex"}}));
    server.connect("reftab", "entra").await
}

fn id_of(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_owned()
}

/// The (tenant, type) of every event on the stream `id`, in log order.
fn history(log: &[RecordedEvent], id: &str) -> Vec<(String, String)> {
    log.iter().filter(|e| e.stream.to_string() == id).map(|e| (e.tenant.to_string(), e.payload.event_type.clone())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(t, e)| ((*t).to_owned(), (*e).to_owned())).collect()
}

on_both_backends! {
    async fn a_user_waits_until_a_mapped_group_names_it_and_then_moves_into_its_sub_tenant(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;

        // A new user lands in the waiting sub-tenant, whatever its attributes say.
        let alice = id_of(&entra.post("/Users", &user("alice@example.com")).await.expect(201));
        let lobby = server.connect_reading_all("lobby", "local").await;
        assert_eq!(lobby.get(&format!("/Users/{alice}")).await.expect(200)["userName"], "alice@example.com");
        assert_eq!(entra.get(&format!("/Users/{alice}")).await.expect(200)["userName"], "alice@example.com");
        assert_eq!(entra.get("/Users").await.expect(200)["totalResults"], 1);

        // A mapped group naming her moves her into acme first, then has her as a member there.
        let staff = entra.post("/Groups", &group("Acme Staff", &[&alice])).await.expect(201);
        assert_eq!(staff["members"][0]["value"], alice.as_str(), "{staff}");
        let staff = id_of(&staff);
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        assert_eq!(
            history(&log, &alice),
            pairs(&[("lobby", "user.provisioned"), ("acme", "user.moved_in"), ("lobby", "user.moved_out")])
        );
        let of = |event_type: &str, stream: &str| -> &RecordedEvent {
            log.iter().find(|e| e.payload.event_type == event_type && e.stream.to_string() == stream).unwrap()
        };
        let (provisioned, moved_in, moved_out) = (of("user.provisioned", &alice), of("user.moved_in", &alice), of("user.moved_out", &alice));
        assert_eq!((&moved_in.payload.data["from"], &moved_out.payload.data["to"]), (&json!("lobby"), &json!("acme")));
        assert_eq!((moved_in.actor(), moved_out.actor()), (provisioned.actor(), provisioned.actor()), "the parent's connection moved her");
        let created = of("group.created", &staff);
        assert_eq!(created.tenant.as_str(), "acme");
        let request = |e: &RecordedEvent| e.metadata["request_id"].as_str().map(str::to_owned);
        assert!(request(moved_in).is_some());
        assert_eq!((request(moved_in), request(moved_out)), (request(created), request(created)), "one request's metadata");

        // The parent reads her with the group; the sub-tenants' own endpoints agree.
        let read = entra.get(&format!("/Users/{alice}")).await.expect(200);
        assert_eq!(read["groups"][0]["display"], "Acme Staff", "{read}");
        assert_eq!(entra.get(&format!("/Groups/{staff}")).await.expect(200)["members"][0]["value"], alice.as_str());
        lobby.get(&format!("/Users/{alice}")).await.expect(404);
        let acme = server.connect_reading_all("acme", "local").await;
        assert_eq!(acme.get(&format!("/Users/{alice}")).await.expect(200)["groups"][0]["value"], staff.as_str());
        assert_eq!(entra.get("/Users").await.expect(200)["totalResults"], 1);

        // An attribute change never moves her under this rule.
        let changed = patch(json!([
            {"op": "replace", "path": format!("{ENTERPRISE}:organization"), "value": "Acme"},
            {"op": "replace", "path": "title", "value": "Engineer"}
        ]));
        assert_eq!(entra.patch(&format!("/Users/{alice}"), &changed).await.expect(200)["title"], "Engineer");
        let mut replaced = user("alice@example.com");
        replaced["displayName"] = json!("Alice");
        entra.put(&format!("/Users/{alice}"), &replaced).await.expect(200);
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let after = &history(&log, &alice)[3..];
        assert!(!after.is_empty() && after.iter().all(|(tenant, event)| tenant == "acme" && !event.starts_with("user.moved")), "{after:?}");
    }

    async fn patch_put_and_bulk_writes_of_a_group_move_the_waiting_users_they_add(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;
        let staff = id_of(&entra.post("/Groups", &group("Acme Staff", &[])).await.expect(201));
        let bob = id_of(&entra.post("/Users", &user("bob@example.com")).await.expect(201));
        let carol = id_of(&entra.post("/Users", &user("carol@example.com")).await.expect(201));

        // A PATCH adding bob moves him (Entra's shape of the add).
        let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]));
        let status = entra.patch(&format!("/Groups/{staff}"), &add).await.status.as_u16();
        assert!(status == 200 || status == 204, "{status}");
        let read = entra.get(&format!("/Users/{bob}")).await.expect(200);
        assert_eq!(read["groups"][0]["display"], "Acme Staff", "{read}");
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        assert_eq!(
            history(&log, &bob),
            pairs(&[("lobby", "user.provisioned"), ("acme", "user.moved_in"), ("lobby", "user.moved_out")])
        );

        // Removing him moves nobody: he stays where the group routed him.
        let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]));
        let before = backend.event_count().await;
        let status = entra.patch(&format!("/Groups/{staff}"), &remove).await.status.as_u16();
        assert!(status == 200 || status == 204, "{status}");
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        assert_eq!(history(&log, &bob).len(), 3, "{:?}", history(&log, &bob));
        assert_eq!(backend.event_count().await, before + 1, "the removal alone");
        let acme = server.connect_reading_all("acme", "local").await;
        acme.get(&format!("/Users/{bob}")).await.expect(200);

        // A PUT listing carol (waiting) and bob (in acme already) moves carol alone.
        let put = entra.put(&format!("/Groups/{staff}"), &group("Acme Staff", &[&bob, &carol])).await.expect(200);
        assert_eq!(put["members"].as_array().unwrap().len(), 2, "{put}");
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        assert_eq!(
            history(&log, &carol),
            pairs(&[("lobby", "user.provisioned"), ("acme", "user.moved_in"), ("lobby", "user.moved_out")])
        );
        assert_eq!(history(&log, &bob).len(), 3);

        // /Bulk runs the same writes: a user and a group naming it by bulkId, in one request.
        let operations = json!([
            {"method": "POST", "path": "/Users", "bulkId": "d", "data": user("dave@example.com")},
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": group("Globex Staff", &["bulkId:d"])}
        ]);
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
        let response = entra.post("/Bulk", &bulk).await.expect(200);
        let statuses: Vec<&str> = response["Operations"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["201", "201"], "{response}");
        let dave = entra.filter("/Users", "userName eq \"dave@example.com\"", "").await.expect(200)["Resources"][0].clone();
        assert_eq!(dave["groups"][0]["display"], "Globex Staff", "{dave}");
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        assert_eq!(history(&log, &id_of(&dave))[1], ("globex".to_owned(), "user.moved_in".to_owned()));
    }

    async fn a_member_another_group_routed_elsewhere_is_refused_before_anything_moves(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;
        let alice = id_of(&entra.post("/Users", &user("alice@example.com")).await.expect(201));
        let carol = id_of(&entra.post("/Users", &user("carol@example.com")).await.expect(201));
        entra.post("/Groups", &group("Acme Staff", &[&alice])).await.expect(201);
        let globex = id_of(&entra.post("/Groups", &group("Globex Staff", &[])).await.expect(201));
        let before = backend.event_count().await;

        // carol waits and alice is acme's: nothing moves, nothing is written.
        let refused = entra.post("/Groups", &group("Globex Staff", &[&carol, &alice])).await.expect_error(400, Some("invalidValue"));
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains(&alice) && detail.contains("'acme'") && detail.contains("nothing was changed"), "{detail}");
        let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": carol}, {"value": alice}]}]));
        entra.patch(&format!("/Groups/{globex}"), &add).await.expect_error(400, Some("invalidValue"));
        assert_eq!(backend.event_count().await, before, "a refused write appends nothing");
        let lobby = server.connect_reading_all("lobby", "local").await;
        lobby.get(&format!("/Users/{carol}")).await.expect(200);

        // Counted as unroutable writes, beside the rule the admin API shows.
        let operator = server.cli_json(&["operator", "create", "--name", "ops"]).await;
        let admin = Scim::new(&format!("{}/admin/v1", server.base), operator["token"].as_str().unwrap());
        let routing = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                let reply = admin.get("/tenants/reftab/routing").await;
                if reply.status.as_u16() == 200 {
                    return reply.body;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the operator token never worked");
        assert_eq!((routing["refused"].clone(), routing["users_wait_in"].clone()), (json!(2), json!("lobby")), "{routing}");
    }

    async fn a_rule_of_the_shape_recorded_before_still_routes_by_its_attribute(backend: Backend) {
        let server = Server::start(&backend).await;
        server.cli(&["tenant", "create", "reftab"]).await;
        for sub in ["lobby", "acme"] {
            server.cli(&["tenant", "create", sub, "--parent", "reftab"]).await;
        }
        let attribute = format!("{ENTERPRISE}:organization");
        server.cli(&["tenant", "routing", "reftab", "--attribute", &attribute, "--map", "Acme=acme", "--group-map", "Acme Staff=acme"]).await;
        // The event is written as rules were before users could route by groups.
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let set = log.iter().find(|e| e.payload.event_type == "tenant.routing_set").unwrap();
        assert_eq!(set.payload.data, json!({"attribute": attribute, "map": {"Acme": "acme"}, "group_map": {"Acme Staff": "acme"}}));

        let entra = server.connect("reftab", "entra").await;
        let mut alice = user("alice@example.com");
        alice[ENTERPRISE]["organization"] = json!("Acme");
        let alice = id_of(&entra.post("/Users", &alice).await.expect(201));
        entra.post("/Users", &user("bob@example.com")).await.expect_error(400, Some("invalidValue"));
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        assert_eq!(history(&log, &alice), pairs(&[("acme", "user.provisioned")]));

        // A switch to routing by groups leaves alice where she is; new users wait.
        server.cli(&["tenant", "routing", "reftab", "--users-wait-in", "lobby", "--group-map", "Acme Staff=acme"]).await;
        let waiting = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            for attempt in 0.. {
                let reply = entra.post("/Users", &user(&format!("u{attempt}@example.com"))).await;
                if reply.status.as_u16() == 201 {
                    return reply.body;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            unreachable!("the loop ends by returning")
        })
        .await
        .expect("the server never followed the new rule");
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        assert_eq!(history(&log, &id_of(&waiting)), pairs(&[("lobby", "user.provisioned")]));
        assert_eq!(history(&log, &alice).len(), 1);
    }
}
