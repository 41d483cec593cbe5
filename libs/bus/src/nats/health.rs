//! Whether the relay's events reach NATS, for `/readyz` and the log.
//!
//! The relay never skips an event, nor lets one overtake another (ADR 0008), so an event that
//! NATS refuses for good holds every event behind it: that must be loud. The relay marks itself
//! degraded with why (logged once at error, with the details), and healthy again once the
//! events flow.

use std::sync::{Arc, Mutex};

/// Why the relay cannot publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// The NATS server's `max_payload` is below what an event of the largest resource needs.
    PayloadLimitTooSmall { max_payload: usize, needed: usize },
    /// NATS refuses an event for its size: it and every event after it wait in the log.
    EventTooLarge { position: i64, size: usize, max_payload: usize },
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stall::PayloadLimitTooSmall { max_payload, needed } => write!(
                f,
                "the NATS server's max_payload ({max_payload} bytes) cannot carry the events of resources up to the resource \
                 size cap (up to {needed} bytes): raise max_payload on the NATS server, or lower SCIMLEDGER_MAX_RESOURCE_BYTES; \
                 the relay publishes nothing until then"
            ),
            Stall::EventTooLarge { position, size, max_payload } => write!(
                f,
                "the event at log position {position} ({size} bytes) exceeds the NATS server's max_payload ({max_payload} bytes): \
                 it and every event after it wait in the log, in order, until max_payload is raised"
            ),
        }
    }
}

/// Shared between the relay and whoever reports its health.
#[derive(Debug, Clone, Default)]
pub struct RelayHealth(Arc<Mutex<Option<Stall>>>);

impl RelayHealth {
    /// Why the relay is stalled, if it is.
    pub fn stall(&self) -> Option<Stall> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Marks the relay stalled; logs at error when the reason is new.
    pub fn stalled(&self, stall: Stall) {
        let mut current = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref() != Some(&stall) {
            tracing::error!(reason = %stall, "relay stalled: events are not reaching NATS");
            *current = Some(stall);
        }
    }

    /// Events flow again.
    pub fn flowing(&self) {
        if self.0.lock().unwrap_or_else(|p| p.into_inner()).take().is_some() {
            tracing::info!("relay: events reach NATS again");
        }
    }
}
