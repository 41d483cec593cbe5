//! Why the domain refuses a command.

use scim::ScimError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The resource does not exist (never provisioned, or deleted).
    #[error("the resource does not exist")]
    NotFound,
    /// A create for a stream that already has a resource.
    #[error("the resource already exists")]
    AlreadyExists,
    /// The resource belongs to someone else than the connection asking: another connection, or
    /// (`manual`) an operator, and the connection does not claim manual resources. Says no more,
    /// so that a caller learns nothing of another connection's data.
    #[error("the resource belongs to another {}", if *manual { "owner (an operator)" } else { "connection" })]
    NotOwner { manual: bool },
    /// The request is not acceptable SCIM (bad value, bad path, mutability…).
    #[error("{0}")]
    Invalid(ScimError),
}

impl DomainError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid(ScimError::invalid_value(detail))
    }
}

impl From<ScimError> for DomainError {
    fn from(e: ScimError) -> Self {
        Self::Invalid(e)
    }
}
