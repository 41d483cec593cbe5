//! The data keys this process encrypted with lately, unwrapped, so that an append to a known
//! user costs no look-up. Bounded: when full it starts again empty (a miss costs one look-up of
//! the key row, and the working set of an import is the users being written).
//!
//! Only appends use it. Readers always ask the key table, so that a key another process
//! destroyed is gone for them at once (docs/adr/0068).

use std::collections::HashMap;
use std::sync::Mutex;

use domain::{ResourceId, TenantSlug};

use super::cipher::DataKey;

/// How many keys are kept: about 100 bytes each.
const CAPACITY: usize = 50_000;

#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<(TenantSlug, ResourceId), DataKey>>,
}

impl KeyCache {
    pub fn get(&self, tenant: &TenantSlug, user: ResourceId) -> Option<DataKey> {
        self.lock().get(&(tenant.clone(), user)).cloned()
    }

    pub fn insert(&self, tenant: &TenantSlug, user: ResourceId, key: DataKey) {
        let mut keys = self.lock();
        if keys.len() >= CAPACITY {
            keys.clear();
        }
        keys.insert((tenant.clone(), user), key);
    }

    pub fn forget(&self, tenant: &TenantSlug, user: ResourceId) {
        self.lock().remove(&(tenant.clone(), user));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantSlug, ResourceId), DataKey>> {
        self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
