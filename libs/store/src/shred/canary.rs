//! The canary: one known value wrapped under the deployment's newest master key, kept in the
//! database. A process checks its keys against it before it serves, so that one given the wrong
//! key file stops at once, naming the file, rather than failing on the first user key it reads
//! and wrapping the keys of users it creates under a key nobody else holds.

use domain::master_key::MasterKeyId;

use super::cipher::{KeyRing, Unopened};
use super::master::KeyFile;
use super::table::KeyTable;
use crate::api::{StoreError, StoreResult};

/// Checks the file's keys against the canary, making it (under the newest key) if the database
/// has none yet. A database written before the canary existed must first show that the keys
/// open one of its user keys: the canary is not made under a key that cannot read the data.
pub async fn check(table: &dyn KeyTable, keys: &KeyFile) -> StoreResult<()> {
    let canary = match table.canary().await? {
        Some(canary) => canary,
        None => {
            let ring = keys.ring();
            if let Some(key) = table.keys_not_under(ring.newest().id(), None, 1).await?.pop() {
                ring.unwrap(&key.key, &key.tenant, key.user).map_err(|unopened| wrong_keys(keys, &ring, key.key.master_key, unopened))?;
            }
            if table.swap_canary(None, &ring.canary()).await? {
                tracing::info!(master_key = %ring.newest().id(), "made the master key canary");
            }
            table.canary().await?.ok_or_else(|| StoreError::Internal("the master key canary is gone right after it was made".into()))?
        }
    };
    // The file was read just now: no reading it again for a key it lacks.
    let ring = keys.ring();
    ring.opens_canary(&canary).map_err(|unopened| wrong_keys(keys, &ring, canary.master_key, unopened))
}

/// Re-wraps the canary under the newest key (a rotation): from then on, a process needs the
/// newest key to start. Another process's canary written meanwhile is left as it is.
pub async fn rewrap(table: &dyn KeyTable, ring: &KeyRing) -> StoreResult<()> {
    // The process checked it at start: it is there.
    if let Some(canary) = table.canary().await?.filter(|canary| canary.master_key.as_ref() != Some(ring.newest().id())) {
        table.swap_canary(Some(&canary.wrapped), &ring.canary()).await?;
    }
    Ok(())
}

fn wrong_keys(keys: &KeyFile, ring: &KeyRing, under: Option<MasterKeyId>, unopened: Unopened) -> StoreError {
    let held: Vec<String> = ring.ids().map(ToString::to_string).collect();
    let what = match (unopened, under) {
        (Unopened::Unknown(id), _) => format!("this database's keys are wrapped under master key {id}"),
        (Unopened::Refused, Some(id)) => format!("this database's keys do not open under master key {id} (the row was altered)"),
        (Unopened::Refused, None) => "this database's keys were wrapped under another master key".to_owned(),
    };
    StoreError::Config(format!(
        "the master key file {} does not open this database: {what}, and the file holds {} (SCIMLEDGER_MASTER_KEY_FILE must name the \
         deployment's one key file)",
        keys.path().display(),
        held.join(", ")
    ))
}
