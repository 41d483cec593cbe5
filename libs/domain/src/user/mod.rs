//! The User aggregate.
//!
//! A user's state is its SCIM document split three ways: the `userName` (unique, changed only
//! by `user.renamed`), `active` and the rest, its profile. `active` is optional, as RFC 7643
//! makes it: a user without it counts as active. Whether the user counts as active changes
//! only by `user.deactivated` / `user.reactivated`; the attribute appearing or going without
//! that changing is `user.active_attribute_changed`. A replace or a patch yields the events for
//! what actually changed, so an idempotent PUT writes nothing.

mod command;
mod event;
#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use scim::document::Document;
use scim::schema::{ENTERPRISE_USER_SCHEMA, USER_RESOURCE};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use command::UserCommand;
pub use event::{erased_value, personal_fields, UserEvent, ERASED};

use crate::ownership::Owned;
use crate::{DomainError, Owner, UserName};

/// The `reason` of the `user.deleted` an erasure records.
pub const ERASURE: &str = "erasure";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    state: Option<UserState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserState {
    pub user_name: UserName,
    /// The `active` attribute as the client gave it; `None` when it gave none.
    pub active: Option<bool>,
    /// Every attribute but `userName` and `active`.
    pub profile: Document,
    pub owner: Owner,
    pub deleted: bool,
    /// Deleted and erased (`user.erased`): nothing is left to erase.
    #[serde(default)]
    pub erased: bool,
}

impl UserState {
    /// The whole SCIM document: profile plus `userName` and `active`.
    pub fn document(&self) -> Document {
        let mut doc = self.profile.clone();
        doc.set("userName", Value::String(self.user_name.to_string()));
        if let Some(active) = self.active {
            doc.set("active", Value::Bool(active));
        }
        doc
    }

    /// Whether the user counts as active: unless `active` says false (docs/scim.md).
    pub fn is_active(&self) -> bool {
        self.active.unwrap_or(true)
    }

    pub fn emails(&self) -> Vec<String> {
        self.profile.values_of("emails").map(str::to_owned).collect()
    }

