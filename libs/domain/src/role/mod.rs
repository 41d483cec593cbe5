//! Roles per tenant (issue 11 §1): the catalogue, group → role mappings with precedence, the
//! default role and role locks, kept as one aggregate per tenant ([`RolePolicy`]); the rule
//! that turns a user's facts into its effective roles ([`effective`]); and the per-user stream
//! of `role.assigned` / `role.revoked` that records each change of them ([`assignment`]).
//!
//! The precedence between a lock, the mapped groups, the connection's `on_create_role` and the
//! tenant's default role is docs/adr/0060-role-precedence.md.

pub mod assignment;
mod effective;
mod policy;
#[cfg(test)]
mod tests;

pub use effective::{effective, UserFacts};
pub use policy::{GroupRef, Mapping, RoleDefinition, RolePolicy, RolePolicyCommand, RolePolicyEvent, DEFAULT_PRECEDENCE};

/// A role's name: printable, as operators type it (`editor`, `Admin`).
pub use crate::names::PolicyName as RoleName;
