//! Pooled sessions whose work ends with the request that asked for it, planned for the data
//! they touch.
//!
//! Every pooled connection runs with `statement_timeout` set to the store's statement timeout,
//! so the server stops any statement that outlives its request. A pool plans each execution for
//! its parameters, or keeps its plans and drops them every [`REPLAN_EVERY`] checkouts
//! ([`Planning`], ADR 0078). And a [`Session`] dropped before its work finished (the request
//! timed out and its future was dropped) does not go back to the pool with a query still running
//! on it: the query is cancelled on the server and the connection is closed, so the next request
//! gets an idle one.

use std::ops::Deref;
use std::time::Duration;

use deadpool_postgres::{Hook, HookError, ManagerConfig, Object, Pool, RecyclingMethod};

use super::tls::Tls;
use crate::api::{StoreError, StoreResult};

/// How a pool's sessions plan their prepared statements (ADR 0078).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// A plan per execution, for its parameters and the tables as they are: for statements whose
    /// best plan depends on sizes and skew (a group's members, a tenant's keys, filtered pages).
    PerExecution,
    /// Plans are kept, and dropped every [`REPLAN_EVERY`] checkouts of a connection, so that the
    /// next execution plans for the tables as they are by then: for reads by one key, which
    /// take the key's index at every size past a page or two, and which planning would
    /// otherwise cost about as much as running.
    Kept,
}

/// Checkouts of a [`Planning::Kept`] connection between two drops of its plans. A plan made for
/// an almost empty table serves at most this many reads on its connection; each drop costs a
/// round trip and one planning of each statement the connection runs next.
pub const REPLAN_EVERY: usize = 64;

/// Opens a pool of `size` connections to `config`, each with the session settings.
pub fn pool(config: &tokio_postgres::Config, tls: &Tls, size: usize, statement_timeout: Duration, planning: Planning) -> StoreResult<Pool> {
    let config = with_session_settings(config, statement_timeout, planning);
    let manager = tls.manager(config, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let mut builder = Pool::builder(manager).max_size(size);
    if planning == Planning::Kept {
        builder = builder.post_recycle(Hook::async_fn(|client, metrics| {
            Box::pin(async move {
                if metrics.recycle_count % REPLAN_EVERY == 0 {
                    client.batch_execute("DISCARD PLANS").await.map_err(HookError::Backend)?;
                }
                Ok(())
            })
        }));
    }
    builder.build().map_err(|e| StoreError::Config(format!("the connection pool: {e}")))
}

/// `config` with the store's session settings added to the options it already has: the
/// statement timeout, and with [`Planning::PerExecution`] a plan per execution. Otherwise a
/// prepared statement that ran five times gets a generic plan, made with the statistics of that
/// moment: during an IdP's first import they describe almost empty tables, and a plan that reads
/// a tenant's keys or a group's members by the tenant alone (filtering the ids after) would stay
/// cached while the tenant grows to 100,000 users, each look-up scanning all of them.
pub fn with_session_settings(config: &tokio_postgres::Config, statement_timeout: Duration, planning: Planning) -> tokio_postgres::Config {
    let mut config = config.clone();
    let mut settings = format!("-c statement_timeout={}", statement_timeout.as_millis());
    if planning == Planning::PerExecution {
        settings.push_str(" -c plan_cache_mode=force_custom_plan");
    }
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {settings}"),
        _ => settings,
    };
    config.options(&options);
    config
}

/// A pooled connection lent for one piece of work; see the module's comment for its drop.
pub struct Session {
    object: Option<Object>,
    /// How to reach the server to cancel a query.
    tls: Tls,
}

impl Session {
    pub async fn from(pool: &Pool, tls: &Tls) -> StoreResult<Self> {
        let object = pool.get().await.map_err(super::errors::pool)?;
        Ok(Self { object: Some(object), tls: tls.clone() })
    }

    /// The work is done (successfully or not): the connection is idle and goes back to the pool.
    pub fn done(mut self) {
        drop(self.object.take());
    }
}

impl Deref for Session {
    type Target = Object;

