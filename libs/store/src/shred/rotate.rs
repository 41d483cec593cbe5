//! Rotating the master key (docs/operations.md, Master keys): every data key not wrapped under
//! the file's newest master key is re-wrapped under it, in bounded batches, each row written
//! only over the wrapping it was read with. A run stopped midway is simply run again: what it
//! did is done, and what is left is what the walk finds. Each run is recorded as
//! `master_key.rotated` with its counts.

use domain::master_key::{MasterKeyCommand, MasterKeyId, MasterKeys, Rotation, WrappedCount};
use domain::{Principal, TenantSlug};

use super::cipher::Unopened;
use super::master::KeyFile;
use super::table::{KeyCursor, KeyTable, Rewrap};
use crate::api::{EventMetadata, Store, StoreError, StoreResult};
use crate::commands::{self, CommandError, Expect};

/// How much of the key table one run re-wraps.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Keys read and written per transaction.
    pub batch: u32,
    /// Stop after re-wrapping this many (`None`: all of them).
    pub limit: Option<u64>,
}

/// Re-wraps the data keys under the newest master key of `keys`, calling `progress` with the
/// number re-wrapped after each batch, and says what it did and what remains.
pub async fn rotate(table: &dyn KeyTable, keys: &KeyFile, pace: Pace, progress: &dyn Fn(u64)) -> StoreResult<Rotation> {
    let ring = keys.ring();
    let newest = ring.newest().id().clone();
    super::canary::rewrap(table, &ring).await?;
    let (mut rewrapped, mut after): (u64, Option<KeyCursor>) = (0, None);
    loop {
        let want = match pace.limit {
            Some(limit) if rewrapped >= limit => break,
            Some(limit) => u64::from(pace.batch).min(limit - rewrapped) as u32,
            None => pace.batch,
        };
        let page = table.keys_not_under(&newest, after.as_ref(), want).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.tenant.clone(), last.user));
        let mut batch = Vec::with_capacity(page.len());
        for row in page {
            let opener = match &row.key.master_key {
                Some(id) => keys.ring_with(id),
                None => std::sync::Arc::clone(&ring),
            };
            let key = opener.unwrap(&row.key, &row.tenant, row.user).map_err(|unopened| unopenable(keys, unopened))?;
            let new = ring.wrap(&key, &row.tenant, row.user);
            batch.push(Rewrap { tenant: row.tenant, user: row.user, old: row.key.wrapped, new });
        }
        // A row changed meanwhile (its user erased) is not written, nor counted.
        rewrapped += table.rewrap(batch).await?;
        progress(rewrapped);
    }
    let remaining = remaining(table, &newest).await?;
    Ok(Rotation { to: newest, rewrapped, remaining })
}

/// How many data keys each master key but `newest` still wraps.
async fn remaining(table: &dyn KeyTable, newest: &MasterKeyId) -> StoreResult<Vec<WrappedCount>> {
    Ok(table.wrapped_counts().await?.into_iter().filter(|count| count.master_key.as_ref() != Some(newest)).collect())
}

/// Records a run of the rotation in the deployment's log, as `metadata`'s actor.
pub async fn record(store: &dyn Store, rotation: Rotation, metadata: EventMetadata) -> Result<(), CommandError> {
    let command = MasterKeyCommand::RecordRotation(rotation);
    let deployment = TenantSlug::deployment();
    commands::run::<MasterKeys>(store, &deployment, MasterKeys::stream_id(), command, &Principal::Operator, metadata, Expect::Existing)
        .await
        .map(drop)
}

fn unopenable(keys: &KeyFile, unopened: Unopened) -> StoreError {
    match unopened {
        Unopened::Unknown(id) => StoreError::Config(format!(
            "data keys are wrapped under master key {id}, which {} does not hold: keep every older key in the file until the rotation \
             is done",
            keys.path().display()
        )),
        Unopened::Refused => {
            StoreError::corrupt("a data key", format!("it does not open with the master keys of {}", keys.path().display()))
        }
    }
}
