//! The `tenant` label of the request metrics, bounded: the first [`limit`] tenants a process
//! sees get a label of their own, and every later one shares [`OTHER`]. A deployment with more
//! tenants than that raises the limit (`SCIMLEDGER_METRICS_TENANT_LABELS`) or reads per-tenant
//! figures from the log instead. Requests that fail authentication are never labelled with the
//! tenant their URL names (see the API's metrics layer), so no caller can make up new series.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, RwLock};

use opentelemetry::StringValue;

/// The label of every tenant past the limit.
pub const OTHER: &str = "_other";
pub const DEFAULT_LIMIT: usize = 100;

static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT);
static LABELS: LazyLock<Labels> = LazyLock::new(Labels::default);

/// Sets how many tenants get a label of their own (taken at start-up, before any request).
pub fn set_limit(limit: usize) {
    LIMIT.store(limit, Ordering::Relaxed);
}

pub fn limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// The label value for `tenant`.
pub fn label(tenant: &str) -> StringValue {
    LABELS.label(tenant, limit())
}

/// The tenants labelled so far, each value shared by every series that names it.
#[derive(Default)]
struct Labels {
    seen: RwLock<HashMap<Box<str>, StringValue>>,
}

impl Labels {
    fn label(&self, tenant: &str, limit: usize) -> StringValue {
        if let Some(value) = self.seen.read().unwrap_or_else(|p| p.into_inner()).get(tenant) {
            return value.clone();
        }
        let mut seen = self.seen.write().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = seen.get(tenant) {
            return value.clone();
        }
        if seen.len() >= limit {
            return StringValue::from(OTHER);
        }
        let value = StringValue::from(tenant.to_owned());
        seen.insert(tenant.into(), value.clone());
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_tenants_keep_their_label_and_the_rest_share_one() {
        let labels = Labels::default();
        assert_eq!(labels.label("acme", 2).as_str(), "acme");
        assert_eq!(labels.label("beta", 2).as_str(), "beta");
        assert_eq!(labels.label("gamma", 2).as_str(), OTHER);
        assert_eq!(labels.label("acme", 2).as_str(), "acme", "a labelled tenant keeps its label past the limit");
        assert_eq!(labels.label("delta", 2).as_str(), OTHER);
    }
}
