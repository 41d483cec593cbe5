//! The AccessToken aggregate: a credential of one tenant for the access look-up
//! (`access_token.created`), made by an operator and shown once; the log names it by its
//! credential id, never its hash (ADR 0020, docs/adr/0063-access-tokens-are-event-sourced-credentials.md).
//! An operator rotates it (`access_token.secret_rotated`: a new secret, the old one working
//! for a grace period) or revokes it (`access_token.revoked`: every secret stops at once, for
//! good), as connections' secrets are rotated ([`crate::credential`], docs/adr/0077).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::credential::{self, Credential, Retiring};
use crate::event::CURRENT_VERSION;
pub use crate::names::ConnectionName as AccessTokenName;
use crate::secret::NewSecret;
use crate::DomainError;

#[derive(Debug, Clone)]
pub enum AccessTokenCommand {
    Create {
        name: AccessTokenName,
        secret: NewSecret,
    },
    /// A new secret; the live ones stop working `grace` after `at` (at once for zero).
    Rotate {
        secret: NewSecret,
        grace: Duration,
        at: OffsetDateTime,
    },
    /// Every secret stops working at `at`; the token takes no more commands.
    Revoke {
        at: OffsetDateTime,
    },
}

impl AccessTokenCommand {
    /// The secret this command brings, to be stored with its events.
    pub fn new_secret(&self) -> Option<&NewSecret> {
        match self {
            AccessTokenCommand::Create { secret, .. } | AccessTokenCommand::Rotate { secret, .. } => Some(secret),
            AccessTokenCommand::Revoke { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccessTokenEvent {
    #[serde(rename = "access_token.created")]
    Created { name: AccessTokenName, credential_id: Uuid },
    /// A new secret; each older one still live stops working at its `expires_at`.
    #[serde(rename = "access_token.secret_rotated")]
    SecretRotated { credential_id: Uuid, grace_seconds: i64, retiring: Vec<Retiring> },
    /// Every secret still working stops at `at`.
    #[serde(rename = "access_token.revoked")]
    Revoked {
        credential_ids: Vec<Uuid>,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
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
    /// Oldest first; the last is the newest.
    #[serde(default)]
    credentials: Vec<Credential>,
    #[serde(default)]
    revoked: bool,
}

impl AccessToken {
    pub fn name(&self) -> Option<&AccessTokenName> {
        self.name.as_ref()
    }

    pub fn credentials(&self) -> &[Credential] {
        &self.credentials
    }

    pub fn revoked(&self) -> bool {
        self.revoked
    }

    fn decide(&self, command: AccessTokenCommand) -> Result<Vec<AccessTokenEvent>, DomainError> {
        let live = || match (&self.name, self.revoked) {
            (None, _) => Err(DomainError::NotFound),
            (Some(name), true) => Err(DomainError::invalid(format!("access token '{name}' is revoked; create a new one"))),
            (Some(_), false) => Ok(()),
        };
        match command {
            AccessTokenCommand::Create { name, secret } => {
                if self.name.is_some() {
                    return Err(DomainError::AlreadyExists);
                }
                Ok(vec![AccessTokenEvent::Created { name, credential_id: secret.id }])
            }
            AccessTokenCommand::Rotate { secret, grace, at } => {
                live()?;
                let retiring = credential::rotation(&self.credentials, grace, at)?;
                Ok(vec![AccessTokenEvent::SecretRotated { credential_id: secret.id, grace_seconds: grace.whole_seconds(), retiring }])
            }
            AccessTokenCommand::Revoke { at } => {
                if self.name.is_none() {
                    return Err(DomainError::NotFound);
                }
                if self.revoked {
                    return Ok(vec![]);
                }
                Ok(vec![AccessTokenEvent::Revoked { credential_ids: credential::live(&self.credentials, at), at }])
            }
        }
    }
}

impl Aggregate for AccessToken {
    const TYPE: &'static str = "access_token";
    type Command = AccessTokenCommand;
    type Event = AccessTokenEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: AccessTokenCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AccessTokenEvent) {
        match event {
            AccessTokenEvent::Created { name, credential_id } => {
                self.name = Some(name);
                self.credentials = vec![Credential { id: credential_id, expires_at: None }];
            }
            AccessTokenEvent::SecretRotated { credential_id, retiring, .. } => {
                credential::rotate(&mut self.credentials, credential_id, &retiring)
            }
            AccessTokenEvent::Revoked { credential_ids, at } => {
                credential::revoke(&mut self.credentials, &credential_ids, at);
                self.revoked = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_and_apply(token: &mut AccessToken, command: AccessTokenCommand) -> Result<Vec<AccessTokenEvent>, DomainError> {
        let events = token.decide(command)?;
        events.iter().cloned().for_each(|e| token.apply(e));
        Ok(events)
    }

    #[test]
    fn a_token_rotates_with_a_grace_period_and_once_revoked_takes_nothing_more() {
        let at = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let (first, second) = (NewSecret::new([1; 32]), NewSecret::new([2; 32]));
        let mut token = AccessToken::default();
        let name = AccessTokenName::parse("mist").unwrap();
        decide_and_apply(&mut token, AccessTokenCommand::Create { name, secret: first.clone() }).unwrap();
        let rotated =
            decide_and_apply(&mut token, AccessTokenCommand::Rotate { secret: second.clone(), grace: Duration::hours(1), at }).unwrap();
        assert_eq!(
            rotated,
            [AccessTokenEvent::SecretRotated {
                credential_id: second.id,
                grace_seconds: 3600,
                retiring: vec![Retiring { credential_id: first.id, expires_at: at + Duration::hours(1) }]
            }]
        );
        let revoked = decide_and_apply(&mut token, AccessTokenCommand::Revoke { at }).unwrap();
        assert_eq!(revoked, [AccessTokenEvent::Revoked { credential_ids: vec![first.id, second.id], at }], "both still work at `at`");
        assert!(token.credentials().iter().all(|c| !c.live_at(at)));
        assert!(decide_and_apply(&mut token, AccessTokenCommand::Revoke { at }).unwrap().is_empty(), "revoked once");
        let again = AccessTokenCommand::Rotate { secret: NewSecret::new([3; 32]), grace: Duration::ZERO, at };
        assert!(matches!(decide_and_apply(&mut token, again), Err(DomainError::Invalid(_))));
        let unknown = AccessTokenCommand::Rotate { secret: NewSecret::new([3; 32]), grace: Duration::ZERO, at };
        assert!(matches!(AccessToken::default().decide(unknown), Err(DomainError::NotFound)));
    }
}
