//! Tamper evidence end to end (docs/adr/0052): the log is sealed per tenant, and `audit verify`
//! catches each kind of tampering done with SQL directly on the database (an event edited,
//! deleted, inserted, reordered; a seal changed), naming the first bad position; a seal kept
//! elsewhere catches a log rewritten with its seals.

use scimledger_e2e::{on_both_backends, Backend, Server};
use serde_json::{json, Value};

/// A new random event id, as each database spells one.
fn new_id(backend: &Backend) -> &'static str {
    match backend {
        Backend::Postgres { .. } => "gen_random_uuid()",
        Backend::Sqlite { .. } => "lower(hex(randomblob(16)))",
    }
}

/// SQL that adds a field to the payload of the event at `position` (a user's personal fields
/// are stored encrypted, so the forgery is one that needs no key).
fn forge(backend: &Backend, position: i64) -> String {
    match backend {
        Backend::Postgres { .. } => {
            format!("UPDATE events SET payload = jsonb_set(payload, '{{forged}}', '\"forged\"') WHERE position = {position}")
        }
        Backend::Sqlite { .. } => {
            format!("UPDATE events SET payload = json_set(payload, '$.forged', 'forged') WHERE position = {position}")
        }
    }
}

/// Two tenants whose users' events interleave in the log, sealed; the server is stopped so
/// that nothing but the test touches the database. Returns the positions of acme's events.
async fn sealed_log(backend: &Backend) -> (Server, Vec<i64>, Vec<i64>) {
    let server = Server::start(backend).await;
    let acme = server.tenant("acme").await;
    let beta = server.tenant("beta").await;
    for n in 0..4 {
        let user = acme.post("/Users", &json!({"userName": format!("a{n}")})).await.expect(201);
        acme.put(&format!("/Users/{}", user["id"].as_str().unwrap()), &json!({"userName": format!("a{n}"), "title": "t"}))
            .await
            .expect(200);
        beta.post("/Users", &json!({"userName": format!("b{n}")})).await.expect(201);
    }
    let seal = server.cli_json(&["audit", "seal", "acme"]).await;
    let positions = |tenant: &'static str| {
        let server = &server;
        async move {
            let page = server.cli_json(&["audit", "log", tenant, "--limit", "1000"]).await;
            page["events"].as_array().unwrap().iter().map(|e| e["position"].as_i64().unwrap()).collect::<Vec<i64>>()
        }
    };
    let (acme, beta) = (positions("acme").await, positions("beta").await);
    assert_eq!(seal["position"].as_i64(), acme.last().copied(), "acme is sealed through its last event: {seal}");
    assert_eq!((seal["algorithm"].as_str(), seal["chain"].as_str().map(str::len)), (Some("sha256-chain-v1"), Some(64)));
    (server, acme, beta)
}

/// `audit verify acme` fails, naming `position` and `kind`.
async fn caught(server: &Server, position: i64, kind: &str) {
    let stderr = server.cli_fails(&["audit", "verify", "acme"]).await;
    assert!(stderr.contains(&format!("position {position}: {kind}")), "expected {kind} at {position}: {stderr}");
    let output = server.cli_fails(&["audit", "verify", "acme", "--json"]).await;
    assert!(output.contains(kind), "{output}");
}

