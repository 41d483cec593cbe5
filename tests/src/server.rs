//! Server processes.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{Backend, Scim};

/// The binary `cargo build` made, beside this test's own executable.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let binary = dir.join("scimledger");
    assert!(
        binary.exists(),
        "{} is missing: build it first (`cargo build --workspace --all-targets`, which `make test` does)",
        binary.display()
    );
    binary
}

/// A running `scimledger serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    /// Where the server serves `/metrics`.
    pub metrics: String,
    pub env: Vec<(&'static str, String)>,
    /// What the server logged (stderr), line by line.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts a server on a free port and waits until it listens.
    pub async fn start(backend: &Backend) -> Server {
        Self::start_with(backend, Vec::new()).await
    }

    /// Starts a server with more settings (`RUST_LOG` among them, to see more of its log).
    pub async fn start_with(backend: &Backend, settings: Vec<(&'static str, String)>) -> Server {
        Self::start_serving(backend, &[], settings).await
    }

    /// Starts `scimledger serve ARGS…` with more settings.
    pub async fn start_serving(backend: &Backend, args: &[&str], settings: Vec<(&'static str, String)>) -> Server {
        Self::try_start_with(backend, args, settings).await.unwrap_or_else(|output| panic!("the server did not start:\n{output}"))
    }

    /// Starts a server, or returns what it printed before it exited.
    pub async fn try_start(backend: &Backend) -> Result<Server, String> {
        Self::try_start_with(backend, &[], Vec::new()).await
    }

    async fn try_start_with(backend: &Backend, args: &[&str], settings: Vec<(&'static str, String)>) -> Result<Server, String> {
        let mut env = backend.env();
        env.push(("SCIMLEDGER_LISTEN", "127.0.0.1:0".into()));
        env.push(("SCIMLEDGER_METRICS_LISTEN", "127.0.0.1:0".into()));
        env.extend(settings);
        let mut child = Command::new(binary())
            .arg("serve")
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning scimledger");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        // The metrics line comes first, then the API's.
        let listening = tokio::time::timeout(Duration::from_secs(30), async {
            let mut metrics = None;
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Some(url) = line.strip_prefix("scimledger metrics on ") {
                    metrics = Some(url.to_owned());
                }
                if let Some(url) = line.strip_prefix("scimledger listening on ") {
                    return metrics.map(|metrics| (url.to_owned(), metrics));
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some((base, metrics)) = listening else {
            let output = child.wait_with_output().await.expect("the server's output");
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        };
        // Keep draining stdout and stderr so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let lines = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                lines.lock().expect("the log").push(line);
            }
        });
        Ok(Server { child, base, metrics, env, log })
    }

    /// The lines the server logged so far that contain `text`.
    pub fn logged(&self, text: &str) -> Vec<String> {
        self.log.lock().expect("the log").iter().filter(|line| line.contains(text)).cloned().collect()
    }

    /// Waits (at most `limit`) until the server logs a line containing `text`, and returns it.
    pub async fn wait_for_log(&self, text: &str, limit: Duration) -> String {
        tokio::time::timeout(limit, async {
            loop {
                if let Some(line) = self.logged(text).pop() {
                    return line;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the server did not log {text:?}; its log:\n{}", self.log.lock().expect("the log").join("\n")))
    }

    /// SIGKILL: no graceful shutdown, as in a crash.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killing the server");
    }

    /// SIGKILL, keeping this handle for the CLI on the same backend (which needs no server).
    pub async fn halt(&mut self) {
        self.child.kill().await.expect("killing the server");
    }

    /// Starts `scimledger ARGS…` (a worker) against the same backend and settings, killed when
    /// dropped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        Command::new(binary())
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning scimledger")
    }

    /// Waits until the subscriber `name`'s checkpoint is at the log's head (`worker status
    /// --json`): every event so far, its own outcomes included, was handled.
    pub async fn wait_caught_up(&self, name: &str) {
        let caught_up = tokio::time::timeout(std::time::Duration::from_secs(90), async {
            loop {
                let status = self.cli_json(&["worker", "status"]).await;
                let subscriber = status["subscribers"].as_array().unwrap().iter().find(|s| s["name"] == name).cloned().unwrap();
                if subscriber["behind"] == 0 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(caught_up.is_ok(), "the subscriber {name} never caught up with the log");
    }

    /// Runs the CLI against the same backend and returns its stdout.
    pub async fn cli(&self, args: &[&str]) -> String {
        let output = self.run_cli(args).await;
        assert!(output.status.success(), "scimledger {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Runs the CLI against the same backend, expecting it to fail, and returns its stderr.
    pub async fn cli_fails(&self, args: &[&str]) -> String {
        let output = self.run_cli(args).await;
        assert!(!output.status.success(), "scimledger {args:?} succeeded: {}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8(output.stderr).expect("UTF-8 output")
    }

    async fn run_cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("SCIMLEDGER_PUBLIC_URL", &self.base)
            .output()
            .await
            .expect("running the CLI")
    }

    /// Runs the CLI with `--json` appended and parses what it prints.
    pub async fn cli_json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let printed = self.cli(&args).await;
        serde_json::from_str(printed.trim()).unwrap_or_else(|e| panic!("scimledger {args:?} printed no JSON ({e}): {printed}"))
    }

    /// Creates a tenant and a connection through the CLI and returns a client for it.
    pub async fn tenant(&self, slug: &str) -> Scim {
        self.cli(&["tenant", "create", slug]).await;
        self.connect(slug, "okta").await
    }

    /// A new connection of an existing tenant. It reads what it owns (`read_scope: own`, the
    /// default, ADR 0040).
    pub async fn connect(&self, slug: &str, name: &str) -> Scim {
        self.connect_with(slug, name, &[]).await
    }

    /// A new connection that reads the whole tenant: a reader of what other connections wrote.
    pub async fn connect_reading_all(&self, slug: &str, name: &str) -> Scim {
        self.connect_with(slug, name, &["--read-scope", "all"]).await
    }

    /// A new connection with the `connection create` settings `settings`, once the server takes
    /// its token.
    pub async fn connect_with(&self, slug: &str, name: &str, settings: &[&str]) -> Scim {
        self.issue_connection(slug, name, settings).await.1
    }

    /// A new connection with the `connection create` settings `settings`: what `--json` printed
    /// (its id, token, base URL) and a client with its token, once the server takes the token.
    pub async fn issue_connection(&self, slug: &str, name: &str, settings: &[&str]) -> (Value, Scim) {
        let mut args = vec!["connection", "create", slug, "--name", name];
        args.extend_from_slice(settings);
        let issued = self.cli_json(&args).await;
        assert_eq!(issued["tenant"], slug);
        let scim = Scim::new(issued["base_url"].as_str().expect("base_url"), issued["token"].as_str().expect("token"));
        scim.wait_taken().await;
        (issued, scim)
    }
}
