//! Identity events leaving the log.
//!
//! - [`envelope`]: the CloudEvents 1.0 envelope every consumer receives, in process or on NATS.
//! - [`subject`]: subjects `scimledger.<tenant>.<resource>.<event>`.
//! - [`follow`]: the one log follower: commit order from a checkpoint, batches handed to a
//!   sink, at least once.
//! - [`in_process`]: the in-process bus: delivers each event to every subscriber, resuming from
//!   its checkpoint after a restart, one process per database running each (a lease).
//! - [`nats`]: NATS JetStream: the stream, the publisher, the outbox relay (one active per
//!   database) and a tail of the stream.

pub mod envelope;
pub mod follow;
pub mod in_process;
pub mod nats;
pub mod subject;

pub use envelope::Envelope;
pub use in_process::{BusHealth, InProcessBus, Subscriber, SubscriberHealth};
