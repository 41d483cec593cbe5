//! Administration: tenants, connections and operators, one model for the admin API and the
//! CLI (issue 9 §5).
//!
//! - [`model`]: requests and answers (serde, OpenAPI schemas).
//! - [`audit_model`], [`audit`]: the audit's questions and answers, and the operations;
//!   [`audit_http`]: their routes under `/admin/v1/tenants/{t}/audit`.
//! - [`ops`]: the operations, each one command on the log with its actor.
//! - [`role_model`], `role_ops`: roles, group mappings, the default role and locks.
//! - [`device_model`], `device_ops`, `device_http`: the device registry.
//! - [`probe`]: "test this connection", the requests the IdPs' Test Connection buttons send.
//! - [`lag`]: how far the relay and the subscribers are behind the log.
//! - [`error`]: why an operation failed, with a stable code.
//! - [`http`]: `/admin/v1` over the operations, operator tokens, `/admin/v1/openapi.json`.

pub mod audit;
pub mod audit_http;
pub mod audit_model;
mod device_http;
pub mod device_model;
mod device_ops;
pub mod error;
pub mod http;
pub mod lag;
pub mod model;
pub mod ops;
pub mod probe;
mod role_http;
pub mod role_model;
mod role_ops;
