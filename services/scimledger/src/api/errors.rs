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
        CommandError::Domain(DomainError::AlreadyExists) => ScimError::uniqueness(format!("the {resource_name} already exists")),
        CommandError::Domain(DomainError::Invalid(e)) => e.clone(),
        CommandError::Store(StoreError::Conflict) => {
            ScimError::conflict(format!("the {resource_name} is being changed concurrently; retry"))
        }
        CommandError::Store(e) => store_failure(e),
        CommandError::PreconditionFailed { expected, current } => {
            ScimError::precondition_failed(format!("the {resource_name} is at version W/\"{current}\", not W/\"{expected}\""))
        }
    }
}

/// A store error as a SCIM error. Only an unavailable database is a 503 (a retry may cure
/// it); what a retry cannot cure is a 500, logged at error with what went wrong, which the
/// client is not told.
pub fn store_failure(error: &StoreError) -> ScimError {
    match error {
        StoreError::Uniqueness { kind: LOGIN, value } => {
            ScimError::uniqueness(format!("'{value}' is already the userName or an alias of another user in this tenant"))
        }
        StoreError::Uniqueness { kind, value } => ScimError::uniqueness(format!("{kind} '{value}' is already taken in this tenant")),
        StoreError::Conflict => ScimError::conflict("the resource is being changed concurrently; retry"),
        StoreError::InvalidQuery(e) => e.clone(),
        StoreError::NotFound(what) => ScimError::not_found(format!("{what} not found")),
        StoreError::AlreadyExists(what) => ScimError::uniqueness(format!("{what} already exists")),
        StoreError::Unstorable(why) => ScimError::invalid_value(format!("the database refused the request: {why}")),
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "the store is unavailable");
            ScimError::new(503, None, "the store is unavailable; retry")
        }
        StoreError::Corrupt { .. } | StoreError::Config(_) | StoreError::Internal(_) => {
            tracing::error!(error = %error, "store failure");
            ScimError::internal("internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use store::Unstorable;

    use super::*;

    #[test]
    fn only_an_unavailable_store_is_a_503() {
        let status = |e: StoreError| store_failure(&e).status;
        assert_eq!(status(StoreError::Unavailable("connection refused".into())), 503);
        assert_eq!(status(StoreError::corrupt("the event at position 7", "unknown variant")), 500);
        assert_eq!(status(StoreError::Config("bad database URL".into())), 500);
        assert_eq!(status(StoreError::Internal("syntax error".into())), 500);
    }

    #[test]
    fn a_value_the_database_refuses_is_a_400_invalid_value_saying_why() {
        let error = store_failure(&StoreError::Unstorable(Unstorable::Character));
        assert_eq!((error.status, error.scim_type), (400, Some(scim::ScimType::InvalidValue)));
        assert!(error.detail.contains("U+0000"), "{}", error.detail);
    }
}
