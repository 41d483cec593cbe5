//! The embedded default: a fresh directory is enough, data survives restarts, and one file
//! serves one server.

use std::time::Duration;

use scimledger_e2e::server::binary;
use scimledger_e2e::{Backend, Server};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn a_second_server_on_one_file_is_refused_clearly() {
    let backend = Backend::sqlite();
    let first = Server::start(&backend).await;
    let refused = Server::try_start(&backend).await.err().expect("a second server must not start");
    assert!(refused.contains("another scimledger server is already using"), "{refused}");
    // The CLI still works beside the running server, and the first server keeps serving.
    let scim = first.tenant("acme").await;
    scim.post("/Users", &json!({"userName": "alice"})).await.expect(201);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let backend = Backend::sqlite();
    let server = Server::start(&backend).await;
    let scim = server.tenant("acme").await;
    let id = scim.post("/Users", &json!({"userName": "alice"})).await.expect(201)["id"].as_str().unwrap().to_owned();
    server.kill().await;
    let server = Server::start(&backend).await;
    let scim = server.connect_reading_all("acme", "entra").await;
    assert_eq!(scim.get(&format!("/Users/{id}")).await.expect(200)["userName"], "alice");
}

/// `make run` on a fresh machine: `serve` with no settings at all, in an empty directory.
#[tokio::test]
async fn a_fresh_directory_serves_with_no_settings() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .arg("serve")
        .current_dir(cwd.path())
        .env_remove("SCIMLEDGER_DATABASE_URL")
        .env_remove("SCIMLEDGER_DATA_DIR")
        .env("SCIMLEDGER_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("the server prints where it listens");
            printed.push(line.clone());
            if let Some(base) = line.strip_prefix("scimledger listening on ") {
                return base.to_owned();
            }
        }
    })
    .await
    .unwrap();
    let help = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(help.contains("No tenant yet"), "first start explains what to do: {help}");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap().text().await.unwrap();
    assert!(ready.contains("sqlite"), "{ready}");
    assert!(cwd.path().join("data").join("scimledger.db").exists(), "the embedded file lives in ./data");
}

/// `scimledger backup FILE` beside a running server; the copy, with the master key beside it,
/// serves what was written before it and takes writes of its own.
#[tokio::test]
async fn a_backup_taken_while_serving_restores_into_a_new_directory() {
    let backend = Backend::sqlite();
    let server = Server::start(&backend).await;
    let scim = server.tenant("acme").await;
    let id = scim.post("/Users", &json!({"userName": "alice", "name": {"givenName": "Alice"}})).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let restored = Backend::sqlite();
    let restored_dir = restored.data_dir().unwrap();
    let copy = restored_dir.join("scimledger.db");
    let printed = server.cli(&["backup", copy.to_str().unwrap()]).await;
    assert!(printed.contains("backed up"), "{printed}");
    let again = server.cli_fails(&["backup", copy.to_str().unwrap()]).await;
    assert!(again.contains("exists"), "a backup never overwrites: {again}");
    std::fs::copy(backend.data_dir().unwrap().join("master.key"), restored_dir.join("master.key")).unwrap();
    // Written after the backup: not in the copy.
    scim.post("/Users", &json!({"userName": "bob"})).await.expect(201);

    let second = Server::start(&restored).await;
    let scim = second.connect_reading_all("acme", "entra").await;
    let alice = scim.get(&format!("/Users/{id}")).await.expect(200);
    assert_eq!((alice["userName"].as_str(), alice["name"]["givenName"].as_str()), (Some("alice"), Some("Alice")), "{alice}");
    assert_eq!(scim.get("/Users?filter=userName%20eq%20%22bob%22").await.expect(200)["totalResults"], 0);
    scim.post("/Users", &json!({"userName": "carol"})).await.expect(201);
    // Exits 0 only when every read model of the copy equals what its log rebuilds.
    second.cli(&["rebuild", "--verify"]).await;
}
