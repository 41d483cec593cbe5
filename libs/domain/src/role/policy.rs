//! The RolePolicy aggregate: one stream per tenant ([`RolePolicy::stream_id`]) holding the role
//! catalogue, the group mappings, the default role and the locks, each change an event.

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::RoleName;
use crate::event::CURRENT_VERSION;
use crate::names::fold_case;
use crate::{DomainError, ResourceId, TenantSlug};

/// The precedence of a mapping made without one: after any an operator ranked.
pub const DEFAULT_PRECEDENCE: u32 = 100;

/// The group a mapping names: by id, or by displayName (case-insensitively, so that a mapping
/// made before the IdP pushes the group applies to it once it is pushed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupRef {
    Id(ResourceId),
    DisplayName(String),
}

impl GroupRef {
    /// Whether a group with this id and displayName is the one named.
    pub fn names(&self, id: ResourceId, display_name: &str) -> bool {
        match self {
            GroupRef::Id(named) => *named == id,
            GroupRef::DisplayName(name) => fold_case(name) == fold_case(display_name),
        }
    }

    /// Whether two references name the same group in the same way (a mapping replaces one
    /// that is the same to this).
    fn same(&self, other: &GroupRef) -> bool {
        match (self, other) {
            (GroupRef::Id(a), GroupRef::Id(b)) => a == b,
            (GroupRef::DisplayName(a), GroupRef::DisplayName(b)) => fold_case(a) == fold_case(b),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub group: GroupRef,
    pub role: RoleName,
    /// The lower wins.
    pub precedence: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDefinition {
    pub name: RoleName,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub enum RolePolicyCommand {
    Define {
        name: RoleName,
        description: Option<String>,
    },
    /// Maps a group to a role, replacing the mapping of the same group.
    Map(Mapping),
    Unmap {
        group: GroupRef,
    },
    SetDefault {
        role: Option<RoleName>,
    },
    Lock {
        user: ResourceId,
        role: RoleName,
    },
    Unlock {
        user: ResourceId,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum RolePolicyEvent {
    #[serde(rename = "role.defined")]
    Defined { name: RoleName, description: Option<String> },
    #[serde(rename = "role.mapped")]
    Mapped { group: GroupRef, role: RoleName, precedence: u32 },
    #[serde(rename = "role.unmapped")]
    Unmapped { group: GroupRef, role: RoleName },
    #[serde(rename = "role.default_changed")]
    DefaultChanged { from: Option<RoleName>, to: Option<RoleName> },
    #[serde(rename = "role.locked")]
    Locked { user: ResourceId, role: RoleName },
    #[serde(rename = "role.unlocked")]
    Unlocked { user: ResourceId, role: RoleName },
}

impl DomainEvent for RolePolicyEvent {
    fn event_type(&self) -> String {
        crate::event::encode(self).event_type
    }

    fn event_version(&self) -> String {
        CURRENT_VERSION.to_string()
    }
}

/// A tenant's roles. Every tenant has one (empty until an operator defines a role), so the
/// stream needs no creating command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolePolicy {
    roles: BTreeMap<String, RoleDefinition>,
    mappings: Vec<Mapping>,
    default: Option<RoleName>,
    locks: BTreeMap<ResourceId, RoleName>,
}

/// Names the role policy streams' UUIDs (version 5, from the slug).
const ROLE_POLICY_NAMESPACE: Uuid = Uuid::from_u128(0x5c1d_1ed9_e7a4_4c40_9a52_7e6a_7d3c_0060);

impl RolePolicy {
    pub fn stream_id(slug: &TenantSlug) -> ResourceId {
        ResourceId::from_uuid(Uuid::new_v5(&ROLE_POLICY_NAMESPACE, slug.as_str().as_bytes()))
    }

    pub fn roles(&self) -> impl Iterator<Item = &RoleDefinition> {
        self.roles.values()
    }

    /// The mappings, strongest first (precedence, then role name).
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    pub fn default_role(&self) -> Option<&RoleName> {
        self.default.as_ref()
    }

    pub fn lock(&self, user: ResourceId) -> Option<&RoleName> {
        self.locks.get(&user)
    }

    pub fn locks(&self) -> &BTreeMap<ResourceId, RoleName> {
        &self.locks
    }

    fn known(&self, role: &RoleName) -> Result<(), DomainError> {
        match self.roles.contains_key(role.as_str()) {
            true => Ok(()),
            false => Err(DomainError::invalid(format!("role '{role}' is not in the tenant's catalogue: create it first"))),
        }
    }

    fn mapping_of(&self, group: &GroupRef) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.group.same(group))
    }

    pub(super) fn decide(&self, command: RolePolicyCommand) -> Result<Option<RolePolicyEvent>, DomainError> {
        Ok(match command {
            RolePolicyCommand::Define { name, description } => match self.roles.get(name.as_str()) {
                Some(existing) if existing.description == description => None,
                Some(_) => return Err(DomainError::AlreadyExists),
                None => Some(RolePolicyEvent::Defined { name, description }),
            },
            RolePolicyCommand::Map(Mapping { group, role, precedence }) => {
                self.known(&role)?;
                match self.mapping_of(&group) {
                    Some(m) if m.role == role && m.precedence == precedence => None,
                    _ => Some(RolePolicyEvent::Mapped { group, role, precedence }),
                }
            }
            RolePolicyCommand::Unmap { group } => {
                let mapping = self.mapping_of(&group).ok_or(DomainError::NotFound)?;
                Some(RolePolicyEvent::Unmapped { group: mapping.group.clone(), role: mapping.role.clone() })
            }
            RolePolicyCommand::SetDefault { role } => {
                if let Some(role) = &role {
                    self.known(role)?;
                }
                (self.default != role).then(|| RolePolicyEvent::DefaultChanged { from: self.default.clone(), to: role })
            }
            RolePolicyCommand::Lock { user, role } => {
                self.known(&role)?;
                (self.locks.get(&user) != Some(&role)).then_some(RolePolicyEvent::Locked { user, role })
            }
            RolePolicyCommand::Unlock { user } => self.locks.get(&user).map(|role| RolePolicyEvent::Unlocked { user, role: role.clone() }),
        })
    }
}

impl Aggregate for RolePolicy {
    const TYPE: &'static str = "role_policy";
    type Command = RolePolicyCommand;
    type Event = RolePolicyEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(&mut self, command: RolePolicyCommand, _: &(), sink: &EventSink<Self>) -> Result<(), DomainError> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: RolePolicyEvent) {
        match event {
            RolePolicyEvent::Defined { name, description } => {
                self.roles.insert(name.as_str().to_owned(), RoleDefinition { name, description });
            }
            RolePolicyEvent::Mapped { group, role, precedence } => {
                self.mappings.retain(|m| !m.group.same(&group));
                self.mappings.push(Mapping { group, role, precedence });
                self.mappings.sort_by(|a, b| (a.precedence, a.role.as_str()).cmp(&(b.precedence, b.role.as_str())));
            }
            RolePolicyEvent::Unmapped { group, .. } => self.mappings.retain(|m| !m.group.same(&group)),
            RolePolicyEvent::DefaultChanged { to, .. } => self.default = to,
            RolePolicyEvent::Locked { user, role } => {
                self.locks.insert(user, role);
            }
            RolePolicyEvent::Unlocked { user, .. } => {
                self.locks.remove(&user);
            }
        }
    }
}
