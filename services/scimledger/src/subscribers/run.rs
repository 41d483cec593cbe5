//! Which subscribers a process runs: every one inside `serve` (unless `--no-workers`), or one
//! alone in `scimledger worker NAME`; and `scimledger worker status`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bus::in_process::{lag, Lag};
use bus::InProcessBus;
use serde::Serialize;
use store::Store;

use super::assets::{self, Assets};
use super::mailer::{self, Mailer, MailerSettings};
use crate::config::Settings;

/// Every subscriber, by name.
pub const ALL: [&str; 2] = [mailer::NAME, assets::NAME];

/// A bus running the subscribers `names` that are set up. `serve` passes every one and skips
/// those missing their settings (saying so); a worker passes one, which must be set up.
pub async fn start(store: Arc<dyn Store>, settings: &Settings, names: &[&str], strict: bool) -> anyhow::Result<InProcessBus> {
    let mut bus = InProcessBus::new(Arc::clone(&store));
    for &name in names {
        match name {
            mailer::NAME => match &settings.smtp_url {
                Some(url) => {
                    let mailer_settings = MailerSettings {
                        smtp_url: url.expose().to_owned(),
                        from: settings.mail_from.clone(),
                        ttl: Duration::from_secs(settings.enrollment_ttl_secs),
                        public_origin: settings.public_origin(),
                    };
                    bus.subscribe(Arc::new(Mailer::new(Arc::clone(&store), mailer_settings).await?));
                }
                None if strict => anyhow::bail!("the mailer needs SCIMLEDGER_SMTP_URL"),
                // Its events wait in the log: once an SMTP URL is set, it catches up.
                None => tracing::info!("enrollment mailer not running: SCIMLEDGER_SMTP_URL is not set"),
            },
            assets::NAME => bus.subscribe(Arc::new(Assets::new(Arc::clone(&store)))),
            other => anyhow::bail!("no subscriber is named {other:?}: use one of {}", ALL.join(", ")),
        }
    }
    Ok(bus)
}

#[derive(Serialize)]
struct Status {
    subscribers: Vec<Lag>,
}

/// `scimledger worker status`: each subscriber's checkpoint, how far behind the log it is, and
/// its failures.
pub async fn status(store: &dyn Store, json: bool) -> anyhow::Result<()> {
    let mut subscribers = Vec::new();
    for name in ALL {
        subscribers.push(lag(store, name).await.with_context(|| format!("reading the checkpoint of {name}"))?);
    }
    if json {
        println!("{}", serde_json::to_string(&Status { subscribers })?);
    } else {
        for s in subscribers {
            println!("{}: at position {} of {} ({} behind), {} failed deliveries", s.name, s.checkpoint, s.head, s.behind, s.failures);
            if let Some(r) = s.retrying {
                println!("  retrying since {}: {}", r.since, r.error);
            }
        }
    }
    Ok(())
}
