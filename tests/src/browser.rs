//! A real headless Chromium driven over WebDriver: the system's `chromedriver` on a port of its
//! choosing, one browser session per [`Browser`], both ended when it drops.
//!
//! The binaries are `SCIMLEDGER_TEST_CHROMEDRIVER` and `SCIMLEDGER_TEST_CHROMIUM` (which
//! scripts/with-test-services.sh exports, installing Debian's `chromium` and `chromium-driver`
//! when missing), else `chromedriver` and `chromium` on PATH; missing ones fail the test.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long [`Browser::until`] waits for the page to show something.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// A binary named by `variable`, else found on PATH as `name`.
fn binary(variable: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no {name}: set {variable} or install it (Debian: chromium, chromium-driver; scripts/with-test-services.sh does when root)"
            )
        })
}

impl Browser {
    pub async fn start() -> Browser {
        let chromium = binary("SCIMLEDGER_TEST_CHROMIUM", "chromium");
        let mut driver = Command::new(binary("SCIMLEDGER_TEST_CHROMEDRIVER", "chromedriver"))
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, which the Chromium it starts joins: dropping the browser ends
            // them all, also when a test panics before ending its session.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("spawning chromedriver");
        let mut lines = BufReader::new(driver.stdout.take().expect("piped stdout")).lines();
        let port = tokio::time::timeout(PATIENCE, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("ChromeDriver was started successfully on port ") {
                    return rest.trim_end_matches('.').parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromedriver did not say which port it listens on");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                // No sandbox: the tests run as root in a container, where Chromium's sandbox cannot start.
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with headless Chromium");
        Browser { client, driver, _profile: profile }
    }

    /// Ends the session; dropping the browser then ends chromedriver and Chromium.
    pub async fn close(self) {
        self.client.clone().close().await.expect("ending the WebDriver session");
    }

    /// Waits until `probe` gives something, and returns it; the page renders as it pleases, so
    /// an element not there yet, or replaced as the view re-renders, is tried again.
    pub async fn until<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(value) = probe().await {
                    return value;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        match found {
            Ok(value) => value,
            Err(_) => {
                let page = self.client.source().await.unwrap_or_default();
                panic!("the console never showed {what}; the page:\n{page}")
            }
        }
    }

    /// The element `css` selects, once there.
    pub async fn element(&self, css: &str) -> Element {
        self.until(css, || async { self.client.find(Locator::Css(css)).await.ok() }).await
    }

    /// The text of the element `css` selects, once it satisfies `check`.
    pub async fn text_where(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        self.until(css, || async {
            let text = self.client.find(Locator::Css(css)).await.ok()?.text().await.ok()?;
            check(&text).then_some(text)
        })
        .await
    }

    /// Types `text` into the field `css` selects (found again if the view re-rendered it).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.until(css, || async {
            let field = self.client.find(Locator::Css(css)).await.ok()?;
            field.clear().await.ok()?;
            field.send_keys(text).await.ok()
        })
        .await
    }

    /// Clicks the element `css` selects (found again if the view re-rendered it meanwhile).
    pub async fn click(&self, css: &str) {
        self.until(css, || async { self.client.find(Locator::Css(css)).await.ok()?.click().await.ok() }).await
    }

    /// Clicks the link whose text is `text` (found again if the view re-rendered it meanwhile).
    pub async fn follow(&self, text: &str) {
        self.until(text, || async { self.client.find(Locator::LinkText(text)).await.ok()?.click().await.ok() }).await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(group) = self.driver.id() {
            // The `kill` command: signalling a process group takes no unsafe code.
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
        }
    }
}
