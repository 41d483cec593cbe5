//! The identity-provisioning domain: what may happen to users, groups, tenants, connections and
//! operators, decided without I/O.
//!
//! - [`ids`]: tenant slugs and resource ids, valid by construction.
//! - [`names`]: `UserName` and `GroupName`, with the case-folded keys that uniqueness uses.
//! - [`user`]: the User aggregate: provision, replace, patch, deactivate, reactivate, delete.
//! - [`group`]: the Group aggregate: create, rename, membership changes, delete.
//! - [`tenant`]: the Tenant aggregate (`tenant.created`), a sub-tenant's parent, a parent's routing.
//! - [`routing`]: which sub-tenant a parent's pushed user or group belongs to.
//! - [`access_token`]: credentials of a tenant for the access look-up.
//! - [`connection`]: the Connection aggregate: auth mode, secrets (rotate, revoke), settings,
//!   disable.
//! - [`device`]: the Device aggregate: a tenant's registry of devices (serial, policy, user).
//! - [`enrollment`]: what the enrollment mailer did about a user, and the tenant's template.
//! - [`master_key`]: the master keys' ids and their rotations (`master_key.rotated`).
//! - [`oauth_grant`]: an OAuth authorization code grant: consent, code exchange, refresh tokens.
//! - [`operator`]: the Operator aggregate: who may use the admin API.
//! - [`role`]: roles per tenant (catalogue, group mappings, default, locks) and each user's
//!   effective roles as `role.assigned` / `role.revoked`.
//! - [`secret`]: generated secrets as hashes and ids (never in an event).
//! - [`ownership`]: who owns a resource, who may change it, and claims.
//! - [`event`]: how events name and version themselves in the log.
//! - [`error`]: why a command is refused.
//!
//! Aggregates implement cqrs-es's `Aggregate`; the store runs them inside its own transaction.
//! Resources are SCIM documents (the product's language is SCIM), so the domain speaks
//! `scim::document::Document` and `scim::patch::PatchRequest`.

pub mod access_token;
pub mod connection;
pub mod credential;
pub mod device;
pub mod enrollment;
pub mod error;
pub mod event;
pub mod group;
pub mod ids;
pub mod master_key;
pub mod names;
pub mod oauth_grant;
pub mod operator;
pub mod ownership;
pub mod role;
pub mod routing;
pub mod secret;
pub mod tenant;
pub mod user;

pub use error::DomainError;
pub use event::{EventPayload, StreamKind};
pub use ids::{ResourceId, TenantSlug};
pub use names::{GroupName, UserName};
pub use ownership::{Owner, Principal};
