//! `scimledger serve`: the API, the log's sealer, the subscribers (unless `--no-workers`), the
//! NATS relay when a NATS URL is set, and `/metrics` when a metrics address is, until SIGINT or
//! SIGTERM. `scimledger worker NAME`: one subscriber alone.

use std::sync::Arc;

use anyhow::Context;
use bus::nats::Relay;
use bus::InProcessBus;
use scim::cursor::CursorKey;
use store::sqlite::{ServerLock, SqliteStore};
use store::{Backend, Store};
use tokio::net::TcpListener;

use crate::api::{self, ApiParts, ApiState, TenantCache};
use crate::cli::demo;
use crate::config::Settings;
use crate::scrape;
use crate::subscribers;

/// The name of the cursor key among the deployment's secrets.
const CURSOR_SECRET: &str = "cursor";
/// The deployment secret that seals OAuth codes and refresh tokens (ADR 0072).
const OAUTH_SECRET: &str = "oauth";

pub async fn run(settings: Settings, demo_tenant: bool, workers: bool, metrics: telemetry::Scrape) -> anyhow::Result<()> {
    telemetry::tenants::set_limit(settings.metrics_tenant_labels);
    let (backend, _lock, store) = open_as_server(&settings).await?;
    // Listening for credential changes before the API answers: none made after start-up is missed.
    let tenants = Arc::new(TenantCache::new(&*store).await);
    let scrape = match settings.metrics_listen {
        Some(address) => Some(scrape::serve(address, metrics).await?),
        None => None,
    };
    let listener = TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let address = listener.local_addr()?;
    let mut settings = settings;
    settings.listen = address;
    tracing::info!(%address, backend = %backend.describe(), "scimledger listening");
    // Tests and scripts read this line to find the port when listening on port 0.
    println!("scimledger listening on http://{address}");
    if demo_tenant {
        demo::print_demo_connection(&*store, &settings).await?;
    } else if store.tenants().await?.is_empty() {
        demo::print_first_start_help(&settings);
    }
    // The relay runs beside the API and never holds it up: with NATS away, writes go on and
    // their events wait in the log.
    let relay = settings.relay().map(|relay| Relay::start(Arc::clone(&store), relay));
    // So do the subscribers: their events wait in the log while they are behind.
    let subscribers = match workers {
        true => Some(subscribers::run::start(Arc::clone(&store), &settings, &subscribers::run::ALL, false).await?),
        false => None,
    };
    // Purges a crash interrupted finish beside the API (ADR 0041); one that fails again is
    // retried at the next start.
    let purges = Arc::clone(&store);
    tokio::spawn(async move {
        if let Err(error) = store::purge::resume(purges).await {
            tracing::error!(%error, "resuming purges failed; they resume at the next start");
        }
    });
    // Built from the log beside the API (look-ups wait until it is ready, ADR 0061); it also
    // derives the `role.*` events (ADR 0062).
    let access = crate::access::Projection::start(Arc::clone(&store));
    // The sealer follows the log behind the appends (ADR 0052); with several servers on one
    // database, the one holding its lease seals.
    tokio::spawn(store::seal::run_sealer(Arc::clone(&store)));
    let cursor_key = match &settings.cursor_key {
        Some(key) => key.clone(),
        None => CursorKey::new(store.secret(CURSOR_SECRET).await.context("reading the deployment's cursor key")?),
    };
    let oauth_key = api::GrantKey::new(store.secret(OAUTH_SECRET).await.context("reading the deployment's OAuth key")?);
    let state = ApiState::new(ApiParts {
        store,
        tenants,
        settings,
        cursor_key,
        relay: relay.as_ref().map(Relay::health),
        subscribers: subscribers.as_ref().map(InProcessBus::health).unwrap_or_default(),
        access,
        oauth_key,
        unroutable: Default::default(),
    });
    axum::serve(listener, api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    if let Some(relay) = relay {
        relay.stop().await;
    }
    if let Some(subscribers) = subscribers {
        subscribers.stop().await;
    }
    if let Some(scrape) = scrape {
        scrape.abort();
    }
    tracing::info!("scimledger stopped");
    Ok(())
}

/// `scimledger worker NAME`: runs one subscriber until SIGINT or SIGTERM. Any number may run
/// (on PostgreSQL): one is active, the others stand by (ADR 0056).
pub async fn worker(settings: Settings, name: &str) -> anyhow::Result<()> {
    // On the embedded file, a worker is a server: beside `serve` it would be a second one.
    let (_, _lock, store) = open_as_server(&settings).await?;
    let bus = subscribers::run::start(store, &settings, &[name], true).await?;
    tracing::info!(subscriber = name, "worker running");
    shutdown_signal().await;
    bus.stop().await;
    Ok(())
}

/// The store, for a server process: the embedded file serves one, whose lock is held as long
/// as the returned guard.
async fn open_as_server(settings: &Settings) -> anyhow::Result<(Backend, Option<ServerLock>, Arc<dyn Store>)> {
    let backend = settings.backend()?;
    let lock = match &backend {
        Backend::Sqlite { data_dir } => Some(SqliteStore::lock_for_server(data_dir)?),
        Backend::Postgres { .. } => None,
    };
    let store = settings.open_store(&settings.store_options()).await?;
    Ok((backend, lock, store))
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
