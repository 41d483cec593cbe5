//! /Bulk end to end (RFC 7644 §3.7): failOnErrors, bulkId references, versions, and the
//! advertised limits, each refusal checked against the log.

use std::collections::HashSet;

use scimledger_e2e::{on_both_backends, Backend, Scim, Server};
use serde_json::{json, Value};

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn bulk(operations: Value, fail_on_errors: Option<u32>) -> Value {
    let mut body = json!({"schemas": [BULK_REQUEST], "Operations": operations});
    if let Some(n) = fail_on_errors {
        body["failOnErrors"] = n.into();
    }
    body
}

fn statuses(response: &Value) -> Vec<&str> {
    response["Operations"].as_array().expect("Operations").iter().map(|o| o["status"].as_str().expect("a string status")).collect()
}

fn id_in(location: &Value) -> String {
    location.as_str().expect("a location").rsplit('/').next().unwrap().to_owned()
}

async fn user_count(scim: &Scim, user_name: &str) -> u64 {
    let found = scim.filter("/Users", &format!("userName eq \"{user_name}\""), "").await.expect(200);
    found["totalResults"].as_u64().unwrap()
}

/// The streams the events after the first `before` touch.
async fn streams_after(backend: &Backend, before: usize) -> Vec<String> {
    let log = backend.scim_events().await;
    log[before..].iter().map(|e| e.stream.to_string()).collect()
}

