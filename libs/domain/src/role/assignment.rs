//! Each user's effective roles as a stream of their own (`role.assigned`, `role.revoked`), so
//! that consumers see role changes without recomputing them. The stream is not the user's (a
//! role change must not move the user's version, which IdPs send back in If-Match): its id is
//! derived from the user's ([`Assignment::stream_id`]).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::RoleName;
use crate::event::CURRENT_VERSION;
use crate::{DomainError, ResourceId};

/// Sets a user's roles to `roles` (strongest first), because of `cause`.
#[derive(Debug, Clone)]
pub struct AssignRoles {
    pub user: ResourceId,
    pub roles: Vec<RoleName>,
    /// What changed them: `{"event": <type>, "event_id", "position"}` of the event that did.
    pub cause: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AssignmentEvent {
    /// `roles` is every role the user holds after this event, strongest first.
    #[serde(rename = "role.assigned")]
    Assigned { user: ResourceId, role: RoleName, roles: Vec<RoleName>, cause: Value },
    #[serde(rename = "role.revoked")]
    Revoked { user: ResourceId, role: RoleName, roles: Vec<RoleName>, cause: Value },
}

impl DomainEvent for AssignmentEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

/// The roles a user holds, as its assignment stream says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    roles: Vec<RoleName>,
}

/// Names the assignment streams' UUIDs (version 5, from the user's id).
const ASSIGNMENT_NAMESPACE: Uuid = Uuid::from_u128(0x5c1d_1ed9_e7a4_4c40_9a52_7e6a_7d3c_0061);

impl Assignment {
    pub fn stream_id(user: ResourceId) -> ResourceId {
        ResourceId::from_uuid(Uuid::new_v5(&ASSIGNMENT_NAMESPACE, user.as_uuid().as_bytes()))
    }

    pub fn roles(&self) -> &[RoleName] {
        &self.roles
    }

    /// The events that take the roles to `target`: revocations first, then assignments, each
    /// with the roles held after it. Nothing when only the order would change.
    pub fn changes(&self, user: ResourceId, target: &[RoleName], cause: &Value) -> Vec<AssignmentEvent> {
        let mut held = self.roles.clone();
        let mut events = Vec::new();
        for role in self.roles.iter().filter(|r| !target.contains(r)) {
            held.retain(|r| r != role);
            events.push(AssignmentEvent::Revoked { user, role: role.clone(), roles: held.clone(), cause: cause.clone() });
        }
        for role in target.iter().filter(|r| !self.roles.contains(r)) {
            held = target.iter().filter(|r| held.contains(r) || *r == role).cloned().collect();
            events.push(AssignmentEvent::Assigned { user, role: role.clone(), roles: held.clone(), cause: cause.clone() });
        }
        events
    }
}

impl Aggregate for Assignment {
    const TYPE: &'static str = "role_assignment";
    type Command = AssignRoles;
    type Event = AssignmentEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: AssignRoles, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        for event in self.changes(command.user, &command.roles, &command.cause) {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AssignmentEvent) {
        match event {
            AssignmentEvent::Assigned { roles, .. } | AssignmentEvent::Revoked { roles, .. } => self.roles = roles,
        }
    }
}
