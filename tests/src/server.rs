//! Server processes.

use std::path::PathBuf;
use std::process::Stdio;
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
    pub env: Vec<(&'static str, String)>,
}

impl Server {
    /// Starts a server on a free port and waits until it listens.
    pub async fn start(backend: &Backend) -> Server {
        Self::try_start(backend).await.unwrap_or_else(|output| panic!("the server did not start:\n{output}"))
    }

    /// Starts a server with more settings (`SCIMLEDGER_*` variables) than the backend's.
    pub async fn start_with(backend: &Backend, settings: &[(&'static str, &str)]) -> Server {
        Self::try_start_with(backend, settings).await.unwrap_or_else(|output| panic!("the server did not start:\n{output}"))
    }

    /// Starts a server, or returns what it printed before it exited.
    pub async fn try_start(backend: &Backend) -> Result<Server, String> {
        Self::try_start_with(backend, &[]).await
    }

    async fn try_start_with(backend: &Backend, settings: &[(&'static str, &str)]) -> Result<Server, String> {
        let mut env = backend.env();
        env.push(("SCIMLEDGER_LISTEN", "127.0.0.1:0".into()));
        env.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let mut child = Command::new(binary())
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning scimledger");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let listening = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Some(url) = line.strip_prefix("scimledger listening on ") {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(base) = listening else {
            let output = child.wait_with_output().await.expect("the server's output");
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Ok(Server { child, base, env })
    }

    /// SIGKILL: no graceful shutdown, as in a crash.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killing the server");
    }

    /// Runs the CLI against the same backend and returns its stdout.
    pub async fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(binary())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("SCIMLEDGER_PUBLIC_URL", &self.base)
            .output()
            .await
            .expect("running the CLI");
        assert!(output.status.success(), "scimledger {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Creates a tenant and a connection through the CLI and returns a client for it.
    pub async fn tenant(&self, slug: &str) -> Scim {
        self.cli(&["tenant", "create", slug]).await;
        self.connect(slug, "okta").await
    }

    /// A new connection of an existing tenant.
    pub async fn connect(&self, slug: &str, name: &str) -> Scim {
        let printed = self.cli(&["connection", "create", slug, "--name", name, "--json"]).await;
        let issued: Value = serde_json::from_str(printed.trim()).expect("connection create --json prints JSON");
        assert_eq!(issued["tenant"], slug);
        Scim::new(issued["base_url"].as_str().expect("base_url"), issued["token"].as_str().expect("token"))
    }
}
