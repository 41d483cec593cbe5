//! The authentication cache: each tenant's live connection secrets, kept only while the
//! store's change feed says they are current (ADR 0021).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::TenantSlug;
use store::{ConnectionSecret, SecretChanges, Store, StoreResult};

/// The tenant's live connection secrets, remembered while the store's change feed says they
/// are current (ADR 0021). Without a feed nothing is kept: every request reads the store.
pub struct SecretCache {
    changes: Option<SecretChanges>,
    entries: Mutex<HashMap<TenantSlug, Entry>>,
}

/// A tenant's secrets and the generation they were read at.
type Entry = (u64, Arc<Vec<ConnectionSecret>>);

/// More tenants than any deployment serves at once; past it the cache starts afresh.
const CACHED_TENANTS: usize = 10_000;

impl SecretCache {
    pub async fn new(store: &dyn Store) -> Self {
        Self { changes: store.secret_changes().await, entries: Default::default() }
    }

    /// Where the store's change feed stands: `None` while it cannot be heard, or without one.
    pub fn generation(&self) -> Option<u64> {
        self.changes.as_ref().and_then(|changes| *changes.borrow())
    }

    pub async fn of(&self, store: &dyn Store, tenant: &TenantSlug) -> StoreResult<Arc<Vec<ConnectionSecret>>> {
        // Read before the look-up: a change heard during it moves the generation on, and the
        // entry written below is then already stale.
        let generation = self.generation();
        if let Some(generation) = generation {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, secrets)) = entries.get(tenant) {
                if *at == generation {
                    return Ok(Arc::clone(secrets));
                }
            }
        }
        let secrets = Arc::new(store.connection_secrets(tenant, store::now()).await?);
        if let Some(generation) = generation {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= CACHED_TENANTS {
                entries.clear();
            }
            entries.insert(tenant.clone(), (generation, Arc::clone(&secrets)));
        }
        Ok(secrets)
    }
}
