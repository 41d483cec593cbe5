//! Roles and the access look-up (issue 11).
//!
//! - [`http`]: `/access/v1`, the look-up policy services call.
//! - [`model`]: the in-memory state the look-up answers from and roles derive from.
//! - [`projection`]: that state following the log, read-your-writes, and the deriver of
//!   `role.assigned` / `role.revoked`.
//! - [`users`]: a tenant's users in the model, found by id and by login.

pub mod http;
pub mod model;
pub mod projection;
pub mod users;

pub use projection::Projection;
