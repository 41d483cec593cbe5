//! What every request asks of its tenant, kept only while the store's change feed says it is
//! current (ADR 0021): the live connection secrets, and a parent's routing rule (ADR 0074).
//! Every tenant, connection, operator or routing commit moves the feed on, from any process.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use domain::routing::RoutingRule;
use domain::TenantSlug;
use store::{ConnectionSecret, SecretChanges, Store, StoreError, StoreResult};

/// The tenant facts, remembered while the store's change feed says they are current. While the
/// feed is down nothing is kept: every request reads the store.
pub struct TenantCache {
    changes: Option<SecretChanges>,
    secrets: Entries<Vec<ConnectionSecret>>,
    routing: Entries<Option<RoutingRule>>,
}

/// Per tenant, a fact and the generation it was read at.
type Entries<V> = Mutex<HashMap<TenantSlug, (u64, Arc<V>)>>;

/// More tenants than any deployment serves at once; past it a map starts afresh.
const CACHED_TENANTS: usize = 10_000;

impl TenantCache {
    pub async fn new(store: &dyn Store) -> Self {
        Self { changes: store.secret_changes().await, secrets: Default::default(), routing: Default::default() }
    }

    /// Where the store's change feed stands: `None` while it cannot be heard, or without one.
    pub fn generation(&self) -> Option<u64> {
        self.changes.as_ref().and_then(|changes| *changes.borrow())
    }

    /// The tenant's live connection secrets.
    pub async fn secrets(&self, store: &dyn Store, tenant: &TenantSlug) -> StoreResult<Arc<Vec<ConnectionSecret>>> {
        self.cached(&self.secrets, tenant, || store.connection_secrets(tenant, store::now())).await
    }

    /// The tenant's routing rule, if it is a parent that routes.
    pub async fn routing(&self, store: &dyn Store, tenant: &TenantSlug) -> StoreResult<Arc<Option<RoutingRule>>> {
        let rule = || async { Ok::<_, StoreError>(store::directory::tenant(store, tenant).await?.and_then(|t| t.routing().cloned())) };
        self.cached(&self.routing, tenant, rule).await
    }

    async fn cached<V, F, Fut>(&self, entries: &Entries<V>, tenant: &TenantSlug, load: F) -> StoreResult<Arc<V>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoreResult<V>>,
    {
        // Read before the look-up: a change heard during it moves the generation on, and the
        // entry written below is then already stale.
        let generation = self.generation();
        if let Some(generation) = generation {
            let entries = entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, value)) = entries.get(tenant) {
                if *at == generation {
                    return Ok(Arc::clone(value));
                }
            }
        }
        let value = Arc::new(load().await?);
        if let Some(generation) = generation {
            let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= CACHED_TENANTS {
                entries.clear();
            }
            entries.insert(tenant.clone(), (generation, Arc::clone(&value)));
        }
        Ok(value)
    }
}
