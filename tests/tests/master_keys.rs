//! Master keys (docs/operations.md, Master keys; ADR 0069): the key file may hold several keys,
//! newest first; `master-key rotate` re-wraps every user's data key under the newest, in
//! batches, resumably, beside a server that keeps writing; `master-key status` says what each
//! key still wraps; and a process whose keys do not open the database's canary refuses to start,
//! naming its key file.

use scimledger_e2e::{on_both_backends, Backend, Scim, Server};
use serde_json::{json, Value};

fn person(n: usize) -> Value {
    json!({
        "userName": format!("person{n}@example.com"),
        "name": {"givenName": format!("Given{n}"), "familyName": format!("Family{n}")},
        "emails": [{"value": format!("mail{n}@example.org"), "type": "work"}],
    })
}

async fn provision(scim: &Scim, range: std::ops::Range<usize>) -> Vec<String> {
    let mut ids = Vec::new();
    for n in range {
        ids.push(scim.post("/Users", &person(n)).await.expect(201)["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// What the audit shows of the tenant's users, personal data decrypted: every event exported,
/// and one user's history and state as of its first event (but for its URL).
async fn audit_view(server: &Server, user: &str) -> (String, Value, Value) {
    let export = server.cli(&["audit", "export", "acme"]).await;
    let history = server.cli_json(&["audit", "history", "acme", user]).await;
    let first = history[0]["position"].as_i64().unwrap().to_string();
    let mut as_of = server.cli_json(&["audit", "as-of", "acme", user, "--position", &first]).await;
    // Where the resource is served: each server started listens on a port of its own.
    as_of["meta"].as_object_mut().unwrap().remove("location");
    (export, history, as_of)
}

/// `scim`'s connection on a restarted server (listening on another port).
fn on(server: &Server, scim: &Scim) -> Scim {
    scim.with_base(&format!("{}/scim/v2/acme", server.base))
}

/// The key file's lines, newest first.
fn write_keys(backend: &Backend, keys: &[&str]) {
    std::fs::write(backend.master_key_file(), keys.iter().map(|k| format!("{k}\n")).collect::<String>()).unwrap();
}

fn the_key(backend: &Backend) -> String {
    std::fs::read_to_string(backend.master_key_file()).unwrap().trim().to_owned()
}

/// `master-key status --json`'s counts: (master key id or "none", data keys).
async fn counts(server: &Server) -> (Vec<(String, u64)>, Value) {
    let status = server.cli_json(&["master-key", "status"]).await;
    let wrapped = status["wrapped"].as_array().unwrap();
    let counts = wrapped.iter().map(|w| (w["master_key"].as_str().unwrap_or("none").to_owned(), w["keys"].as_u64().unwrap())).collect();
    (counts, status)
}

on_both_backends! {
    async fn a_rotation_rewraps_every_key_resumably_and_personal_data_reads_with_the_new_key_alone(backend: Backend) {
        let mut server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let first = provision(&scim, 0..5).await;
        let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "path": "name.familyName", "value": "Renamed0"}]});
        scim.patch(&format!("/Users/{}", first[0]), &rename).await.expect(200);
        let (export, history, as_of) = audit_view(&server, &first[0]).await;
        assert!(export.contains("mail4@example.org") && history.to_string().contains("Renamed0"), "{history}");
        assert_eq!(as_of["name"]["familyName"], "Family0", "{as_of}");
        let old = the_key(&backend);
        let old_id = server.cli_json(&["master-key", "status"]).await["file_keys"][0].as_str().unwrap().to_owned();
        server.halt().await;

        // A database from before master keys had ids: its keys carry none, and it has no canary.
        backend.execute("UPDATE user_keys SET master_key = NULL; DELETE FROM master_key_canary").await;
        // The operator puts a new key first, and restarts: the server opens the old keys with the
        // older key and wraps new users' keys under the new one.
        let new = server.cli(&["master-key", "generate"]).await.trim().to_owned();
        assert_ne!(new, old);
        write_keys(&backend, &[&new, &old]);
        let mut server = Server::start(&backend).await;
        let scim = on(&server, &scim);
        let later = provision(&scim, 5..8).await;
        let (counts_before, status) = counts(&server).await;
        let new_id = status["file_keys"][0].as_str().unwrap().to_owned();
        assert_eq!(status["file_keys"], json!([new_id, old_id]), "{status}");
        assert_eq!(counts_before, [("none".to_owned(), 5), (new_id.clone(), 3)], "{status}");
        assert_eq!((status["under_older_keys"].as_u64(), status["canary"].as_str()), (Some(5), Some(new_id.as_str())), "{status}");

        // Stopped after three keys, in batches of two: a run that ended midway.
        let partial = server.cli_json(&["master-key", "rotate", "--batch", "2", "--limit", "3"]).await;
        assert_eq!(partial, json!({"to": new_id, "rewrapped": 3, "remaining": [{"master_key": null, "keys": 2}]}));
        assert_eq!(counts(&server).await.0, [("none".to_owned(), 2), (new_id.clone(), 6)]);
        // Run again, it does what is left.
        let rest = server.cli_json(&["master-key", "rotate", "--batch", "2"]).await;
        assert_eq!(rest, json!({"to": new_id, "rewrapped": 2, "remaining": []}));
        let (counts_after, status) = counts(&server).await;
        assert_eq!((counts_after, status["under_older_keys"].as_u64()), (vec![(new_id.clone(), 8)], Some(0)), "{status}");
        let idle = server.cli_json(&["master-key", "rotate"]).await;
        assert_eq!(idle["rewrapped"], 0, "nothing left: {idle}");

        // Every run is on the deployment's log, made by the operator, with its counts.
        let log = server.cli_json(&["audit", "log", "_deployment", "--type", "master_key.rotated"]).await;
        let runs: Vec<(Value, Value, Value)> =
            log["events"].as_array().unwrap().iter().map(|e| (e["actor"].clone(), e["data"]["rewrapped"].clone(), e["data"]["to"].clone())).collect();
        let by_cli = |n: u64| (json!("operator:cli"), json!(n), json!(new_id));
        assert_eq!(runs, [by_cli(3), by_cli(2), by_cli(0)], "{log}");

        // With both keys, then with the new one alone, the audit reads what it read before.
        let (export_both, history_both, as_of_both) = audit_view(&server, &first[0]).await;
        assert!(export_both.starts_with(&export), "the export of the first users' events is unchanged");
        assert!(export_both.contains("mail7@example.org"));
        assert_eq!((&history_both, &as_of_both), (&history, &as_of));
        server.halt().await;
        write_keys(&backend, &[&new]);
        let server = Server::start(&backend).await;
        let scim = on(&server, &scim);
        assert_eq!(audit_view(&server, &first[0]).await, (export_both, history, as_of));
        let later_history = server.cli_json(&["audit", "history", "acme", &later[2]]).await;
        assert_eq!(later_history[0]["data"]["user_name"], "person7@example.com", "{later_history}");
        scim.patch(&format!("/Users/{}", first[1]), &rename).await.expect(200);
        let history = server.cli_json(&["audit", "history", "acme", &first[1]]).await;
        assert!(history.to_string().contains("Renamed0") && history.to_string().contains("mail1@example.org"), "{history}");
    }

    async fn a_process_whose_keys_do_not_open_the_database_refuses_to_start_naming_its_key_file(backend: Backend) {
        let mut server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        provision(&scim, 0..2).await;
        server.halt().await;
        let file = backend.master_key_file().display().to_string();
        let stranger = server.cli(&["master-key", "generate"]).await.trim().to_owned();
        write_keys(&backend, &[&stranger]);

        let refused = Server::try_start(&backend).await.err().expect("a server with another key does not start");
        assert!(refused.contains(&format!("the master key file {file} does not open this database")), "{refused}");
        let refused = server.cli_fails(&["tenant", "list"]).await;
        assert!(refused.contains(&format!("the master key file {file} does not open this database")), "the CLI too: {refused}");

        // A database from before the canary: the keys are checked against a user's key before
        // a canary is made under them.
        backend.execute("UPDATE user_keys SET master_key = NULL; DELETE FROM master_key_canary").await;
        let refused = Server::try_start(&backend).await.err().expect("a server with another key does not start");
        assert!(refused.contains(&format!("the master key file {file} does not open this database")), "{refused}");
        assert_eq!(backend.texts("SELECT master_key FROM master_key_canary").await, Vec::<String>::new(), "no canary made");
    }

    async fn keys_created_and_destroyed_during_a_rotation_are_neither_lost_nor_brought_back(backend: Backend) {
        let mut server = Server::start(&backend).await;
        let scim = server.tenant("acme").await;
        let old_users = provision(&scim, 0..40).await;
        let old = the_key(&backend);
        server.halt().await;
        let new = server.cli(&["master-key", "generate"]).await.trim().to_owned();
        write_keys(&backend, &[&new, &old]);
        let server = Server::start(&backend).await;
        let scim = on(&server, &scim);

        // One key at a time, while the server provisions new users and the operator erases old ones.
        let (rotation, created, ()) = tokio::join!(
            server.cli_json(&["master-key", "rotate", "--batch", "1"]),
            provision(&scim, 40..70),
            async {
                for user in old_users.iter().step_by(4) {
                    server.cli(&["audit", "erase", "acme", user]).await;
                }
            },
        );
        assert!(rotation["rewrapped"].as_u64().unwrap() <= 40, "{rotation}");
        let (counts, status) = counts(&server).await;
        let new_id = status["file_keys"][0].as_str().unwrap().to_owned();
        // 40 old keys, 10 of them destroyed; 30 made: each either re-wrapped, or made, under the new key.
        assert_eq!(counts, [(new_id, 60)], "{status}");
        let erased: Vec<&String> = old_users.iter().step_by(4).collect();
        for user in &erased {
            let history = server.cli_json(&["audit", "history", "acme", user]).await;
            assert_eq!(history[0]["data"]["user_name"], "[erased]", "an erased key stays destroyed: {history}");
        }
        for user in old_users.iter().filter(|u| !erased.contains(u)).chain(&created) {
            let history = server.cli_json(&["audit", "history", "acme", user]).await;
            let name = history[0]["data"]["user_name"].as_str().unwrap();
            assert!(name.starts_with("person") && name.ends_with("@example.com"), "{history}");
        }
    }
}
