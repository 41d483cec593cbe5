//! Pooled sessions whose work ends with the request that asked for it, planned for the data
//! they touch.
//!
//! Every pooled connection runs with `statement_timeout` set to the store's statement timeout,
//! so the server stops any statement that outlives its request; and with
//! `plan_cache_mode = force_custom_plan`, so that no prepared statement keeps a generic plan made
//! while its tables were small (ADR 0078). And a [`Session`] dropped
//! before its work finished (the request timed out and its future was dropped) does not go back
//! to the pool with a query still running on it: the query is cancelled on the server and the
//! connection is closed, so the next request gets an idle one.

use std::ops::Deref;
use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Object, Pool, RecyclingMethod};

use super::tls::Tls;
use crate::api::{StoreError, StoreResult};

/// Opens a pool of `size` connections to `config`, each with the session settings.
pub fn pool(config: &tokio_postgres::Config, tls: &Tls, size: usize, statement_timeout: Duration) -> StoreResult<Pool> {
    let config = with_session_settings(config, statement_timeout);
    let manager = tls.manager(config, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager).max_size(size).build().map_err(|e| StoreError::Config(format!("the connection pool: {e}")))
}

/// `config` with the store's session settings added to the options it already has: the
/// statement timeout, and a plan per execution. A generic plan is made once a statement has run
/// five times, with the statistics of that moment: during an IdP's first import they describe
/// almost empty tables, and a plan that reads a tenant's keys or a group's members by the tenant
/// alone (filtering the ids after) stays cached while the tenant grows to 100,000 users, each
/// look-up scanning all of them. Planning each execution sees the tables' current size.
pub fn with_session_settings(config: &tokio_postgres::Config, statement_timeout: Duration) -> tokio_postgres::Config {
    let mut config = config.clone();
    let settings = format!("-c statement_timeout={} -c plan_cache_mode=force_custom_plan", statement_timeout.as_millis());
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
