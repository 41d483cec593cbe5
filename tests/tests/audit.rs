//! The audit end to end (docs/audit.md): every event's provenance, `audit log` and its filters,
//! `audit history` with what each event changed, `audit as-of`, and `audit export`, through the
//! CLI and the admin API alike.

use std::collections::HashMap;

use domain::{Owner, TenantSlug};
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::{json, Value};
use store::{Actor, EventMetadata};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A connection of `tenant` with the settings flags given: its id and a client.
async fn connection(server: &Server, tenant: &str, name: &str, settings: &[&str]) -> (String, Scim) {
    let (issued, scim) = server.issue_connection(tenant, name, settings).await;
    (issued["connection_id"].as_str().unwrap().to_owned(), scim)
}

/// The admin API, as an operator of its own.
struct AdminApi {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminApi {
    async fn new(server: &Server, name: &str) -> Self {
        let issued = server.cli_json(&["operator", "create", "--name", name]).await;
        Self {
            http: reqwest::Client::new(),
            base: format!("{}/admin/v1", server.base),
            token: issued["token"].as_str().unwrap().to_owned(),
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Every event of acme's log, read `limit` at a time, each page from where the last ended.
    async fn pages(&self, limit: u32) -> Vec<Value> {
        let (mut events, mut after) = (Vec::new(), 0);
        loop {
            let page = self.ok(&format!("/tenants/acme/audit/log?limit={limit}&after={after}")).await;
            events.extend(page["events"].as_array().unwrap().iter().cloned());
            match page["next"].as_i64() {
                Some(next) => after = next,
                None => return events,
            }
        }
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// An event's RFC 3339 `time` as the instant it names.
fn instant(time: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(time.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
}

/// POSTs a user with extra request headers; the status.
async fn create_user(scim: &Scim, user_name: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("{}/Users", scim.base))
        .bearer_auth(scim.token.as_deref().unwrap())
        .header(CONTENT_TYPE, "application/scim+json")
        .body(json!({"userName": user_name}).to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// The positions `audit log acme <args>` lists.
async fn logged(server: &Server, args: &[&str]) -> Vec<i64> {
    let mut full = vec!["audit", "log", "acme"];
    full.extend_from_slice(args);
    let page = server.cli_json(&full).await;
    page["events"].as_array().unwrap().iter().map(|e| e["position"].as_i64().unwrap()).collect()
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// An event's type and its changes: attribute → (from, to).
type Entry = (String, HashMap<String, (Value, Value)>);

/// Each event's type and changes of a history.
fn changes(history: &Value) -> Vec<Entry> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let changes = entry["changes"].as_array().unwrap().iter();
            let changes = changes.map(|c| (c["attribute"].as_str().unwrap().to_owned(), (c["from"].clone(), c["to"].clone()))).collect();
            (entry["type"].as_str().unwrap().to_owned(), changes)
        })
        .collect()
}

/// The change of `attribute` in the `i`th entry.
#[track_caller]
fn change(history: &[Entry], i: usize, event_type: &str, attribute: &str) -> (Value, Value) {
    assert_eq!(history[i].0, event_type, "event {i}");
    history[i].1.get(attribute).cloned().unwrap_or_else(|| panic!("{event_type} changed no {attribute}: {:?}", history[i].1))
}

/// A user and a group created by hand, as an operator at the command line would be recorded.
async fn manual(backend: &scimledger_e2e::Backend, user_name: &str, group_name: &str) -> (String, String) {
    let store = backend.open_store().await;
    let tenant = TenantSlug::parse("acme").unwrap();
    let cli = EventMetadata::by(Actor::Operator("cli".into()));
    let user = scim::document::Document::parse(&json!({"userName": user_name}), &scim::schema::USER_RESOURCE).unwrap();
    let provision = domain::user::UserCommand::Provision { resource: user, owner: Owner::Operator };
    let user = store::commands::create::<domain::user::User>(&*store, &tenant, provision, cli.clone()).await.unwrap().id;
    let group = scim::document::Document::parse(&json!({"displayName": group_name}), &scim::schema::GROUP_RESOURCE).unwrap();
    let create = domain::group::GroupCommand::Create { resource: group, owner: Owner::Operator };
    let group = store::commands::create::<domain::group::Group>(&*store, &tenant, create, cli).await.unwrap().id;
    (user.to_string(), group.to_string())
}

on_both_backends! {
    async fn history_shows_what_every_user_and_group_event_changed(backend: Backend) {
        let server = Server::start(&backend).await;
        server.cli(&["tenant", "create", "acme"]).await;
        let (okta_id, okta) = connection(&server, "acme", "okta", &["--claim-manual"]).await;
        let api = AdminApi::new(&server, "auditor").await;

        let created = okta.post("/Users", &json!({"userName": "bjensen", "active": true, "name": {"givenName": "Barbara"}, "emails": [{"value": "b@x.com"}]})).await.expect(201);
        let id = created["id"].as_str().unwrap().to_owned();
        let user = format!("/Users/{id}");
        okta.put(&user, &json!({"userName": "barbara", "active": true, "name": {"givenName": "Babs"}, "emails": [{"value": "b@x.com"}, {"value": "c@x.com"}]})).await.expect(200);
        okta.patch(&user, &patch(json!([{"op": "replace", "path": "active", "value": false}]))).await.expect(200);
        okta.patch(&user, &patch(json!([{"op": "replace", "path": "active", "value": true}]))).await.expect(200);
        // Without `active`: the attribute goes, and the user still counts as active.
        okta.put(&user, &json!({"userName": "barbara", "name": {"givenName": "Babs"}, "emails": [{"value": "b@x.com"}, {"value": "c@x.com"}]})).await.expect(200);
        okta.delete(&user).await.expect(204);

        let history = server.cli_json(&["audit", "history", "acme", &id]).await;
        assert_eq!(history, api.ok(&format!("/tenants/acme/audit/history/{id}")).await, "the CLI and the API give one answer");
        let h = changes(&history);
        let types: Vec<&str> = h.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, ["user.provisioned", "user.renamed", "user.profile_updated", "user.deactivated", "user.reactivated", "user.active_attribute_changed", "user.deleted"]);
        assert_eq!(change(&h, 0, "user.provisioned", "userName"), (Value::Null, json!("bjensen")));
        assert_eq!(change(&h, 0, "user.provisioned", "name.givenName"), (Value::Null, json!("Barbara")));
        assert_eq!(change(&h, 0, "user.provisioned", "meta.owner"), (Value::Null, json!(okta_id)));
        assert_eq!(change(&h, 1, "user.renamed", "userName"), (json!("bjensen"), json!("barbara")));
        assert_eq!(h[1].1.len(), 1, "a rename changes the userName only: {:?}", h[1].1);
        assert_eq!(change(&h, 2, "user.profile_updated", "name.givenName"), (json!("Barbara"), json!("Babs")));
        assert_eq!(change(&h, 2, "user.profile_updated", "emails"), (json!([]), json!([{"value": "c@x.com"}])), "a multi-valued attribute: what went, what came");
        assert_eq!(change(&h, 3, "user.deactivated", "active"), (json!(true), json!(false)));
        assert_eq!(change(&h, 4, "user.reactivated", "active"), (json!(false), json!(true)));
        assert_eq!(change(&h, 5, "user.active_attribute_changed", "active"), (json!(true), Value::Null));
        assert_eq!(change(&h, 6, "user.deleted", "userName"), (json!("barbara"), Value::Null));
        // Each entry is an event with its provenance.
        let first = &history[0];
        assert_eq!((first["actor"].as_str(), first["resource_version"].as_i64()), (Some(format!("connection:{okta_id}").as_str()), Some(1)));
        assert!(first["request_id"].is_string() && first["position"].is_i64(), "{first}");

        // A login names the user it was, also once the user is gone.
        assert_eq!(server.cli_json(&["audit", "history", "acme", "BJensen"]).await, history);

        // Groups: every event type, and a user claimed from an operator.
        let member = okta.post("/Users", &json!({"userName": "member"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let other = okta.post("/Users", &json!({"userName": "other"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let (manual_user, manual_group) = manual(&backend, "manual", "Manual").await;
        okta.put(&format!("/Users/{manual_user}"), &json!({"userName": "manual", "title": "claimed"})).await.expect(200);
        let claimed = changes(&server.cli_json(&["audit", "history", "acme", &manual_user]).await);
        assert_eq!(change(&claimed, 0, "user.provisioned", "meta.owner"), (Value::Null, json!("operator")));
        assert_eq!(change(&claimed, 1, "user.claimed", "meta.owner"), (json!("operator"), json!(okta_id)));
        assert_eq!(change(&claimed, 2, "user.profile_updated", "title"), (Value::Null, json!("claimed")));

        let group = okta.post("/Groups", &json!({"displayName": "Staff", "members": [{"value": member}]})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let path = format!("/Groups/{group}");
        okta.patch(&path, &patch(json!([{"op": "replace", "path": "displayName", "value": "Team"}]))).await.expect(204);
        okta.patch(&path, &patch(json!([{"op": "add", "path": "members", "value": [{"value": other}]}]))).await.expect(204);
        okta.patch(&path, &patch(json!([{"op": "remove", "path": format!("members[value eq \"{member}\"]")}]))).await.expect(204);
        okta.patch(&path, &patch(json!([{"op": "add", "path": "externalId", "value": "ext-1"}]))).await.expect(204);
        okta.delete(&path).await.expect(204);
        let history = api.ok(&format!("/tenants/acme/audit/history/{group}")).await;
        let h = changes(&history);
        let types: Vec<&str> = h.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, ["group.created", "group.renamed", "group.members_added", "group.members_removed", "group.profile_updated", "group.deleted"]);
        assert_eq!(change(&h, 0, "group.created", "displayName"), (Value::Null, json!("Staff")));
        assert_eq!(change(&h, 0, "group.created", "members").1[0]["value"], json!(member));
        assert_eq!(change(&h, 1, "group.renamed", "displayName"), (json!("Staff"), json!("Team")));
        let (gone, came) = change(&h, 2, "group.members_added", "members");
        assert_eq!((gone, came[0]["value"].clone(), came.as_array().unwrap().len()), (json!([]), json!(other), 1), "only the member that came");
        let (gone, came) = change(&h, 3, "group.members_removed", "members");
        assert_eq!((gone[0]["value"].clone(), came), (json!(member), json!([])));
        assert_eq!(change(&h, 4, "group.profile_updated", "externalId"), (Value::Null, json!("ext-1")));
        assert_eq!(change(&h, 5, "group.deleted", "displayName"), (json!("Team"), Value::Null));

        okta.patch(&format!("/Groups/{manual_group}"), &patch(json!([{"op": "add", "path": "externalId", "value": "mine"}]))).await.expect(204);
        let claimed = changes(&server.cli_json(&["audit", "history", "acme", &manual_group]).await);
        assert_eq!(change(&claimed, 1, "group.claimed", "meta.owner"), (json!("operator"), json!(okta_id)));

        // Unknown resources are 404 with a code, and change nothing.
        let (status, body) = api.get("/tenants/acme/audit/history/nobody").await;
        assert_eq!((status, body["code"].as_str()), (404, Some("unknown_resource")), "{body}");
        let (status, body) = api.get("/tenants/nope/audit/history/nobody").await;
        assert_eq!((status, body["code"].as_str()), (404, Some("unknown_tenant")), "{body}");
        assert!(server.cli_fails(&["audit", "history", "acme", "nobody"]).await.contains("no user, group or connection"));
        // The OpenAPI document describes the audit's routes.
        let spec: Value = reqwest::get(format!("{}/openapi.json", api.base)).await.unwrap().json().await.unwrap();
        for path in ["log", "history/{resource}", "as-of/{resource}", "export", "seal", "verify"] {
            assert!(spec["paths"][format!("/admin/v1/tenants/{{tenant}}/audit/{path}")].is_object(), "{path} is in the OpenAPI document");
        }
    }

    async fn as_of_gives_the_resource_as_it_was_and_404_before_creation_and_after_deletion(backend: Backend) {
        let server = Server::start(&backend).await;
        let okta = server.tenant("acme").await;
        let api = AdminApi::new(&server, "auditor").await;
        let id = okta.post("/Users", &json!({"userName": "ada", "title": "one"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let user = format!("/Users/{id}");
        let mut seen = vec![okta.get(&user).await.expect(200)];
        for title in ["two", "three"] {
            okta.put(&user, &json!({"userName": "ada", "title": title})).await.expect(200);
            seen.push(okta.get(&user).await.expect(200));
        }
        okta.delete(&user).await.expect(204);
        let events = server.cli_json(&["audit", "log", "acme", "--resource", &id]).await["events"].as_array().unwrap().clone();
        assert_eq!(events.len(), 4);

        for (event, then) in events.iter().zip(&seen) {
            let position = event["position"].as_i64().unwrap().to_string();
            let time = event["time"].as_str().unwrap();
            let by_position = server.cli_json(&["audit", "as-of", "acme", &id, "--position", &position]).await;
            let by_time = api.ok(&format!("/tenants/acme/audit/as-of/{id}?at={}", time.replace('+', "%2B"))).await;
            // As the SCIM API showed it then.
            assert_eq!(&by_position, then, "at position {position}");
            assert_eq!(&by_time, then, "at {time}");
        }
        // Just before the third event: the second's state; by login too.
        let third = events[2]["position"].as_i64().unwrap();
        let between = server.cli_json(&["audit", "as-of", "acme", "ada", "--position", &(third - 1).to_string()]).await;
        assert_eq!(between["title"], "two");

        // Before creation, and after deletion: not found, saying so.
        let before = events[0]["position"].as_i64().unwrap() - 1;
        let (status, body) = api.get(&format!("/tenants/acme/audit/as-of/{id}?position={before}")).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("unknown_resource")), "{body}");
        assert!(body["detail"].as_str().unwrap().contains("did not exist"), "{body}");
        let (status, _) = api.get(&format!("/tenants/acme/audit/as-of/{id}?at=2000-01-01T00:00:00Z")).await;
        assert_eq!(status, 404);
        let deleted = events[3]["position"].as_i64().unwrap().to_string();
        assert!(server.cli_fails(&["audit", "as-of", "acme", &id, "--position", &deleted]).await.contains("did not exist"));
        // Neither or both instants, or a time that is none: 400.
        for query in ["", "?at=yesterday", &format!("?at=2000-01-01T00:00:00Z&position={deleted}")] {
            let (status, body) = api.get(&format!("/tenants/acme/audit/as-of/{id}{query}")).await;
            assert_eq!((status, body["code"].as_str()), (400, Some("invalid_value")), "{query}: {body}");
        }
    }

    async fn as_of_names_the_groups_the_user_was_in_then_by_their_names_then(backend: Backend) {
        let server = Server::start(&backend).await;
        let okta = server.tenant("acme").await;
        let api = AdminApi::new(&server, "auditor").await;
        let id = okta.post("/Users", &json!({"userName": "ada"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let user = format!("/Users/{id}");
        let ada = json!([{"value": id}]);
        let group = |name: &str, members: &Value| json!({"displayName": name, "members": members});
        // After each change: the log's last event, and the user as the SCIM API shows it.
        let mut seen = Vec::new();
        let record = async |seen: &mut Vec<(Value, Value)>| {
            let log = server.cli_json(&["audit", "log", "acme", "--limit", "1000"]).await;
            seen.push((log["events"].as_array().unwrap().last().unwrap().clone(), okta.get(&user).await.expect(200)));
        };
        record(&mut seen).await;
        let eng = okta.post("/Groups", &group("eng", &ada)).await.expect(201)["id"].as_str().unwrap().to_owned();
        record(&mut seen).await;
        let ops = okta.post("/Groups", &group("ops", &json!([]))).await.expect(201)["id"].as_str().unwrap().to_owned();
        okta.patch(&format!("/Groups/{ops}"), &patch(json!([{"op": "add", "path": "members", "value": ada}]))).await.expect(204);
        record(&mut seen).await;
        okta.patch(&format!("/Groups/{eng}"), &patch(json!([{"op": "replace", "path": "displayName", "value": "engineering"}])))
            .await
            .expect(204);
        record(&mut seen).await;
        okta.patch(&format!("/Groups/{ops}"), &patch(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}])))
            .await
            .expect(204);
        record(&mut seen).await;
        okta.post("/Groups", &group("all", &ada)).await.expect(201);
        okta.delete(&format!("/Groups/{eng}")).await.expect(204);
        record(&mut seen).await;
        let names = |then: &Value| -> Vec<String> {
            then["groups"].as_array().map_or(Vec::new(), |g| g.iter().map(|g| g["display"].as_str().unwrap().to_owned()).collect())
        };
        let shown: Vec<Vec<String>> = seen.iter().map(|(_, then)| names(then)).collect();
        assert_eq!(shown, [vec![], vec!["eng"], vec!["eng", "ops"], vec!["engineering", "ops"], vec!["engineering"], vec!["all"]]);

        for (event, then) in &seen {
            let position = event["position"].as_i64().unwrap().to_string();
            let time = event["time"].as_str().unwrap();
            let by_position = server.cli_json(&["audit", "as-of", "acme", &id, "--position", &position]).await;
            let by_time = api.ok(&format!("/tenants/acme/audit/as-of/{id}?at={}", time.replace('+', "%2B"))).await;
            // As the SCIM API showed it then, groups and all.
            assert_eq!(&by_position, then, "at position {position}");
            assert_eq!(&by_time, then, "at {time}");
        }
    }

    async fn the_log_filters_by_resource_login_type_actor_and_time_and_pages_by_position(backend: Backend) {
        let server = Server::start(&backend).await;
        server.cli(&["tenant", "create", "acme"]).await;
        let (okta_id, okta) = connection(&server, "acme", "okta", &[]).await;
        let (entra_id, entra) = connection(&server, "acme", "entra", &[]).await;
        let api = AdminApi::new(&server, "auditor").await;
        let ada = okta.post("/Users", &json!({"userName": "ada"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        okta.put(&format!("/Users/{ada}"), &json!({"userName": "ada.lovelace"})).await.expect(200);
        let bob = entra.post("/Users", &json!({"userName": "bob"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        entra.put(&format!("/Users/{bob}"), &json!({"userName": "bob", "title": "x"})).await.expect(200);
        server.cli(&["connection", "update", "acme", "okta", "--read-scope", "all"]).await;
        // Another tenant's events never show.
        server.tenant("other").await.post("/Users", &json!({"userName": "ada"})).await.expect(201);

        let all = server.cli_json(&["audit", "log", "acme"]).await;
        let all = all["events"].as_array().unwrap().clone();
        let positions = |pred: &dyn Fn(&Value) -> bool| all.iter().filter(|e| pred(e)).map(|e| e["position"].as_i64().unwrap()).collect::<Vec<i64>>();
        assert!(all.iter().all(|e| e["resource_kind"] != "user" || [&ada, &bob].contains(&&e["resource_id"].as_str().unwrap().to_owned())));

        assert_eq!(logged(&server, &["--resource", &ada]).await, positions(&|e| e["resource_id"] == ada.as_str()));
        assert_eq!(logged(&server, &["--login", "ADA"]).await, positions(&|e| e["resource_id"] == ada.as_str()), "the login it had, case-folded");
        assert_eq!(logged(&server, &["--login", "ada.lovelace"]).await, positions(&|e| e["resource_id"] == ada.as_str()), "and the login it has");
        assert_eq!(logged(&server, &["--type", "user.renamed"]).await.len(), 1);
        assert_eq!(logged(&server, &["--type", "user.renamed"]).await, positions(&|e| e["type"] == "user.renamed"));
        let by_okta = positions(&|e| e["actor"] == format!("connection:{okta_id}").as_str());
        assert_eq!((by_okta.len(), logged(&server, &["--actor", "okta"]).await), (2, by_okta.clone()));
        assert_eq!(logged(&server, &["--actor", &format!("connection:{okta_id}")]).await, by_okta);
        assert_eq!(logged(&server, &["--actor", &entra_id]).await, positions(&|e| e["actor"] == format!("connection:{entra_id}").as_str()));
        let by_cli = positions(&|e| e["actor"] == "operator:cli");
        assert!(!by_cli.is_empty());
        assert_eq!(logged(&server, &["--actor", "cli"]).await, by_cli);
        assert_eq!(logged(&server, &["--actor", "operator:cli", "--type", "connection.settings_changed"]).await.len(), 1);

        // Time: since is inclusive, until exclusive.
        let (third, fifth) = (all[2]["time"].as_str().unwrap(), all[4]["time"].as_str().unwrap());
        let between = logged(&server, &["--since", third, "--until", fifth]).await;
        assert_eq!(between, positions(&|e| instant(&e["time"]) >= instant(&all[2]["time"]) && instant(&e["time"]) < instant(&all[4]["time"])));
        assert!(!between.is_empty());

        // Pages: `next` chains them, and together they are the whole log.
        let paged: Vec<i64> = api.pages(2).await.iter().map(|e| e["position"].as_i64().unwrap()).collect();
        assert_eq!(paged, positions(&|_| true));
        let api_filtered = api.ok(&format!("/tenants/acme/audit/log?type=user.provisioned&actor={entra_id}")).await;
        assert_eq!(api_filtered["events"].as_array().unwrap().len(), 1);

        for bad in ["?limit=0", "?limit=1001", "?since=now", "?resource=not-an-id", "?nonsense=1", &format!("?resource={ada}&login=ada")] {
            let (status, body) = api.get(&format!("/tenants/acme/audit/log{bad}")).await;
            assert_eq!((status, body["code"].as_str()), (400, Some("invalid_value")), "{bad}: {body}");
        }
        // A login nobody had: no events, not an error.
        assert_eq!(logged(&server, &["--login", "nobody"]).await, Vec::<i64>::new());
    }

    async fn every_event_records_its_request_trace_source_and_user_agent(backend: Backend) {
        let server = Server::start(&backend).await;
        let okta = server.tenant("acme").await;
        let api = AdminApi::new(&server, "auditor").await;
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
        let headers = [("traceparent", traceparent.as_str()), ("x-request-id", "req-42"), ("user-agent", "Okta SCIM Client 1.0.0")];
        assert_eq!(create_user(&okta, "traced", &headers).await, 201);
        let page = api.ok("/tenants/acme/audit/log?type=user.provisioned").await;
        let event = &page["events"][0];
        assert_eq!(event["trace_id"], trace_id, "{event}");
        assert_eq!(event["request_id"], "req-42");
        assert_eq!(event["source"], "127.0.0.1");
        assert_eq!(event["user_agent"], "Okta SCIM Client 1.0.0");

        // An admin API change records its operator and request the same way; one without a
        // trace records none.
        let http = reqwest::Client::new();
        let response = http
            .patch(format!("{}/tenants/acme/connections/okta", api.base))
            .bearer_auth(&api.token)
            .header(USER_AGENT, "console/2")
            .json(&json!({"claim_manual": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let page = api.ok("/tenants/acme/audit/log?type=connection.settings_changed").await;
        let event = &page["events"][0];
        assert_eq!((event["actor"].as_str(), event["user_agent"].as_str(), event["source"].as_str()), (Some("operator:auditor"), Some("console/2"), Some("127.0.0.1")));
        assert!(event["request_id"].is_string() && event["trace_id"].is_null(), "{event}");
        // A very long User-Agent is kept cut short.
        let long = "x".repeat(5000);
        assert_eq!(create_user(&okta, "long", &[("user-agent", &long)]).await, 201);
        let page = api.ok("/tenants/acme/audit/log?login=long").await;
        assert_eq!(page["events"][0]["user_agent"].as_str().unwrap().len(), store::MAX_USER_AGENT);
    }

    async fn export_streams_the_whole_log_as_json_lines(backend: Backend) {
        let server = Server::start(&backend).await;
        let okta = server.tenant("acme").await;
        let api = AdminApi::new(&server, "auditor").await;
        // More than one page of the export.
        for chunk in (0..1100).collect::<Vec<_>>().chunks(550) {
            let operations: Vec<Value> = chunk.iter().map(|n| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{n}"), "data": {"userName": format!("user{n}")}})).collect();
            okta.post("/Bulk", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations})).await.expect(200);
        }

        let exported = server.cli(&["audit", "export", "acme"]).await;
        let lines: Vec<Value> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let logged = api.pages(1000).await;
        assert_eq!(lines.len(), 1100 + 2, "the tenant, its connection and every user");
        assert_eq!(lines, logged);

        let response = reqwest::Client::new().get(format!("{}/tenants/acme/audit/export", api.base)).bearer_auth(&api.token).send().await.unwrap();
        assert_eq!(response.headers()[CONTENT_TYPE], "application/jsonl");
        assert_eq!(response.text().await.unwrap(), exported, "the API streams the same lines");

        let since = lines[500]["time"].as_str().unwrap();
        let later = server.cli(&["audit", "export", "acme", "--since", since]).await;
        assert_eq!(later.lines().count(), lines.iter().filter(|l| instant(&l["time"]) >= instant(&lines[500]["time"])).count());
        let (status, body) = api.get("/tenants/acme/audit/export?since=soon").await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_value")));
    }
}