on_both_backends! {
    async fn an_intact_log_verifies_and_what_is_not_sealed_yet_is_counted(backend: Backend) {
        let (server, acme, _) = sealed_log(&backend).await;
        let verdict = server.cli_json(&["audit", "verify", "acme"]).await;
        assert_eq!(verdict["intact"], true, "{verdict}");
        assert_eq!((verdict["verified"].as_u64(), verdict["sealed_through"].as_i64()), (Some(acme.len() as u64), acme.last().copied()));
        assert!(server.cli(&["audit", "verify", "acme"]).await.contains("sealed events verified"));
        // An event after the last seal is not a problem: no sealer has reached it yet.
        let mut halted = server;
        halted.halt().await;
        halted.cli(&["connection", "update", "acme", "okta", "--claim-manual"]).await;
        let verdict = halted.cli_json(&["audit", "verify", "acme"]).await;
        assert_eq!((verdict["intact"].as_bool(), verdict["unsealed"].as_u64()), (Some(true), Some(1)), "{verdict}");
        // A running server's sealer seals it.
        let server = Server::start(&backend).await;
        let api_seal = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                let verdict = server.cli_json(&["audit", "verify", "acme"]).await;
                if verdict["unsealed"] == 0 {
                    return verdict;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the server's sealer sealed the new event");
        assert_eq!(api_seal["intact"], true);
        // The same verdict through the admin API.
        let token = server.cli_json(&["operator", "create", "--name", "auditor"]).await["token"].as_str().unwrap().to_owned();
        let http = reqwest::Client::new();
        let verdict: Value = http.get(format!("{}/admin/v1/tenants/acme/audit/verify", server.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(verdict["intact"], true, "{verdict}");
        let seal: Value = http.get(format!("{}/admin/v1/tenants/acme/audit/seal", server.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(seal["position"], verdict["sealed_through"]);
        // Operators' events are the deployment's own log, sealed and audited the same way.
        let created = server.cli_json(&["audit", "log", "_deployment", "--type", "operator.created"]).await;
        assert_eq!(created["events"][0]["data"]["name"], "auditor", "{created}");
        server.cli(&["audit", "seal", "_deployment"]).await;
        assert_eq!(server.cli_json(&["audit", "verify", "_deployment"]).await["intact"], true);
    }

    async fn verify_names_an_edited_event(backend: Backend) {
        let (server, acme, _) = sealed_log(&backend).await;
        let target = acme[4];
        backend.execute(&forge(&backend, target)).await;
        caught(&server, target, "edited").await;
    }

    async fn verify_names_a_deleted_event(backend: Backend) {
        let (server, acme, _) = sealed_log(&backend).await;
        let target = acme[3];
        backend.execute(&format!("DELETE FROM events WHERE position = {target}")).await;
        caught(&server, target, "deleted").await;
    }

    async fn verify_names_an_inserted_event(backend: Backend) {
        let (server, acme, beta) = sealed_log(&backend).await;
        // A free position among acme's sealed events: where one of beta's was.
        let free = *beta.iter().find(|p| **p > acme[2] && **p < *acme.last().unwrap()).unwrap();
        let overriding = if matches!(backend, Backend::Postgres { .. }) { "OVERRIDING SYSTEM VALUE" } else { "" };
        let id = new_id(&backend);
        backend.execute(
            &format!(
                "DELETE FROM events WHERE position = {free};
                 INSERT INTO events (position, event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at) {overriding}
                 SELECT {free}, {id}, tenant, stream_kind, stream_id, 99, event_type, type_version, payload, metadata, recorded_at FROM events WHERE position = {}",
                acme[2]
            ),
        )
        .await;
        caught(&server, free, "inserted").await;
    }

    async fn verify_names_reordered_events(backend: Backend) {
        let (server, acme, _) = sealed_log(&backend).await;
        let (a, b) = (acme[2], acme[5]);
        let id = new_id(&backend);
        let columns = "event_id, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at";
        let from_t = "t.event_id, t.stream_kind, t.stream_id, t.stream_version, t.event_type, t.type_version, t.payload, t.metadata, t.recorded_at";
        // The two events trade places: each keeps its content, at the other's position.
        backend.execute(
            &format!(
                "CREATE TEMP TABLE t AS SELECT * FROM events WHERE position IN ({a}, {b});
                 UPDATE events SET event_id = {id}, stream_version = -position WHERE position IN ({a}, {b});
                 UPDATE events SET ({columns}) = (SELECT {from_t} FROM t WHERE t.position = {b}) WHERE position = {a};
                 UPDATE events SET ({columns}) = (SELECT {from_t} FROM t WHERE t.position = {a}) WHERE position = {b};"
            ),
        )
        .await;
        caught(&server, a, "reordered").await;
    }

    async fn verify_names_a_seal_that_does_not_match(backend: Backend) {
        let (server, acme, _) = sealed_log(&backend).await;
        let target = acme[3];
        backend.execute(&format!("UPDATE seals SET chain_sha256 = event_sha256 WHERE tenant = 'acme' AND position = {target}")).await;
        caught(&server, target, "seal_mismatch").await;
    }

    async fn a_seal_kept_elsewhere_catches_a_log_rewritten_with_its_seals(backend: Backend) {
        let (server, acme, _) = sealed_log(&backend).await;
        let kept = server.cli(&["audit", "seal", "acme", "--json"]).await;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &kept).unwrap();
        let kept_path = file.path().to_str().unwrap();
        assert!(server.cli(&["audit", "verify", "acme", "--seal", kept_path]).await.contains("verified"));
        server.kill().await;

        // Someone with write access edits an event and seals the log again from scratch.
        let target = acme[4];
        let edit = forge(&backend, target);
        backend.execute(&format!("{edit}; DELETE FROM seals; DELETE FROM checkpoints WHERE name = 'sealer';")).await;
        let server = Server::start(&backend).await;
        server.cli(&["audit", "seal", "acme"]).await;
        // The database alone now vouches for the forgery...
        assert_eq!(server.cli_json(&["audit", "verify", "acme"]).await["intact"], true);
        // ...but not the seal kept elsewhere.
        let stderr = server.cli_fails(&["audit", "verify", "acme", "--seal", kept_path]).await;
        assert!(stderr.contains(&format!("position {}: seal_mismatch", acme.last().unwrap())), "{stderr}");
        // Another tenant's seal is refused for what it is.
        let beta = server.cli(&["audit", "seal", "beta", "--json"]).await;
        std::fs::write(file.path(), &beta).unwrap();
        assert!(server.cli_fails(&["audit", "verify", "acme", "--seal", kept_path]).await.contains("tenant 'beta'"));
    }
}
