//! The Device aggregate: one device of a tenant's registry (an MDM's or ITAM's view): its
//! serial, name, kind, policy and the user it is assigned to (docs/devices.md).
//!
//! A device's stream is named by its tenant and serial, so commands find it without a look-up.
//! Changes made by the assets subscriber name the event that caused them (`cause`); a device
//! remembers those causes and ignores a command naming one it has applied, so that a
//! redelivered or replayed deactivation changes nothing the second time (ADR 0058).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::CURRENT_VERSION;
use crate::names::PolicyName;
use crate::{DomainError, ResourceId, TenantSlug};

/// The longest serial, name or kind accepted.
const MAX_TEXT: usize = 128;

/// Who or what asked for a change: an operator, or the assets subscriber acting on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The event the subscriber acted on.
    pub event: Uuid,
    /// Why, in a word the MDM can act on (`user_deactivated`, `no_manager`…).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceCommand {
    /// Registers the device (again, after a removal), assigned to `assign` if given.
    Register {
        serial: String,
        name: Option<String>,
        kind: Option<String>,
        policy: Option<PolicyName>,
        assign: Option<ResourceId>,
    },
    Assign {
        user: ResourceId,
        cause: Option<Cause>,
    },
    Unassign {
        cause: Option<Cause>,
    },
    ChangePolicy {
        policy: PolicyName,
        cause: Option<Cause>,
    },
    Remove {
        cause: Option<Cause>,
    },
}

