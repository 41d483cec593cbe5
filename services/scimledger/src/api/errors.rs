//! Command and store failures as SCIM errors.

use domain::{DomainError, ResourceId};
use scim::ScimError;
use store::commands::CommandError;
use store::{StoreError, LOGIN};

/// The SCIM error a client sees: the one place domain and store errors become HTTP.
pub fn to_scim(error: &CommandError, resource_name: &str, id: Option<ResourceId>) -> ScimError {
    match error {
        CommandError::Domain(DomainError::NotFound) => match id {
            Some(id) => ScimError::not_found(format!("{resource_name} {id} not found")),
            None => ScimError::not_found(format!("{resource_name} not found")),
        },
        // Nothing of the owner is said: a connection learns no more of another's data.
        CommandError::Domain(DomainError::NotOwner { manual }) => {
            let what = match id {
                Some(id) => format!("{resource_name} {id}"),
                None => format!("the {resource_name}"),
            };
            ScimError::conflict(match manual {
                true => format!("{what} was provisioned manually, and this connection does not claim manual resources"),
                false => format!("{what} is owned by another connection"),
            })
        }
        CommandError::Domain(DomainError::AlreadyExists) => ScimError::uniqueness(format!("the {resource_name} already exists")),
        CommandError::Domain(DomainError::Invalid(e)) => e.clone(),
        CommandError::Store(StoreError::Uniqueness { kind: LOGIN, value }) => {
            ScimError::uniqueness(format!("'{value}' is already the userName or an alias of another user in this tenant"))
        }
        CommandError::Store(StoreError::Uniqueness { kind, value }) => {
            ScimError::uniqueness(format!("{kind} '{value}' is already taken in this tenant"))
        }
        CommandError::Store(StoreError::Conflict) => {
            ScimError::conflict(format!("the {resource_name} is being changed concurrently; retry"))
        }
        CommandError::Store(StoreError::InvalidQuery(e)) => e.clone(),
        CommandError::Store(StoreError::NotFound(what)) => ScimError::not_found(format!("{what} not found")),
        CommandError::Store(StoreError::AlreadyExists(what)) => ScimError::uniqueness(format!("{what} already exists")),
        CommandError::Store(StoreError::Backend(_)) => ScimError::new(503, None, "the store is unavailable; retry"),
        CommandError::PreconditionFailed { expected, current } => {
            ScimError::precondition_failed(format!("the {resource_name} is at version W/\"{current}\", not W/\"{expected}\""))
        }
    }
}
