//! The device registry and the assets subscriber end to end, on both backends: every
//! `on_deactivate` policy through a SCIM deactivation (PATCH active false, PUT with active
//! false, DELETE), checked in the registry (`device list --json`) and on the log; the device
//! events on NATS; a replay from a reset checkpoint changing nothing; the admin API refusing
//! bad input without a change.

use std::time::Duration;

use scimledger_e2e::hearing::{self, heard, wait_heard};
use scimledger_e2e::nats::Events;
use scimledger_e2e::{on_both_backends, Backend, Scim, Server};
use serde_json::{json, Value};
use store::{RecordedEvent, Store};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A tenant with a connection `idp` whose settings are `settings`, once the server heard of it.
async fn tenant(server: &Server, backend: &Backend, slug: &str, settings: &[&str]) -> Scim {
    server.cli(&["tenant", "create", slug]).await;
    let mark = heard(server);
    let mut args = vec!["connection", "create", slug, "--name", "idp", "--json"];
    args.extend_from_slice(settings);
    let issued: Value = serde_json::from_str(server.cli(&args).await.trim()).expect("JSON");
    wait_heard(server, backend, mark).await;
    Scim::new(issued["base_url"].as_str().unwrap(), issued["token"].as_str().unwrap())
}

/// A user document, with an enterprise manager if given.
fn user(name: &str, manager: Option<&str>) -> Value {
    let mut user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": true});
    if let Some(manager) = manager {
        user["schemas"].as_array_mut().unwrap().push(ENTERPRISE.into());
        user[ENTERPRISE] = json!({"manager": {"value": manager}});
    }
    user
}

fn deactivate_patch() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

/// Provisions `name` and registers two devices assigned to it (`<name>-1`, `<name>-2`, policy
/// `standard`) through the CLI; answers the user's id.
async fn with_devices(server: &Server, scim: &Scim, slug: &str, name: &str, manager: Option<&str>) -> String {
    let id = scim.post("/Users", &user(name, manager)).await.expect(201)["id"].as_str().unwrap().to_owned();
    for n in 1..=2 {
        let serial = format!("{name}-{n}");
        let device = server.cli_json(&["device", "register", slug, "--serial", &serial, "--assign", name, "--policy", "standard"]).await;
        assert_eq!(
            (device["serial"].as_str(), device["assigned_user_id"].as_str()),
            (Some(serial.as_str()), Some(id.as_str())),
            "{device}"
        );
    }
    id
}

/// Deactivates `pat` by PATCH, `put` by PUT with active false, and deletes `del`.
async fn depart(scim: &Scim, ids: &Ids, manager: Option<&str>) {
    scim.patch(&format!("/Users/{}", ids.pat), &deactivate_patch()).await.expect(200);
    let mut replaced = user("put", manager);
    replaced["active"] = false.into();
    scim.put(&format!("/Users/{}", ids.put), &replaced).await.expect(200);
    scim.delete(&format!("/Users/{}", ids.del)).await.expect(204);
}

struct Ids {
    pat: String,
    put: String,
    del: String,
}

async fn three_users(server: &Server, scim: &Scim, slug: &str, manager: Option<&str>) -> Ids {
    Ids {
        pat: with_devices(server, scim, slug, "pat", manager).await,
        put: with_devices(server, scim, slug, "put", manager).await,
        del: with_devices(server, scim, slug, "del", manager).await,
    }
}

/// One device as the registry lists it: (serial, policy, assigned user id).
type Listed = (String, Option<String>, Option<String>);

/// The registry of `slug`, by serial.
async fn registry(server: &Server, slug: &str) -> Vec<Listed> {
    let list = server.cli_json(&["device", "list", slug]).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let text = |k: &str| d[k].as_str().map(str::to_owned);
            (text("serial").unwrap(), text("policy"), text("assigned_user_id"))
        })
        .collect()
}

