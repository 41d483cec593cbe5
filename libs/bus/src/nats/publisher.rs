//! Publishing envelopes to JetStream in order, each with `Nats-Msg-Id` = the event id.
//!
//! Publishes are pipelined (a batch is sent, then its acks are awaited), and each names the one
//! before it (`Nats-Expected-Last-Msg-Id`): JetStream stores a message only right after its
//! predecessor, so a message lost in a broken connection can never be overtaken by the ones sent
//! after it. JetStream's duplicate check comes before that check, so re-publishing an event it
//! already has is acknowledged as a duplicate and dropped. After any failure, and at the start,
//! the first message goes alone and names no predecessor (the stream's last message may be one
//! this publisher never saw); the chain resumes from it.
//!
//! A message larger than the server's `max_payload` is refused before it is sent, every time:
//! it is not skipped (that would break the order the chain promises) but offered again, and the
//! relay's health says it is stalled, with the event's position, until it goes through.
//!
//! A message whose event was written inside a trace carries a `traceparent` header: that of its
//! producer span (from the send to JetStream's ack) when traces are exported, else the one the
//! event was written under.

use std::future::IntoFuture;

use async_nats::jetstream;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_trait::async_trait;
use store::LogCursor;
use tracing::Span;

use super::health::{RelayHealth, Stall};
use crate::follow::{Refusal, Sink};
use crate::Envelope;

pub struct Publisher {
    js: jetstream::Context,
    /// The stream's name, for the metrics.
    stream: String,
    /// The id of the last message JetStream confirmed to this publisher, which the next one
    /// names as its predecessor; `None` at the start and after a failure.
    last: Option<String>,
    /// Messages JetStream stored, and re-publishes it dropped as duplicates.
    pub stored: u64,
    pub duplicates: u64,
    health: RelayHealth,
}

impl Publisher {
    pub fn new(js: jetstream::Context, stream: &str, health: RelayHealth) -> Self {
        Self { js, stream: stream.to_owned(), last: None, stored: 0, duplicates: 0, health }
    }

    /// Sends one message; its ack, and its producer span, which ends when dropped after the ack.
    async fn send(&self, envelope: &Envelope, previous: Option<&str>) -> anyhow::Result<(PublishAckFuture, Span)> {
        let (span, traceparent) = telemetry::trace::producer_span(&envelope.subject, envelope.traceparent.as_deref());
        let payload = serde_json::to_vec(&envelope.json)?;
        let size = payload.len();
        let mut message = PublishMessage::build().payload(payload.into()).message_id(&envelope.id);
        if let Some(previous) = previous {
            message = message.expected_last_message_id(previous);
        }
        if let Some(traceparent) = traceparent {
            message = message.header(telemetry::trace::TRACEPARENT, traceparent.as_str());
        }
        let ack = self.js.send_publish(envelope.subject.clone(), message).await.map_err(|error| {
            if error.kind() == PublishErrorKind::MaxPayloadExceeded {
                self.too_large(envelope, size);
            }
            anyhow::Error::from(error)
        })?;
        Ok((ack, span))
    }

    fn too_large(&self, envelope: &Envelope, size: usize) {
        let position = envelope.json["position"].as_i64().unwrap_or_default();
        let max_payload = self.js.client().max_payload();
        self.health.stalled(Stall::EventTooLarge { position, size, max_payload });
    }

    fn confirmed(&mut self, envelope: &Envelope, duplicate: bool) {
        if duplicate {
            self.duplicates += 1;
        } else {
            self.stored += 1;
        }
        self.last = Some(envelope.id.clone());
    }
}

#[async_trait]
impl Sink for Publisher {
    async fn take(&mut self, batch: &[Envelope], _from: &[LogCursor]) -> Result<(), Refusal> {
        let (stored_before, duplicates_before) = (self.stored, self.duplicates);
        let result = self.publish(batch).await;
        telemetry::metrics::published(&self.stream, self.stored - stored_before, self.duplicates - duplicates_before);
        if result.is_err() {
            telemetry::metrics::publish_failed(&self.stream);
        }
        if self.duplicates > duplicates_before {
            // Events published before a crash or a lost ack, whose checkpoint was not saved.
            tracing::info!(
                duplicates = self.duplicates - duplicates_before,
                "re-published events JetStream already had; dropped as duplicates"
            );
        }
        result
    }
}

impl Publisher {
    async fn publish(&mut self, batch: &[Envelope]) -> Result<(), Refusal> {
        let mut taken = 0;
        if self.last.is_none() {
            let first = &batch[0];
            let ack = async {
                let (ack, _span) = self.send(first, None).await?;
                Ok::<_, anyhow::Error>(ack.await?)
            }
            .await;
            match ack {
                Ok(ack) => self.confirmed(first, ack.duplicate),
                Err(error) => return Err(Refusal { taken, error }),
            }
            taken = 1;
        }
        let mut pending = Vec::with_capacity(batch.len() - taken);
        let mut spans = Vec::with_capacity(batch.len() - taken);
        let mut failure = None;
        for (i, envelope) in batch.iter().enumerate().skip(taken) {
            let previous = if i == taken { self.last.as_deref() } else { Some(batch[i - 1].id.as_str()) };
            match self.send(envelope, previous).await {
                Ok((ack, span)) => {
                    pending.push(ack);
                    spans.push(span);
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        // Every ack is awaited, also after a failure, so nothing of this batch is still in flight
        // when the next attempt starts; all at once, so that their timeouts run side by side.
        let mut broken = None;
        let acks = futures::future::join_all(pending.into_iter().map(IntoFuture::into_future)).await;
        drop(spans);
        for ack in acks {
            match ack {
                Ok(ack) if broken.is_none() => {
                    self.confirmed(&batch[taken], ack.duplicate);
                    taken += 1;
                }
                Ok(_) => {}
                Err(error) => {
                    broken.get_or_insert(anyhow::Error::from(error));
                }
            }
        }
        match broken.or(failure) {
            None => {
                self.health.flowing();
                Ok(())
            }
            Some(error) => {
                self.last = None;
                Err(Refusal { taken, error: error.context("publishing to JetStream") })
            }
        }
    }
}
