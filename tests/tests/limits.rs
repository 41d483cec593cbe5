//! Hostile input within the body limit (issue 10): the documented limits refuse it with a
//! detail naming the limit, input no store can keep is 400 `invalidValue` on both backends
//! alike, and none of it appends anything.

use reqwest::Method;
use scim::limits::{MAX_KEY_BYTES, MAX_MEMBERS_PER_REQUEST, MAX_UNINDEXED_FILTER_TERMS, MAX_VALUES_PER_ATTRIBUTE};
use scimledger_e2e::{on_both_backends, Server};
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn emails(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({"value": format!("user{i}@example.com"), "type": "work"})).collect())
}

on_both_backends! {
    async fn oversized_requests_are_refused_by_their_limits_and_append_nothing(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let id = scim.post("/Users", &json!({"userName": "alice"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let gid = scim.post("/Groups", &json!({"displayName": "G"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let before = backend.event_count().await;

        // 20,000 emails in one PATCH (about 1 MB): the per-attribute limit, before any work.
        let err = scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "add", "path": "emails", "value": emails(20_000)}]))).await
            .expect_error(400, Some("invalidValue"));
        assert!(err["detail"].as_str().unwrap().contains(&format!("at most {MAX_VALUES_PER_ATTRIBUTE} values")), "{err}");
        scim.post("/Users", &json!({"userName": "many", "emails": emails(MAX_VALUES_PER_ATTRIBUTE + 1)})).await.expect_error(400, Some("invalidValue"));

        // Members beyond the per-request limit, in one operation or spread over several.
        let members: Vec<Value> = (0..=MAX_MEMBERS_PER_REQUEST).map(|i| json!({"value": format!("00000000-0000-7000-8000-{i:012}")})).collect();
        let err = scim.patch(&format!("/Groups/{gid}"), &patch(json!([{"op": "add", "path": "members", "value": members}]))).await
            .expect_error(400, Some("invalidValue"));
        assert!(err["detail"].as_str().unwrap().contains(&format!("more than {MAX_MEMBERS_PER_REQUEST} members")), "{err}");
        let halves = json!([{"op": "add", "path": "members", "value": members[..MAX_MEMBERS_PER_REQUEST / 2 + 1]},
                            {"op": "add", "path": "members", "value": members[MAX_MEMBERS_PER_REQUEST / 2..]}]);
        scim.patch(&format!("/Groups/{gid}"), &patch(halves)).await.expect_error(400, Some("invalidValue"));
        scim.put(&format!("/Groups/{gid}"), &json!({"displayName": "G", "members": members})).await.expect_error(400, Some("invalidValue"));

        // A resource over the default 256 KiB, within the 1 MiB body limit: POST, PUT and PATCH.
        let big = "x".repeat(300 * 1024);
        let err = scim.post("/Users", &json!({"userName": "big", "title": big})).await.expect_error(413, None);
        assert!(err["detail"].as_str().unwrap().contains("262144 bytes"), "{err}");
        scim.put(&format!("/Users/{id}"), &json!({"userName": "alice", "title": big})).await.expect_error(413, None);
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "path": "title", "value": big}]))).await.expect_error(413, None);
        scim.patch(&format!("/Groups/{gid}"), &patch(json!([{"op": "replace", "path": "externalId", "value": "e"}, {"op": "add", "path": "displayName", "value": big}]))).await
            .expect_error(400, Some("invalidValue"));
        // The same through /Bulk: the operation fails alone.
        let bulk = scim.post("/Bulk", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "bulky", "title": big}}
        ]})).await.expect(200);
        assert_eq!(bulk["Operations"][0]["status"], "413", "{bulk}");

        // Filters: many comparisons on attributes without an index.
        let titles = (0..=MAX_UNINDEXED_FILTER_TERMS).map(|i| format!("title co \"{i}\"")).collect::<Vec<_>>().join(" or ");
        let err = scim.filter("/Users", &titles, "").await.expect_error(400, Some("tooMany"));
        assert!(err["detail"].as_str().unwrap().contains(&format!("at most {MAX_UNINDEXED_FILTER_TERMS}")), "{err}");

        assert_eq!(backend.event_count().await, before, "refused requests appended nothing");

        // Within the limits, the same shapes are applied.
        let added = scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "add", "path": "emails", "value": emails(MAX_VALUES_PER_ATTRIBUTE)}]))).await.expect(200);
        assert_eq!(added["emails"].as_array().unwrap().len(), MAX_VALUES_PER_ATTRIBUTE);
        let again = scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "add", "path": "emails", "value": emails(MAX_VALUES_PER_ATTRIBUTE)}]))).await.expect(200);
        assert_eq!(again["emails"], added["emails"], "adding the same values again merges them");
    }

    async fn the_resource_size_limit_is_a_setting(backend: Backend) {
        let server = Server::start_with(&backend, vec![("SCIMLEDGER_MAX_RESOURCE_BYTES", "4096".into())]).await;
        let scim = server.tenant("acme").await;
        let before = backend.event_count().await;
        let err = scim.post("/Users", &json!({"userName": "big", "title": "x".repeat(5000)})).await.expect_error(413, None);
        assert!(err["detail"].as_str().unwrap().contains("4096 bytes"), "{err}");
        assert_eq!(backend.event_count().await, before);
        scim.post("/Users", &json!({"userName": "small", "title": "x".repeat(3000)})).await.expect(201);
    }

    async fn input_no_store_can_keep_is_invalid_value_and_appends_nothing(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let id = scim.post("/Users", &json!({"userName": "alice"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let gid = scim.post("/Groups", &json!({"displayName": "G"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let before = backend.event_count().await;

        // NUL characters, wherever the string is.
        scim.post("/Users", &json!({"userName": "nul\u{0}byte@x.io"})).await.expect_error(400, Some("invalidValue"));
        scim.post("/Users", &json!({"userName": "bob", "name": {"givenName": "B\u{0}"}})).await.expect_error(400, Some("invalidValue"));
        scim.post("/Users", &json!({"userName": "bob", "emails": [{"value": "b@x.io", "type": "wo\u{0}rk"}]})).await.expect_error(400, Some("invalidValue"));
        scim.post("/Groups", &json!({"displayName": "G\u{0}"})).await.expect_error(400, Some("invalidValue"));
        scim.put(&format!("/Users/{id}"), &json!({"userName": "alice", "title": "\u{0}"})).await.expect_error(400, Some("invalidValue"));
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "path": "userName", "value": "a\u{0}"}]))).await.expect_error(400, Some("invalidValue"));
        scim.patch(&format!("/Groups/{gid}"), &patch(json!([{"op": "replace", "value": {"displayName": "\u{0}"}}]))).await.expect_error(400, Some("invalidValue"));
        scim.filter("/Users", "userName eq \"nul\\u0000byte@x.io\"", "").await.expect_error(400, Some("invalidFilter"));

        // Index keys longer than the bound.
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        for body in [
            json!({"userName": long}),
            json!({"userName": "bob", "externalId": long}),
            json!({"userName": "bob", "emails": [{"value": long}]}),
            json!({"userName": "bob", "aliases": [{"value": long, "type": "email"}]}),
        ] {
            let err = scim.post("/Users", &body).await.expect_error(400, Some("invalidValue"));
            assert!(err["detail"].as_str().unwrap().contains(&format!("longer than {MAX_KEY_BYTES} bytes")), "{err}");
        }
        scim.post("/Groups", &json!({"displayName": long})).await.expect_error(400, Some("invalidValue"));
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "add", "path": "aliases", "value": [{"value": long}]}]))).await.expect_error(400, Some("invalidValue"));

        // Unpaired UTF-16 surrogates: serde_json refuses them; the client hears which.
        for raw in [r#"{"userName": "\ud800"}"#, r#"{"userName": "a\udc00b"}"#, r#"{"userName": "\ud83d\u0041"}"#] {
            let err = scim.send_raw(Method::POST, "/Users", "application/scim+json", raw.as_bytes().to_vec()).await.expect_error(400, Some("invalidValue"));
            assert!(err["detail"].as_str().unwrap().contains("unpaired UTF-16 surrogate"), "{err}");
        }

        assert_eq!(backend.event_count().await, before, "refused requests appended nothing");

        // A paired surrogate (an emoji) and a key of exactly the bound are fine.
        scim.send_raw(Method::POST, "/Users", "application/scim+json", br#"{"userName": "\ud83d\ude00@x.io"}"#.to_vec()).await.expect(201);
        scim.post("/Users", &json!({"userName": "k".repeat(MAX_KEY_BYTES)})).await.expect(201);
    }

    async fn client_request_ids_are_kept_only_when_short_and_plain(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let kept = scim.get_with_header("/Users", "x-request-id", "okta-7f3a.9:trace_1").await;
        assert_eq!(kept.headers["x-request-id"], "okta-7f3a.9:trace_1");
        for unfit in ["a".repeat(65), "has space".to_owned(), "x<script>".to_owned()] {
            let replaced = scim.get_with_header("/Users", "x-request-id", &unfit).await;
            let ours = replaced.headers["x-request-id"].to_str().unwrap().to_owned();
            assert_ne!(ours, unfit);
            assert!(ours.len() <= 64 && ours.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'), "{ours}");
            replaced.expect(200);
        }
    }
}
