//! Aliases: each a login of one user, unique per tenant together with userNames (ADR 0012),
//! found by filters, freed when removed. Every refusal checks the log has no new event.

use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

async fn create(scim: &Scim, user: Value) -> String {
    scim.post("/Users", &user).await.expect(201)["id"].as_str().unwrap().to_owned()
}

async fn found(scim: &Scim, filter: &str) -> Vec<String> {
    let list = scim.filter("/Users", filter, "").await.expect(200);
    list["Resources"].as_array().into_iter().flatten().map(|u| u["userName"].as_str().unwrap().to_owned()).collect()
}

on_both_backends! {
    async fn aliases_are_unique_logins_found_by_filters_and_freed_when_removed(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        // An alias equal to the user's own userName is no clash (Okta maps the email to both).
        let bob = create(&scim, json!({"userName": "bob@acme.com", "aliases": [
            {"value": "Bob@Acme.com", "type": "username"}, {"value": "robert@acme.com", "type": "email"}]})).await;
        let alice = create(&scim, json!({"userName": "alice@acme.com"})).await;
        let events = backend.event_count().await;

        // A look-up by alias finds the user, case-insensitively, in both filter spellings.
        assert_eq!(found(&scim, "aliases[value eq \"ROBERT@acme.com\"]").await, ["bob@acme.com"]);
        assert_eq!(found(&scim, "aliases.value eq \"robert@acme.com\"").await, ["bob@acme.com"]);
        assert_eq!(found(&scim, "aliases[type eq \"email\" and value sw \"rob\"]").await, ["bob@acme.com"]);

        // Taken: another user's alias (as a userName or an alias), or another user's userName
        // as an alias; by POST, PUT and PATCH alike.
        let clashes = [
            scim.post("/Users", &json!({"userName": "ROBERT@acme.com"})).await,
            scim.post("/Users", &json!({"userName": "carol@acme.com", "aliases": [{"value": "robert@ACME.com"}]})).await,
            scim.post("/Users", &json!({"userName": "carol@acme.com", "aliases": [{"value": "alice@acme.com"}]})).await,
            scim.put(&format!("/Users/{alice}"), &json!({"userName": "alice@acme.com", "aliases": [{"value": "robert@acme.com"}]})).await,
            scim.patch(&format!("/Users/{alice}"), &patch(json!([{"op": "add", "path": "aliases", "value": [{"value": "bob@acme.com"}]}]))).await,
            scim.patch(&format!("/Users/{alice}"), &patch(json!([{"op": "replace", "path": "userName", "value": "robert@acme.com"}]))).await,
            scim.patch(&format!("/Users/{bob}"), &patch(json!([{"op": "add", "path": "aliases", "value": [{"value": "Alice@acme.com", "type": "email"}]}]))).await,
        ];
        for reply in clashes {
            let error = reply.expect_error(409, Some("uniqueness"));
            assert!(error["detail"].as_str().unwrap().contains("@acme.com"), "{error}");
        }
        assert_eq!(backend.event_count().await, events, "a clash appends nothing");

        // Okta's `aliases.^[type=='email'].value` mapping removes the alias by value filter:
        // the element goes, and the value is free at once.
        let user = scim.patch(&format!("/Users/{bob}"), &patch(json!([{"op": "remove", "path": "aliases[type eq \"email\"].value"}]))).await.expect(200);
        assert_eq!(user["aliases"], json!([{"value": "Bob@Acme.com", "type": "username"}]));
        assert!(found(&scim, "aliases.value eq \"robert@acme.com\"").await.is_empty());
        let user = scim.patch(&format!("/Users/{alice}"), &patch(json!([{"op": "add", "path": "aliases", "value": [{"value": "robert@acme.com", "type": "email"}]}]))).await.expect(200);
        assert_eq!(user["aliases"], json!([{"value": "robert@acme.com", "type": "email"}]));
        assert_eq!(found(&scim, "aliases[value eq \"robert@acme.com\"]").await, ["alice@acme.com"]);

        // Okta's add on the mapped path with no email alias creates the element.
        let user = scim.patch(&format!("/Users/{bob}"), &patch(json!([{"op": "add", "path": "aliases[type eq \"email\"].value", "value": "bobby@acme.com"}]))).await.expect(200);
        assert_eq!(user["aliases"], json!([{"value": "Bob@Acme.com", "type": "username"}, {"value": "bobby@acme.com", "type": "email"}]));

        // A rename frees the old userName for another user; deleting a user frees its aliases.
        scim.patch(&format!("/Users/{bob}"), &patch(json!([{"op": "replace", "path": "userName", "value": "bob.b@acme.com"}]))).await.expect(200);
        scim.post("/Users", &json!({"userName": "carol@acme.com", "aliases": [{"value": "bobby@acme.com"}]})).await.expect_error(409, Some("uniqueness"));
        // bob@acme.com is still one of bob's aliases (its own old userName, case aside).
        scim.post("/Users", &json!({"userName": "bob@acme.com"})).await.expect_error(409, Some("uniqueness"));
        scim.delete(&format!("/Users/{bob}")).await.expect(204);
        create(&scim, json!({"userName": "bob@acme.com", "aliases": [{"value": "bobby@acme.com"}]})).await;

        // Tenants do not share logins.
        let other = server.tenant("globex").await;
        create(&other, json!({"userName": "carol@acme.com", "aliases": [{"value": "robert@acme.com"}]})).await;
    }
}
