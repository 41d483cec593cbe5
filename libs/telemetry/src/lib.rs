//! Tracing set-up: structured logs (text or JSON) filtered by `RUST_LOG` (default `info`).
//! Secrets never reach a log line: tokens are hashed before anything sees them.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Installs the global subscriber; logs go to stderr so stdout stays for command output.
pub fn init(format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        Format::Text => registry.with(fmt::layer().with_writer(std::io::stderr)).try_init(),
        Format::Json => registry.with(fmt::layer().json().with_current_span(true).with_writer(std::io::stderr)).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
