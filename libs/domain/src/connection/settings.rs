//! A connection's policy: how it authenticates and the settings later subscribers act on.
//! Every value exists only if valid; a change is computed as the list of what moved.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::redirect_uri::RedirectUri;
pub use crate::names::PolicyName;
use crate::DomainError;

/// How an IdP proves it is this connection (issue 9 §1, docs/scim.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The raw token as the whole `Authorization` value (Okta's Header Auth app); `Bearer
    /// <token>` is accepted too.
    Header,
    /// HTTP Basic with a generated username and password.
    Basic,
    /// OAuth 2.0 client credentials: a client id and secret exchanged for short-lived bearer
    /// tokens at `/oauth/{tenant}/token`.
    Oauth,
}

impl AuthMode {
    pub const ALL: [AuthMode; 4] = [AuthMode::Bearer, AuthMode::Header, AuthMode::Basic, AuthMode::Oauth];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Bearer => "bearer",
            AuthMode::Header => "header",
            AuthMode::Basic => "basic",
            AuthMode::Oauth => "oauth",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| DomainError::invalid(format!("'{text}' is not an auth mode: use bearer, header, basic or oauth")))
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a user's devices when the IdP deactivates the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeactivate {
    Nothing,
    UnassignDevices,
    ReassignDevicesToManager,
    ChangeDevicePolicy,
    RemoveUser,
    RemoveUserAndDevices,
}

impl OnDeactivate {
    pub const ALL: [OnDeactivate; 6] = [
        OnDeactivate::Nothing,
        OnDeactivate::UnassignDevices,
        OnDeactivate::ReassignDevicesToManager,
        OnDeactivate::ChangeDevicePolicy,
        OnDeactivate::RemoveUser,
        OnDeactivate::RemoveUserAndDevices,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OnDeactivate::Nothing => "nothing",
            OnDeactivate::UnassignDevices => "unassign_devices",
            OnDeactivate::ReassignDevicesToManager => "reassign_devices_to_manager",
            OnDeactivate::ChangeDevicePolicy => "change_device_policy",
            OnDeactivate::RemoveUser => "remove_user",
            OnDeactivate::RemoveUserAndDevices => "remove_user_and_devices",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        Self::ALL.into_iter().find(|p| p.as_str() == text).ok_or_else(|| {
            let all: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
            DomainError::invalid(format!("'{text}' is not an on_deactivate policy: use one of {}", all.join(", ")))
        })
    }
}

/// Which of the tenant's users and groups a connection sees (ADR 0040): what it owns, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadScope {
    Own,
    All,
}

impl ReadScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadScope::Own => "own",
            ReadScope::All => "all",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "own" => Ok(ReadScope::Own),
            "all" => Ok(ReadScope::All),
            _ => Err(DomainError::invalid(format!("'{text}' is not a read scope: use own or all"))),
        }
    }
}

/// A connection's settings (issue 9 §3, §4). `claim_manual` and `read_scope` are enforced on
/// every SCIM request (ADR 0040); the subscribers enforce the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub send_enrollment_email: bool,
    pub on_create_role: Option<PolicyName>,
    pub on_deactivate: OnDeactivate,
    pub device_policy: Option<PolicyName>,
    pub claim_manual: bool,
    pub read_scope: ReadScope,
    /// Where the authorize endpoint may send an OAuth client's codes (ADR 0072); none before
    /// redirect URIs existed.
    #[serde(default)]
    pub redirect_uris: Vec<RedirectUri>,
}

impl Default for Settings {
    /// A new connection's: it sees only what it provisions.
    fn default() -> Self {
        Self {
            send_enrollment_email: false,
            on_create_role: None,
            on_deactivate: OnDeactivate::Nothing,
            device_policy: None,
            claim_manual: false,
            read_scope: ReadScope::Own,
            redirect_uris: Vec::new(),
        }
    }
}

impl Settings {
    /// `change_device_policy` needs the policy to change to.
    fn check(self) -> Result<Self, DomainError> {
        if self.on_deactivate == OnDeactivate::ChangeDevicePolicy && self.device_policy.is_none() {
            return Err(DomainError::invalid("on_deactivate change_device_policy needs a device_policy"));
        }
        Ok(self)
    }

    /// These settings with `change` applied, and what moved (none when nothing did).
    pub fn with(&self, change: &SettingsChange) -> Result<(Settings, Vec<SettingChanged>), DomainError> {
        let mut next = self.clone();
        if let Some(v) = change.send_enrollment_email {
            next.send_enrollment_email = v;
        }
        if let Some(v) = &change.on_create_role {
            next.on_create_role = v.clone();
        }
        if let Some(v) = change.on_deactivate {
            next.on_deactivate = v;
        }
        if let Some(v) = &change.device_policy {
            next.device_policy = v.clone();
        }
        if let Some(v) = change.claim_manual {
            next.claim_manual = v;
        }
        if let Some(v) = change.read_scope {
            next.read_scope = v;
        }
        if let Some(uris) = &change.redirect_uris {
            // A set: each URI once, in the order given.
            next.redirect_uris = Vec::with_capacity(uris.len());
            for uri in uris {
                if !next.redirect_uris.contains(uri) {
                    next.redirect_uris.push(uri.clone());
                }
            }
        }
        let next = next.check()?;
        let (before, after) = (self.fields(), next.fields());
        let changes = before
            .into_iter()
            .zip(after)
            .filter(|((_, from), (_, to))| from != to)
            .map(|((setting, from), (_, to))| SettingChanged { setting: setting.to_owned(), from, to })
            .collect();
        Ok((next, changes))
    }

    /// Each setting by name, as the events and the admin API spell it.
    fn fields(&self) -> [(&'static str, Value); 7] {
        let name = |n: &Option<PolicyName>| n.as_ref().map_or(Value::Null, |n| n.as_str().into());
        [
            ("send_enrollment_email", self.send_enrollment_email.into()),
            ("on_create_role", name(&self.on_create_role)),
            ("on_deactivate", self.on_deactivate.as_str().into()),
            ("device_policy", name(&self.device_policy)),
            ("claim_manual", self.claim_manual.into()),
            ("read_scope", self.read_scope.as_str().into()),
            ("redirect_uris", self.redirect_uris.iter().map(|u| Value::from(u.as_str())).collect()),
        ]
    }
}

/// What an update asks to change; `None` leaves a setting as it is. For the optional names,
/// `Some(None)` clears the setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub send_enrollment_email: Option<bool>,
    pub on_create_role: Option<Option<PolicyName>>,
    pub on_deactivate: Option<OnDeactivate>,
    pub device_policy: Option<Option<PolicyName>>,
    pub claim_manual: Option<bool>,
    pub read_scope: Option<ReadScope>,
    /// Replaces the set of redirect URIs (an empty list clears it).
    pub redirect_uris: Option<Vec<RedirectUri>>,
}

/// One setting's move, as `connection.settings_changed` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingChanged {
    pub setting: String,
    pub from: Value,
    pub to: Value,
}
