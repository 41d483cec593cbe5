//! The end-to-end harness: the built `scimledger` binary, on port 0, over real HTTP, against
//! a fresh PostgreSQL database (on the server `SCIMLEDGER_TEST_DATABASE_URL` names) or a fresh
//! SQLite directory. Tenants and connections are made through the real CLI.
//!
//! - [`browser`]: headless Chromium over WebDriver, for the console.
//! - [`server`]: starting, killing and restarting server processes.
//! - [`client`]: a SCIM client that returns status and JSON.
//! - [`backend`]: the two backends and their fresh databases.
//! - [`nats`]: NATS JetStream: a stream per test, throwaway servers, reading a whole stream.
//! - [`otlp`]: a real OTLP/HTTP receiver that decodes what a server exports.
//! - [`scrape`]: scraping a server's `/metrics` as Prometheus text.
//! - [`smtp`]: a real SMTP server (Python aiosmtpd) and the messages it accepted.

pub mod backend;
pub mod browser;
pub mod client;
pub mod hearing;
pub mod nats;
pub mod otlp;
pub mod scrape;
pub mod server;
pub mod smtp;

pub use backend::Backend;
pub use client::Scim;
pub use server::Server;

/// Runs one async test body against each backend, as `<name>::postgres` and `<name>::sqlite`.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($backend: $crate::Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    body($crate::Backend::postgres().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    body($crate::Backend::sqlite()).await
                }
            }
        )*
    };
}
