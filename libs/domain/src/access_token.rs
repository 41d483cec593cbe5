//! The AccessToken aggregate: a credential of one tenant for the access look-up
//! (`access_token.created`), made by an operator and shown once; the log names it by its
//! credential id, never its hash (ADR 0020, docs/adr/0063-access-tokens-are-event-sourced-credentials.md).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::CURRENT_VERSION;
pub use crate::names::ConnectionName as AccessTokenName;
use crate::secret::NewSecret;
use crate::DomainError;

#[derive(Debug, Clone)]
pub enum AccessTokenCommand {
    Create { name: AccessTokenName, secret: NewSecret },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccessTokenEvent {
    #[serde(rename = "access_token.created")]
    Created { name: AccessTokenName, credential_id: Uuid },
}

impl DomainEvent for AccessTokenEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessToken {
    name: Option<AccessTokenName>,
}

impl AccessToken {
    pub fn name(&self) -> Option<&AccessTokenName> {
        self.name.as_ref()
    }
}

impl Aggregate for AccessToken {
    const TYPE: &'static str = "access_token";
    type Command = AccessTokenCommand;
    type Event = AccessTokenEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: AccessTokenCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        let AccessTokenCommand::Create { name, secret } = command;
        if self.name.is_some() {
            return Err(DomainError::AlreadyExists);
        }
        sink.write(AccessTokenEvent::Created { name, credential_id: secret.id }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: AccessTokenEvent) {
        let AccessTokenEvent::Created { name, .. } = event;
        self.name = Some(name);
    }
}
