//! The rebuild's shadow on PostgreSQL: a schema of its own in the same database, which a
//! second store reaches through its `search_path` (the same migrations make its tables).

use std::sync::Arc;

use async_trait::async_trait;

use super::{append, backend, PgStore};
use crate::api::{Commit, StoreResult};
use crate::open::Options;
use crate::rebuild::{sql, Difference, Replayer, Shadow};

const SCHEMA: &str = "scimledger_rebuild";

#[async_trait]
impl Shadow for PgStore {
    async fn open_shadow(&self) -> StoreResult<Arc<dyn Replayer>> {
        self.drop_shadow().await?;
        self.client().await?.batch_execute(&format!("CREATE SCHEMA {SCHEMA}")).await.map_err(backend)?;
        let mut config = self.config.clone();
        // The shadow is thrown away if the rebuild stops: its commits need not wait for the disk.
        let options = format!("{} -c search_path={SCHEMA} -c synchronous_commit=off", config.get_options().unwrap_or_default());
        config.options(&options);
        Ok(Arc::new(PgStore::from_config(config, self.tls.clone(), 2, &Options::default()).await?))
    }

    async fn shadow_differences(&self) -> StoreResult<Vec<Difference>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.batch_execute("SET LOCAL statement_timeout = 0").await.map_err(backend)?;
        let mut differences = Vec::new();
        for (table, query) in sql::differences(SCHEMA, "json_build_array") {
            for row in tx.query(&query, &[]).await.map_err(backend)? {
                differences.push(Difference { table, live_only: row.get(0), row: row.get::<_, serde_json::Value>(1).to_string() });
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(differences)
    }

    async fn swap_in_shadow(&self, events: i64) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Appends wait here (their event insert needs the table), reads go on: every append
        // before the lock has committed, so the count says whether the shadow has them all.
        tx.batch_execute("SET LOCAL statement_timeout = 0; LOCK TABLE events IN EXCLUSIVE MODE").await.map_err(backend)?;
        let logged: i64 = tx.query_one("SELECT count(*) FROM events", &[]).await.map_err(backend)?.get(0);
        if logged != events {
            return Ok(false);
        }
        for statement in sql::copy(SCHEMA, "OVERRIDING SYSTEM VALUE") {
            tx.batch_execute(&statement).await.map_err(backend)?;
        }
        // Connections and operators were rewritten: the servers' credential caches reload.
        tx.batch_execute(concat!("SELECT pg_notify('", secrets_channel!(), "', '')")).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn drop_shadow(&self) -> StoreResult<()> {
        self.client().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")).await.map_err(backend)
    }
}

/// The shadow's store replays on one of its connections.
#[async_trait]
impl Replayer for PgStore {
    async fn replay(&self, commits: Vec<(Commit, i64)>) -> StoreResult<()> {
        append::replay_all(self.client().await?, commits).await
    }
}