    fn deref(&self) -> &Object {
        self.object.as_ref().expect("a session holds its connection until it is done")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else { return };
        let cancel = object.cancel_token();
        // Taken out of the pool: it closes once the cancel request went out.
        let client = Object::take(object);
        let tls = self.tls.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = tls.cancel(cancel).await {
                    tracing::warn!(error = %e, "could not cancel an abandoned query");
                }
                drop(client);
            });
        }
    }
}

/// Runs `$work` (an expression using `$client: &Object`) on a session of `$pool`, handing the
/// connection back only once the work finished.
macro_rules! on_session {
    ($pool:expr, $tls:expr, |$client:ident| $work:expr) => {{
        let session = $crate::postgres::session::Session::from($pool, $tls).await?;
        let out = {
            let $client: &deadpool_postgres::Object = &session;
            $work.await
        };
        session.done();
        out
    }};
}
pub(crate) use on_session;

#[cfg(test)]
mod tests {
    use super::*;

    const LOOK_UP: &str = "SELECT pad FROM probe WHERE tenant = $1 AND k = $2";

    /// Runs the look-up on a connection taken from the pool and handed back.
    async fn look_up(pool: &Pool) {
        let client = pool.get().await.unwrap();
        let statement = client.prepare_cached(LOOK_UP).await.unwrap();
        client.query(&statement, &[&"acme", &7]).await.unwrap();
    }

    /// The plan the connection's prepared look-up would run with next (`EXPLAIN EXECUTE`).
    async fn next_plan(pool: &Pool) -> String {
        let client = pool.get().await.unwrap();
        let name: String =
            client.query_one("SELECT name FROM pg_prepared_statements WHERE statement = $1", &[&LOOK_UP]).await.unwrap().get(0);
        let rows = client.query(&format!("EXPLAIN EXECUTE {name}('acme', 7)"), &[]).await.unwrap();
        rows.iter().map(|row| row.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
    }

    #[tokio::test]
    async fn a_plan_made_while_a_table_was_small_is_made_again_within_replan_every_checkouts() {
        let (config, mode) = super::super::tls::read_url(&crate::testing::fresh_postgres_url().await).unwrap();
        let pool = pool(&config, &Tls::for_mode(&mode).unwrap(), 1, Duration::from_secs(60), Planning::Kept).unwrap();
        // Statistics of three rows, as an ANALYZE early in an import leaves them; no autovacuum
        // afterwards, whose next ANALYZE would drop the plan by itself.
        pool.get()
            .await
            .unwrap()
            .batch_execute(
                "CREATE TABLE probe (tenant text, k int, pad text) WITH (autovacuum_enabled = false);
                 CREATE INDEX ON probe (tenant, k);
                 INSERT INTO probe SELECT 'acme', g, '' FROM generate_series(1, 3) g;
                 ANALYZE probe;",
            )
            .await
            .unwrap();
        // Five plans for the parameters, then a generic plan made for three rows is kept.
        for _ in 0..6 {
            look_up(&pool).await;
        }
        let small = next_plan(&pool).await;
        assert!(small.contains("Seq Scan"), "a generic plan for a table of three rows scans it: {small}");
        pool.get()
            .await
            .unwrap()
            .batch_execute("INSERT INTO probe SELECT 'acme', g, repeat('x', 100) FROM generate_series(4, 100000) g")
            .await
            .unwrap();
        let stale = next_plan(&pool).await;
        assert!(stale.contains("Seq Scan"), "the kept plan outlives the table's growth: {stale}");

        for _ in 0..REPLAN_EVERY {
            look_up(&pool).await;
        }
        let fresh = next_plan(&pool).await;
        assert!(fresh.contains("Index"), "within {REPLAN_EVERY} checkouts the look-up is planned for the table as it is: {fresh}");
    }

    #[test]
    fn only_per_execution_planning_forces_a_plan_per_execution() {
        let config: tokio_postgres::Config = "postgres://u@h/db?options=-c%20search_path%3Dx".parse().unwrap();
        let kept = with_session_settings(&config, Duration::from_secs(5), Planning::Kept);
        assert_eq!(kept.get_options(), Some("-c search_path=x -c statement_timeout=5000"));
        let per_execution = with_session_settings(&config, Duration::from_secs(5), Planning::PerExecution);
        assert_eq!(per_execution.get_options(), Some("-c search_path=x -c statement_timeout=5000 -c plan_cache_mode=force_custom_plan"));
    }
}
