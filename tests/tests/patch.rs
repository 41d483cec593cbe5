//! PATCH end to end: atomic (one failing operation writes nothing: the log and the resource
//! stay as they were), 200 with the resource as `attributes` / `excludedAttributes` select
//! (a group's PATCH 204 unless they are given),
//! optional `active`, primary clearing, mutability and required attributes.

use scimledger_e2e::{on_both_backends, Server};
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

on_both_backends! {
    async fn a_failing_operation_fails_the_whole_request_and_writes_nothing(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let user = scim.post("/Users", &json!({"userName": "bjensen", "title": "Guide", "active": true,
            "emails": [{"value": "b@example.com", "type": "work", "primary": true}]})).await.expect(201);
        let id = user["id"].as_str().unwrap().to_owned();
        scim.post("/Users", &json!({"userName": "taken"})).await.expect(201);
        let group = scim.post("/Groups", &json!({"displayName": "G", "members": [{"value": id}]})).await.expect(201);
        let gid = group["id"].as_str().unwrap().to_owned();
        let user = scim.get(&format!("/Users/{id}")).await.expect(200);
        let events = backend.event_count().await;

        let good = || json!([{"op": "replace", "path": "title", "value": "Lead"}, {"op": "remove", "path": "active"},
                             {"op": "add", "path": "emails", "value": [{"value": "h@example.com", "type": "home"}]}]);
        let with_last = |last: Value| {
            let mut ops = good();
            ops.as_array_mut().unwrap().push(last);
            patch(ops)
        };
        let failures = [
            (with_last(json!({"op": "replace", "path": "id", "value": "mine"})), 400, "mutability"),
            (with_last(json!({"op": "remove", "path": "userName"})), 400, "invalidValue"),
            (with_last(json!({"op": "replace", "path": "shoeSize", "value": "9"})), 400, "invalidPath"),
            (with_last(json!({"op": "replace", "path": "emails[value co \"nowhere\"].type", "value": "x"})), 400, "noTarget"),
            (with_last(json!({"op": "replace", "path": "active", "value": "perhaps"})), 400, "invalidValue"),
            (with_last(json!({"op": "replace", "path": "userName", "value": "TAKEN"})), 409, "uniqueness"),
        ];
        for (body, status, scim_type) in failures {
            scim.patch(&format!("/Users/{id}"), &body).await.expect_error(status, Some(scim_type));
        }
        let members = patch(json!([{"op": "add", "path": "displayName", "value": "H"},
                                   {"op": "replace", "path": format!("members[value eq \"{id}\"].value"), "value": "other"}]));
        scim.patch(&format!("/Groups/{gid}"), &members).await.expect_error(400, Some("mutability"));
        scim.patch(&format!("/Groups/{gid}"), &patch(json!([{"op": "remove", "path": "displayName"}]))).await.expect_error(400, Some("invalidValue"));

        assert_eq!(backend.event_count().await, events, "no refused PATCH reached the log");
        let unchanged = scim.get(&format!("/Users/{id}")).await.expect(200);
        assert_eq!(unchanged, user, "the user is as it was");
        assert_eq!(scim.get(&format!("/Groups/{gid}")).await.expect(200)["displayName"], "G");

        // The same operations without the bad one apply together.
        let patched = scim.patch(&format!("/Users/{id}"), &patch(good())).await.expect(200);
        assert_eq!(patched["title"], "Lead");
        assert!(patched.get("active").is_none(), "a removed active stays removed: {patched}");
        assert_eq!(patched["emails"].as_array().unwrap().len(), 2);
        assert_eq!(scim.get(&format!("/Users/{id}")).await.expect(200), patched);
    }

    async fn patch_answers_with_the_selected_attributes(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let id = scim.post("/Users", &json!({"userName": "bjensen", "title": "Guide", "nickName": "Babs"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let body = patch(json!([{"op": "replace", "path": "title", "value": "Lead"}]));
        let only = scim.patch(&format!("/Users/{id}?attributes=title"), &body).await.expect(200);
        assert_eq!(only["title"], "Lead");
        assert_eq!(only["id"], id.as_str(), "id is always returned");
        assert!(only.get("nickName").is_none() && only.get("userName").is_none(), "{only}");
        let body = patch(json!([{"op": "replace", "path": "nickName", "value": "B"}]));
        let without = scim.patch(&format!("/Users/{id}?excludedAttributes=nickName,title"), &body).await.expect(200);
        assert!(without.get("nickName").is_none() && without.get("title").is_none(), "{without}");
        assert_eq!(without["userName"], "bjensen");
        assert_eq!(scim.get(&format!("/Users/{id}")).await.expect(200)["nickName"], "B");
    }

    async fn active_absent_counts_as_active_and_filters_see_it_as_stored(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let id = scim.post("/Users", &json!({"userName": "noactive"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let user = scim.get(&format!("/Users/{id}")).await.expect(200);
        assert!(user.get("active").is_none(), "an absent active is not rendered as true: {user}");
        let total = |filter: &'static str| {
            let scim = scim.clone();
            async move { scim.filter("/Users", filter, "").await.expect(200)["totalResults"].clone() }
        };
        assert_eq!(total("active eq true").await, json!(0));
        assert_eq!(total("active ne false").await, json!(1));
        assert_eq!(total("not (active pr)").await, json!(1));

        // Deactivate, then remove active: the user is reactivated, and active is gone.
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "value": {"active": false}}]))).await.expect(200);
        let user = scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "remove", "path": "active"}]))).await.expect(200);
        assert!(user.get("active").is_none(), "{user}");
        let log = backend.scim_events().await;
        let types: Vec<&str> = log.iter().map(|e| e.payload.event_type.as_str()).collect();
        assert_eq!(types, ["user.provisioned", "user.deactivated", "user.reactivated", "user.active_attribute_changed"]);
        assert_eq!(log[0].payload.data["active"], Value::Null);
        assert_eq!(log[3].payload.data["active"], Value::Null);
    }

    async fn a_new_primary_clears_the_old_one(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let id = scim.post("/Users", &json!({"userName": "bjensen", "emails": [
            {"value": "w@example.com", "type": "work", "primary": true}, {"value": "h@example.com", "type": "home"}]})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let user = scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]))).await.expect(200);
        assert_eq!(user["emails"], json!([{"value": "w@example.com", "type": "work", "primary": false}, {"value": "h@example.com", "type": "home", "primary": true}]));
        let user = scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "add", "path": "emails", "value": [{"value": "o@example.com", "type": "other", "primary": true}]}]))).await.expect(200);
        let primaries: Vec<&str> = user["emails"].as_array().unwrap().iter().filter(|e| e["primary"] == json!(true)).map(|e| e["value"].as_str().unwrap()).collect();
        assert_eq!(primaries, ["o@example.com"]);
    }

    async fn group_patch_answers_204_unless_the_request_or_the_settings_ask_for_the_resource(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let uid = scim.post("/Users", &json!({"userName": "u"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let gid = scim.post("/Groups", &json!({"displayName": "G"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]));
        let answer = scim.patch(&format!("/Groups/{gid}"), &add).await;
        assert_eq!(answer.headers["etag"], "W/\"2\"");
        assert_eq!(answer.expect(204), Value::Null);
        let rename = patch(json!([{"op": "replace", "path": "displayName", "value": "H"}]));
        let shown = scim.patch(&format!("/Groups/{gid}?attributes=displayName"), &rename).await.expect(200);
        assert_eq!((shown["displayName"].as_str(), shown.get("members")), (Some("H"), None));
        // A user PATCH still answers with the resource.
        scim.patch(&format!("/Users/{uid}"), &patch(json!([{"op": "replace", "path": "title", "value": "t"}]))).await.expect(200);

        drop(server);
        let strict = Server::start_with(&backend, vec![("SCIMLEDGER_GROUP_PATCH_RESPONSE", "resource".into())]).await;
        let scim = strict.tenant("beta").await;
        let gid = scim.post("/Groups", &json!({"displayName": "G"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let shown = scim.patch(&format!("/Groups/{gid}"), &rename).await.expect(200);
        assert_eq!(shown["displayName"], "H");
    }
}
