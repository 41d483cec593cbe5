//! Ownership end to end (docs/adr/0040, 0041): a connection may not change another's users and
//! groups, and a purge deletes what a connection owned, under another connection's writes and
//! across a `kill -9`.

use std::collections::HashSet;
use std::time::Duration;

use domain::{Owner, ResourceId, StreamKind, TenantSlug};
use scimledger_e2e::hearing::{changed, start};
use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::{json, Value};
use store::{Actor, EventMetadata};
use uuid::Uuid;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A new connection of `tenant` with the settings flags `settings`: its id and a client.
async fn connection(server: &Server, tenant: &str, name: &str, settings: &[&str]) -> (Uuid, Scim) {
    let (issued, scim) = server.issue_connection(tenant, name, settings).await;
    (issued["connection_id"].as_str().unwrap().parse().unwrap(), scim)
}

/// Creates `count` users named `<prefix><n>` through /Bulk.
async fn provision(scim: &Scim, prefix: &str, count: usize) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let operations: Vec<Value> = chunk
            .iter()
            .map(|n| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{n}"), "data": {"userName": format!("{prefix}{n}")}}))
            .collect();
        let response = scim.post("/Bulk", &json!({"schemas": [BULK_REQUEST], "Operations": operations})).await.expect(200);
        assert!(response["Operations"].as_array().unwrap().iter().all(|o| o["status"] == "201"), "{response}");
    }
}

async fn total(scim: &Scim, filter: &str) -> u64 {
    scim.filter("/Users", filter, "").await.expect(200)["totalResults"].as_u64().unwrap()
}

