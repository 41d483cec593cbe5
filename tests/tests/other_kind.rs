//! An id names a user or a group, never both (issue 15, item 1): a user's id on /Groups, or a
//! group's id on /Users, is a resource that is not there, on every method and inside /Bulk,
//! and appends nothing. (It used to read the other kind's events, fail to decode them and
//! answer 503.)

use reqwest::Method;
use scimledger_e2e::{on_both_backends, Server};
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn patch() -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]})
}

on_both_backends! {
    async fn an_id_of_the_other_kind_is_404_on_every_method_and_appends_nothing(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let user = scim.post("/Users", &json!({"userName": "alice"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let group = scim.post("/Groups", &json!({"displayName": "Eng"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let before = backend.event_count().await;

        let requests = [
            (Method::PUT, format!("/Users/{group}"), Some(json!({"userName": "x"}))),
            (Method::PATCH, format!("/Users/{group}"), Some(patch())),
            (Method::DELETE, format!("/Users/{group}"), None),
            (Method::GET, format!("/Users/{group}"), None),
            (Method::PUT, format!("/Groups/{user}"), Some(json!({"displayName": "x"}))),
            (Method::PATCH, format!("/Groups/{user}"), Some(patch())),
            (Method::DELETE, format!("/Groups/{user}"), None),
            (Method::GET, format!("/Groups/{user}"), None),
        ];
        for (method, path, body) in requests {
            let reply = scim.send(method.clone(), &path, body.as_ref()).await;
            let error = reply.expect_error(404, None);
            let id = path.rsplit('/').next().unwrap();
            assert!(error["detail"].as_str().unwrap().contains(id), "{method} {path}: {error}");
        }
        // With If-Match too: the version check must not come first.
        let reply = scim.send_with_header(Method::PUT, &format!("/Groups/{user}"), &json!({"displayName": "x"}), "If-Match", "W/\"1\"").await;
        reply.expect_error(404, None);

        assert_eq!(backend.event_count().await, before, "nothing was appended");
        assert_eq!(scim.get(&format!("/Users/{user}")).await.expect(200)["userName"], "alice");
        assert_eq!(scim.get(&format!("/Groups/{group}")).await.expect(200)["displayName"], "Eng");
    }

    async fn a_bulk_id_of_the_other_kind_is_404_and_appends_nothing(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let before = backend.event_count().await;

        let response = scim.post("/Bulk", &json!({"schemas": [BULK_REQUEST], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "alice"}},
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "Eng"}},
            {"method": "PUT", "path": "/Groups/bulkId:u", "data": {"displayName": "x"}},
            {"method": "PATCH", "path": "/Groups/bulkId:u", "data": patch()},
            {"method": "DELETE", "path": "/Groups/bulkId:u"},
            {"method": "PUT", "path": "/Users/bulkId:g", "data": {"userName": "x"}},
            {"method": "PATCH", "path": "/Users/bulkId:g", "data": patch()},
            {"method": "DELETE", "path": "/Users/bulkId:g"},
        ]})).await.expect(200);

        let ops = response["Operations"].as_array().expect("Operations");
        let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["201", "201", "404", "404", "404", "404", "404", "404"], "{response}");
        for op in &ops[2..] {
            assert_eq!(op["response"]["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{op}");
            assert!(op["response"]["detail"].as_str().is_some_and(|d| d.contains("not found")), "{op}");
        }
        assert_eq!(backend.event_count().await, before + 2, "only the two creates were appended");
    }
}
