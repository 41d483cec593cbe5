//! The metrics as Prometheus text (exposition format 0.0.4), for `/metrics`.

use prometheus::{Encoder, TextEncoder};

/// The `Content-Type` of a scrape's body.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// A handle on the process's metrics, cheap to clone into a handler.
#[derive(Clone)]
pub struct Scrape {
    registry: prometheus::Registry,
}

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("encoding the metrics: {0}")]
    Encode(#[from] prometheus::Error),
}

impl Scrape {
    pub(crate) fn new(registry: prometheus::Registry) -> Self {
        Self { registry }
    }

    /// Every metric as it stands now.
    pub fn render(&self) -> Result<String, ScrapeError> {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}
