//! Erasure by crypto-shredding (docs/adr/0068): a user's personal data is stored encrypted
//! under its own key; `audit erase` deletes the user and destroys the key. Afterwards no read
//! model, no stored event payload, no re-published NATS message and no audit export holds its
//! personal data, the history shows its events as erased, and `audit verify` still passes.
//! The enrollment mailer's outcomes name the user's address: under the user's key too.

use std::time::Duration;

use domain::StreamKind;
use scimledger_e2e::nats::Events;
use scimledger_e2e::smtp::SmtpSink;
use scimledger_e2e::{on_both_backends, Backend, Server};
use serde_json::{json, Value};

/// What the user's personal data is made of: every one must be gone after the erasure.
const PERSONAL: [&str; 8] = [
    "ada.lovelace@example.com",
    "Lovelace",
    "Augusta",
    "+44 20 7946 0018",
    "12 St James's Square",
    "countess@example.org",
    "ADA-1815",
    "ada.work@example.com",
];

fn ada() -> Value {
    json!({
        "userName": "ada.lovelace@example.com",
        "externalId": "ADA-1815",
        "name": {"givenName": "Augusta", "familyName": "Lovelace"},
        "displayName": "Augusta Lovelace",
        "emails": [{"value": "ada.work@example.com", "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+44 20 7946 0018", "type": "work"}],
        "addresses": [{"streetAddress": "12 St James's Square", "type": "home"}],
        "aliases": [{"value": "countess@example.org", "type": "email"}],
    })
}

/// The personal values `text` holds.
fn leaks(text: &str) -> Vec<&'static str> {
    PERSONAL.iter().copied().filter(|value| text.contains(value)).collect()
}

/// Every event payload as the database stores it, as one text.
async fn stored(backend: &Backend) -> String {
    let log = backend.open_stored().await.read_log(0, u32::MAX).await.unwrap();
    serde_json::to_string(&log.iter().map(|e| &e.payload.data).collect::<Vec<_>>()).unwrap()
}

