//! The key table under a rotation of master keys (`store::shred::table`, `rotate`): a re-wrap
//! writes only over the wrapping it read, never makes a row, and a rotation leaves every user's
//! events readable with the newest key alone; the canary follows, compare-and-set too.

mod support;

use std::sync::Arc;

use domain::{ResourceId, StreamKind};
use serde_json::json;
use store::shred::master::{self, KeyFile};
use store::shred::rotate::{self, Pace};
use store::shred::table::{Rewrap, WrappedKey};
use store::shred::Shredding;
use store::{Store, StoreError};
use support::Fixture;

async fn user_name(store: &dyn Store, fixture: &Fixture, user: ResourceId) -> String {
    let events = store.stream(&fixture.tenant, StreamKind::User, user).await.unwrap();
    events[0].payload.data["user_name"].as_str().unwrap().to_owned()
}

on_both_backends! {
    async fn a_rewrap_writes_only_over_what_it_read_and_a_rotation_leaves_everything_readable(fixture: Fixture) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(master::DEFAULT_FILE);
        let first = Arc::new(KeyFile::open_or_create(&path).unwrap());
        let shredded = Arc::new(Shredding::open(fixture.store.clone(), first).await.unwrap());
        let users = support::with_tenant(shredded, None).await;
        let ann = users.provision(json!({"userName": "ann"})).await.unwrap();
        let bob = users.provision(json!({"userName": "bob"})).await.unwrap();

        let old_line = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{}\n{old_line}", master::generate())).unwrap();
        let keys = KeyFile::open(&path).unwrap();
        let ring = keys.ring();
        let newest = ring.newest().id().clone();
        let table = fixture.store.key_table();
        let rows = table.keys_not_under(&newest, None, 10).await.unwrap();
        assert_eq!(rows.len(), 2, "both users' keys, under the first key");
        let rewrap = |i: usize, old: Vec<u8>| {
            let row = &rows[i];
            let key = ring.unwrap(&row.key, &row.tenant, row.user).unwrap();
            Rewrap { tenant: row.tenant.clone(), user: row.user, old, new: ring.wrap(&key, &row.tenant, row.user) }
        };

        // A row whose wrapping changed since it was read is not written; a row that is gone
        // (an erased user's key) is not made again.
        assert_eq!(table.rewrap(vec![rewrap(0, b"another wrapping".to_vec())]).await.unwrap(), 0);
        let gone = Rewrap { user: ResourceId::new(), ..rewrap(0, rows[0].key.wrapped.clone()) };
        assert_eq!(table.rewrap(vec![gone.clone()]).await.unwrap(), 0);
        assert!(fixture.store.user_keys(&fixture.tenant, &[gone.user]).await.unwrap().is_empty(), "no key made");
        assert_eq!(table.rewrap(vec![rewrap(0, rows[0].key.wrapped.clone())]).await.unwrap(), 1);
        let counts: Vec<u64> = table.wrapped_counts().await.unwrap().iter().map(|c| c.keys).collect();
        assert_eq!(counts.iter().sum::<u64>(), 2);
        assert_eq!(table.keys_not_under(&newest, None, 10).await.unwrap().len(), 1, "one left under the first key");

        // The rotation does the rest, and the canary: the newest key alone reads everything.
        let rotation = rotate::rotate(table, &keys, Pace { batch: 1, limit: None }, &|_| {}).await.unwrap();
        assert_eq!((rotation.rewrapped, rotation.remaining.len(), &rotation.to), (1, 0, &newest));
        let canary = table.canary().await.unwrap().unwrap();
        assert_eq!(canary.master_key.as_ref(), Some(&newest));
        let newest_line = std::fs::read_to_string(&path).unwrap().lines().next().unwrap().to_owned();
        std::fs::write(&path, format!("{newest_line}\n")).unwrap();
        let alone = Shredding::open(fixture.store.clone(), Arc::new(KeyFile::open(&path).unwrap())).await.unwrap();
        assert_eq!((user_name(&alone, &fixture, ann).await, user_name(&alone, &fixture, bob).await), ("ann".into(), "bob".into()));

        // The canary is written over what was read only, and the first key no longer opens it.
        let stale = WrappedKey { master_key: Some(newest), wrapped: b"another canary".to_vec() };
        assert!(!table.swap_canary(Some(&stale.wrapped), &stale).await.unwrap());
        assert!(!table.swap_canary(None, &stale).await.unwrap(), "there is one already");
        std::fs::write(&path, old_line).unwrap();
        let refused = Shredding::open(fixture.store.clone(), Arc::new(KeyFile::open(&path).unwrap())).await.err().unwrap();
        assert!(matches!(&refused, StoreError::Config(e) if e.contains("does not open this database")), "{refused}");
    }
}
