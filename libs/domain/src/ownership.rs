//! Who owns a user or group, and who may change it (docs/adr/0040-ownership-and-read-scope.md).
//!
//! A resource belongs to the connection that provisioned it, or to `operator` when an operator
//! provisioned it by hand. A connection writes only what it owns; a write to an operator-owned
//! resource from a connection that claims manual resources first transfers it (`*.claimed`).
//! Operators change anything without taking it over.

use std::fmt;
use std::str::FromStr;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

/// Who owns a resource: a connection, or `operator` for manual provisioning. Written as
/// `operator` or the connection's id, in events and in the read models alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Owner {
    Connection(Uuid),
    Operator,
}

const OPERATOR: &str = "operator";

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Connection(id) => id.fmt(f),
            Owner::Operator => f.write_str(OPERATOR),
        }
    }
}

impl FromStr for Owner {
    type Err = uuid::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            OPERATOR => Ok(Owner::Operator),
            id => id.parse().map(Owner::Connection),
        }
    }
}

impl From<Owner> for String {
    fn from(owner: Owner) -> Self {
        owner.to_string()
    }
}

impl TryFrom<String> for Owner {
    type Error = uuid::Error;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// Who asks for a change, and what it may take over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A provisioning connection; `claim_manual` lets it take over operator-owned resources.
    Connection {
        id: Uuid,
        claim_manual: bool,
    },
    Operator,
}

impl Principal {
    /// The owner of what this principal provisions.
    pub fn owner(&self) -> Owner {
        match self {
            Principal::Connection { id, .. } => Owner::Connection(*id),
            Principal::Operator => Owner::Operator,
        }
    }

    /// Whether this principal may change a resource `owner` owns: `Ok(None)` as it is,
    /// `Ok(Some(new owner))` once it has claimed it, or the refusal.
    pub fn admit(&self, owner: Owner) -> Result<Option<Owner>, DomainError> {
        match (self, owner) {
            (Principal::Operator, _) => Ok(None),
            (Principal::Connection { id, .. }, Owner::Connection(owner)) if *id == owner => Ok(None),
            (Principal::Connection { id, claim_manual: true }, Owner::Operator) => Ok(Some(Owner::Connection(*id))),
            (Principal::Connection { .. }, Owner::Operator) => Err(DomainError::NotOwner { manual: true }),
            (Principal::Connection { .. }, Owner::Connection(_)) => Err(DomainError::NotOwner { manual: false }),
        }
    }
}

/// What the User and Group aggregates share for ownership.
pub trait Owned: Aggregate<Error = DomainError> + Clone {
    /// The owner, unless the resource does not exist.
    fn owner(&self) -> Option<Owner>;
    /// The event that hands the resource from `from` to `to`.
    fn claimed(from: Owner, to: Owner) -> Self::Event;
}

