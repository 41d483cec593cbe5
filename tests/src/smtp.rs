//! A real SMTP server per test: `tests/support/smtp_sink.py` (Python aiosmtpd), whose accepted
//! messages are read back from its directory. It can be killed (-9) and started again on the
//! same port, to take SMTP away and bring it back.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A message the server accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

impl Mail {
    /// The first `http(s)://…` link in the text body.
    pub fn link(&self) -> Option<String> {
        let text = self.text.as_deref()?;
        let start = text.find("http")?;
        Some(text[start..].split_whitespace().next()?.to_owned())
    }
}

pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts a server on a free port.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
        let mut sink = Self { child: None, port, dir: tempfile::tempdir().expect("a temporary directory") };
        sink.resume().await;
        sink
    }

    /// A port for a server that is not running yet (`resume` starts it there).
    pub fn stopped() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port();
        Self { child: None, port, dir: tempfile::tempdir().expect("a temporary directory") }
    }

    /// `SCIMLEDGER_SMTP_URL` and `SCIMLEDGER_MAIL_FROM` for a server sending here.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SCIMLEDGER_SMTP_URL", format!("smtp://127.0.0.1:{}", self.port)),
            ("SCIMLEDGER_MAIL_FROM", "Enrollment <enroll@scimledger.test>".into()),
        ]
    }

    /// From now on, accepts the recipients (`defer…@`) it answered 451 until now.
    pub fn accept_deferred(&self) {
        std::fs::write(self.dir.path().join(".accept-deferred"), b"").expect("writing the SMTP server's switch");
    }

    /// (Re)starts the server on its port, keeping what it received.
    pub async fn resume(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning python3");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await;
        if !matches!(ready, Ok(Ok(Some(ref line))) if line == "ready") {
            let output = child.wait_with_output().await.expect("the SMTP server's output");
            panic!(
                "the SMTP server (Python aiosmtpd) did not start; scripts/with-test-services.sh installs aiosmtpd (pip install aiosmtpd):\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        self.child = Some(child);
    }

    /// SIGKILL: the port refuses connections until `resume`.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("killing the SMTP server");
        }
    }

    /// Every message accepted so far, in the order accepted.
    pub fn received(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("the SMTP server's directory")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_slice(&std::fs::read(p).expect("a message file")).expect("a message as JSON")).collect()
    }

    /// The messages to `address`.
    pub fn to(&self, address: &str) -> Vec<Mail> {
        self.received().into_iter().filter(|m| m.rcpt_tos.iter().any(|r| r == address)).collect()
    }
}