/// The events of the log of these types, in log order.
async fn events_of(store: &dyn Store, types: &[&str]) -> Vec<RecordedEvent> {
    let log = store.read_log(0, u32::MAX).await.expect("the log");
    log.into_iter().filter(|e| types.contains(&e.payload.event_type.as_str())).collect()
}

const ACTIONS: [&str; 4] = ["device.assigned", "device.unassigned", "device.policy_changed", "device.removed"];

fn assigned(serials: &[Listed], user: &str) -> Vec<String> {
    serials.iter().filter(|(_, _, u)| u.as_deref() == Some(user)).map(|(s, _, _)| s.clone()).collect()
}

on_both_backends! {
    async fn every_on_deactivate_policy_through_patch_put_and_delete_and_a_replay_changes_nothing(backend: Backend) {
        let server = hearing::start(&backend, Vec::new()).await;
        let store = backend.open_store().await;
        let all = |serials: &[&str]| serials.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let six = all(&["del-1", "del-2", "pat-1", "pat-2", "put-1", "put-2"]);

        // nothing: the devices stay as they were.
        let scim = tenant(&server, &backend, "p-nothing", &["--on-deactivate", "nothing"]).await;
        let ids = three_users(&server, &scim, "p-nothing", None).await;
        depart(&scim, &ids, None).await;

        // unassign_devices: every device unassigned; a reactivation does not undo it.
        let unassign = tenant(&server, &backend, "p-unassign", &["--on-deactivate", "unassign_devices"]).await;
        let unassign_ids = three_users(&server, &unassign, "p-unassign", None).await;
        depart(&unassign, &unassign_ids, None).await;

        // reassign_devices_to_manager: to the active manager; a user without one: unassigned.
        let reassign = tenant(&server, &backend, "p-reassign", &["--on-deactivate", "reassign_devices_to_manager"]).await;
        let boss = reassign.post("/Users", &user("boss", None)).await.expect(201)["id"].as_str().unwrap().to_owned();
        let reassign_ids = three_users(&server, &reassign, "p-reassign", Some(&boss)).await;
        let lonely = with_devices(&server, &reassign, "p-reassign", "lonely", None).await;
        depart(&reassign, &reassign_ids, Some(&boss)).await;
        reassign.patch(&format!("/Users/{lonely}"), &deactivate_patch()).await.expect(200);

        // change_device_policy: every device to the connection's device_policy, still assigned.
        let policy = tenant(&server, &backend, "p-policy", &["--on-deactivate", "change_device_policy", "--device-policy", "locked"]).await;
        let policy_ids = three_users(&server, &policy, "p-policy", None).await;
        depart(&policy, &policy_ids, None).await;

        // remove_user: the users deleted with the reason; their devices left alone.
        let remove = tenant(&server, &backend, "p-remove", &["--on-deactivate", "remove_user"]).await;
        let remove_ids = three_users(&server, &remove, "p-remove", None).await;
        depart(&remove, &remove_ids, None).await;

        // remove_user_and_devices: the users and their devices gone.
        let remove_all = tenant(&server, &backend, "p-remove-all", &["--on-deactivate", "remove_user_and_devices"]).await;
        let remove_all_ids = three_users(&server, &remove_all, "p-remove-all", None).await;
        depart(&remove_all, &remove_all_ids, None).await;

        server.wait_caught_up("assets").await;
        unassign.patch(&format!("/Users/{}", unassign_ids.pat), &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": true}]})).await.expect(200);
        server.wait_caught_up("assets").await;

        let nothing = registry(&server, "p-nothing").await;
        assert_eq!(assigned(&nothing, &ids.pat), all(&["pat-1", "pat-2"]));
        assert_eq!(assigned(&nothing, &ids.put), all(&["put-1", "put-2"]));
        assert_eq!(assigned(&nothing, &ids.del), all(&["del-1", "del-2"]));

        let unassigned = registry(&server, "p-unassign").await;
        assert_eq!(unassigned.iter().map(|d| d.0.clone()).collect::<Vec<_>>(), six);
        assert!(unassigned.iter().all(|(_, _, user)| user.is_none()), "{unassigned:?}");
        assert!(server.cli_json(&["device", "list", "p-unassign", "--user", "pat"]).await.as_array().unwrap().is_empty(), "reactivation undoes nothing");

        let reassigned = registry(&server, "p-reassign").await;
        assert_eq!(assigned(&reassigned, &boss), six);
        assert_eq!(reassigned.iter().filter(|d| d.0.starts_with("lonely")).map(|d| d.2.clone()).collect::<Vec<_>>(), vec![None, None]);
        let lonely_events: Vec<Value> = events_of(&*store, &["device.unassigned"]).await.into_iter()
            .filter(|e| e.tenant.as_str() == "p-reassign").map(|e| e.payload.data).collect();
        assert_eq!(lonely_events.len(), 2, "{lonely_events:?}");
        assert!(lonely_events.iter().all(|e| e["reason"] == "no_manager" && e["user"] == lonely.as_str()), "{lonely_events:?}");

        let changed = registry(&server, "p-policy").await;
        assert_eq!(assigned(&changed, &policy_ids.pat).len() + assigned(&changed, &policy_ids.put).len() + assigned(&changed, &policy_ids.del).len(), 6);
        assert!(changed.iter().all(|(_, policy, _)| policy.as_deref() == Some("locked")), "{changed:?}");

        let kept = registry(&server, "p-remove").await;
        assert_eq!(assigned(&kept, &remove_ids.pat).len() + assigned(&kept, &remove_ids.put).len(), 4, "{kept:?}");
        for id in [&remove_ids.pat, &remove_ids.put] {
            remove.get(&format!("/Users/{id}")).await.expect(404);
        }
        let removed: Vec<RecordedEvent> = events_of(&*store, &["user.deleted"]).await.into_iter()
            .filter(|e| e.tenant.as_str() == "p-remove" && e.payload.data.get("reason").is_some()).collect();
        assert_eq!(removed.len(), 2, "pat and put deleted by the subscriber, del by SCIM");
        assert!(removed.iter().all(|e| e.payload.data["reason"] == "on_deactivate remove_user" && e.metadata["system"] == "assets"), "{removed:?}");

        assert!(registry(&server, "p-remove-all").await.is_empty());
        for id in [&remove_all_ids.pat, &remove_all_ids.put, &remove_all_ids.del] {
            remove_all.get(&format!("/Users/{id}")).await.expect(404);
        }

        // Every action names the event that caused it.
        let actions = events_of(&*store, &ACTIONS).await;
        let causes: Vec<&RecordedEvent> = actions.iter().filter(|e| e.payload.data.get("cause").is_some()).collect();
        // unassign 6, reassign 6 + 2, policy 6, remove_all 6 (devices registered by the CLI carry no cause).
        assert_eq!(causes.len(), 26, "{causes:?}");
        assert!(causes.iter().all(|e| e.metadata["system"] == "assets"));

        // A replay of the whole log (the checkpoint back at the start) changes nothing.
        let before: Vec<(String, Vec<Listed>)> = {
            let mut all = Vec::new();
            for slug in ["p-nothing", "p-unassign", "p-reassign", "p-policy", "p-remove", "p-remove-all"] {
                all.push((slug.to_owned(), registry(&server, slug).await));
            }
            all
        };
        let log_before = store.read_log(0, u32::MAX).await.unwrap().len();
        server.kill().await;
        store.save_checkpoint("assets", store::LogCursor::default()).await.unwrap();
        let server = hearing::start(&backend, Vec::new()).await;
        server.wait_caught_up("assets").await;
        assert_eq!(store.read_log(0, u32::MAX).await.unwrap().len(), log_before, "the replay recorded nothing");
        for (slug, devices) in before {
            assert_eq!(registry(&server, &slug).await, devices, "{slug}");
        }
    }

    async fn device_actions_reach_nats_naming_their_cause(backend: Backend) {
        let events = Events::shared();
        let server = hearing::start(&backend, events.settings()).await;
        let slug = events.tenant.clone();
        let scim = tenant(&server, &backend, &slug, &["--on-deactivate", "unassign_devices"]).await;
        let ada = with_devices(&server, &scim, &slug, "ada", None).await;
        scim.patch(&format!("/Users/{ada}"), &deactivate_patch()).await.expect(200);
        server.wait_caught_up("assets").await;

        let store = backend.open_store().await;
        let log = store.read_log(0, u32::MAX).await.unwrap();
        let ours = log.iter().filter(|e| e.tenant.as_str() == slug).count() as u64;
        events.wait_for_stored(ours, Duration::from_secs(60)).await;
        let envelopes = events.read_all().await;
        let deactivated = envelopes.iter().find(|e| e["type"] == "scimledger.user.deactivated.v1").expect("the deactivation on NATS");
        let unassigned: Vec<&Value> = envelopes.iter().filter(|e| e["type"] == "scimledger.device.unassigned.v1").collect();
        assert_eq!(unassigned.len(), 2, "{envelopes:?}");
        for e in &unassigned {
            assert_eq!(e["data"]["cause"], deactivated["id"], "{e}");
            assert_eq!(e["data"]["reason"], "user_deactivated");
            assert_eq!(e["data"]["user"], ada.as_str());
            assert_eq!(e["actor"], "system:assets");
            assert!(e["subject"].as_str().unwrap().starts_with("devices/"), "{e}");
        }
        let registered = envelopes.iter().filter(|e| e["type"] == "scimledger.device.registered.v1").count();
        assert_eq!(registered, 2);
        events.remove().await;
    }

    async fn the_admin_api_registers_lists_assigns_and_refuses_bad_input_changing_nothing(backend: Backend) {
        let server = hearing::start(&backend, Vec::new()).await;
        let scim = tenant(&server, &backend, "acme", &[]).await;
        let ada = scim.post("/Users", &user("ada", None)).await.expect(201)["id"].as_str().unwrap().to_owned();
        let operator = hearing::changed(&server, &backend, &["operator", "create", "--name", "alice"]).await;
        let token = operator["token"].as_str().unwrap().to_owned();
        let client = reqwest::Client::new();
        let devices = format!("{}/admin/v1/tenants/acme/devices", server.base);
        let send = |request: reqwest::RequestBuilder| async move {
            let reply = request.send().await.unwrap();
            (reply.status().as_u16(), reply.json::<Value>().await.unwrap_or(Value::Null))
        };
        let store = backend.open_store().await;
        let log = || async { store.read_log(0, u32::MAX).await.unwrap().len() };

        let (status, mac) = send(client.post(&devices).bearer_auth(&token).json(&json!({"serial": "C02X", "name": "Ada's Mac", "kind": "laptop", "assign": "ada"}))).await;
        assert_eq!(status, 201, "{mac}");
        assert_eq!((mac["assigned_user_id"].as_str(), mac["kind"].as_str()), (Some(ada.as_str()), Some("laptop")));
        let (status, _) = send(client.post(&devices).bearer_auth(&token).json(&json!({"serial": "P1"}))).await;
        assert_eq!(status, 201);

        let before = log().await;
        for (body, expected) in [
            (json!({"serial": "C02X"}), 409),
            (json!({"serial": "  "}), 400),
            (json!({"serial": "N1", "assign": "nobody"}), 404),
            (json!({"serial": "N2", "colour": "red"}), 400),
            (json!({"serial": "N3", "policy": "bad\nname"}), 400),
        ] {
            let (status, error) = send(client.post(&devices).bearer_auth(&token).json(&body)).await;
            assert_eq!(status, expected, "{body}: {error}");
        }
        let (status, _) = send(client.post(format!("{devices}/NOPE/assign")).bearer_auth(&token).json(&json!({"user": "ada"}))).await;
        assert_eq!(status, 404);
        let (status, _) = send(client.post(format!("{devices}/P1/assign")).bearer_auth(&token).json(&json!({"user": "nobody"}))).await;
        assert_eq!(status, 404);
        let (status, _) = send(client.get(&devices)).await;
        assert_eq!(status, 401);
        assert_eq!(log().await, before, "refusals change nothing");

        let (status, p1) = send(client.post(format!("{devices}/P1/assign")).bearer_auth(&token).json(&json!({"user": ada}))).await;
        assert_eq!((status, p1["assigned_user_id"].as_str()), (200, Some(ada.as_str())), "{p1}");
        let (status, listed) = send(client.get(format!("{devices}?user=ada")).bearer_auth(&token)).await;
        assert_eq!(status, 200);
        assert_eq!(listed.as_array().unwrap().iter().map(|d| d["serial"].as_str().unwrap()).collect::<Vec<_>>(), vec!["C02X", "P1"]);
        let (status, mac) = send(client.post(format!("{devices}/C02X/unassign")).bearer_auth(&token)).await;
        assert_eq!((status, mac["assigned_user_id"].clone()), (200, Value::Null));
        let cli = server.cli_json(&["device", "list", "acme", "--user", &ada]).await;
        assert_eq!(cli.as_array().unwrap().len(), 1, "{cli}");
        let assigned = server.cli_json(&["device", "assign", "acme", "C02X", "ada"]).await;
        assert_eq!(assigned["assigned_user_id"].as_str(), Some(ada.as_str()));
        let unassigned = server.cli_json(&["device", "unassign", "acme", "P1"]).await;
        assert_eq!(unassigned["assigned_user_id"], Value::Null);

        let openapi: Value = client.get(format!("{}/admin/v1/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
        for path in ["/admin/v1/tenants/{tenant}/devices", "/admin/v1/tenants/{tenant}/devices/{serial}/assign", "/admin/v1/tenants/{tenant}/devices/{serial}/unassign"] {
            assert!(openapi["paths"].get(path).is_some(), "{path} in the OpenAPI document");
        }
    }
}

/// `scimledger worker assets` alone, beside `serve --no-workers` (PostgreSQL): it applies the
/// policy; and a manager that is inactive, or no user of the tenant, leaves the devices
/// unassigned with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_alone_applies_the_policy_and_an_unusable_manager_unassigns_with_the_reason() {
    let backend = Backend::postgres().await;
    let server = Server::start_serving(&backend, &["--no-workers"], vec![("RUST_LOG", "warn,store::postgres::listen=debug".into())]).await;
    let scim = tenant(&server, &backend, "acme", &["--on-deactivate", "reassign_devices_to_manager"]).await;
    let boss = scim.post("/Users", &user("boss", None)).await.expect(201)["id"].as_str().unwrap().to_owned();
    scim.patch(&format!("/Users/{boss}"), &deactivate_patch()).await.expect(200);
    let ada = with_devices(&server, &scim, "acme", "ada", Some(&boss)).await;
    let bob = with_devices(&server, &scim, "acme", "bob", Some("not-a-user")).await;
    for id in [&ada, &bob] {
        scim.patch(&format!("/Users/{id}"), &deactivate_patch()).await.expect(200);
    }

    let mut worker = server.spawn(&["worker", "assets"]);
    server.wait_caught_up("assets").await;
    worker.kill().await.expect("killing the worker");
    assert!(registry(&server, "acme").await.iter().all(|(_, _, user)| user.is_none()));
    let store = backend.open_store().await;
    let reasons: Vec<(String, String)> = events_of(&*store, &["device.unassigned"])
        .await
        .into_iter()
        .map(|e| (e.payload.data["user"].as_str().unwrap().to_owned(), e.payload.data["reason"].as_str().unwrap().to_owned()))
        .collect();
    let expected =
        [(ada.clone(), "manager_inactive"), (ada, "manager_inactive"), (bob.clone(), "manager_not_found"), (bob, "manager_not_found")];
    assert_eq!(reasons, expected.map(|(u, r)| (u, r.to_owned())));
}
