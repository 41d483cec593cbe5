//! The admin model of the device registry (issue 12 §3, docs/devices.md): the same through
//! `/admin/v1/tenants/{t}/devices` and `scimledger device …`.

use serde::{Deserialize, Serialize};
use store::DeviceRow;
use utoipa::ToSchema;

/// A device to register, assigned to a user (by userName, alias or id) if `assign` is given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    pub serial: String,
    pub name: Option<String>,
    /// `laptop`, `phone`…: free text, for the MDM.
    pub kind: Option<String>,
    pub policy: Option<String>,
    pub assign: Option<String>,
}

/// The user to assign a device to, by userName, alias or id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignDevice {
    pub user: String,
}

/// Which devices to list: all of the tenant's, or a user's (by userName, alias or id).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeviceFilter {
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    pub tenant: String,
    pub serial: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub policy: Option<String>,
    /// The id of the user the device is assigned to.
    pub assigned_user_id: Option<String>,
}

impl DeviceView {
    pub fn of(tenant: &str, row: DeviceRow) -> Self {
        let DeviceRow { serial, name, kind, policy, assigned } = row;
        Self { tenant: tenant.to_owned(), serial, name, kind, policy, assigned_user_id: assigned.map(|u| u.to_string()) }
    }
}
