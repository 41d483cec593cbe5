//! The secrets channel: a session of its own LISTENs for the NOTIFY that every tenant,
//! connection or operator commit sends (delivered at its commit, from any process), and
//! moves a generation on, which tells the authentication cache to forget (ADR 0021). While
//! the session is down the generation is `None`: nothing may be cached until it is back.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::tls::Tls;

use crate::api::SecretChanges;

/// How long to wait before listening again after the session was lost.
const RETRY: Duration = Duration::from_secs(1);

/// How long start-up waits for the first LISTEN, so that changes made right after it are heard.
const FIRST_LISTEN: Duration = Duration::from_secs(5);

/// Starts listening, and waits (a little) until it does; it stops when the last receiver is
/// dropped.
pub async fn start(config: tokio_postgres::Config, tls: Tls) -> SecretChanges {
    let (sender, receiver) = watch::channel(None);
    tokio::spawn(async move {
        let mut generation = 0;
        while !sender.is_closed() {
            if let Err(e) = listen(&config, &tls, &sender, &mut generation).await {
                tracing::warn!(error = %e, "the secrets channel is down; authentication caches nothing until it is back");
            }
            sender.send_replace(None);
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = sender.closed() => break,
            }
        }
    });
    let mut first = receiver.clone();
    if tokio::time::timeout(FIRST_LISTEN, first.wait_for(Option::is_some)).await.is_err() {
        tracing::warn!("not listening for secrets changes yet; authentication caches nothing until it is");
    }
    receiver
}

async fn listen(
    config: &tokio_postgres::Config,
    tls: &Tls,
    sender: &watch::Sender<Option<u64>>,
    generation: &mut u64,
) -> Result<(), tokio_postgres::Error> {
    let (notes, mut heard) = mpsc::unbounded_channel();
    let (client, driver) = tls.connect_notified(config, notes).await?;
    client.batch_execute(concat!("LISTEN ", secrets_channel!())).await?;
    // Anything cached before this session began may be stale.
    *generation += 1;
    sender.send_replace(Some(*generation));
    loop {
        tokio::select! {
            note = heard.recv() => match note {
                Some(()) => {
                    *generation += 1;
                    sender.send_replace(Some(*generation));
                    tracing::debug!(generation = *generation, "heard a secrets change; authentication caches start afresh");
                }
                None => break,
            },
            () = sender.closed() => break,
        }
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
