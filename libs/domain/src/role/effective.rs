//! A user's effective roles, from its facts and the tenant's policy (ADR 0060):
//!
//! 1. a lock pins the user to the locked role, whatever else holds;
//! 2. an inactive user has no role;
//! 3. the roles its mapped groups map to, strongest first (the lowest precedence, then the
//!    role's name), each once;
//! 4. in no mapped group: the `on_create_role` of the connection that provisioned it, as the
//!    setting was when the user was created;
//! 5. else the tenant's default role, if it has one.

use super::{RoleName, RolePolicy};
use crate::ResourceId;

/// What the rule needs to know of a user.
#[derive(Debug, Clone, Copy)]
pub struct UserFacts<'a, G> {
    pub id: ResourceId,
    pub active: bool,
    /// The groups it is a direct member of: (id, displayName).
    pub groups: G,
    /// The role its provisioning connection gave it when it was created.
    pub created_with: Option<&'a RoleName>,
}

pub fn effective<'g, G: IntoIterator<Item = (ResourceId, &'g str)>>(policy: &RolePolicy, user: UserFacts<'_, G>) -> Vec<RoleName> {
    if let Some(locked) = policy.lock(user.id) {
        return vec![locked.clone()];
    }
    if !user.active {
        return Vec::new();
    }
    let groups: Vec<(ResourceId, &str)> = user.groups.into_iter().collect();
    // The mappings are kept strongest first: the first mapping of each role is its rank.
    let mut roles: Vec<RoleName> = Vec::new();
    for mapping in policy.mappings() {
        if !roles.contains(&mapping.role) && groups.iter().any(|(id, name)| mapping.group.names(*id, name)) {
            roles.push(mapping.role.clone());
        }
    }
    if roles.is_empty() {
        roles.extend(user.created_with.or(policy.default_role()).cloned());
    }
    roles
}
