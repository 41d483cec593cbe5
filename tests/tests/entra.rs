//! Microsoft Entra ID's provisioning dialect, end to end (shared/design/idp-quirks.md, "Entra").

use scimledger_e2e::{on_both_backends, Server};
use serde_json::json;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

on_both_backends! {
    async fn entra_user_and_group_lifecycle(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("contoso").await;

        // Matching attributes are tried one after another.
        let none = scim.filter("/Users", "userName eq \"Test_User_dfeef4c5@contoso.com\"", "").await.expect(200);
        assert_eq!(none["totalResults"], json!(0));
        let external = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";
        let none = scim.filter("/Users", &format!("externalId eq \"{external}\""), "").await.expect(200);
        assert_eq!(none["totalResults"], json!(0));

        let user = scim.post("/Users", &json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": external, "userName": "Test_User_dfeef4c5@contoso.com", "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_dfeef4c5@contoso.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            ENTERPRISE: {"employeeNumber": "E-1", "department": "Finance"}
        })).await.expect(201);
        let id = user["id"].as_str().unwrap().to_owned();
        assert_eq!(user["schemas"], json!([USER, ENTERPRISE]));

        let found = scim.filter("/Users", &format!("externalId eq \"{external}\""), "").await.expect(200);
        assert_eq!(found["Resources"][0]["id"], id.as_str());

        // With the work email as the matching attribute.
        let found = scim.filter("/Users", "emails[type eq \"work\"].value eq \"test_user_dfeef4c5@contoso.com\"", "").await.expect(200);
        assert_eq!(found["totalResults"], json!(1));

        // Capitalised ops, a string boolean.
        let user = scim.patch(&format!("/Users/{id}"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"}
        ]})).await.expect(200);
        assert_eq!(user["active"], json!(false), "stored and returned as a JSON boolean");

        // A value-filter path, and single-valued attributes replaced by path (userName included).
        let user = scim.patch(&format!("/Users/{id}"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@contoso.com"},
            {"op": "Replace", "path": "userName", "value": "renamed@contoso.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}
        ]})).await.expect(200);
        assert_eq!(user["emails"], json!([{"value": "updatedEmail@contoso.com", "type": "work", "primary": true}]));
        assert_eq!(user["userName"], "renamed@contoso.com");
        assert_eq!(user["phoneNumbers"], json!([{"value": "+1 555 0100", "type": "mobile"}]));

        // PATCH without a path, with dotted and URN-qualified keys.
        let user = scim.patch(&format!("/Users/{id}"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "value": {"displayName": "D", "name.givenName": "G", format!("{ENTERPRISE}:employeeNumber"): "E-2"}}
        ]})).await.expect(200);
        assert_eq!((user["displayName"].as_str(), user["name"]["givenName"].as_str()), (Some("D"), Some("G")));
        assert_eq!(user[ENTERPRISE], json!({"employeeNumber": "E-2", "department": "Finance"}));

        // Still found while inactive.
        let found = scim.filter("/Users", "userName eq \"renamed@contoso.com\"", "").await.expect(200);
        assert_eq!(found["Resources"][0]["active"], json!(false));

        // Groups: created with no members and Microsoft's extra schema URN.
        let group = scim.post("/Groups", &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Group1DisplayName", "meta": {"resourceType": "Group"}
        })).await.expect(201);
        let gid = group["id"].as_str().unwrap().to_owned();
        let second = scim.post("/Users", &json!({"schemas": [USER], "userName": "second@contoso.com"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let third = scim.post("/Users", &json!({"schemas": [USER], "userName": "third@contoso.com"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        // A group PATCH answers 204 (Entra accepts it), with the resource only when asked.
        scim.patch(&format!("/Groups/{gid}"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": second}, {"$ref": null, "value": third}]}
        ]})).await.expect(204);
        let added = scim.get(&format!("/Groups/{gid}")).await.expect(200);
        assert_eq!(added["members"].as_array().unwrap().len(), 3);

        // Removal by a value list drops only those members.
        let removed = scim.patch(&format!("/Groups/{gid}?attributes=members"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": second}]}
        ]})).await.expect(200);
        let left: Vec<&str> = removed["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(left, [id.as_str(), third.as_str()]);
        scim.patch(&format!("/Groups/{gid}"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{third}\"]")}
        ]})).await.expect(204);
        assert_eq!(scim.get(&format!("/Groups/{gid}")).await.expect(200)["members"].as_array().unwrap().len(), 1);

        // Group look-up without members.
        let found = scim.filter("/Groups", "displayName eq \"Group1DisplayName\"", "&excludedAttributes=members").await.expect(200);
        assert_eq!(found["totalResults"], json!(1));
        assert!(found["Resources"][0].get("members").is_none(), "{found}");
        assert_eq!(found["Resources"][0]["id"], gid.as_str());
        let found = scim.filter("/Groups", "externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\"", "").await.expect(200);
        assert_eq!(found["Resources"][0]["members"][0]["value"], id.as_str());

        // The SCIM Validator's odd path: a filter that matches nothing removes nothing.
        scim.patch(&format!("/Users/{id}"), &json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": "emails[type eq \"untyped\"]"}
        ]})).await.expect(200);

        // Entra deletes users it deprovisions when so configured.
        scim.delete(&format!("/Users/{third}")).await.expect(204);
        scim.get(&format!("/Users/{third}")).await.expect_error(404, None);
    }
}
