//! The super tenant, end to end (issue 11 §3, docs/adr/0074): a parent's connection pushes
//! users and groups to one SCIM endpoint, the parent's routing rule sends each into a
//! sub-tenant (a user by its enterprise `organization`, a group by its displayName), reads
//! through the parent see the union, each sub-tenant's access look-up and log see only its own,
//! unroutable writes are refused and counted, and a sub-tenant's tokens cannot read the parent.
//! A user whose routing value changes moves: `user.moved_in` on the new sub-tenant, then
//! `user.moved_out` on the old, and a move stopped between the two is finished by the next write.

use std::time::Duration;

use domain::user::{User, UserCommand, UserEvent};
use domain::{Principal, ResourceId, TenantSlug};
use scim::document::Document;
use scim::schema::USER_RESOURCE;
use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::{json, Value};
use store::commands::{self, Expect};
use store::{Actor, EventMetadata, RecordedEvent};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user(name: &str, organization: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE], "userName": name,
        ENTERPRISE: {"organization": organization}})
}

fn group(name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// The look-up of `login` in `tenant` with `token`, once the token works (the CLI made it).
async fn look_up(server: &Server, tenant: &str, token: &str, login: &str) -> (u16, Value) {
    let access = Scim::new(&format!("{}/access/v1/{tenant}", server.base), token);
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let reply = access.get(&format!("/logins/{}", scimledger_e2e::client::encode(login))).await;
            if reply.status.as_u16() != 401 {
                return (reply.status.as_u16(), reply.body);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    outcome.expect("the access token never worked")
}

async fn access_token(server: &Server, tenant: &str) -> String {
    server.cli_json(&["access-token", "create", tenant, "--name", "radius"]).await["token"].as_str().unwrap().to_owned()
}

/// `reftab`, the parent, with sub-tenants `acme` and `globex` and a connection `entra`; its
/// rule routes users by organization and the group "Acme Staff" to `acme`.
async fn super_tenant(server: &Server) -> Scim {
    server.cli(&["tenant", "create", "reftab"]).await;
    let acme = server.cli_json(&["tenant", "create", "acme", "--parent", "reftab"]).await;
    assert_eq!(acme["parent"], "reftab");
    server.cli(&["tenant", "create", "globex", "--parent", "reftab"]).await;
    let rule = server
        .cli_json(&[
            "tenant",
            "routing",
            "reftab",
            "--attribute",
            &format!("{ENTERPRISE}:organization"),
            "--map",
            "Acme=acme",
            "--map",
            "Globex=globex",
            "--group-map",
            "Acme Staff=acme",
            "--group-map",
            "Globex Staff=globex",
        ])
        .await;
    assert_eq!(rule["map"], json!({"Acme": "acme", "Globex": "globex"}));
    // A rule may route only into the parent's own sub-tenants, and a sub-tenant routes nothing.
    server.cli(&["tenant", "create", "stranger"]).await;
    let refused = server.cli_fails(&["tenant", "routing", "reftab", "--attribute", "department", "--map", "X=stranger"]).await;
    assert!(refused.contains("no sub-tenant of 'reftab'"), "{refused}");
    let refused = server.cli_fails(&["tenant", "create", "nested", "--parent", "acme"]).await;
    assert!(refused.contains("is a sub-tenant"), "{refused}");
    server.connect("reftab", "entra").await
}

on_both_backends! {
    async fn a_parent_routes_by_attribute_and_group_name_and_reads_the_union(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;

        let alice = entra.post("/Users", &user("alice@acme.example", "Acme")).await.expect(201);
        let alice = alice["id"].as_str().unwrap().to_owned();
        let bob = entra.post("/Users", &user("bob@globex.example", "Globex")).await.expect(201);
        let bob = bob["id"].as_str().unwrap().to_owned();
        let staff = entra.post("/Groups", &group("Acme Staff", &[&alice])).await.expect(201);
        let staff = staff["id"].as_str().unwrap().to_owned();

        // Each landed in its sub-tenant's log; the parent's holds none of them.
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let tenant_of = |event_type: &str, stream: &str| -> Vec<String> {
            log.iter()
                .filter(|e| e.payload.event_type == event_type && e.stream.to_string() == stream)
                .map(|e| e.tenant.to_string())
                .collect()
        };
        assert_eq!(tenant_of("user.provisioned", &alice), ["acme"]);
        assert_eq!(tenant_of("user.provisioned", &bob), ["globex"]);
        assert_eq!(tenant_of("group.created", &staff), ["acme"]);

        // Reads through the parent see the union: by id, unfiltered and filtered pages, totals.
        assert_eq!(entra.get(&format!("/Users/{alice}")).await.expect(200)["userName"], "alice@acme.example");
        let bob_read = entra.get(&format!("/Users/{bob}")).await.expect(200);
        assert_eq!(bob_read["meta"]["location"].as_str().unwrap(), format!("{}/Users/{bob}", entra.base));
        let all = entra.get("/Users").await.expect(200);
        assert_eq!(all["totalResults"], 2);
        let names: Vec<&str> = all["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
        assert_eq!(names, ["alice@acme.example", "bob@globex.example"]);
        let page = entra.get("/Users?startIndex=2&count=1").await.expect(200);
        assert_eq!((page["totalResults"].clone(), page["Resources"][0]["id"].clone()), (json!(2), json!(bob)));
        let found = entra.filter("/Users", "userName eq \"BOB@globex.example\"", "").await.expect(200);
        assert_eq!((found["totalResults"].clone(), found["Resources"][0]["id"].clone()), (json!(1), json!(bob)));
        let groups = entra.get("/Groups").await.expect(200);
        assert_eq!(groups["totalResults"], 1);
        assert_eq!(groups["Resources"][0]["members"][0]["value"], alice.as_str());
        // By id, its members stream from the sub-tenant holding it (ADR 0076): the same resource.
        assert_eq!(entra.get(&format!("/Groups/{staff}")).await.expect(200), groups["Resources"][0]);
        assert_eq!(entra.get(&format!("/Users/{alice}")).await.expect(200)["groups"][0]["display"], "Acme Staff");

        // Writes through the parent go to the sub-tenant holding the resource.
        let titled = patch(json!([{"op": "replace", "path": "title", "value": "Engineer"}]));
        assert_eq!(entra.patch(&format!("/Users/{alice}"), &titled).await.expect(200)["title"], "Engineer");
        let mut replaced = user("bob@globex.example", "Globex");
        replaced["displayName"] = json!("Bob");
        entra.put(&format!("/Users/{bob}"), &replaced).await.expect(200);

        // Each sub-tenant's access look-up sees only its own users.
        let acme = access_token(&server, "acme").await;
        let globex = access_token(&server, "globex").await;
        let (status, answer) = look_up(&server, "acme", &acme, "alice@acme.example").await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["groups"][0]["displayName"], "Acme Staff");
        assert_eq!(answer["version"], 2);
        assert_eq!(look_up(&server, "acme", &acme, "bob@globex.example").await.0, 404);
        assert_eq!(look_up(&server, "globex", &globex, "bob@globex.example").await.0, 200);
        assert_eq!(look_up(&server, "globex", &globex, "alice@acme.example").await.0, 404);

        // A delete through the parent removes the user from its sub-tenant.
        entra.delete(&format!("/Users/{bob}")).await.expect(204);
        entra.get(&format!("/Users/{bob}")).await.expect(404);
        assert_eq!(entra.get("/Users").await.expect(200)["totalResults"], 1);
    }

    async fn unroutable_writes_are_refused_counted_and_append_nothing(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;
        let alice = entra.post("/Users", &user("alice@acme.example", "Acme")).await.expect(201);
        let alice = alice["id"].as_str().unwrap().to_owned();
        let before = backend.event_count().await;

        let refused = entra.post("/Users", &user("carol@initech.example", "Initech")).await.expect_error(400, Some("invalidValue"));
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("{ENTERPRISE}:organization")) && detail.contains("'Initech'"), "{detail}");
        let no_value = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dave@example.com"});
        entra.post("/Users", &no_value).await.expect_error(400, Some("invalidValue"));
        entra.post("/Groups", &group("Unmapped", &[])).await.expect_error(400, Some("invalidValue"));
        assert_eq!(backend.event_count().await, before, "a refused write appends nothing");
        // A rename that would route a group into another sub-tenant is refused: groups do not move.
        let staff = entra.post("/Groups", &group("Acme Staff", &[&alice])).await.expect(201);
        let staff = staff["id"].as_str().unwrap().to_owned();
        let before = backend.event_count().await;
        let renamed = patch(json!([{"op": "replace", "path": "displayName", "value": "Globex Staff"}]));
        let refused = entra.patch(&format!("/Groups/{staff}"), &renamed).await.expect_error(400, Some("invalidValue"));
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains("from sub-tenant 'acme' to 'globex'") && detail.contains("stays"), "{refused}");
        assert_eq!(backend.event_count().await, before, "a refused write appends nothing");
        assert_eq!(entra.get(&format!("/Groups/{staff}")).await.expect(200)["displayName"], "Acme Staff");

        // The admin API shows the rule and how many writes this server refused.
        let operator = server.cli_json(&["operator", "create", "--name", "ops"]).await;
        let admin = Scim::new(&format!("{}/admin/v1", server.base), operator["token"].as_str().unwrap());
        let outcome = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let reply = admin.get("/tenants/reftab/routing").await;
                if reply.status.as_u16() == 200 {
                    return reply.body;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let routing = outcome.expect("the operator token never worked");
        // The two users and the group; the refused rename was routable, just not movable.
        assert_eq!(routing["refused"], 3, "{routing}");
        assert_eq!(routing["group_map"], json!({"Acme Staff": "acme", "Globex Staff": "globex"}));
        assert_eq!(admin.get("/tenants/acme").await.expect(200)["parent"], "reftab");
        // Setting a rule over the admin API is a command too.
        let set = json!({"attribute": "userType", "map": {"Staff": "acme"}});
        assert_eq!(admin.put("/tenants/reftab/routing", &set).await.expect(200)["attribute"], "userType");
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let set_by: Vec<Option<String>> = log.iter().filter(|e| e.payload.event_type == "tenant.routing_set").map(|e| e.actor()).collect();
        assert_eq!(set_by.len(), 2, "{set_by:?}");
    }

    async fn a_sub_tenants_tokens_cannot_read_the_parent(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;
        entra.post("/Users", &user("alice@acme.example", "Acme")).await.expect(201);
        let own = server.connect_reading_all("acme", "local").await;
        assert_eq!(own.get("/Users").await.expect(200)["totalResults"], 1);
        assert_eq!(own.with_base(&format!("{}/scim/v2/reftab", server.base)).get("/Users").await.status.as_u16(), 401);
        let acme = access_token(&server, "acme").await;
        assert_eq!(look_up(&server, "acme", &acme, "alice@acme.example").await.0, 200);
        let parent = Scim::new(&format!("{}/access/v1/reftab", server.base), &acme);
        assert_eq!(parent.get("/logins/alice@acme.example").await.status.as_u16(), 401);
    }

    async fn a_rule_changed_by_another_process_is_followed(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;
        // The server now knows the rule (a PostgreSQL server keeps it while nothing changes).
        entra.post("/Users", &user("alice@globex.example", "Globex")).await.expect(201);
        server.cli(&["tenant", "routing", "reftab", "--attribute", "userType", "--map", "Staff=acme"]).await;
        // The CLI's commit reaches the server's cache by the notification, not at once: a
        // user the old rule would route to globex is refused once the new rule is in force.
        let outcome = tokio::time::timeout(Duration::from_secs(20), async {
            for attempt in 0.. {
                let reply = entra.post("/Users", &user(&format!("u{attempt}@globex.example"), "Globex")).await;
                if reply.status.as_u16() != 201 {
                    return reply;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            unreachable!("the loop ends by returning")
        })
        .await;
        let refused = outcome.expect("the server never followed the new rule").expect_error(400, Some("invalidValue"));
        assert!(refused["detail"].as_str().unwrap().contains("routes by userType"), "{refused}");
        let mut staff = user("bob@acme.example", "Globex");
        staff["userType"] = json!("Staff");
        let bob = entra.post("/Users", &staff).await.expect(201);
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let landed: Vec<String> = log.iter().filter(|e| e.stream.to_string() == bob["id"].as_str().unwrap()).map(|e| e.tenant.to_string()).collect();
        assert_eq!(landed, ["acme"]);
    }

    async fn a_user_moves_when_its_routing_value_changes(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;
        // In acme, Acme Staff are staff; in globex, everyone is a member.
        for (tenant, role) in [("acme", "staff"), ("globex", "member")] {
            server.cli_json(&["role", "create", tenant, role]).await;
        }
        server.cli_json(&["role", "map", "acme", "--group", "Acme Staff", "--role", "staff"]).await;
        server.cli_json(&["role", "default", "globex", "member"]).await;
        let (acme, globex) = (access_token(&server, "acme").await, access_token(&server, "globex").await);

        let alice = entra.post("/Users", &user("alice@acme.example", "Acme")).await.expect(201);
        let alice = alice["id"].as_str().unwrap().to_owned();
        let staff = entra.post("/Groups", &group("Acme Staff", &[&alice])).await.expect(201);
        let staff = staff["id"].as_str().unwrap().to_owned();
        let (_, before) = look_up(&server, "acme", &acme, "alice@acme.example").await;
        assert_eq!(before["roles"], json!(["staff"]), "{before}");

        // A PATCH of the organization moves alice to globex, changed as asked, with her id.
        let moving = json!([
            {"op": "replace", "path": format!("{ENTERPRISE}:organization"), "value": "Globex"},
            {"op": "replace", "path": "title", "value": "Engineer"}
        ]);
        let moved = entra.patch(&format!("/Users/{alice}"), &patch(moving)).await.expect(200);
        assert_eq!((moved["id"].as_str(), moved["title"].as_str()), (Some(alice.as_str()), Some("Engineer")));
        assert_eq!(moved[ENTERPRISE]["organization"], "Globex");
        assert_eq!(moved["meta"]["location"].as_str().unwrap(), format!("{}/Users/{alice}", entra.base));
        assert_eq!(moved.get("groups"), None, "in no group of globex: {moved}");

        // Events on both sub-tenants, by the parent's connection, of one request.
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let of = |event_type: &str| -> Vec<&RecordedEvent> {
            log.iter().filter(|e| e.payload.event_type == event_type && e.stream.to_string() == alice).collect()
        };
        let (provisioned, moved_in, moved_out) = (of("user.provisioned"), of("user.moved_in"), of("user.moved_out"));
        assert_eq!((moved_in.len(), moved_out.len()), (1, 1));
        assert_eq!((moved_in[0].tenant.as_str(), moved_out[0].tenant.as_str()), ("globex", "acme"));
        assert!(moved_in[0].position < moved_out[0].position, "in, then out");
        assert_eq!((&moved_in[0].payload.data["from"], &moved_out[0].payload.data["to"]), (&json!("acme"), &json!("globex")));
        assert_eq!(moved_in[0].actor(), provisioned[0].actor());
        assert_eq!(moved_out[0].actor(), provisioned[0].actor());
        let request = |e: &RecordedEvent| e.metadata["request_id"].as_str().map(str::to_owned);
        assert!(request(moved_in[0]).is_some());
        assert_eq!(request(moved_in[0]), request(moved_out[0]));

        // The parent reads her once, from globex; acme's group lost her, and acme's look-up
        // knows her no more while globex's answers with globex's roles.
        let read = entra.get(&format!("/Users/{alice}")).await.expect(200);
        assert_eq!((read["title"].as_str(), read.get("groups")), (Some("Engineer"), None));
        let all = entra.get("/Users").await.expect(200);
        assert_eq!(all["totalResults"], 1);
        assert_eq!(all["Resources"][0]["id"], alice.as_str());
        let members = entra.get(&format!("/Groups/{staff}")).await.expect(200)["members"].clone();
        assert!(members.as_array().is_none_or(Vec::is_empty), "{members}");
        assert_eq!(look_up(&server, "acme", &acme, "alice@acme.example").await.0, 404);
        let (status, after) = look_up(&server, "globex", &globex, "alice@acme.example").await;
        assert_eq!((status, after["roles"].clone(), after["groups"].clone()), (200, json!(["member"]), json!([])), "{after}");

        // A PUT moves her back onto the acme stream she left, as a new row there.
        let back = entra.put(&format!("/Users/{alice}"), &user("alice@acme.example", "Acme")).await.expect(200);
        assert_eq!((back["id"].as_str(), back.get("title")), (Some(alice.as_str()), None));
        let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
        let last: Vec<(String, String)> = log
            .iter()
            .filter(|e| e.stream.to_string() == alice && e.kind == domain::StreamKind::User)
            .map(|e| (e.tenant.to_string(), e.payload.event_type.clone()))
            .collect();
        assert_eq!(last[last.len() - 2..], [("acme".into(), "user.moved_in".into()), ("globex".into(), "user.moved_out".into())]);
        assert_eq!(look_up(&server, "globex", &globex, "alice@acme.example").await.0, 404);
        let (status, home) = look_up(&server, "acme", &acme, "alice@acme.example").await;
        assert_eq!((status, home["roles"].clone(), home["groups"].clone()), (200, json!([]), json!([])), "{home}");
        let all = entra.get("/Users").await.expect(200);
        assert_eq!((all["totalResults"].clone(), all["Resources"][0]["id"].clone()), (json!(1), json!(alice)));
        // Each tenant's own endpoint agrees.
        let own_acme = server.connect_reading_all("acme", "local").await;
        assert_eq!(own_acme.get("/Users").await.expect(200)["totalResults"], 1);
        let own_globex = server.connect_reading_all("globex", "local").await;
        assert_eq!(own_globex.get("/Users").await.expect(200)["totalResults"], 0);
        own_globex.get(&format!("/Users/{alice}")).await.expect(404);
    }

    async fn a_move_onto_a_taken_login_is_refused_and_moves_nothing(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;
        let alice = entra.post("/Users", &user("alice@acme.example", "Acme")).await.expect(201);
        let alice = alice["id"].as_str().unwrap().to_owned();
        // globex has its own alice@acme.example: logins are unique per sub-tenant.
        entra.post("/Users", &user("alice@acme.example", "Globex")).await.expect(201);
        let before = backend.event_count().await;

        let moving = patch(json!([{"op": "replace", "path": format!("{ENTERPRISE}:organization"), "value": "Globex"}]));
        let refused = entra.patch(&format!("/Users/{alice}"), &moving).await.expect_error(409, Some("uniqueness"));
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains("'globex'") && detail.contains("alice@acme.example") && detail.contains("nothing was moved"), "{detail}");
        assert_eq!(backend.event_count().await, before, "nothing was appended");
        let read = entra.get(&format!("/Users/{alice}")).await.expect(200);
        assert_eq!(read[ENTERPRISE]["organization"], "Acme");
        assert_eq!(entra.get("/Users").await.expect(200)["totalResults"], 2);
    }

    async fn a_move_stopped_between_its_commits_is_finished_by_the_next_write(backend: Backend) {
        let server = Server::start(&backend).await;
        let entra = super_tenant(&server).await;
        let alice = entra.post("/Users", &user("alice@acme.example", "Acme")).await.expect(201);
        let id: ResourceId = alice["id"].as_str().unwrap().parse().unwrap();
        let acme = access_token(&server, "acme").await;

        // Only the first half of a move: alice moved into globex, still in acme.
        let store = backend.open_store().await;
        let log = store.read_log(0, u32::MAX).await.unwrap();
        let provisioned = log.iter().find(|e| e.payload.event_type == "user.provisioned" && e.stream == id).unwrap();
        let UserEvent::Provisioned { owner, .. } = provisioned.decode().unwrap() else { unreachable!() };
        let Some(connection) = provisioned.metadata["connection_id"].as_str() else { panic!("a connection provisioned alice") };
        let (acme_slug, globex_slug) = (TenantSlug::parse("acme").unwrap(), TenantSlug::parse("globex").unwrap());
        let resource = Document::parse(&user("alice@acme.example", "Globex"), &USER_RESOURCE).unwrap();
        let move_in = UserCommand::MoveIn { resource, owner, from: acme_slug };
        let metadata = EventMetadata::by(Actor::Connection(connection.parse().unwrap()));
        commands::run::<User>(&*store, &globex_slug, id, move_in, &Principal::Operator, metadata, Expect::Recorded).await.unwrap();

        // Reads through the parent show her once, as globex holds her.
        let all = entra.get("/Users").await.expect(200);
        assert_eq!(all["Resources"].as_array().unwrap().len(), 1, "{all}");
        assert_eq!(all["Resources"][0][ENTERPRISE]["organization"], "Globex");
        let found = entra.filter("/Users", "userName eq \"alice@acme.example\"", "").await.expect(200);
        assert_eq!(found["Resources"].as_array().unwrap().len(), 1, "{found}");
        assert_eq!(entra.get(&format!("/Users/{id}")).await.expect(200)[ENTERPRISE]["organization"], "Globex");
        assert_eq!(look_up(&server, "acme", &acme, "alice@acme.example").await.0, 200, "acme still holds her");

        // The next write through the parent ends her stay in acme, then is made in globex.
        let titled = patch(json!([{"op": "replace", "path": "title", "value": "Engineer"}]));
        assert_eq!(entra.patch(&format!("/Users/{id}"), &titled).await.expect(200)["title"], "Engineer");
        let log = store.read_log(0, u32::MAX).await.unwrap();
        let after: Vec<(String, String)> =
            log.iter().filter(|e| e.stream == id).map(|e| (e.tenant.to_string(), e.payload.event_type.clone())).collect();
        assert_eq!(
            after,
            [
                ("acme".into(), "user.provisioned".into()),
                ("globex".into(), "user.moved_in".into()),
                ("acme".into(), "user.moved_out".into()),
                ("globex".into(), "user.profile_updated".into()),
            ]
        );
        assert_eq!(look_up(&server, "acme", &acme, "alice@acme.example").await.0, 404);
        assert_eq!(entra.get("/Users").await.expect(200)["totalResults"], 1);
    }
}
