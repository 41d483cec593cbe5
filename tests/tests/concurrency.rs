//! Concurrent writers over HTTP.

use futures::future::join_all;
use scimledger_e2e::{on_both_backends, Server};
use serde_json::json;

on_both_backends! {
    async fn twenty_concurrent_creates_of_one_user_name_give_one_201(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let spellings = ["bjensen@example.com", "BJENSEN@example.com", "BJensen@Example.com", "bjensen@EXAMPLE.COM"];
        let bodies: Vec<_> = (0..20).map(|i| json!({"userName": spellings[i % spellings.len()]})).collect();
        let replies = join_all(bodies.iter().map(|body| scim.post("/Users", body))).await;
        let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [vec![201], vec![409; 19]].concat());
        for reply in replies.into_iter().filter(|r| r.status.as_u16() == 409) {
            reply.expect_error(409, Some("uniqueness"));
        }
        assert_eq!(backend.event_count().await, 1);
    }

    async fn concurrent_patches_of_one_group_lose_no_member(backend: Backend) {
        let server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let bodies: Vec<_> = (0..16).map(|i| json!({"userName": format!("u{i}")})).collect();
        let users: Vec<String> = join_all(bodies.iter().map(|body| scim.post("/Users", body)))
            .await
            .into_iter()
            .map(|r| r.expect(201)["id"].as_str().unwrap().to_owned())
            .collect();
        let gid = scim.post("/Groups", &json!({"displayName": "All"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let path = format!("/Groups/{gid}");
        let patches: Vec<_> = users
            .iter()
            .map(|u| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": [{"value": u}]}]}))
            .collect();
        for reply in join_all(patches.iter().map(|patch| scim.patch(&path, patch))).await {
            reply.expect(204);
        }
        let group = scim.get(&format!("/Groups/{gid}")).await.expect(200);
        assert_eq!(group["members"].as_array().unwrap().len(), 16, "each add was decided on the latest version");
    }
}