impl DeviceCommand {
    fn cause(&self) -> Option<&Cause> {
        match self {
            DeviceCommand::Register { .. } => None,
            DeviceCommand::Assign { cause, .. }
            | DeviceCommand::Unassign { cause }
            | DeviceCommand::ChangePolicy { cause, .. }
            | DeviceCommand::Remove { cause } => cause.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DeviceEvent {
    #[serde(rename = "device.registered")]
    Registered { serial: String, name: Option<String>, kind: Option<String>, policy: Option<PolicyName> },
    #[serde(rename = "device.assigned")]
    Assigned {
        serial: String,
        user: ResourceId,
        /// The user it was assigned to before, if any.
        previous: Option<ResourceId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    #[serde(rename = "device.unassigned")]
    Unassigned {
        serial: String,
        user: ResourceId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    #[serde(rename = "device.policy_changed")]
    PolicyChanged {
        serial: String,
        policy: PolicyName,
        previous: Option<PolicyName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    #[serde(rename = "device.removed")]
    Removed {
        serial: String,
        /// The user it was assigned to, if any.
        user: Option<ResourceId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl DeviceEvent {
    fn cause(&self) -> Option<Uuid> {
        match self {
            DeviceEvent::Registered { .. } => None,
            DeviceEvent::Assigned { cause, .. }
            | DeviceEvent::Unassigned { cause, .. }
            | DeviceEvent::PolicyChanged { cause, .. }
            | DeviceEvent::Removed { cause, .. } => *cause,
        }
    }
}

impl DomainEvent for DeviceEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

/// A registered device as it now is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    pub serial: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub policy: Option<PolicyName>,
    pub assigned: Option<ResourceId>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// `None` before registration and after removal.
    state: Option<DeviceState>,
    /// Whether the stream has a history (a removed device's serial can be registered again on it).
    known: bool,
    /// The events whose effects the device has taken (a few: one per deactivation of its users).
    causes: Vec<Uuid>,
}

/// Names the device streams' UUIDs (version 5, from tenant and serial).
const DEVICE_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_e7a0_2b94_4f31_9c0e_71d2_de01_0001);

impl Device {
    /// The stream of the device `serial` of `tenant`: one per serial, found without a look-up.
    pub fn stream_id(tenant: &TenantSlug, serial: &str) -> ResourceId {
        ResourceId::from_uuid(Uuid::new_v5(&DEVICE_NAMESPACE, format!("{tenant}/{serial}").as_bytes()))
    }

    pub fn state(&self) -> Option<&DeviceState> {
        self.state.as_ref()
    }

    /// Whether the device was ever registered (it may have been removed since).
    pub fn known(&self) -> bool {
        self.known
    }

    fn live(&self) -> Result<&DeviceState, DomainError> {
        self.state.as_ref().ok_or(DomainError::NotFound)
    }

    fn decide(&self, command: DeviceCommand) -> Result<Vec<DeviceEvent>, DomainError> {
        if command.cause().is_some_and(|c| self.causes.contains(&c.event)) {
            return Ok(Vec::new()); // applied before: a redelivery or replay
        }
        let (cause, reason) = match command.cause() {
            Some(c) => (Some(c.event), Some(c.reason.clone())),
            None => (None, None),
        };
        match command {
            DeviceCommand::Register { serial, name, kind, policy, assign } => {
                if self.state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                let serial = text("serial", serial)?;
                let registered =
                    DeviceEvent::Registered { serial: serial.clone(), name: opt("name", name)?, kind: opt("kind", kind)?, policy };
                let assigned = assign.map(|user| DeviceEvent::Assigned { serial, user, previous: None, cause: None, reason: None });
                Ok(std::iter::once(registered).chain(assigned).collect())
            }
            DeviceCommand::Assign { user, .. } => {
                let device = self.live()?;
                if device.assigned == Some(user) {
                    return Ok(Vec::new());
                }
                Ok(vec![DeviceEvent::Assigned { serial: device.serial.clone(), user, previous: device.assigned, cause, reason }])
            }
            DeviceCommand::Unassign { .. } => {
                let device = self.live()?;
                Ok(device
                    .assigned
                    .map(|user| DeviceEvent::Unassigned { serial: device.serial.clone(), user, cause, reason })
                    .into_iter()
                    .collect())
            }
            DeviceCommand::ChangePolicy { policy, .. } => {
                let device = self.live()?;
                if device.policy.as_ref() == Some(&policy) {
                    return Ok(Vec::new());
                }
                Ok(vec![DeviceEvent::PolicyChanged {
                    serial: device.serial.clone(),
                    policy,
                    previous: device.policy.clone(),
                    cause,
                    reason,
                }])
            }
            DeviceCommand::Remove { .. } => {
                let device = self.live()?;
                Ok(vec![DeviceEvent::Removed { serial: device.serial.clone(), user: device.assigned, cause, reason }])
            }
        }
    }
}

/// A required text: trimmed, not empty, not too long.
fn text(what: &str, value: String) -> Result<String, DomainError> {
    let value = value.trim().to_owned();
    if value.is_empty() || value.chars().count() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(DomainError::invalid(format!("a device {what} is 1 to {MAX_TEXT} printable characters")));
    }
    Ok(value)
}

fn opt(what: &str, value: Option<String>) -> Result<Option<String>, DomainError> {
    value.map(|v| text(what, v)).transpose()
}

impl Aggregate for Device {
    const TYPE: &'static str = "device";
    type Command = DeviceCommand;
    type Event = DeviceEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: DeviceCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: DeviceEvent) {
        if let Some(cause) = event.cause() {
            if !self.causes.contains(&cause) {
                self.causes.push(cause);
            }
        }
        match event {
            DeviceEvent::Registered { serial, name, kind, policy } => {
                self.known = true;
                self.state = Some(DeviceState { serial, name, kind, policy, assigned: None });
            }
            DeviceEvent::Assigned { user, .. } => {
                if let Some(s) = &mut self.state {
                    s.assigned = Some(user);
                }
            }
            DeviceEvent::Unassigned { .. } => {
                if let Some(s) = &mut self.state {
                    s.assigned = None;
                }
            }
            DeviceEvent::PolicyChanged { policy, .. } => {
                if let Some(s) = &mut self.state {
                    s.policy = Some(policy);
                }
            }
            DeviceEvent::Removed { .. } => self.state = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn decide(device: &mut Device, command: DeviceCommand) -> Result<Vec<DeviceEvent>, DomainError> {
        let sink = EventSink::default();
        device.handle(command, &(), &sink).await?;
        let events = sink.collect().await;
        for e in &events {
            device.apply(e.clone());
        }
        Ok(events)
    }

    fn register(serial: &str) -> DeviceCommand {
        DeviceCommand::Register { serial: serial.into(), name: None, kind: None, policy: None, assign: None }
    }

    fn cause(event: Uuid) -> Option<Cause> {
        Some(Cause { event, reason: "user_deactivated".into() })
    }

    #[tokio::test]
    async fn a_cause_applied_once_changes_nothing_the_second_time() {
        let (user, event) = (ResourceId::new(), Uuid::new_v4());
        let mut d = Device::default();
        decide(&mut d, register("C02X")).await.unwrap();
        decide(&mut d, DeviceCommand::Assign { user, cause: None }).await.unwrap();
        assert_eq!(decide(&mut d, DeviceCommand::Unassign { cause: cause(event) }).await.unwrap().len(), 1);
        decide(&mut d, DeviceCommand::Assign { user, cause: None }).await.unwrap();
        assert!(decide(&mut d, DeviceCommand::Unassign { cause: cause(event) }).await.unwrap().is_empty(), "a replay");
        assert_eq!(d.state().unwrap().assigned, Some(user));
    }

    #[tokio::test]
    async fn a_removed_device_can_be_registered_again_and_a_registered_one_cannot() {
        let mut d = Device::default();
        decide(&mut d, register("C02X")).await.unwrap();
        assert_eq!(decide(&mut d, register("C02X")).await, Err(DomainError::AlreadyExists));
        decide(&mut d, DeviceCommand::Remove { cause: None }).await.unwrap();
        assert_eq!(decide(&mut d, DeviceCommand::Unassign { cause: None }).await, Err(DomainError::NotFound));
        assert_eq!(decide(&mut d, register("C02X")).await.unwrap().len(), 1);
        assert!(matches!(decide(&mut Device::default(), register(" ")).await, Err(DomainError::Invalid(_))));
    }
}
