//! Bad input gets the right SCIM status and scimType, and changes nothing: every case checks
//! that the log has no new event.

use reqwest::Method;
use scimledger_e2e::{on_both_backends, Server};
use serde_json::json;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

on_both_backends! {
    async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let id = scim.post("/Users", &json!({"userName": "alice"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let gid = scim.post("/Groups", &json!({"displayName": "G"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let before = backend.event_count().await;
        assert_eq!(before, 2);

        // Malformed JSON.
        scim.send_raw(Method::POST, "/Users", "application/scim+json", b"{\"userName\": ".to_vec()).await.expect_error(400, Some("invalidSyntax"));
        scim.send_raw(Method::PATCH, &format!("/Users/{id}"), "application/json", b"not json".to_vec()).await.expect_error(400, Some("invalidSyntax"));
        // Missing userName, wrong types.
        scim.post("/Users", &json!({"displayName": "no name"})).await.expect_error(400, Some("invalidValue"));
        scim.post("/Users", &json!({"userName": 42})).await.expect_error(400, Some("invalidValue"));
        scim.post("/Users", &json!({"userName": "bob", "active": "sometimes"})).await.expect_error(400, Some("invalidValue"));
        scim.post("/Users", &json!({"userName": "bob", "emails": "bob@example.com"})).await.expect_error(400, Some("invalidValue"));
        scim.post("/Users", &json!(["userName", "bob"])).await.expect_error(400, Some("invalidSyntax"));
        scim.put(&format!("/Users/{id}"), &json!({"name": {"givenName": 1}, "userName": "alice"})).await.expect_error(400, Some("invalidValue"));
        scim.post("/Groups", &json!({"members": []})).await.expect_error(400, Some("invalidValue"));
        // PATCH: bad paths, bad ops, read-only targets, wrong types, required attributes.
        let patch = |ops: serde_json::Value| json!({"schemas": [PATCH_OP], "Operations": ops});
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]))).await.expect_error(400, Some("invalidPath"));
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "path": "shoeSize", "value": "9"}]))).await.expect_error(400, Some("invalidPath"));
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "remove"}]))).await.expect_error(400, Some("noTarget"));
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "jump", "path": "title"}]))).await.expect_error(400, Some("invalidSyntax"));
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "path": "displayName", "value": "ok"}, {"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]))).await.expect_error(400, Some("mutability"));
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "replace", "path": "active", "value": "perhaps"}]))).await.expect_error(400, Some("invalidValue"));
        scim.patch(&format!("/Users/{id}"), &patch(json!([{"op": "remove", "path": "userName"}]))).await.expect_error(400, Some("invalidValue"));
        // A member that names nothing is left out, not refused: the group stays as it was.
        let unchanged = scim.patch(&format!("/Groups/{gid}?attributes=members"), &patch(json!([{"op": "add", "path": "members", "value": [{"value": "9f0b1a56-0000-7000-8000-000000000000"}, {"value": "fake-member-id"}]}]))).await.expect(200);
        assert!(unchanged.get("members").is_none(), "{unchanged}");
        // Bad filters and paging.
        scim.filter("/Users", "userName eq", "").await.expect_error(400, Some("invalidFilter"));
        scim.filter("/Users", "userName zz \"a\"", "").await.expect_error(400, Some("invalidFilter"));
        scim.filter("/Users", "shoeSize eq \"9\"", "").await.expect_error(400, Some("invalidFilter"));
        scim.get("/Users?count=ten").await.expect_error(400, Some("invalidValue"));
        // Unknown ids: 404 with a detail, for every verb.
        let ghost = "0190a0b0-0000-7000-8000-000000000000";
        scim.get(&format!("/Users/{ghost}")).await.expect_error(404, None);
        scim.get("/Users/not-a-uuid").await.expect_error(404, None);
        scim.get(&format!("/Users/{}", id.to_uppercase())).await.expect_error(404, None);
        scim.put(&format!("/Users/{ghost}"), &json!({"userName": "ghost"})).await.expect_error(404, None);
        scim.patch(&format!("/Users/{ghost}"), &patch(json!([{"op": "replace", "path": "active", "value": false}]))).await.expect_error(404, None);
        scim.delete(&format!("/Groups/{ghost}")).await.expect_error(404, None);
        // Missing or wrong tokens, another tenant's token, an unknown tenant.
        scim.with_token(None).get("/Users").await.expect_error(401, None);
        scim.with_token(Some("scimledger_0000")).get("/Users").await.expect_error(401, None);
        scim.with_token(None).post("/Users", &json!({"userName": "eve"})).await.expect_error(401, None);
        let other = server.tenant("globex").await;
        other.get(&format!("/Users/{id}")).await.expect_error(404, None);
        scim.with_base(&other.base).get("/Users").await.expect_error(401, None);
        other.with_base(&scim.base).post("/Users", &json!({"userName": "mallory"})).await.expect_error(401, None);
        scim.with_base(&scim.base.replace("/acme", "/nobody")).get("/Users").await.expect_error(401, None);
        scim.with_base(&scim.base.replace("/acme", "/Not_A_Slug")).get("/Users").await.expect_error(401, None);
        // A body over the limit.
        let huge = json!({"userName": "big", "displayName": "x".repeat(2 * 1024 * 1024)});
        scim.post("/Users", &huge).await.expect_error(413, None);
        // A media type that is not JSON.
        scim.send_raw(Method::POST, "/Users", "text/plain", b"userName=bob".to_vec()).await.expect_error(415, None);

        assert_eq!(backend.event_count().await, before, "refused requests appended nothing");
    }

    async fn if_match_guards_writes_and_if_none_match_saves_reads(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let created = scim.post("/Users", &json!({"userName": "alice"})).await;
        let etag = created.headers["etag"].to_str().unwrap().to_owned();
        let id = created.expect(201)["id"].as_str().unwrap().to_owned();
        assert_eq!(etag, "W/\"1\"");
        let before = backend.event_count().await;
        let stale = scim
            .send_with_header(reqwest::Method::PUT, &format!("/Users/{id}"), &json!({"userName": "alice2"}), "if-match", "W/\"7\"")
            .await;
        stale.expect_error(412, None);
        assert_eq!(backend.event_count().await, before);
        let fresh = scim.send_with_header(reqwest::Method::PUT, &format!("/Users/{id}"), &json!({"userName": "alice2"}), "if-match", &etag).await;
        assert_eq!(fresh.headers["etag"], "W/\"2\"");
        fresh.expect(200);
        let unchanged = scim.get_with_header(&format!("/Users/{id}"), "if-none-match", "W/\"2\"").await;
        assert_eq!(unchanged.status.as_u16(), 304);
    }

    async fn every_error_is_a_scim_error(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let id = scim.post("/Users", &json!({"userName": "alice"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let before = backend.event_count().await;
        for (method, path, allow) in [
            (Method::DELETE, "/Users".to_owned(), "GET,HEAD,POST"),
            (Method::PUT, "/Users".to_owned(), "GET,HEAD,POST"),
            (Method::DELETE, "/Groups".to_owned(), "GET,HEAD,POST"),
            (Method::PUT, "/Groups".to_owned(), "GET,HEAD,POST"),
            (Method::GET, "/Bulk".to_owned(), "POST"),
            (Method::GET, "/.search".to_owned(), "POST"),
            (Method::GET, "/Users/.search".to_owned(), "POST"),
            (Method::OPTIONS, "/Users".to_owned(), "GET,HEAD,POST"),
            (Method::POST, format!("/Users/{id}"), "GET,HEAD,PUT,PATCH,DELETE"),
        ] {
            let reply = scim.send(method.clone(), &path, None).await;
            let allowed = reply.headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            reply.expect_error(405, None);
            let mut allowed: Vec<&str> = allowed.split(',').collect();
            let mut expected: Vec<&str> = allow.split(',').collect();
            allowed.sort_unstable();
            expected.sort_unstable();
            assert_eq!(allowed, expected, "{method} {path}");
        }
        // A URL over the limit, and a long filter's detail that quotes only a bounded part of it.
        let long = "x".repeat(20_000);
        scim.filter("/Users", &format!("userName eq \"{long}\""), "").await.expect_error(414, None);
        let search = json!({"filter": format!("userName eq \"{}\" and active gt true", "y".repeat(65_000))});
        let error = scim.post("/Users/.search", &search).await.expect_error(400, Some("invalidFilter"));
        assert!(error["detail"].as_str().unwrap().len() < 400, "{error}");
        assert_eq!(backend.event_count().await, before);
    }
}
