//! Following the stream as a consumer does: an ordered, ephemeral consumer from now on,
//! filtered by tenant and event type.

use anyhow::Context as _;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::{self, Message};
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::subject::PREFIX;

/// The subject filter for one tenant or all (`None`), one event type (`user.deactivated`) or all.
pub fn filter(tenant: Option<&str>, event_type: Option<&str>) -> String {
    format!("{PREFIX}.{}.{}", tenant.unwrap_or("*"), event_type.unwrap_or("*.*"))
}

/// The envelopes published to `stream` from now on whose subject matches `filter`, in stream order.
pub async fn follow(js: &jetstream::Context, stream: &str, filter: String) -> anyhow::Result<impl Stream<Item = anyhow::Result<Value>>> {
    let stream = js.get_stream(stream).await.with_context(|| format!("opening stream {stream}"))?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig { filter_subject: filter, deliver_policy: DeliverPolicy::New, ..Default::default() })
        .await
        .context("creating a consumer")?;
    let messages = consumer.messages().await.context("following the stream")?;
    Ok(messages.map(|message| {
        let message: Message = message.context("receiving from the stream")?;
        serde_json::from_slice(&message.payload).context("an envelope that is not JSON")
    }))
}