/// Handles `command` for `principal`: refused when the principal may not change the resource;
/// when it claims the resource, the claim comes first, and only if the command changes
/// anything (a sync that finds nothing to change claims nothing, as Akamai's does).
pub async fn handle_as<A: Owned>(
    aggregate: &mut A,
    principal: &Principal,
    command: A::Command,
    services: &A::Services,
    sink: &EventSink<A>,
) -> Result<(), DomainError> {
    let claim = match aggregate.owner() {
        Some(owner) => principal.admit(owner)?.map(|to| A::claimed(owner, to)),
        None => None,
    };
    let Some(claim) = claim else {
        return aggregate.handle(command, services, sink).await;
    };
    let decided = EventSink::default();
    aggregate.clone().handle(command, services, &decided).await?;
    let changes = decided.collect().await;
    if !changes.is_empty() {
        sink.write(claim, aggregate).await;
        for event in changes {
            sink.write(event, aggregate).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use scim::document::Document;
    use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    use super::*;
    use crate::group::{Group, GroupCommand, GroupEvent};
    use crate::user::{User, UserCommand, UserEvent};
    use crate::{GroupName, UserName};

    const OKTA: Uuid = Uuid::from_u128(1);
    const ENTRA: Uuid = Uuid::from_u128(2);

    fn connection(id: Uuid, claim_manual: bool) -> Principal {
        Principal::Connection { id, claim_manual }
    }

    /// The events `principal` gets from `command` on the resource `given` made.
    async fn when<A: Owned<Services = ()>>(
        given: Vec<A::Event>,
        principal: Principal,
        command: A::Command,
    ) -> Result<Vec<A::Event>, DomainError> {
        let mut aggregate = A::default();
        for event in given {
            aggregate.apply(event);
        }
        let sink = EventSink::default();
        handle_as(&mut aggregate, &principal, command, &(), &sink).await?;
        Ok(sink.collect().await)
    }

    fn provisioned(owner: Owner) -> UserEvent {
        UserEvent::Provisioned { user_name: UserName::parse("bjensen").unwrap(), active: None, profile: Document::default(), owner }
    }

    fn replace_user(name: &str) -> UserCommand {
        UserCommand::Replace { resource: Document::parse(&json!({"userName": name}), &USER_RESOURCE).unwrap() }
    }

    fn created(owner: Owner) -> GroupEvent {
        GroupEvent::Created { display_name: GroupName::parse("Sales").unwrap(), profile: Document::default(), members: vec![], owner }
    }

    #[tokio::test]
    async fn a_connection_changes_what_it_owns_and_nothing_else() {
        let renamed =
            when::<User>(vec![provisioned(Owner::Connection(OKTA))], connection(OKTA, false), replace_user("barbara")).await.unwrap();
        assert!(matches!(renamed.as_slice(), [UserEvent::Renamed { .. }]), "{renamed:?}");
        let refused = when::<User>(vec![provisioned(Owner::Connection(OKTA))], connection(ENTRA, true), UserCommand::Delete).await;
        assert_eq!(refused, Err(DomainError::NotOwner { manual: false }));
        let refused = when::<Group>(vec![created(Owner::Connection(OKTA))], connection(ENTRA, false), GroupCommand::Delete).await;
        assert_eq!(refused, Err(DomainError::NotOwner { manual: false }));
    }

    #[tokio::test]
    async fn a_write_that_changes_nothing_is_still_refused_to_another_connection() {
        let refused = when::<User>(vec![provisioned(Owner::Connection(OKTA))], connection(ENTRA, false), replace_user("bjensen")).await;
        assert_eq!(refused, Err(DomainError::NotOwner { manual: false }));
    }

    #[tokio::test]
    async fn a_manual_resource_is_claimed_then_changed_by_a_connection_that_claims() {
        let events = when::<User>(vec![provisioned(Owner::Operator)], connection(OKTA, true), replace_user("barbara")).await.unwrap();
        assert_eq!(events[0], UserEvent::Claimed { from: Owner::Operator, to: Owner::Connection(OKTA) });
        assert!(matches!(events[1..], [UserEvent::Renamed { .. }]), "{events:?}");
        let rename = GroupCommand::Rename { display_name: GroupName::parse("Field sales").unwrap() };
        let events = when::<Group>(vec![created(Owner::Operator)], connection(OKTA, true), rename).await.unwrap();
        assert_eq!(events[0], GroupEvent::Claimed { from: Owner::Operator, to: Owner::Connection(OKTA) });
        assert_eq!(events.len(), 2);
    }

    #[tokio::test]
    async fn a_sync_that_changes_nothing_claims_nothing() {
        let events = when::<User>(vec![provisioned(Owner::Operator)], connection(OKTA, true), replace_user("bjensen")).await.unwrap();
        assert_eq!(events, vec![]);
    }

    #[tokio::test]
    async fn a_manual_resource_is_refused_to_a_connection_that_does_not_claim() {
        let refused = when::<User>(vec![provisioned(Owner::Operator)], connection(OKTA, false), replace_user("barbara")).await;
        assert_eq!(refused, Err(DomainError::NotOwner { manual: true }));
    }

    #[tokio::test]
    async fn an_operator_changes_anything_without_taking_it_over() {
        let events = when::<User>(vec![provisioned(Owner::Connection(OKTA))], Principal::Operator, replace_user("barbara")).await.unwrap();
        assert!(matches!(events.as_slice(), [UserEvent::Renamed { .. }]), "{events:?}");
    }

    #[tokio::test]
    async fn a_new_resource_belongs_to_the_owner_its_command_names() {
        let resource = Document::parse(&json!({"displayName": "Sales"}), &GROUP_RESOURCE).unwrap();
        let command = GroupCommand::Create { resource, owner: Owner::Connection(ENTRA) };
        let events = when::<Group>(vec![], connection(ENTRA, false), command).await.unwrap();
        assert_eq!(events, vec![created(Owner::Connection(ENTRA))]);
    }

    #[test]
    fn an_owner_is_written_as_operator_or_the_connection_id() {
        let id = Uuid::now_v7();
        for owner in [Owner::Operator, Owner::Connection(id)] {
            let json = serde_json::to_value(owner).unwrap();
            assert_eq!(json, serde_json::Value::String(owner.to_string()));
            assert_eq!(serde_json::from_value::<Owner>(json).unwrap(), owner);
        }
        assert_eq!(Owner::Operator.to_string(), "operator");
        assert!("nobody".parse::<Owner>().is_err());
    }

    #[test]
    fn who_may_change_what() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let plain = Principal::Connection { id: a, claim_manual: false };
        let claiming = Principal::Connection { id: a, claim_manual: true };
        assert_eq!(plain.admit(Owner::Connection(a)), Ok(None));
        assert_eq!(plain.admit(Owner::Connection(b)), Err(DomainError::NotOwner { manual: false }));
        assert_eq!(plain.admit(Owner::Operator), Err(DomainError::NotOwner { manual: true }));
        assert_eq!(claiming.admit(Owner::Operator), Ok(Some(Owner::Connection(a))));
        assert_eq!(claiming.admit(Owner::Connection(b)), Err(DomainError::NotOwner { manual: false }));
        assert_eq!(Principal::Operator.admit(Owner::Connection(b)), Ok(None));
    }
}
