//! NATS JetStream for tests: the shared server (`SCIMLEDGER_TEST_NATS_URL`) with a stream and a
//! tenant of each test's own, throwaway servers a test can stop and start again, and a consumer
//! that reads a whole stream as a subscriber would.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures::StreamExt;
use serde_json::Value;
use tokio::process::{Child, Command};

/// A stream and a tenant no other test uses, on some NATS server.
pub struct Events {
    pub url: String,
    pub stream: String,
    /// The stream captures this tenant's subjects only, so tests share one NATS side by side.
    pub tenant: String,
}

impl Events {
    /// On the shared test server.
    pub fn shared() -> Self {
        let url = std::env::var("SCIMLEDGER_TEST_NATS_URL")
            .expect("SCIMLEDGER_TEST_NATS_URL is not set: run the tests with `make test` (scripts/with-test-services.sh starts NATS)");
        Self::on(url)
    }

    pub fn on(url: String) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self { url, stream: format!("TEST_{}", &id[..12]), tenant: format!("t{}", &id[..12]) }
    }

    /// The settings that point a server (or the CLI) at this stream.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SCIMLEDGER_NATS_URL", self.url.clone()),
            ("SCIMLEDGER_NATS_STREAM", self.stream.clone()),
            ("SCIMLEDGER_NATS_SUBJECTS", format!("scimledger.{}.>", self.tenant)),
        ]
    }

    /// The relay's checkpoint (and lease) name for this stream.
    pub fn relay_job(&self) -> String {
        format!("nats-relay:{}", self.stream)
    }

    pub async fn jetstream(&self) -> jetstream::Context {
        let client = async_nats::connect(&self.url).await.unwrap_or_else(|e| panic!("connecting to NATS at {}: {e}", self.url));
        jetstream::new(client)
    }

    /// How many messages the stream holds (0 before the relay created it).
    pub async fn stored(&self) -> u64 {
        match self.jetstream().await.get_stream(&self.stream).await {
            Ok(mut stream) => stream.info().await.expect("stream info").state.messages,
            Err(_) => 0,
        }
    }

    /// Waits (at most `limit`) until the stream holds `count` messages.
    pub async fn wait_for_stored(&self, count: u64, limit: Duration) {
        let outcome = tokio::time::timeout(limit, async {
            while self.stored().await < count {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(outcome.is_ok(), "stream {} holds {} messages, expected {count}", self.stream, self.stored().await);
    }

    /// Deletes the stream, so that test runs do not pile streams up on the shared server.
    pub async fn remove(&self) {
        self.jetstream().await.delete_stream(&self.stream).await.expect("deleting the test's stream");
    }

    /// Reads the whole stream, as a subscriber does (a durable pull consumer with explicit
    /// acks), and returns each envelope in stream order.
    pub async fn read_all(&self) -> Vec<Value> {
        self.read_messages().await.into_iter().map(|(_, envelope)| envelope).collect()
    }

    /// The whole stream as [`Self::read_all`] reads it, each envelope with its message's headers.
    pub async fn read_messages(&self) -> Vec<(Option<async_nats::HeaderMap>, Value)> {
        let js = self.jetstream().await;
        let stream = js.get_stream(&self.stream).await.expect("the stream exists");
        let expected = self.stored().await as usize;
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(format!("reader-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])),
                ack_policy: AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .expect("a consumer");
        let mut messages = consumer.messages().await.expect("consuming");
        let mut envelopes = Vec::with_capacity(expected);
        while envelopes.len() < expected {
            let message = tokio::time::timeout(Duration::from_secs(30), messages.next())
                .await
                .expect("the stream delivers what it holds")
                .expect("a message")
                .expect("a message");
            envelopes.push((message.headers.clone(), serde_json::from_slice(&message.payload).expect("a JSON envelope")));
            message.ack().await.expect("acked");
        }
        envelopes
    }
}

/// Checks that `envelopes` are exactly the log's events, each once, and that each resource's
/// arrive in version order (1, 2, 3…).
pub fn assert_exactly_the_log(envelopes: &[Value], log: &[store::RecordedEvent]) {
    let mut seen = HashMap::new();
    for envelope in envelopes {
        let id = envelope["id"].as_str().expect("an id").to_owned();
        let position = envelope["position"].as_i64().expect("a position");
        if let Some(earlier) = seen.insert(id.clone(), position) {
            panic!("event {id} (position {earlier}) arrived twice");
        }
    }
    let missing: Vec<i64> = log.iter().filter(|e| !seen.contains_key(&e.event_id.to_string())).map(|e| e.position).collect();
    assert!(missing.is_empty(), "{} events of the log never arrived, at positions {missing:?}", missing.len());
    assert_eq!(envelopes.len(), log.len(), "only the log's events arrive");
    let mut versions: HashMap<&str, i64> = HashMap::new();
    for envelope in envelopes {
        let resource = envelope["subject"].as_str().expect("a subject");
        let version = envelope["resourceversion"].as_i64().expect("a resource version");
        let previous = versions.insert(resource, version).unwrap_or(0);
        assert_eq!(version, previous + 1, "{resource}: version {version} arrived after {previous}");
    }
}

/// A nats-server of a test's own, which it may stop and start again on the same port and
/// storage directory (`SCIMLEDGER_TEST_NATS_SERVER_BIN` names the binary).
pub struct ThrowawayNats {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The largest message the server takes (its `max_payload`); NATS's default when `None`.
    pub max_payload: Option<usize>,
}

impl ThrowawayNats {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A server whose `max_payload` is `max_payload` bytes.
    pub async fn start_with(max_payload: Option<usize>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
        let mut nats = Self { port, dir: tempfile::tempdir().expect("a temporary directory"), child: None, max_payload };
        nats.resume().await;
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until JetStream answers.
    pub async fn resume(&mut self) {
        let bin = std::env::var("SCIMLEDGER_TEST_NATS_SERVER_BIN").expect(
            "SCIMLEDGER_TEST_NATS_SERVER_BIN is not set: run the tests with `make test` (scripts/with-test-services.sh finds nats-server)",
        );
        let store_dir: PathBuf = self.dir.path().join("jetstream");
        // max_payload has no command-line flag: it goes in a configuration file.
        let config = self.dir.path().join("nats.conf");
        let settings = self.max_payload.map(|bytes| format!("max_payload: {bytes}\n")).unwrap_or_default();
        std::fs::write(&config, settings).expect("writing nats.conf");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&config)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&store_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        let url = self.url();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                // Any answer on the JetStream API (not "no responders") means it is up.
                if let Ok(client) = async_nats::connect(&url).await {
                    if client.request("$JS.API.INFO", "".into()).await.is_ok() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(ready.is_ok(), "nats-server on {url} did not answer with JetStream");
    }

    /// Stops the server (SIGTERM, as an operator would), keeping its storage for `resume`.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().expect("nats-server runs").to_string();
            let status = Command::new("kill").args(["-TERM", &pid]).status().await.expect("running kill");
            assert!(status.success(), "kill -TERM {pid} failed");
            child.wait().await.expect("nats-server stops");
        }
    }
}

/// A JetStream cluster of three nats-server processes on this machine (no containers), for the
/// scale-out test: each node can be killed with SIGKILL.
pub struct NatsCluster {
    /// Where the nodes keep their configuration and JetStream files.
    _dir: tempfile::TempDir,
    ports: Vec<u16>,
    nodes: Vec<Option<Child>>,
}

impl NatsCluster {
    pub async fn start() -> Self {
        let bin = std::env::var("SCIMLEDGER_TEST_NATS_SERVER_BIN")
            .expect("SCIMLEDGER_TEST_NATS_SERVER_BIN is not set: run with scripts/with-test-services.sh, which finds nats-server");
        let free = || std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
        let ports: Vec<u16> = (0..3).map(|_| free()).collect();
        let routes: Vec<u16> = (0..3).map(|_| free()).collect();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let route_list = routes.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect::<Vec<_>>().join(", ");
        let mut nodes = Vec::new();
        for (i, (port, route)) in ports.iter().zip(&routes).enumerate() {
            let config = dir.path().join(format!("n{i}.conf"));
            let store = dir.path().join(format!("n{i}"));
            std::fs::write(
                &config,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n\
                     cluster {{ name: scimledger, listen: 127.0.0.1:{route}, routes: [{route_list}] }}\n",
                    store.display()
                ),
            )
            .expect("writing a node's configuration");
            let child = Command::new(&bin)
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting nats-server");
            nodes.push(Some(child));
        }
        let cluster = Self { _dir: dir, ports, nodes };
        // JetStream answers once the nodes have found each other and elected a meta leader.
        let url = cluster.url();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Ok(client) = async_nats::connect(url.as_str()).await {
                    if let Ok(reply) = client.request("$JS.API.INFO", "".into()).await {
                        if !String::from_utf8_lossy(&reply.payload).contains("\"error\"") {
                            return;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        assert!(ready.is_ok(), "the NATS cluster at {url} did not form");
        cluster
    }

    /// Every node's client URL, comma-separated: how clients (and scimledger) are given a cluster.
    pub fn url(&self) -> String {
        self.ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    /// SIGKILL to node `i`: no goodbye to its peers, as in a crash.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            child.kill().await.expect("killing a NATS node");
        }
    }
}
