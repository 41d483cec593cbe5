//! `GET /Groups/{id}` of a large group is streamed from one snapshot (issue 10 §5, ADR 0076), on
//! both backends: the same JSON as before, members in the order they were added, the ETag of
//! the version read; selections still apply; a reader slower than the writers changing the
//! group sees exactly the members of the version its ETag names; clients that hang up
//! mid-response leave the server serving others.

use std::collections::HashSet;
use std::time::Duration;

use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const MEMBERS: usize = 5_000;

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn values(ids: &[String]) -> Vec<Value> {
    ids.iter().map(|id| json!({"value": id})).collect()
}

/// `count` users made through /Bulk, their ids in creation order.
async fn users(scim: &Scim, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(1_000) {
        let operations: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": {"userName": format!("{prefix}{i}@example.com")}}))
            .collect();
        let request = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
        let response = scim.post("/Bulk", &request).await.expect(200);
        for operation in response["Operations"].as_array().unwrap() {
            assert_eq!(operation["status"], "201", "{operation}");
            ids.push(operation["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned());
        }
    }
    ids
}

/// The version a response's ETag names.
fn version(headers: &str) -> i64 {
    let line = headers.lines().find(|l| l.to_ascii_lowercase().starts_with("etag:")).expect("an ETag");
    line[5..].trim().trim_start_matches("W/").trim_matches('"').parse().unwrap()
}

/// A GET sent over a socket whose receive buffer is small, so that the server can write the
/// body no faster than it is read: the response's head, and the socket to read the body from.
async fn slow_get(scim: &Scim, path: &str) -> (String, TcpStream, Vec<u8>) {
    let url = reqwest::Url::parse(&format!("{}{path}", scim.base)).unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap()).parse().unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let request = format!(
        "GET {}?{} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        url.path(),
        url.query().unwrap_or_default(),
        address,
        scim.token.as_deref().unwrap()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the server closed before its headers");
        received.extend_from_slice(&buffer[..n]);
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(received[..end].to_vec()).unwrap();
            return (head, stream, received[end + 4..].to_vec());
        }
    }
}

/// The rest of a chunked body, read in small reads with a pause after each, de-chunked.
async fn read_slowly(mut stream: TcpStream, mut received: Vec<u8>, pause: Duration) -> Vec<u8> {
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..n]);
        tokio::time::sleep(pause).await;
    }
    let mut body = Vec::new();
    let mut rest = &received[..];
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[line + 2..line + 2 + size]);
        rest = &rest[line + 4 + size..];
    }
}

on_both_backends! {
    async fn a_large_group_is_read_whole_consistent_and_in_order(backend: Backend) {
        // Two pooled PostgreSQL connections: one for a streamed response, one for the writes meanwhile;
        // responses that held theirs would stall every request after.
        let server = Server::start_with(&backend, vec![("SCIMLEDGER_POOL_SIZE", "2".to_owned())]).await;
        let scim = server.tenant("acme").await;
        let ids = users(&scim, "member", MEMBERS).await;
        let group = scim.post("/Groups", &json!({"displayName": "Everyone"})).await.expect(201);
        let gid = group["id"].as_str().unwrap().to_owned();
        // Added in an order of their own: the later half first.
        let (early, late) = ids.split_at(MEMBERS / 2);
        let added: Vec<String> = late.iter().chain(early).cloned().collect();
        for chunk in [late, early] {
            scim.patch(&format!("/Groups/{gid}"), &patch(json!([{"op": "add", "path": "members", "value": values(chunk)}]))).await.expect(204);
        }

        let reply = scim.get(&format!("/Groups/{gid}")).await;
        let etag = reply.headers["etag"].to_str().unwrap().to_owned();
        assert_eq!(reply.headers["content-type"], "application/scim+json");
        let body = reply.expect(200);
        assert_eq!(etag, "W/\"3\"", "created, then two changes");
        let base = scim.base.clone();
        let members: Vec<Value> = added.iter().map(|id| json!({"value": id, "$ref": format!("{base}/Users/{id}"), "type": "User"})).collect();
        let mut expected = group.as_object().unwrap().clone();
        let meta = expected.shift_remove("meta").unwrap();
        expected.insert("members".into(), Value::Array(members));
        expected.insert("meta".into(), meta);
        expected["meta"]["version"] = json!(etag);
        expected["meta"]["lastModified"] = body["meta"]["lastModified"].clone();
        assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "the keys in their order");
        assert_eq!(body, Value::Object(expected));

        let unchanged = scim.get_with_header(&format!("/Groups/{gid}"), "if-none-match", &etag).await;
        assert_eq!(unchanged.status.as_u16(), 304);
        assert_eq!(unchanged.headers["etag"].to_str().unwrap(), etag);

        let values_only = scim.get(&format!("/Groups/{gid}?attributes=members.value")).await.expect(200);
        let listed: Vec<&str> = values_only["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(listed, added.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(values_only["members"].as_array().unwrap().iter().all(|m| m.as_object().unwrap().len() == 1), "value alone");
        assert_eq!(values_only.as_object().unwrap().keys().collect::<Vec<_>>(), ["schemas", "id", "members"]);
        let without = scim.get(&format!("/Groups/{gid}?excludedAttributes=members")).await.expect(200);
        assert!(without.get("members").is_none() && without["displayName"] == "Everyone", "{without}");

        // A slow reader while the group changes: it reads the version its ETag names.
        let newcomers = users(&scim, "newcomer", 50).await;
        let (head, stream, received) = slow_get(&scim, &format!("/Groups/{gid}")).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let read = version(&head);
        let mut versions = Vec::new();
        for operations in [
            json!([{"op": "add", "path": "members", "value": values(&newcomers)}]),
            json!([{"op": "remove", "path": "members", "value": values(&added[..100])}]),
        ] {
            let reply = scim.patch(&format!("/Groups/{gid}"), &patch(operations)).await;
            versions.push(version(&format!("etag: {}", reply.headers["etag"].to_str().unwrap())));
            reply.expect(204);
        }
        scim.delete(&format!("/Users/{}", added[200])).await.expect(204);
        let body: Value = serde_json::from_slice(&read_slowly(stream, received, Duration::from_millis(2)).await).expect("a whole JSON body");
        assert_eq!((read, versions), (3, vec![4, 5]), "read before the changes");
        assert_eq!(body["meta"]["version"], json!(format!("W/\"{read}\"")));
        let listed: Vec<&str> = body["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(listed, added.iter().map(String::as_str).collect::<Vec<_>>(), "exactly the members of version {read}");
        let now = scim.get(&format!("/Groups/{gid}")).await.expect(200);
        let now: HashSet<&str> = now["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(now.len(), MEMBERS + 50 - 100 - 1, "the changes committed meanwhile");

        // Clients that hang up mid-response, more of them than SQLite has readers and the pool
        // has connections: the server goes on serving.
        for _ in 0..6 {
            let (head, mut stream, _) = slow_get(&scim, &format!("/Groups/{gid}")).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            let mut some = [0u8; 1024];
            assert!(stream.read(&mut some).await.unwrap() > 0);
            drop(stream);
        }
        let again = scim.get(&format!("/Groups/{gid}")).await.expect(200);
        assert_eq!(again["members"].as_array().unwrap().len(), now.len());
        scim.get(&format!("/Users/{}", ids[0])).await.expect(200);
    }
}
