//! Why an admin operation failed, with the stable `code` the API and the CLI report.

use axum::http::StatusCode;
use domain::DomainError;
use store::commands::CommandError;
use store::{StoreError, ACCESS_TOKEN_NAME, CONNECTION_NAME, OPERATOR_NAME, TENANT};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("tenant '{0}' does not exist")]
    UnknownTenant(String),
    #[error("connection '{connection}' does not exist in tenant '{tenant}'")]
    UnknownConnection { tenant: String, connection: String },
    #[error("user '{user}' does not exist in tenant '{tenant}'")]
    UnknownUser { tenant: String, user: String },
    #[error("the tenant has no role mapping for that group")]
    UnknownMapping,
    /// A value the request gave is not acceptable (a slug, a setting, a grace period).
    #[error("{0}")]
    InvalidValue(String),
    /// The request body is not the JSON the operation takes.
    #[error("{0}")]
    InvalidJson(String),
    /// A name that must be unique is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// The connection is disabled, which is final.
    #[error("{0}")]
    Disabled(String),
    /// The tenant still has enabled connections, so it cannot be deleted.
    #[error("{0}")]
    TenantInUse(String),
    #[error("a valid operator token is required")]
    Unauthorized,
    /// The database cannot be reached; the operation may be retried.
    #[error("the store is unavailable; retry")]
    Unavailable(#[source] StoreError),
    /// A failure no retry cures (corrupt data, a bug); logged, not described to the client.
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl AdminError {
    /// The stable word clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::UnknownTenant(_) => "unknown_tenant",
            AdminError::UnknownConnection { .. } => "unknown_connection",
            AdminError::UnknownUser { .. } => "unknown_user",
            AdminError::UnknownMapping => "unknown_mapping",
            AdminError::InvalidValue(_) => "invalid_value",
            AdminError::InvalidJson(_) => "invalid_json",
            AdminError::AlreadyExists(_) => "already_exists",
            AdminError::Disabled(_) => "connection_disabled",
            AdminError::TenantInUse(_) => "tenant_in_use",
            AdminError::Unauthorized => "unauthorized",
            AdminError::Unavailable(_) => "unavailable",
            AdminError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::UnknownTenant(_)
            | AdminError::UnknownConnection { .. }
            | AdminError::UnknownUser { .. }
            | AdminError::UnknownMapping => StatusCode::NOT_FOUND,
            AdminError::InvalidValue(_) | AdminError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            AdminError::AlreadyExists(_) | AdminError::Disabled(_) | AdminError::TenantInUse(_) => StatusCode::CONFLICT,
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<DomainError> for AdminError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(e) => AdminError::InvalidValue(e.detail),
            other => AdminError::InvalidValue(other.to_string()),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Uniqueness { kind: TENANT, value } => AdminError::AlreadyExists(format!("tenant '{value}' already exists")),
            StoreError::Uniqueness { kind: CONNECTION_NAME, value } => {
                AdminError::AlreadyExists(format!("the tenant already has a connection named '{value}'"))
            }
            StoreError::Uniqueness { kind: ACCESS_TOKEN_NAME, value } => {
                AdminError::AlreadyExists(format!("the tenant already has an access token named '{value}'"))
            }
            StoreError::Uniqueness { kind: OPERATOR_NAME, value } => {
                AdminError::AlreadyExists(format!("operator '{value}' already exists"))
            }
            StoreError::Unstorable(why) => AdminError::InvalidValue(format!("the database refused a value: {why}")),
            StoreError::Unavailable(_) | StoreError::Conflict => AdminError::Unavailable(error),
            other => AdminError::Internal(other),
        }
    }
}

impl From<CommandError> for AdminError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Domain(e) => e.into(),
            CommandError::Store(e) => e.into(),
            CommandError::PreconditionFailed { .. } => AdminError::Unavailable(StoreError::Conflict),
        }
    }
}