on_both_backends! {
    async fn bulk_stops_at_the_failing_operation_under_fail_on_errors(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        scim.post("/Users", &json!({"userName": "taken"})).await.expect(201);
        let before = backend.event_count().await;

        let response = scim.post("/Bulk", &bulk(json!([
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "alice"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "bob"}},
            {"method": "PATCH", "path": "/Users/bulkId:a", "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Alice A"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "t", "data": {"userName": "TAKEN"}},
            {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "carol"}},
            {"method": "DELETE", "path": "/Users/bulkId:b"},
        ]), Some(1))).await.expect(200);

        assert_eq!(response["schemas"], json!([BULK_RESPONSE]));
        assert_eq!(statuses(&response), ["201", "201", "200", "409"], "{response}");
        let ops = response["Operations"].as_array().unwrap();
        assert_eq!(ops[0]["bulkId"], "a");
        assert_eq!(ops[0]["method"], "POST");
        assert_eq!(ops[0]["version"], "W/\"1\"");
        assert_eq!(ops[2]["version"], "W/\"2\"");
        assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
        assert_eq!(ops[3]["response"]["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
        assert!(ops[3].get("location").is_none(), "a failed POST has no location: {}", ops[3]);
        let alice = id_in(&ops[0]["location"]);
        let bob = id_in(&ops[1]["location"]);
        assert_eq!(id_in(&ops[2]["location"]), alice);

        // The operations before the failure took effect; the ones after it did not run.
        assert_eq!(scim.get(&format!("/Users/{alice}")).await.expect(200)["displayName"], "Alice A");
        scim.get(&format!("/Users/{bob}")).await.expect(200);
        assert_eq!(user_count(&scim, "carol").await, 0);
        // The log agrees: alice provisioned and changed, bob provisioned, nothing else.
        let mut streams = streams_after(&backend, before).await;
        streams.sort();
        let mut expected = vec![alice.clone(), alice, bob];
        expected.sort();
        assert_eq!(streams, expected);
    }

    async fn bulk_ids_resolve_forward_references_and_cycles_are_refused(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;

        let response = scim.post("/Bulk", &bulk(json!([
            // The group names users created later in the same request.
            {"method": "POST", "path": "/Groups", "bulkId": "team", "data": {"displayName": "Team", "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "boss"}},
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "worker", ENTERPRISE: {"manager": {"value": "bulkId:u1"}}}},
            // Two groups that name each other: a cycle.
            {"method": "POST", "path": "/Groups", "bulkId": "x", "data": {"displayName": "X", "members": [{"value": "bulkId:y"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "y", "data": {"displayName": "Y", "members": [{"value": "bulkId:x"}]}},
            // A reference to no operation of this request.
            {"method": "POST", "path": "/Users", "bulkId": "lost", "data": {"userName": "lost", ENTERPRISE: {"manager": {"value": "bulkId:nobody"}}}},
            // Versions: a stale one is 412, the current one passes.
            {"method": "PATCH", "path": "/Users/bulkId:u1", "version": "W/\"9\"", "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "CEO"}]}},
            {"method": "PUT", "path": "/Users/bulkId:u1", "version": "W/\"1\"", "data": {"userName": "boss", "title": "Boss"}},
        ]), None)).await.expect(200);

        assert_eq!(statuses(&response), ["201", "201", "201", "409", "409", "400", "412", "200"], "{response}");
        let ops = response["Operations"].as_array().unwrap();
        let (team, boss, worker) = (id_in(&ops[0]["location"]), id_in(&ops[1]["location"]), id_in(&ops[2]["location"]));
        let group = scim.get(&format!("/Groups/{team}")).await.expect(200);
        let members: HashSet<&str> = group["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(members, HashSet::from([boss.as_str(), worker.as_str()]));
        let worker_doc = scim.get(&format!("/Users/{worker}")).await.expect(200);
        assert_eq!(worker_doc[ENTERPRISE]["manager"]["value"], boss.as_str());
        assert_eq!(ops[5]["response"]["scimType"], "invalidValue");
        assert!(ops[3]["response"]["detail"].as_str().unwrap().contains("cycle"), "{}", ops[3]);
        for name in ["X", "Y"] {
            let found = scim.filter("/Groups", &format!("displayName eq \"{name}\""), "").await.expect(200);
            assert_eq!(found["totalResults"], json!(0), "{name} was not created");
        }
        assert_eq!(user_count(&scim, "lost").await, 0);
        let boss_doc = scim.get(&format!("/Users/{boss}")).await.expect(200);
        assert_eq!(boss_doc["title"], "Boss");
        assert_eq!(ops[7]["version"], "W/\"2\"");
    }

    async fn over_limit_bulk_requests_change_nothing(backend: Backend) {
        let limits = [("SCIMLEDGER_MAX_BODY_BYTES", "1024"), ("SCIMLEDGER_BULK_MAX_OPERATIONS", "3"), ("SCIMLEDGER_BULK_MAX_PAYLOAD_BYTES", "4096")];
        let server = Server::start_with(&backend, limits.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()).await;
        let scim = server.tenant("acme").await;
        let config = scim.get("/ServiceProviderConfig").await.expect(200);
        assert_eq!(config["bulk"], json!({"supported": true, "maxOperations": 3, "maxPayloadSize": 4096}));

        // A bulk body may be larger than the general body limit, up to maxPayloadSize.
        let padded = |name: &str, pad: usize| json!({"method": "POST", "path": "/Users", "bulkId": name, "data": {"userName": name, "displayName": "x".repeat(pad)}});
        let fits = bulk(json!([padded("u1", 800), padded("u2", 800), padded("u3", 800)]), None);
        assert!(serde_json::to_vec(&fits).unwrap().len() > 1024);
        assert_eq!(statuses(&scim.post("/Bulk", &fits).await.expect(200)), ["201", "201", "201"]);
        let before = backend.event_count().await;

        let too_many = bulk(json!([padded("a", 1), padded("b", 1), padded("c", 1), padded("d", 1)]), None);
        let error = scim.post("/Bulk", &too_many).await.expect_error(413, None);
        assert!(error["detail"].as_str().unwrap().contains("maxOperations (3)"), "{error}");
        let too_big = bulk(json!([padded("e", 2000), padded("f", 2000)]), None);
        let error = scim.post("/Bulk", &too_big).await.expect_error(413, None);
        assert!(error["detail"].as_str().unwrap().contains("maxPayloadSize (4096 bytes)"), "{error}");
        // Not a bulk request at all.
        scim.post("/Bulk", &json!({"schemas": [BULK_REQUEST]})).await.expect_error(400, Some("invalidSyntax"));
        scim.post("/Bulk", &json!({"Operations": [], "failOnErrors": -1})).await.expect_error(400, Some("invalidValue"));

        assert_eq!(backend.event_count().await, before, "refused bulk requests appended nothing");
        for name in ["a", "d", "e", "f"] {
            assert_eq!(user_count(&scim, name).await, 0);
        }
    }

    async fn the_same_bulk_request_gets_the_same_answer_every_time(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        scim.post("/Users", &json!({"userName": "taken"})).await.expect(201);
        let before = backend.event_count().await;
        let request = bulk(json!([
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "TAKEN"}},
            {"method": "POST", "path": "/Groups", "data": {"displayName": "G", "members": [{"value": "bulkId:dup"}, {"value": "bulkId:nosuch"}]}},
        ]), None);
        for _ in 0..8 {
            let response = scim.post("/Bulk", &request).await.expect(200);
            assert_eq!(statuses(&response), ["409", "400"], "{response}");
            assert_eq!(response["Operations"][1]["response"]["detail"], "no operation of this request has bulkId 'nosuch'");
        }
        assert_eq!(backend.event_count().await, before, "failed operations appended nothing");
    }

    async fn bulk_turned_off_is_said_and_refused(backend: Backend) {
        let server = Server::start_with(&backend, vec![("SCIMLEDGER_BULK_MAX_OPERATIONS", "0".to_owned())]).await;
        let scim = server.tenant("acme").await;
        let config = scim.get("/ServiceProviderConfig").await.expect(200);
        assert_eq!(config["bulk"]["supported"], json!(false));
        let before = backend.event_count().await;
        let request = bulk(json!([{"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "alice"}}]), None);
        scim.post("/Bulk", &request).await.expect_error(501, None);
        assert_eq!(backend.event_count().await, before);
    }
}