    pub fn manager(&self) -> Option<String> {
        self.profile
            .extension_attribute(ENTERPRISE_USER_SCHEMA, "manager")
            .and_then(|m| m.get("value"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// A document split into what the User aggregate keeps apart.
struct Parts {
    user_name: UserName,
    active: Option<bool>,
    profile: Document,
}

impl Parts {
    fn of(mut doc: Document) -> Result<Self, DomainError> {
        let user_name = match doc.remove("userName") {
            Some(Value::String(name)) => UserName::parse(&name)?,
            _ => return Err(DomainError::invalid("the required attribute 'userName' is missing")),
        };
        let active = doc.remove("active").and_then(|v| v.as_bool());
        Ok(Self { user_name, active, profile: doc })
    }
}

impl User {
    pub fn state(&self) -> Option<&UserState> {
        self.state.as_ref().filter(|s| !s.deleted)
    }

    /// Whether the stream was erased (`user.erased`).
    pub fn erased(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.erased)
    }

    fn live(&self) -> Result<&UserState, DomainError> {
        self.state().ok_or(DomainError::NotFound)
    }

    /// The events that take the user from its current state to `doc`.
    fn changes_to(&self, doc: Document) -> Result<Vec<UserEvent>, DomainError> {
        let current = self.live()?;
        let next = Parts::of(doc)?;
        let mut events = Vec::new();
        if next.user_name != current.user_name {
            events.push(UserEvent::Renamed { from: current.user_name.clone(), to: next.user_name });
        }
        if next.profile != current.profile {
            events.push(UserEvent::ProfileUpdated { profile: next.profile });
        }
        events.extend(self.active_changes(next.active)?);
        Ok(events)
    }

    /// The events that take `active` to `next`: a change of whether the user counts as active
    /// is a deactivation or reactivation (which leave the attribute false or true); what is
    /// left (the attribute set to true, or removed) is recorded as the attribute's change.
    fn active_changes(&self, next: Option<bool>) -> Result<Vec<UserEvent>, DomainError> {
        let current = self.live()?;
        let mut events = Vec::new();
        let mut after = current.active;
        let next_is_active = next.unwrap_or(true);
        if current.is_active() && !next_is_active {
            events.push(self.deactivated()?);
            after = Some(false);
        } else if !current.is_active() && next_is_active {
            events.push(UserEvent::Reactivated { user_name: current.user_name.clone() });
            after = Some(true);
        }
        if after != next {
            events.push(UserEvent::ActiveAttributeChanged { active: next });
        }
        Ok(events)
    }

    fn deactivated(&self) -> Result<UserEvent, DomainError> {
        let current = self.live()?;
        Ok(UserEvent::Deactivated { user_name: current.user_name.clone(), emails: current.emails(), manager: current.manager() })
    }

    fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, DomainError> {
        match command {
            UserCommand::Provision { resource, owner } => {
                if self.state.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                let parts = Parts::of(resource)?;
                Ok(vec![UserEvent::Provisioned { user_name: parts.user_name, active: parts.active, profile: parts.profile, owner }])
            }
            UserCommand::Replace { resource } => self.changes_to(resource),
            UserCommand::Patch { request } => {
                let patched = request.apply(&self.live()?.document(), &USER_RESOURCE)?;
                self.changes_to(patched)
            }
            UserCommand::Deactivate => match self.live()?.is_active() {
                true => Ok(vec![self.deactivated()?]),
                false => Ok(vec![]),
            },
            UserCommand::Reactivate => match self.live()? {
                s if !s.is_active() => Ok(vec![UserEvent::Reactivated { user_name: s.user_name.clone() }]),
                _ => Ok(vec![]),
            },
            UserCommand::Delete => Ok(vec![UserEvent::Deleted { user_name: self.live()?.user_name.clone(), reason: None, cause: None }]),
            // Deleted already (by the first delivery, or by SCIM): nothing to do.
            UserCommand::Remove { .. } if self.state().is_none() => Ok(vec![]),
            UserCommand::Remove { reason, cause } => {
                Ok(vec![UserEvent::Deleted { user_name: self.live()?.user_name.clone(), reason: Some(reason), cause: Some(cause) }])
            }
            // A stream the user left (or never had) takes it in; one it lives on cannot.
            UserCommand::MoveIn { resource, owner, from } => match &self.state {
                Some(s) if !s.deleted => Err(DomainError::AlreadyExists),
                Some(s) if s.erased => Err(DomainError::invalid("an erased user's stream takes no user in")),
                _ => {
                    let parts = Parts::of(resource)?;
                    Ok(vec![UserEvent::MovedIn { from, user_name: parts.user_name, active: parts.active, profile: parts.profile, owner }])
                }
            },
            UserCommand::MoveOut { to } => Ok(vec![UserEvent::MovedOut { to, user_name: self.live()?.user_name.clone() }]),
            UserCommand::Erase => match &self.state {
                None => Err(DomainError::NotFound),
                Some(s) if s.erased => Ok(vec![]),
                Some(s) if s.deleted => Ok(vec![UserEvent::Erased {}]),
                Some(s) => Ok(vec![
                    UserEvent::Deleted { user_name: s.user_name.clone(), reason: Some(ERASURE.to_owned()), cause: None },
                    UserEvent::Erased {},
                ]),
            },
        }
    }
}

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: UserCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: UserEvent) {
        match event {
            UserEvent::Provisioned { user_name, active, profile, owner } | UserEvent::MovedIn { user_name, active, profile, owner, .. } => {
                self.state = Some(UserState { user_name, active, profile, owner, deleted: false, erased: false });
            }
            UserEvent::Claimed { to, .. } => self.with_state(|s| s.owner = to),
            UserEvent::Renamed { to, .. } => self.with_state(|s| s.user_name = to),
            UserEvent::ProfileUpdated { profile } => self.with_state(|s| s.profile = profile),
            UserEvent::Deactivated { .. } => self.with_state(|s| s.active = Some(false)),
            UserEvent::Reactivated { .. } => self.with_state(|s| s.active = Some(true)),
            UserEvent::ActiveAttributeChanged { active } => self.with_state(|s| s.active = active),
            UserEvent::Deleted { .. } | UserEvent::MovedOut { .. } => self.with_state(|s| s.deleted = true),
            UserEvent::Erased {} => self.with_state(|s| s.erased = true),
        }
    }
}

impl Owned for User {
    fn owner(&self) -> Option<Owner> {
        self.state().map(|s| s.owner)
    }

    fn claimed(from: Owner, to: Owner) -> UserEvent {
        UserEvent::Claimed { from, to }
    }
}

impl User {
    fn with_state(&mut self, change: impl FnOnce(&mut UserState)) {
        if let Some(state) = self.state.as_mut() {
            change(state);
        }
    }
}