/// The payloads of the enrollment outcomes, as a reader of the log sees them, once the mailer
/// recorded one.
async fn enrollments(backend: &Backend) -> Vec<Value> {
    let store = backend.open_store().await;
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let log = store.read_log(0, u32::MAX).await.unwrap();
            let sent: Vec<Value> = log.into_iter().filter(|e| e.kind == StreamKind::Enrollment).map(|e| e.payload.data).collect();
            if !sent.is_empty() {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    waited.expect("the mailer recorded the enrollment")
}

/// The rows of a read model whose `column` is `id`, as text.
async fn rows_naming(backend: &Backend, table: &str, column: &str, id: &str) -> Vec<String> {
    let sql = match backend {
        Backend::Postgres { .. } => format!("SELECT {column}::text FROM {table} WHERE {column}::text = '{id}'"),
        Backend::Sqlite { .. } => format!("SELECT {column} FROM {table} WHERE {column} = '{id}'"),
    };
    backend.texts(&sql).await
}

on_both_backends! {
    async fn erasure_leaves_no_personal_data_in_read_models_events_nats_or_exports_and_the_log_still_verifies(backend: Backend) {
        let events = Events::shared();
        let smtp = SmtpSink::start().await;
        let mut server = Server::start_with(&backend, [events.settings(), smtp.settings()].concat()).await;
        let tenant = events.tenant.clone();
        server.cli(&["tenant", "create", &tenant]).await;
        let scim = server.connect_with(&tenant, "okta", &["--send-enrollment-email"]).await;
        let id = scim.post("/Users", &ada()).await.expect(201)["id"].as_str().unwrap().to_owned();
        let sent = enrollments(&backend).await;
        assert_eq!(sent[0]["to"], "ada.work@example.com", "the mailer's reader sees the address: {sent:?}");
        assert_eq!(smtp.to("ada.work@example.com").len(), 1);
        let other = scim.post("/Users", &json!({"userName": "grace"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        scim.patch(&format!("/Users/{id}"), &deactivate).await.expect(200);
        let group = json!({"displayName": "analysts", "members": [{"value": id}, {"value": other}]});
        let group = scim.post("/Groups", &group).await.expect(201)["id"].as_str().unwrap().to_owned();
        for serial in ["AE-1", "AE-2"] {
            server.cli(&["device", "register", &tenant, "--serial", serial, "--assign", &id]).await;
        }

        // At rest, the events hold the personal data encrypted, from the first event on.
        assert_eq!(leaks(&stored(&backend).await), Vec::<&str>::new(), "the stored payloads");
        // The readers of the log see it in the clear: the audit, as here.
        assert!(!leaks(&server.cli(&["audit", "export", &tenant]).await).is_empty(), "the export before the erasure");
        let sealed = server.cli_json(&["audit", "seal", &tenant]).await;

        let erased = server.cli_json(&["audit", "erase", &tenant, "ADA.Lovelace@example.com"]).await;
        assert_eq!((erased["user"].as_str(), erased["erased"].as_bool()), (Some(id.as_str()), Some(true)), "{erased}");
        let mut unassigned: Vec<&str> = erased["unassigned"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        unassigned.sort();
        assert_eq!(unassigned, ["AE-1", "AE-2"], "the erasure unassigned the user's devices: {erased}");
        let again = server.cli_json(&["audit", "erase", &tenant, &id]).await;
        assert_eq!((again["erased"].clone(), again["unassigned"].clone()), (json!(false), json!([])), "erased once: {again}");
        let unknown = server.cli_fails(&["audit", "erase", &tenant, "nobody@example.com"]).await;
        assert!(unknown.contains("no user 'nobody@example.com'"), "{unknown}");
        // The admin API speaks the same words, as the operator of its token.
        let token = server.cli_json(&["operator", "create", "--name", "dpo"]).await["token"].as_str().unwrap().to_owned();
        let erase = |user: String| {
            let (base, token, tenant) = (server.base.clone(), token.clone(), tenant.clone());
            async move {
                let url = format!("{base}/admin/v1/tenants/{tenant}/audit/erasures/{user}");
                let response = reqwest::Client::new().post(url).bearer_auth(token).send().await.unwrap();
                (response.status().as_u16(), response.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = erase(id.clone()).await;
        assert_eq!((status, body["erased"].as_bool()), (200, Some(false)), "{body}");
        let (status, body) = erase("nobody".into()).await;
        assert_eq!(status, 404, "{body}");

        // The user is gone from every read model: SCIM, its logins, its values, its groups,
        // its devices, its key.
        scim.get(&format!("/Users/{id}")).await.expect(404);
        for filter in ["userName eq \"ada.lovelace@example.com\"", "emails.value eq \"ada.work@example.com\"", "externalId eq \"ADA-1815\""] {
            let page = scim.get(&format!("/Users?filter={}", urlencode(filter))).await.expect(200);
            assert_eq!(page["totalResults"], 0, "{filter}: {page}");
        }
        let members = scim.get(&format!("/Groups/{group}")).await.expect(200)["members"].clone();
        let values: Vec<&str> = members.as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(values, [other.as_str()], "only grace is left: {members}");
        for (table, column) in [("users", "id"), ("user_values", "user_id"), ("memberships", "member_id"), ("reservations", "owner"),
                                ("login_history", "user_id"), ("devices", "assigned"), ("user_keys", "user_id")] {
            assert_eq!(rows_naming(&backend, table, column, &id).await, Vec::<String>::new(), "{table}.{column}");
        }
        let device = server.cli_json(&["device", "list", &tenant]).await;
        assert!(device.to_string().contains("AE-1") && !device.to_string().contains(&id), "{device}");
        // Each device left the user by a `device.unassigned` event of its own, on NATS, caused
        // by the erasure and made by the operator.
        let ours = server.cli_json(&["audit", "log", &tenant, "--limit", "1000"]).await["events"].as_array().unwrap().len() as u64;
        events.wait_for_stored(ours, std::time::Duration::from_secs(60)).await;
        let published = events.read_all().await;
        let erasure_event = published.iter().find(|e| e["type"] == "scimledger.user.erased.v1").expect("user.erased on NATS");
        let unassigned: Vec<&Value> = published.iter().filter(|e| e["type"] == "scimledger.device.unassigned.v1").collect();
        assert_eq!(unassigned.len(), 2, "{published:?}");
        for e in unassigned {
            assert_eq!((e["data"]["cause"].clone(), e["data"]["reason"].clone()), (erasure_event["id"].clone(), json!("user_erased")), "{e}");
            assert_eq!((e["data"]["user"].as_str(), e["actor"].as_str()), (Some(id.as_str()), Some("operator:cli")), "{e}");
        }

        // The stored events never held it; the readers now show the markers.
        assert_eq!(leaks(&stored(&backend).await), Vec::<&str>::new(), "the stored payloads");
        let export = server.cli(&["audit", "export", &tenant]).await;
        assert_eq!(leaks(&export), Vec::<&str>::new(), "the export");
        assert!(export.contains("[erased]") && export.contains("user.erased"), "{export}");
        let sent = enrollments(&backend).await;
        assert_eq!((sent[0]["to"].as_str(), sent[0]["erased"].as_bool()), (Some("[erased]"), Some(true)), "the enrollment's address: {sent:?}");
        let history = server.cli_json(&["audit", "history", &tenant, &id]).await;
        let types: Vec<&str> = history.as_array().unwrap().iter().map(|entry| entry["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["user.provisioned", "user.deactivated", "user.deleted", "user.erased"], "{history}");
        assert_eq!(leaks(&history.to_string()), Vec::<&str>::new(), "the history");
        let erasure = history[3].clone();
        assert_eq!(erasure["actor"], "operator:cli", "the erasure is an operator's event: {erasure}");

        // The chain covers what is stored: destroying the key changed none of it.
        server.cli_json(&["audit", "seal", &tenant]).await;
        let verdict = server.cli_json(&["audit", "verify", &tenant]).await;
        assert_eq!(verdict["intact"], true, "{verdict}");
        let anchored = server.cli_json(&["audit", "verify", &tenant, "--seal", &write_seal(&backend, &sealed)]).await;
        assert_eq!(anchored["intact"], true, "{anchored}");

        // Re-published to a fresh stream, the events carry the markers and nothing else.
        server.halt().await;
        events.remove().await;
        events.jetstream().await.create_stream(async_nats::jetstream::stream::Config {
            name: events.stream.clone(),
            subjects: vec![format!("scimledger.{tenant}.>")],
            ..Default::default()
        }).await.expect("a fresh stream");
        // The tenant's events: the stream captures no other tenant's (the operator's).
        let log = server.cli_json(&["audit", "log", &tenant, "--limit", "1000"]).await;
        let positions: Vec<String> = log["events"].as_array().unwrap().iter().map(|e| e["position"].to_string()).collect();
        let (first, last) = (positions.first().unwrap(), positions.last().unwrap());
        let printed = server.cli(&["events", "republish", "--from", first, "--to", last]).await;
        assert!(printed.contains("re-published"), "{printed}");
        let republished = serde_json::to_string(&events.read_all().await).unwrap();
        assert!(republished.contains("user.erased") && republished.contains("[erased]"), "{republished}");
        assert_eq!(leaks(&republished), Vec::<&str>::new(), "the re-published events");
        events.remove().await;
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Keeps a seal in a file beside the data, as an auditor keeps one elsewhere.
fn write_seal(backend: &Backend, seal: &Value) -> String {
    let path = backend.master_key_file().with_file_name("seal.json");
    std::fs::write(&path, seal.to_string()).unwrap();
    path.display().to_string()
}
