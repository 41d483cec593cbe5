//! How events are named, versioned and stored.
//!
//! Each aggregate's event enum serialises adjacently tagged, `{"type": "user.provisioned",
//! "data": {…}}`; the log keeps the type and the data in separate columns, with the version.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::Owner;

/// The kinds of event stream in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    User,
    Group,
    Tenant,
    Connection,
    Operator,
    /// What the enrollment mailer did about one user (`domain::enrollment`).
    Enrollment,
    /// One device of a tenant's registry (`domain::device`).
    Device,
    /// A tenant's roles, mappings, default role and locks (`domain::role::RolePolicy`).
    RolePolicy,
    /// One user's effective roles (`domain::role::assignment`).
    RoleAssignment,
    /// A tenant's credential for the access look-up (`domain::access_token`).
    AccessToken,
    /// An OAuth authorization code grant of a connection (`domain::oauth_grant`).
    OauthGrant,
    /// The deployment's master keys: their rotations (`domain::master_key`).
    MasterKey,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::User => "user",
            StreamKind::Group => "group",
            StreamKind::Tenant => "tenant",
            StreamKind::Connection => "connection",
            StreamKind::Operator => "operator",
            StreamKind::Enrollment => "enrollment",
            StreamKind::Device => "device",
            StreamKind::RolePolicy => "role_policy",
            StreamKind::RoleAssignment => "role_assignment",
            StreamKind::AccessToken => "access_token",
            StreamKind::OauthGrant => "oauth_grant",
            StreamKind::MasterKey => "master_key",
        }
    }

    /// How an envelope's `subject` names the collection: `users/<id>`, `role_policies/<id>`.
    pub fn collection(self) -> &'static str {
        match self {
            StreamKind::User => "users",
            StreamKind::Group => "groups",
            StreamKind::Tenant => "tenants",
            StreamKind::Connection => "connections",
            StreamKind::Operator => "operators",
            StreamKind::RolePolicy => "role_policies",
            StreamKind::RoleAssignment => "role_assignments",
            StreamKind::AccessToken => "access_tokens",
            StreamKind::OauthGrant => "oauth_grants",
            StreamKind::MasterKey => "master_keys",
            StreamKind::Enrollment => "enrollments",
            StreamKind::Device => "devices",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(StreamKind::User),
            "group" => Some(StreamKind::Group),
            "tenant" => Some(StreamKind::Tenant),
            "connection" => Some(StreamKind::Connection),
            "operator" => Some(StreamKind::Operator),
            "enrollment" => Some(StreamKind::Enrollment),
            "device" => Some(StreamKind::Device),
            "role_policy" => Some(StreamKind::RolePolicy),
            "role_assignment" => Some(StreamKind::RoleAssignment),
            "access_token" => Some(StreamKind::AccessToken),
            "oauth_grant" => Some(StreamKind::OauthGrant),
            "master_key" => Some(StreamKind::MasterKey),
            _ => None,
        }
    }
}

/// An event as the log stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPayload {
    /// `user.provisioned`, `group.member_added`…
    pub event_type: String,
    pub type_version: i32,
    pub data: Value,
}

/// The version every event type is at today. An event type that changes shape gets a new
/// version and an upcaster in `decode`.
pub const CURRENT_VERSION: i32 = 1;

pub fn encode<E: Serialize>(event: &E) -> EventPayload {
    let tagged = serde_json::to_value(event).expect("domain events serialise");
    let Value::Object(mut fields) = tagged else { unreachable!("events are adjacently tagged enums") };
    EventPayload {
        event_type: fields.remove("type").and_then(|t| t.as_str().map(str::to_owned)).expect("events carry a type tag"),
        type_version: CURRENT_VERSION,
        data: fields.remove("data").unwrap_or(Value::Null),
    }
}

pub fn decode<E: DeserializeOwned>(payload: &EventPayload) -> Result<E, serde_json::Error> {
    serde_json::from_value(json!({"type": payload.event_type, "data": payload.data}))
}

/// The event types that start a resource, and so name its owner.
const FOUNDING: [&str; 2] = ["user.provisioned", "group.created"];

/// Decodes an event as the log recorded it, `recorded_by` being the owner its actor (in the
/// metadata) stands for. A founding event recorded before ownership existed has no `owner`:
/// the resource belongs to whoever provisioned it (docs/adr/0040-ownership-and-read-scope.md).
pub fn decode_recorded<E: DeserializeOwned>(payload: &EventPayload, recorded_by: impl FnOnce() -> Owner) -> Result<E, serde_json::Error> {
    match &payload.data {
        Value::Object(fields) if FOUNDING.contains(&payload.event_type.as_str()) && !fields.contains_key("owner") => {
            let mut data = fields.clone();
            data.insert("owner".into(), Value::String(recorded_by().to_string()));
            serde_json::from_value(json!({"type": payload.event_type, "data": data}))
        }
        _ => decode(payload),
    }
}
