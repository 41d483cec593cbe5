//! Queries and versions end to end (RFC 7644 §3.4.2, §3.4.3, §3.14): sortBy/sortOrder,
//! attributes/excludedAttributes, count=0 and the page-size ceiling, /.search at the root and
//! per resource type; ETags, If-Match on every write, If-None-Match on reads.

use reqwest::Method;
use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn user_names(page: &Value) -> Vec<&str> {
    page["Resources"].as_array().unwrap().iter().map(|r| r["userName"].as_str().unwrap_or("-")).collect()
}

fn title(value: &str) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": value}]})
}

async fn with_if_match(scim: &Scim, method: Method, path: &str, body: &Value, tags: &str) -> scimledger_e2e::client::Reply {
    scim.send_with_header(method, path, body, "if-match", tags).await
}

on_both_backends! {
    async fn versions_guard_every_write_and_save_reads(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let created = scim.post("/Users", &json!({"userName": "alice"})).await;
        assert_eq!(created.headers["etag"], "W/\"1\"");
        let user = created.expect(201);
        assert_eq!(user["meta"]["version"], "W/\"1\"");
        let path = format!("/Users/{}", user["id"].as_str().unwrap());
        let before = backend.event_count().await;

        // Stale or foreign If-Match on PUT, PATCH and DELETE: 412, nothing appended.
        with_if_match(&scim, Method::PATCH, &path, &title("x"), "W/\"7\"").await.expect_error(412, None);
        with_if_match(&scim, Method::PATCH, &path, &title("x"), "\"not-a-version\"").await.expect_error(412, None);
        with_if_match(&scim, Method::PUT, &path, &json!({"userName": "alice"}), "W/\"2\", W/\"3\"").await.expect_error(412, None);
        let delete = scim.send_with_header(Method::DELETE, &path, &Value::Null, "if-match", "W/\"9\"").await;
        delete.expect_error(412, None);
        assert_eq!(backend.event_count().await, before, "refused writes appended nothing");

        // The current version, alone, in a list, or spelled as a strong tag.
        let patched = with_if_match(&scim, Method::PATCH, &path, &title("CEO"), "W/\"1\"").await;
        assert_eq!(patched.headers["etag"], "W/\"2\"");
        assert_eq!(patched.expect(200)["meta"]["version"], "W/\"2\"");
        let replaced = with_if_match(&scim, Method::PUT, &path, &json!({"userName": "alice", "title": "CTO"}), "W/\"1\", W/\"2\"").await;
        assert_eq!(replaced.headers["etag"], "W/\"3\"");
        replaced.expect(200);
        with_if_match(&scim, Method::PATCH, &path, &title("CFO"), "\"3\"").await.expect(200);

        // If-None-Match: a stale tag gets the resource; the current one (weakly compared,
        // alone or in a list) or `*` gets 304 with the ETag.
        let fresh = scim.get_with_header(&path, "if-none-match", "W/\"1\"").await;
        assert_eq!(fresh.headers["etag"], "W/\"4\"");
        assert_eq!(fresh.expect(200)["title"], "CFO");
        for tags in ["W/\"4\"", "\"4\"", "W/\"1\", W/\"4\"", "*"] {
            let unchanged = scim.get_with_header(&path, "if-none-match", tags).await;
            assert_eq!(unchanged.status.as_u16(), 304, "{tags}");
            assert_eq!(unchanged.headers["etag"], "W/\"4\"");
        }

        // `*` matches any version of a resource that exists.
        let group = scim.post("/Groups", &json!({"displayName": "G"})).await.expect(201);
        let gpath = format!("/Groups/{}", group["id"].as_str().unwrap());
        scim.send_with_header(Method::DELETE, &gpath, &Value::Null, "if-match", "*").await.expect(204);
        scim.send_with_header(Method::DELETE, &path, &Value::Null, "if-match", "W/\"4\"").await.expect(204);
    }

    async fn queries_sort_select_search_and_page(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        for (name, title) in [("carol", "c"), ("alice", "a"), ("bob", "b")] {
            scim.post("/Users", &json!({"userName": name, "title": title})).await.expect(201);
        }
        for name in ["G1", "G2"] {
            scim.post("/Groups", &json!({"displayName": name})).await.expect(201);
        }

        // Creation order unless sorted; sortOrder either way; the same through /.search.
        assert_eq!(user_names(&scim.get("/Users").await.expect(200)), ["carol", "alice", "bob"]);
        assert_eq!(user_names(&scim.get("/Users?sortBy=userName").await.expect(200)), ["alice", "bob", "carol"]);
        assert_eq!(user_names(&scim.get("/Users?sortBy=userName&sortOrder=descending").await.expect(200)), ["carol", "bob", "alice"]);
        let searched = scim.post("/Users/.search", &json!({"sortBy": "title", "sortOrder": "descending", "count": 2})).await.expect(200);
        assert_eq!(user_names(&searched), ["carol", "bob"]);
        assert_eq!((searched["totalResults"].clone(), searched["itemsPerPage"].clone()), (json!(3), json!(2)));
        scim.get("/Users?sortBy=shoeSize").await.expect_error(400, Some("invalidValue"));
        scim.get("/Users?sortBy=userName&sortOrder=sideways").await.expect_error(400, Some("invalidValue"));

        // Paging: count=0 gives the total alone; counts above the maximum page size are cut to it.
        let total = scim.get("/Users?count=0").await.expect(200);
        assert_eq!((total["totalResults"].clone(), total["itemsPerPage"].clone()), (json!(3), json!(0)));
        assert_eq!(scim.get("/Users?count=100000").await.expect(200)["itemsPerPage"], json!(3));
        let second = scim.get("/Users?startIndex=2&count=1").await.expect(200);
        assert_eq!((user_names(&second), second["startIndex"].clone()), (vec!["alice"], json!(2)));
        let past = scim.get("/Users?startIndex=10&count=5").await.expect(200);
        assert_eq!((past["totalResults"].clone(), past["itemsPerPage"].clone()), (json!(3), json!(0)));

        // attributes / excludedAttributes: `id` is always returned, the rest as asked.
        let only = scim.get("/Users?attributes=userName&count=1").await.expect(200);
        let resource = &only["Resources"][0];
        assert!(resource["id"].is_string() && resource["userName"] == "carol", "{resource}");
        assert!(resource.get("title").is_none(), "{resource}");
        let without = scim.post("/Users/.search", &json!({"excludedAttributes": ["title", "id"], "count": 1})).await.expect(200);
        let resource = &without["Resources"][0];
        assert!(resource["id"].is_string() && resource.get("title").is_none(), "{resource}");

        // The root /.search: users then groups; a filter only users can match searches users.
        let all = scim.post("/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})).await.expect(200);
        assert_eq!(all["totalResults"], json!(5));
        let window = scim.post("/.search", &json!({"startIndex": 3, "count": 2})).await.expect(200);
        let names: Vec<&str> = window["Resources"].as_array().unwrap().iter().map(|r| r["userName"].as_str().or(r["displayName"].as_str()).unwrap()).collect();
        assert_eq!(names, ["bob", "G1"]);
        let users = scim.post("/.search", &json!({"filter": "userName sw \"a\""})).await.expect(200);
        assert_eq!((users["totalResults"].clone(), user_names(&users)), (json!(1), vec!["alice"]));
        scim.post("/.search", &json!({"filter": "shoeSize eq 1"})).await.expect_error(400, Some("invalidFilter"));
    }
}
