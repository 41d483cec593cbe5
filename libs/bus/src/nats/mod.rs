//! Identity events on NATS JetStream.
//!
//! - [`health`]: whether events reach NATS, and why not (`/readyz`).
//! - [`stream`]: connecting, and the stream created or updated from the settings at start-up.
//! - [`publisher`]: publishing envelopes in order, deduplicated by event id.
//! - [`relay`]: the outbox relay: one per database (a lease), following the log in commit order.
//! - [`tail`]: following the stream as a consumer does (`scimledger events tail`).

pub mod health;
pub mod publisher;
pub mod relay;
pub mod stream;
pub mod tail;

pub use health::{RelayHealth, Stall};
pub use publisher::Publisher;
pub use relay::{Relay, RelaySettings};
pub use stream::StreamSettings;
