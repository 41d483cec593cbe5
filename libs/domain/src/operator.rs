//! The Operator aggregate: a person or script allowed through the admin API, with a token of
//! its own (`operator.created`). Operators belong to the deployment, not to a tenant: their
//! events are logged under [`crate::TenantSlug::deployment`].

use std::fmt;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::CURRENT_VERSION;
use crate::secret::NewSecret;
use crate::DomainError;

/// An operator's name, as events record it for every change the operator makes: lower-case
/// letters, digits, `.`, `-` and `_`, 1 to 64 characters (`cli` and `system` are taken).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OperatorName(String);

/// Actors that are not operators: the CLI run on the server's machine, and scimledger itself.
pub const RESERVED_OPERATOR_NAMES: [&str; 2] = ["cli", "system"];

impl OperatorName {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let ok = (1..=64).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && !RESERVED_OPERATOR_NAMES.contains(&text);
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::invalid(format!(
                "{text:?} is not an operator name: use 1 to 64 lower-case letters, digits, '.', '-' and '_' (not cli or system)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OperatorName {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OperatorName> for String {
    fn from(name: OperatorName) -> Self {
        name.0
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub enum OperatorCommand {
    Create { name: OperatorName, secret: NewSecret },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OperatorEvent {
    #[serde(rename = "operator.created")]
    Created { name: OperatorName, credential_id: Uuid },
}

impl DomainEvent for OperatorEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    name: Option<OperatorName>,
}

impl Operator {
    pub fn name(&self) -> Option<&OperatorName> {
        self.name.as_ref()
    }
}

impl Aggregate for Operator {
    const TYPE: &'static str = "operator";
    type Command = OperatorCommand;
    type Event = OperatorEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: OperatorCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        let OperatorCommand::Create { name, secret } = command;
        if self.name.is_some() {
            return Err(DomainError::AlreadyExists);
        }
        sink.write(OperatorEvent::Created { name, credential_id: secret.id }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: OperatorEvent) {
        let OperatorEvent::Created { name, .. } = event;
        self.name = Some(name);
    }
}
