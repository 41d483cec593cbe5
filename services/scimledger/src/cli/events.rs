//! `scimledger events …`: the NATS side of the event log.

use anyhow::{bail, Context};
use bus::follow::Sink;
use bus::nats::{stream, tail, Publisher, RelayHealth};
use bus::Envelope;
use domain::TenantSlug;
use futures::StreamExt;
use std::io::Write;
use store::Store;

use crate::config::Settings;

/// Events read from the log per round trip of a re-publish.
const BATCH: u32 = 512;

fn nats_url(settings: &Settings) -> anyhow::Result<&str> {
    settings.nats_url.as_deref().context("SCIMLEDGER_NATS_URL is not set: events go to NATS only when it is")
}

/// An event type as subjects spell it: `user.deactivated`, lower-case words and underscores.
fn event_type(text: &str) -> anyhow::Result<&str> {
    let words: Vec<&str> = text.split('.').collect();
    if words.len() != 2 || words.iter().any(|w| w.is_empty() || !w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')) {
        bail!("--type {text:?}: expected <resource>.<event>, e.g. user.deactivated");
    }
    Ok(text)
}

/// Prints every event published from now on, one JSON envelope a line, until interrupted.
pub async fn tail(settings: &Settings, tenant: Option<&str>, kind: Option<&str>) -> anyhow::Result<()> {
    let tenant = tenant.map(TenantSlug::parse).transpose()?;
    let filter = tail::filter(tenant.as_ref().map(TenantSlug::as_str), kind.map(event_type).transpose()?);
    let js = stream::connect(nats_url(settings)?).await?;
    let mut events = tail::follow(&js, &settings.nats_stream, filter.clone()).await?;
    // Scripts (and tests) wait for this line before they make the changes they expect to see.
    eprintln!("following stream {} on {filter}", settings.nats_stream);
    let mut out = std::io::stdout().lock();
    while let Some(envelope) = events.next().await {
        writeln!(out, "{}", envelope?)?;
        out.flush()?;
    }
    Ok(())
}

/// Publishes the log again from position `from` (to `to`, or the end): consumers dedupe on the
/// event id, and JetStream drops what it still remembers (its duplicate window).
pub async fn republish(store: &dyn Store, settings: &Settings, from: i64, to: Option<i64>) -> anyhow::Result<()> {
    if from < 1 || to.is_some_and(|to| to < from) {
        bail!("--from must be a log position (1 or more), and --to no less than it");
    }
    let js = stream::connect(nats_url(settings)?).await?;
    // A refusal ends the command with its error: nobody reads this health.
    let mut publisher = Publisher::new(js, &settings.nats_stream, RelayHealth::default());
    let mut after = from - 1;
    loop {
        let mut events = store.read_log(after, BATCH).await?;
        if let Some(to) = to {
            events.retain(|e| e.position <= to);
        }
        let Some(last) = events.last().map(|e| e.position) else { break };
        let envelopes = events.iter().map(Envelope::of).collect::<Result<Vec<_>, _>>()?;
        // The publisher finishes every event it takes, so it needs no `from` to hold.
        if let Err(refusal) = publisher.take(&envelopes, &[]).await {
            let done = if refusal.taken > 0 { events[refusal.taken - 1].position } else { after };
            return Err(refusal.error.context(format!("re-published up to position {done} only")));
        }
        after = last;
    }
    println!(
        "re-published {} events from position {from}: {} stored, {} already in stream {} (dropped as duplicates)",
        publisher.stored + publisher.duplicates,
        publisher.stored,
        publisher.duplicates,
        settings.nats_stream
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_types_are_two_words() {
        assert_eq!(super::event_type("user.deactivated").unwrap(), "user.deactivated");
        assert_eq!(super::event_type("group.members_added").unwrap(), "group.members_added");
        for bad in ["user", "user.*", "user.>", "User.deactivated", "a.b.c", ".x"] {
            assert!(super::event_type(bad).is_err(), "{bad}");
        }
    }
}
