//! Identity events leaving the log.
//!
//! - [`envelope`]: the CloudEvents 1.0 envelope every consumer receives, in process or on NATS.
//! - [`subject`]: subjects `scimledger.<tenant>.<resource>.<event>`.
//! - [`in_process`]: the in-process bus: follows the log in commit order and delivers each
//!   event to every subscriber, at least once, resuming from a checkpoint after a restart.

pub mod envelope;
pub mod in_process;
pub mod subject;

pub use envelope::Envelope;
pub use in_process::{InProcessBus, Subscriber};
