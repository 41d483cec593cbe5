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
