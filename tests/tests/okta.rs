//! Okta's provisioning dialect, end to end (shared/design/idp-quirks.md, "Okta").

use reqwest::Method;
use scimledger_e2e::{on_both_backends, Server};
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

on_both_backends! {
    async fn okta_user_and_group_lifecycle(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;

        // Look-up before create: nothing yet, counts as JSON integers.
        let found = scim.filter("/Users", "userName eq \"dade.murphy@example.com\"", "&startIndex=1&count=100").await.expect(200);
        assert_eq!(found["totalResults"], json!(0));
        assert_eq!(found["startIndex"], json!(1));
        assert_eq!(found["itemsPerPage"], json!(0));

        // Create, as Okta sends it: application/json, password and an empty groups list.
        let create = json!({
            "schemas": [USER], "userName": "dade.murphy@example.com",
            "name": {"givenName": "Dade", "familyName": "Murphy"},
            "emails": [{"primary": true, "value": "dade.murphy@example.com", "type": "work"}],
            "displayName": "Dade Murphy", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [], "password": "1mz050nq", "active": true
        });
        let created = scim.send_raw(Method::POST, "/Users", "application/json", serde_json::to_vec(&create).unwrap()).await;
        assert_eq!(created.headers["content-type"], "application/scim+json");
        let location = created.headers["location"].to_str().unwrap().to_owned();
        let user = created.expect(201);
        let id = user["id"].as_str().unwrap().to_owned();
        assert!(location.ends_with(&format!("/Users/{id}")), "{location}");
        assert_eq!(user["meta"]["resourceType"], "User");
        assert_eq!(user["meta"]["version"], "W/\"1\"");
        assert!(user["meta"]["created"].is_string() && user["meta"]["lastModified"].is_string());
        assert!(user["meta"]["location"].as_str().unwrap().ends_with(&format!("/scim/v2/acme/Users/{id}")));
        assert!(user.get("password").is_none(), "the password is never returned");

        // A second POST of the same userName.
        scim.post("/Users", &create).await.expect_error(409, Some("uniqueness"));

        // userName is case-insensitive.
        let found = scim.filter("/Users", "userName eq \"DADE.MURPHY@EXAMPLE.COM\"", "&startIndex=1&count=100").await.expect(200);
        assert_eq!(found["totalResults"], json!(1));
        assert_eq!(found["Resources"][0]["id"], id.as_str());

        // Okta Wizard apps send a full PUT for every update.
        let mut replaced = create.clone();
        replaced["name"]["familyName"] = json!("Murphy-Burns");
        replaced["id"] = json!(id);
        let user = scim.put(&format!("/Users/{id}"), &replaced).await.expect(200);
        assert_eq!(user["name"]["familyName"], "Murphy-Burns");
        assert_eq!(user["meta"]["version"], "W/\"2\"");

        // Deactivation: PATCH without a path.
        let deactivate = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]});
        let user = scim.patch(&format!("/Users/{id}"), &deactivate).await.expect(200);
        assert_eq!(user["active"], json!(false));

        // Still there while inactive, by id and by filter.
        assert_eq!(scim.get(&format!("/Users/{id}")).await.expect(200)["active"], json!(false));
        let found = scim.filter("/Users", "userName eq \"dade.murphy@example.com\"", "").await.expect(200);
        assert_eq!(found["Resources"][0]["active"], json!(false));

        // Reactivation by full PUT.
        replaced["active"] = json!(true);
        assert_eq!(scim.put(&format!("/Users/{id}"), &replaced).await.expect(200)["active"], json!(true));

        // Groups: create, move membership in one PATCH, rename with the read-only id, delete.
        let other = scim.post("/Users", &json!({"schemas": [USER], "userName": "kate.libby@example.com"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let group = scim.post("/Groups", &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Hackers", "members": [{"value": id, "display": "Dade"}]
        })).await.expect(201);
        let gid = group["id"].as_str().unwrap().to_owned();
        assert_eq!(group["members"][0]["value"], id.as_str());
        // A group PATCH answers 204 unless the request asks for attributes (RFC 7644 §3.5.2).
        let moved = scim.patch(&format!("/Groups/{gid}"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
            {"op": "add", "path": "members", "value": [{"value": other, "display": "kate.libby@example.com"}]}
        ]})).await;
        assert_eq!(moved.headers["etag"], "W/\"3\"");
        assert_eq!(moved.expect(204), Value::Null);
        let moved = scim.get(&format!("/Groups/{gid}")).await.expect(200);
        let members: Vec<&str> = moved["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(members, [other.as_str()]);
        assert_eq!(moved["members"][0]["type"], "User");
        let user = scim.get(&format!("/Users/{other}")).await.expect(200);
        assert_eq!(user["groups"][0]["value"], gid.as_str());
        assert_eq!(user["groups"][0]["display"], "Hackers");

        let renamed = scim.patch(&format!("/Groups/{gid}?excludedAttributes=members"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "value": {"id": gid, "displayName": "Elite Hackers"}}
        ]})).await.expect(200);
        assert_eq!(renamed["displayName"], "Elite Hackers");
        assert_eq!(renamed["id"], gid.as_str());
        assert!(renamed.get("members").is_none(), "{renamed}");

        let replaced_members = scim.patch(&format!("/Groups/{gid}?attributes=members"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "members", "value": [{"value": id}]}
        ]})).await.expect(200);
        assert_eq!(replaced_members["members"].as_array().unwrap().len(), 1);
        assert!(replaced_members.get("displayName").is_none(), "{replaced_members}");

        scim.delete(&format!("/Groups/{gid}")).await.expect(204);
        scim.get(&format!("/Groups/{gid}")).await.expect_error(404, None);

        // The credential test lists users with a small count.
        let listed = scim.get("/Users?startIndex=1&count=1").await.expect(200);
        assert_eq!((listed["totalResults"].clone(), listed["itemsPerPage"].clone()), (json!(2), json!(1)));
    }
}
