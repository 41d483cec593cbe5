//! The Enrollment aggregate: what the enrollment mailer did about one user, on a stream of its
//! own beside the user's (docs/subscribers.md). Its first outcome (`enrollment.sent`, `.failed`
//! or `.skipped`) is final: recording an outcome again, as a redelivered or replayed
//! `user.provisioned` would, changes nothing, so a replay never mails twice. The link a sent
//! email carries enrolls once, before it expires (`enrollment.verified`).
//!
//! - [`template`]: a tenant's enrollment email and link.

pub mod template;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::CURRENT_VERSION;
use crate::{DomainError, ResourceId};

/// What the mailer did about a provisioned user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The SMTP server accepted the message.
    Sent { to: String, message_id: String, expires_at: OffsetDateTime },
    /// The SMTP server refused the recipient for good (a 5xx).
    Failed { to: String, reason: String },
    /// Nothing was sent (the user has no email address).
    Skipped { reason: String },
}

#[derive(Debug, Clone)]
pub enum EnrollmentCommand {
    /// Records the outcome of the mailer's work on `cause`, the `user.provisioned` event.
    Record { user: ResourceId, cause: Uuid, outcome: Outcome },
    /// Uses the link sent for `cause`, at `at`.
    Verify { cause: Uuid, at: OffsetDateTime },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EnrollmentEvent {
    #[serde(rename = "enrollment.sent")]
    Sent {
        user: ResourceId,
        cause: Uuid,
        to: String,
        message_id: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    #[serde(rename = "enrollment.failed")]
    Failed { user: ResourceId, cause: Uuid, to: String, reason: String },
    #[serde(rename = "enrollment.skipped")]
    Skipped { user: ResourceId, cause: Uuid, reason: String },
    #[serde(rename = "enrollment.verified")]
    Verified { user: ResourceId, cause: Uuid },
}

impl DomainEvent for EnrollmentEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

/// A sent link, until it is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Link {
    cause: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    used: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    user: Option<ResourceId>,
    /// The outcome is recorded (whichever it was).
    decided: bool,
    link: Option<Link>,
}

/// Names the enrollment streams' UUIDs (version 5, from the user's id): one per user, found
/// without a look-up, and never the id of a stream of another kind.
const ENROLLMENT_NAMESPACE: Uuid = Uuid::from_u128(0x9e2b_51c4_3a77_4d0e_8f61_2b4c_aa10_0001);

impl Enrollment {
    pub fn stream_id(user: ResourceId) -> ResourceId {
        ResourceId::from_uuid(Uuid::new_v5(&ENROLLMENT_NAMESPACE, user.as_uuid().as_bytes()))
    }

    /// Whether the mailer's outcome for this user is recorded.
    pub fn decided(&self) -> bool {
        self.decided
    }

    pub fn user(&self) -> Option<ResourceId> {
        self.user
    }
}

impl Aggregate for Enrollment {
    const TYPE: &'static str = "enrollment";
    type Command = EnrollmentCommand;
    type Event = EnrollmentEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: EnrollmentCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        match command {
            // The first outcome stands: a redelivery records nothing.
            EnrollmentCommand::Record { .. } if self.decided => {}
            EnrollmentCommand::Record { user, cause, outcome } => {
                let event = match outcome {
                    Outcome::Sent { to, message_id, expires_at } => EnrollmentEvent::Sent { user, cause, to, message_id, expires_at },
                    Outcome::Failed { to, reason } => EnrollmentEvent::Failed { user, cause, to, reason },
                    Outcome::Skipped { reason } => EnrollmentEvent::Skipped { user, cause, reason },
                };
                sink.write(event, self).await;
            }
            EnrollmentCommand::Verify { cause, at } => {
                let (Some(user), Some(link)) = (self.user, &self.link) else { return Err(DomainError::NotFound) };
                if link.cause != cause {
                    return Err(DomainError::NotFound);
                }
                if link.used {
                    return Err(DomainError::invalid("the enrollment link was used already"));
                }
                if at >= link.expires_at {
                    return Err(DomainError::invalid("the enrollment link expired"));
                }
                sink.write(EnrollmentEvent::Verified { user, cause }, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: EnrollmentEvent) {
        match event {
            EnrollmentEvent::Sent { user, cause, expires_at, .. } => {
                self.user = Some(user);
                self.decided = true;
                self.link = Some(Link { cause, expires_at, used: false });
            }
            EnrollmentEvent::Failed { user, .. } | EnrollmentEvent::Skipped { user, .. } => {
                self.user = Some(user);
                self.decided = true;
            }
            EnrollmentEvent::Verified { .. } => {
                if let Some(link) = &mut self.link {
                    link.used = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    async fn decide(aggregate: &mut Enrollment, command: EnrollmentCommand) -> Result<Vec<EnrollmentEvent>, DomainError> {
        let sink = EventSink::default();
        aggregate.handle(command, &(), &sink).await?;
        let events = sink.collect().await;
        for e in &events {
            aggregate.apply(e.clone());
        }
        Ok(events)
    }

    fn sent(user: ResourceId, cause: Uuid, expires_at: OffsetDateTime) -> EnrollmentCommand {
        let outcome = Outcome::Sent { to: "ada@example.com".into(), message_id: "<m@x>".into(), expires_at };
        EnrollmentCommand::Record { user, cause, outcome }
    }

    #[tokio::test]
    async fn the_first_outcome_stands_and_a_link_enrolls_once_before_it_expires() {
        let (user, cause, now) = (ResourceId::new(), Uuid::new_v4(), OffsetDateTime::now_utc());
        let mut e = Enrollment::default();
        assert_eq!(decide(&mut e, EnrollmentCommand::Verify { cause, at: now }).await, Err(DomainError::NotFound));
        assert_eq!(decide(&mut e, sent(user, cause, now + Duration::days(7))).await.unwrap().len(), 1);
        assert!(decide(&mut e, sent(user, cause, now + Duration::days(7))).await.unwrap().is_empty(), "a redelivery");
        let skipped = EnrollmentCommand::Record { user, cause, outcome: Outcome::Skipped { reason: "no_email".into() } };
        assert!(decide(&mut e, skipped).await.unwrap().is_empty());
        assert_eq!(decide(&mut e, EnrollmentCommand::Verify { cause: Uuid::new_v4(), at: now }).await, Err(DomainError::NotFound));
        assert_eq!(
            decide(&mut e, EnrollmentCommand::Verify { cause, at: now }).await.unwrap(),
            vec![EnrollmentEvent::Verified { user, cause }]
        );
        assert!(matches!(decide(&mut e, EnrollmentCommand::Verify { cause, at: now }).await, Err(DomainError::Invalid(_))), "used once");

        let mut late = Enrollment::default();
        decide(&mut late, sent(user, cause, now)).await.unwrap();
        assert!(matches!(decide(&mut late, EnrollmentCommand::Verify { cause, at: now }).await, Err(DomainError::Invalid(_))), "expired");
    }
}
