//! The admin model of roles (issue 11 §1): the catalogue, group mappings, the default role and
//! locks, the same through `/admin/v1/tenants/{t}/roles…` and `scimledger role …`.

use domain::role::{GroupRef, Mapping, RoleName, RolePolicy, DEFAULT_PRECEDENCE};
use domain::ResourceId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::AdminError;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub description: Option<String>,
}

/// A group → role mapping to make: the group by `group` (displayName, which may be pushed
/// later) or `group_id`, not both.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MapRole {
    pub group: Option<String>,
    pub group_id: Option<String>,
    pub role: String,
    /// The lower wins; 100 when absent.
    pub precedence: Option<u32>,
}

/// The group of a mapping to remove, as for [`MapRole`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GroupSelector {
    pub group: Option<String>,
    pub group_id: Option<String>,
}

impl GroupSelector {
    pub fn group_ref(&self) -> Result<GroupRef, AdminError> {
        match (&self.group, &self.group_id) {
            (Some(name), None) if !name.trim().is_empty() => Ok(GroupRef::DisplayName(name.clone())),
            (None, Some(id)) => id
                .parse::<ResourceId>()
                .map(GroupRef::Id)
                .map_err(|_| AdminError::InvalidValue(format!("group_id {id:?} is not a group id"))),
            _ => Err(AdminError::InvalidValue("name the group by exactly one of group (its displayName) and group_id".into())),
        }
    }
}

impl MapRole {
    pub fn mapping(&self) -> Result<Mapping, AdminError> {
        let group = GroupSelector { group: self.group.clone(), group_id: self.group_id.clone() }.group_ref()?;
        Ok(Mapping { group, role: RoleName::parse(&self.role)?, precedence: self.precedence.unwrap_or(DEFAULT_PRECEDENCE) })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MappingView {
    /// The displayName the mapping names, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The group id the mapping names, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    pub role: String,
    pub precedence: u32,
}

impl From<&Mapping> for MappingView {
    fn from(m: &Mapping) -> Self {
        let (group, group_id) = match &m.group {
            GroupRef::DisplayName(name) => (Some(name.clone()), None),
            GroupRef::Id(id) => (None, Some(id.to_string())),
        };
        Self { group, group_id, role: m.role.to_string(), precedence: m.precedence }
    }
}

/// The tenant's role settings. `default_role` takes null to clear.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleSettings {
    /// The role of active users in no mapped group; null for none.
    pub default_role: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRole {
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LockView {
    pub user_id: String,
    /// The role the user is pinned to; null once unlocked.
    pub role: Option<String>,
}

/// Everything about a tenant's roles (`role list`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RolesView {
    pub roles: Vec<RoleView>,
    /// Strongest first.
    pub mappings: Vec<MappingView>,
    pub default_role: Option<String>,
    pub locks: Vec<LockView>,
}

impl From<&RolePolicy> for RolesView {
    fn from(p: &RolePolicy) -> Self {
        Self {
            roles: p.roles().map(|r| RoleView { name: r.name.to_string(), description: r.description.clone() }).collect(),
            mappings: p.mappings().iter().map(MappingView::from).collect(),
            default_role: p.default_role().map(ToString::to_string),
            locks: p.locks().iter().map(|(user, role)| LockView { user_id: user.to_string(), role: Some(role.to_string()) }).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessToken {
    /// Unique within the tenant: who uses it (`radius-eu`).
    pub name: String,
}

/// An access token for the look-up, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessTokenIssued {
    pub tenant: String,
    pub name: String,
    /// `GET {access_url}/logins/{login}` with `Authorization: Bearer <token>`.
    pub access_url: String,
    pub token: String,
}

/// An access token as `access-token list` shows it: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessTokenView {
    /// Its id: its stream's.
    pub id: String,
    pub name: String,
    pub created: String,
    /// Revoked: none of its secrets works any more, and it takes no rotation.
    pub revoked: bool,
    /// Every secret it ever had, oldest first: which still work and until when (a rotation's
    /// grace period), which ended.
    pub credentials: Vec<super::model::CredentialView>,
}