on_both_backends! {
    async fn an_operator_provisions_manually_through_the_admin_api(backend: Backend) {
        let server = Server::start(&backend).await;
        let okta = server.tenant("acme").await;
        let (_, claimer) = connection(&server, "acme", "claimer", &["--claim-manual"]).await;
        let operator = server.cli_json(&["operator", "create", "--name", "olga"]).await;
        let token = operator["token"].as_str().unwrap();
        let manual = Scim::new(&format!("{}/admin/v1/tenants/acme", server.base), token);

        // Operator-owned: an IdP's connection without claim_manual may not change it.
        let carol = manual.post("/Users", &json!({"userName": "carol@example.com", "name": {"givenName": "Carol"}})).await.expect(201);
        let carol_id = carol["id"].as_str().unwrap().to_owned();
        assert_eq!(carol["meta"]["location"], format!("{}/scim/v2/acme/Users/{carol_id}", server.base), "one canonical location");
        let staff = manual.post("/Groups", &json!({"displayName": "Staff", "members": [{"value": carol_id}]})).await.expect(201);
        let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Caz"}]});
        let refused = okta.patch(&format!("/Users/{carol_id}"), &rename).await.expect_error(409, None);
        assert!(refused["detail"].as_str().unwrap().contains("provisioned manually"), "{refused}");

        // The operator changes what a connection owns without taking it over.
        let dave = okta.post("/Users", &json!({"userName": "dave@example.com"})).await.expect(201);
        let dave_id = dave["id"].as_str().unwrap();
        manual.patch(&format!("/Users/{dave_id}"), &rename).await.expect(200);
        okta.patch(&format!("/Users/{dave_id}"), &rename).await.expect(200);
        manual.get(&format!("/Groups/{}", staff["id"].as_str().unwrap())).await.expect(200);

        // A connection that claims manual resources takes carol over.
        claimer.patch(&format!("/Users/{carol_id}"), &rename).await.expect(200);
        let store = backend.open_store().await;
        let acme = TenantSlug::parse("acme").unwrap();
        let carol_stream = store.stream(&acme, StreamKind::User, carol_id.parse().unwrap()).await.unwrap();
        let types: Vec<&str> = carol_stream.iter().map(|e| e.payload.event_type.as_str()).collect();
        assert_eq!(types, ["user.provisioned", "user.claimed", "user.profile_updated"]);
        assert_eq!(carol_stream[0].metadata["operator"], "olga", "the operator is the actor");

        // Refusals: bad SCIM is SCIM's 400, an unknown tenant the admin API's 404, no token 401.
        let before = backend.event_count().await;
        manual.post("/Users", &json!({"name": {"givenName": "nobody"}})).await.expect_error(400, Some("invalidValue"));
        let unknown = Scim::new(&format!("{}/admin/v1/tenants/nobody", server.base), token).get("/Users").await.expect(404);
        assert_eq!(unknown["code"], "unknown_tenant");
        Scim::new(&format!("{}/admin/v1/tenants/acme", server.base), "scimledger_wrong").get("/Users").await.expect(401);
        assert_eq!(backend.event_count().await, before, "refusals change nothing");
    }

    async fn a_connection_gets_409_writing_what_another_owns_and_nothing_changes(backend: Backend) {
        let server = Server::start(&backend).await;
        let okta = server.tenant("acme").await;
        // Entra reads the whole tenant, so that what it is refused is the write, not the look-up.
        let (_, entra) = connection(&server, "acme", "entra", &["--read-scope", "all"]).await;
        let bob = okta.post("/Users", &json!({"userName": "bob@example.com"})).await.expect(201);
        let bob_id = bob["id"].as_str().unwrap();
        let group = okta.post("/Groups", &json!({"displayName": "Staff"})).await.expect(201);
        let before = backend.event_count().await;

        let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Robert"}]});
        let refused = entra.patch(&format!("/Users/{bob_id}"), &patch).await.expect_error(409, None);
        assert_eq!(refused["detail"], format!("User {bob_id} is owned by another connection"));
        entra.put(&format!("/Users/{bob_id}"), &json!({"userName": "bob@example.com"})).await.expect_error(409, None);
        entra.delete(&format!("/Users/{bob_id}")).await.expect_error(409, None);
        entra.delete(&format!("/Groups/{}", group["id"].as_str().unwrap())).await.expect_error(409, None);
        let bulk = json!({"schemas": [BULK_REQUEST], "Operations": [{"method": "PATCH", "path": format!("/Users/{bob_id}"), "data": patch}]});
        let response = entra.post("/Bulk", &bulk).await.expect(200);
        assert_eq!(response["Operations"][0]["status"], "409", "{response}");
        // The name is still taken tenant-wide, and the answer says nothing of whose it is.
        let taken = entra.post("/Users", &json!({"userName": "BOB@example.com"})).await.expect_error(409, Some("uniqueness"));
        assert!(!taken["detail"].as_str().unwrap().contains(bob_id), "{taken}");
        assert_eq!(backend.event_count().await, before, "refusals append nothing");

        // A connection with read scope `all` sees what another owns.
        assert_eq!(entra.get(&format!("/Users/{bob_id}")).await.expect(200)["userName"], "bob@example.com");
        // The owner is the server's business: the SCIM representation does not show it.
        assert_eq!(bob.as_object().unwrap().keys().filter(|k| k.contains("owner")).count(), 0);
        okta.patch(&format!("/Users/{bob_id}"), &patch).await.expect(200);
    }

    async fn a_purge_cut_short_by_kill_9_finishes_at_the_next_start_and_spares_other_connections(backend: Backend) {
        const PURGED: usize = 2000;
        let server = Server::start(&backend).await;
        server.cli(&["tenant", "create", "acme"]).await;
        let (okta_id, okta) = connection(&server, "acme", "okta", &[]).await;
        // Entra sees the whole tenant, to watch okta's users go.
        let (_, entra) = connection(&server, "acme", "entra", &["--read-scope", "all"]).await;
        provision(&okta, "okta", PURGED).await;
        let group = okta.post("/Groups", &json!({"displayName": "Okta staff"})).await.expect(201);
        provision(&entra, "entra", 20).await;
        let entra_group = entra.post("/Groups", &json!({"displayName": "Entra staff"})).await.expect(201);
        server.kill().await;

        // Disabled with purge while no server runs; the next server takes the purge up at start.
        let tenant = TenantSlug::parse("acme").unwrap();
        let cli = EventMetadata::by(Actor::Operator("cli".into()));
        store::purge::request(&*backend.open_store().await, &tenant, okta_id, cli).await.unwrap();
        let server = Server::start(&backend).await;
        let store = backend.open_store().await;
        let deleted = || async { store.read_log(0, u32::MAX).await.unwrap().iter().filter(|e| e.payload.event_type == "user.deleted").count() };
        tokio::time::timeout(Duration::from_secs(60), async {
            while deleted().await == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the purge resumed at start-up");
        server.kill().await;
        let left = store.owned(&tenant, StreamKind::User, Owner::Connection(okta_id), 0, PURGED as u32).await.unwrap().len();
        assert!(left > 0 && left < PURGED, "the kill came mid-purge: {left} of okta's users left");

        // Entra writes its own users while the purge finishes, and is refused okta's.
        let server = Server::start(&backend).await;
        let entra = entra.with_base(&format!("{}/scim/v2/acme", server.base));
        let okta_user = entra.filter("/Users", "userName eq \"okta1999\"", "").await.expect(200);
        for round in 0..10 {
            for n in 0..20 {
                let found = entra.filter("/Users", &format!("userName eq \"entra{n}\""), "").await.expect(200);
                let id = found["Resources"][0]["id"].as_str().unwrap().to_owned();
                entra.put(&format!("/Users/{id}"), &json!({"userName": format!("entra{n}"), "title": format!("round {round}")})).await.expect(200);
            }
            if let Some(id) = okta_user["Resources"][0]["id"].as_str() {
                let status = entra.put(&format!("/Users/{id}"), &json!({"userName": "mine now"})).await.status.as_u16();
                assert!(status == 409 || status == 404, "entra may not write okta's user: {status}");
            }
        }
        tokio::time::timeout(Duration::from_secs(120), async {
            while total(&entra, "userName sw \"okta\"").await > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the purge finished");
        tokio::time::timeout(Duration::from_secs(30), async {
            while !store.pending_purges().await.unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the group was purged too");

        // Each of okta's users and its group was deleted once, saying why; nothing of entra's was.
        let log = store.read_log(0, u32::MAX).await.unwrap();
        let created: HashSet<ResourceId> = log.iter().filter(|e| e.stream_version == 1 && e.metadata["connection_id"] == okta_id.to_string()).map(|e| e.stream).collect();
        let deletes: Vec<_> = log.iter().filter(|e| e.payload.event_type.ends_with(".deleted")).collect();
        assert_eq!(created.len(), PURGED + 1);
        assert_eq!(deletes.len(), created.len(), "one delete each, none twice across the crash");
        assert_eq!(deletes.iter().map(|e| e.stream).collect::<HashSet<_>>(), created);
        assert!(deletes.iter().all(|e| e.metadata["reason"] == "connection_disabled" && e.metadata["system"] == "purge"));
        assert_eq!(total(&entra, "userName sw \"entra\"").await, 20);
        assert_eq!(total(&entra, "title eq \"round 9\"").await, 20);
        entra.get(&format!("/Groups/{}", entra_group["id"].as_str().unwrap())).await.expect(200);
        entra.get(&format!("/Groups/{}", group["id"].as_str().unwrap())).await.expect(404);
        // The purged connection is disabled: its token no longer authenticates (this server
        // never saw it authenticate, so has it in no cache).
        okta.with_base(&format!("{}/scim/v2/acme", server.base)).get("/Users").await.expect(401);
    }

    async fn settings_from_connection_update_change_what_a_connection_sees_and_claims_and_disable_purge_purges(backend: Backend) {
        let server = start(&backend, Vec::new()).await;
        changed(&server, &backend, &["tenant", "create", "acme"]).await;
        let (okta_id, okta) = connection(&server, "acme", "okta", &[]).await;
        let (_, entra) = connection(&server, "acme", "entra", &[]).await;
        let ada = okta.post("/Users", &json!({"userName": "ada"})).await.expect(201);
        let ada_id = ada["id"].as_str().unwrap().to_owned();
        entra.post("/Users", &json!({"userName": "eve"})).await.expect(201);
        // Provisioned by hand: an operator's, as `scimledger` writes it.
        let tenant = TenantSlug::parse("acme").unwrap();
        let store = backend.open_store().await;
        let cli = EventMetadata::by(Actor::Operator("cli".into()));
        let resource = scim::document::Document::parse(&json!({"userName": "manual"}), &scim::schema::USER_RESOURCE).unwrap();
        let provision = domain::user::UserCommand::Provision { resource, owner: Owner::Operator };
        let manual = store::commands::create::<domain::user::User>(&*store, &tenant, provision, cli.clone()).await.unwrap().id;

        // New connections read only what they own: the tenant's kept count is not theirs.
        let names = |page: Value| -> Vec<String> {
            let mut names: Vec<String> = page["Resources"].as_array().unwrap().iter().map(|r| r["userName"].as_str().unwrap().to_owned()).collect();
            names.sort();
            names
        };
        let page = entra.get("/Users").await.expect(200);
        assert_eq!((page["totalResults"].as_u64(), names(page)), (Some(1), vec!["eve".to_owned()]));
        entra.get(&format!("/Users/{ada_id}")).await.expect_error(404, None);
        assert_eq!(total(&entra, "userName eq \"ada\"").await, 0);

        // read_scope all: the whole tenant, still without the right to change what others own.
        changed(&server, &backend, &["connection", "update", "acme", "entra", "--read-scope", "all"]).await;
        let page = entra.get("/Users").await.expect(200);
        assert_eq!((page["totalResults"].as_u64(), names(page)), (Some(3), vec!["ada".to_owned(), "eve".to_owned(), "manual".to_owned()]));
        entra.put(&format!("/Users/{manual}"), &json!({"userName": "manual", "title": "taken"})).await.expect_error(409, None);

        // Back to own, with claim_manual: operators' resources show, and a write claims one.
        changed(&server, &backend, &["connection", "update", "acme", "entra", "--read-scope", "own", "--claim-manual"]).await;
        let page = entra.get("/Users").await.expect(200);
        assert_eq!((page["totalResults"].as_u64(), names(page)), (Some(2), vec!["eve".to_owned(), "manual".to_owned()]));
        entra.put(&format!("/Users/{manual}"), &json!({"userName": "manual", "title": "taken"})).await.expect(200);
        let types: Vec<String> = store.stream(&tenant, StreamKind::User, manual).await.unwrap().into_iter().map(|e| e.payload.event_type).collect();
        assert_eq!((types[1].as_str(), types.len() > 2), ("user.claimed", true), "{types:?}");
        // Claiming is not seeing: okta's ada stays out of reach.
        let status = entra.put(&format!("/Users/{ada_id}"), &json!({"userName": "ada"})).await.status.as_u16();
        assert!(status == 404 || status == 409, "entra may not write okta's user: {status}");

        // Disable with purge: okta's users go, each with its reason; entra's, claimed one included, stay.
        let disabled = changed(&server, &backend, &["connection", "disable", "acme", "okta", "--purge"]).await;
        assert!(disabled["disabled"].is_string(), "{disabled}");
        assert!(store.owned(&tenant, StreamKind::User, Owner::Connection(okta_id), 0, 10).await.unwrap().is_empty());
        assert!(store.pending_purges().await.unwrap().is_empty());
        let deleted: Vec<_> = store.read_log(0, u32::MAX).await.unwrap().into_iter().filter(|e| e.payload.event_type == "user.deleted").collect();
        assert_eq!(deleted.iter().map(|e| e.stream.to_string()).collect::<Vec<_>>(), [ada_id]);
        assert_eq!(deleted[0].metadata["reason"], "connection_disabled");
        let page = entra.get("/Users").await.expect(200);
        assert_eq!(names(page), ["eve", "manual"]);
        okta.get("/Users").await.expect(401);
    }

}
