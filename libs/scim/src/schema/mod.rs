//! Attribute definitions (RFC 7643 §2 and §7): the single description of every resource that
//! validation, filtering, projection and the /Schemas document are derived from.

mod definition;
mod enterprise;
mod group;
mod user;

pub use definition::{AttrType, AttributeDef, Mutability, ResourceType, Returned, SchemaDef, Uniqueness, COMMON_ATTRIBUTES};
pub use enterprise::ENTERPRISE_USER;
pub use group::{GROUP, GROUP_RESOURCE};
pub use user::{USER, USER_RESOURCE};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The resource types this service provider offers.
pub const RESOURCE_TYPES: [&ResourceType; 2] = [&USER_RESOURCE, &GROUP_RESOURCE];

/// Every schema this service provider publishes.
pub const SCHEMAS: [&SchemaDef; 3] = [&USER, &ENTERPRISE_USER, &GROUP];

/// The names of a resource type's top-level core attributes in the order documents keep them:
/// `externalId` first, then the core schema's attributes.
pub fn definition_order(resource: &ResourceType) -> impl Iterator<Item = &'static str> {
    std::iter::once("externalId").chain(resource.schema.attributes.iter().map(|a| a.name))
}
