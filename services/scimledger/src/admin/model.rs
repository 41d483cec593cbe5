//! The admin model: what operators send and get back, the same through the admin API (JSON,
//! documented by OpenAPI) and the CLI (`--json` prints these values).

use domain::connection::{AuthMode, OnDeactivate, ReadScope, RedirectUri, Settings, SettingsChange};
use domain::names::PolicyName;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::error::AdminError;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Lower-case letters, digits and dashes.
    pub slug: String,
    /// Makes the tenant a sub-tenant of this one, which may route into it (a super tenant,
    /// docs/adr/0074). The parent must be no sub-tenant itself.
    #[serde(default)]
    pub parent: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    pub slug: String,
    /// RFC 3339.
    pub created: String,
    /// The tenant this one is a sub-tenant of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// How a parent routes what its connections push (docs/adr/0074): a group by its displayName
/// through `group_map`; a user either by the value of `attribute` (a core attribute name or an
/// extension's URN, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization`)
/// through `map`, or by membership of the groups `group_map` routes, waiting in the sub-tenant
/// `users_wait_in` until one names it. Every target must be a sub-tenant of the parent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingInput {
    #[serde(default)]
    pub attribute: Option<String>,
    /// Attribute value → sub-tenant slug.
    #[serde(default)]
    pub map: std::collections::BTreeMap<String, String>,
    /// Instead of `attribute` and `map`: users go where the mapped groups naming them go, and
    /// wait in this sub-tenant (which no group maps to) until one does.
    #[serde(default)]
    pub users_wait_in: Option<String>,
    /// Group displayName → sub-tenant slug.
    #[serde(default)]
    pub group_map: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoutingView {
    pub tenant: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub map: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_wait_in: Option<String>,
    pub group_map: std::collections::BTreeMap<String, String>,
    /// Writes this process refused since it started because the rule maps them nowhere (the
    /// metric `scimledger.routing.unroutable` counts them for all processes). Absent from the CLI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<u64>,
}

/// A tenant's enrollment email (docs/operations.md#enrollment-emails). `url` holds `{token}`;
/// the subject and bodies may hold `{name}`, `{user_name}` and `{link}` (the bodies must hold
/// `{link}`). An absent subject or text takes the built-in one; an absent HTML sends text only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentInput {
    pub url: String,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnrollmentView {
    pub tenant: String,
    pub url: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Settings to set; an absent field keeps its value. `on_create_role` and `device_policy`
/// take null to clear.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub send_enrollment_email: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub on_create_role: Option<Option<String>>,
    /// nothing, unassign_devices, reassign_devices_to_manager, change_device_policy,
    /// remove_user or remove_user_and_devices.
    pub on_deactivate: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub device_policy: Option<Option<String>>,
    pub claim_manual: Option<bool>,
    /// own or all.
    pub read_scope: Option<String>,
    /// Where the authorize endpoint may send an oauth connection's codes, each matched exactly
    /// (https, or http on 127.0.0.1 / localhost); replaces the set, `[]` clears it.
    pub redirect_uris: Option<Vec<String>>,
}

/// A field that is present, even as null, is `Some`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl SettingsInput {
    /// The domain's change, every value parsed.
    pub fn change(&self) -> Result<SettingsChange, AdminError> {
        let name = |v: &Option<Option<String>>| -> Result<Option<Option<PolicyName>>, AdminError> {
            Ok(match v {
                None => None,
                Some(None) => Some(None),
                Some(Some(text)) => Some(Some(PolicyName::parse(text)?)),
            })
        };
        Ok(SettingsChange {
            send_enrollment_email: self.send_enrollment_email,
            on_create_role: name(&self.on_create_role)?,
            on_deactivate: self.on_deactivate.as_deref().map(OnDeactivate::parse).transpose()?,
            device_policy: name(&self.device_policy)?,
            claim_manual: self.claim_manual,
            read_scope: self.read_scope.as_deref().map(ReadScope::parse).transpose()?,
            redirect_uris: self.redirect_uris.as_ref().map(|uris| uris.iter().map(|u| RedirectUri::parse(u)).collect()).transpose()?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub name: String,
    /// bearer (default), header, basic or oauth.
    pub auth: Option<String>,
    #[serde(default)]
    pub settings: SettingsInput,
}

impl CreateConnection {
    pub fn auth(&self) -> Result<AuthMode, AdminError> {
        Ok(self.auth.as_deref().map(AuthMode::parse).transpose()?.unwrap_or(AuthMode::Bearer))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// How long the secrets in use keep working: `0`, `90s`, `15m`, `24h`, `7d` (default 24h).
    pub grace: Option<String>,
}

/// The body of a disable, which may be absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disable {
    /// Also delete every user and group the connection owns (ADR 0041).
    #[serde(default)]
    pub purge: bool,
}

/// The default grace period of a rotation.
pub const DEFAULT_GRACE: &str = "24h";

/// A grace period: a whole number of seconds, minutes, hours or days, or `0`.
pub fn grace(text: &str) -> Result<time::Duration, AdminError> {
    let invalid = || AdminError::InvalidValue(format!("grace {text:?}: use 0 or a number with s, m, h or d (90s, 24h)"));
    if text == "0" {
        return Ok(time::Duration::ZERO);
    }
    let unit = text.chars().last().ok_or_else(invalid)?;
    let count: i64 = text[..text.len() - unit.len_utf8()].parse().map_err(|_| invalid())?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(invalid()),
    };
    // At most a year: a longer grace is no rotation.
    match count.checked_mul(seconds) {
        Some(total) if (0..=366 * 86_400).contains(&total) => Ok(time::Duration::seconds(total)),
        _ => Err(invalid()),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SettingsView {
    pub send_enrollment_email: bool,
    pub on_create_role: Option<String>,
    pub on_deactivate: String,
    pub device_policy: Option<String>,
    pub claim_manual: bool,
    pub read_scope: String,
    pub redirect_uris: Vec<String>,
}

impl From<&Settings> for SettingsView {
    fn from(s: &Settings) -> Self {
        Self {
            send_enrollment_email: s.send_enrollment_email,
            on_create_role: s.on_create_role.as_ref().map(|r| r.as_str().to_owned()),
            on_deactivate: s.on_deactivate.as_str().to_owned(),
            device_policy: s.device_policy.as_ref().map(|p| p.as_str().to_owned()),
            claim_manual: s.claim_manual,
            read_scope: s.read_scope.as_str().to_owned(),
            redirect_uris: s.redirect_uris.iter().map(|u| u.as_str().to_owned()).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionView {
    pub tenant: String,
    pub connection_id: String,
    pub name: String,
    /// The SCIM base URL to give the IdP.
    pub base_url: String,
    pub auth: String,
    /// The basic username or OAuth client id (not secret).
    pub login: Option<String>,
    pub settings: SettingsView,
    pub created: String,
    /// When it was disabled (RFC 3339), if it was.
    pub disabled: Option<String>,
    /// Every secret it ever had, oldest first, without the secret: which still work and until
    /// when (a rotation's grace period), which ended.
    pub credentials: Vec<CredentialView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialView {
    pub credential_id: String,
    pub created: String,
    /// When it stops or stopped working (RFC 3339); absent while it has no end.
    pub expires: Option<String>,
    /// Whether a request presenting it is accepted now.
    pub live: bool,
}

/// A connection with the secret just generated for it, shown this once: the fields of its
/// auth mode are set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Issued {
    #[serde(flatten)]
    pub connection: ConnectionView,
    /// bearer and header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// basic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// oauth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Where Okta's App Integration Wizard sends the admin to consent (authorization code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OperatorIssued {
    pub name: String,
    /// Shown this once.
    pub token: String,
}

/// Every admin API error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable: unknown_tenant, unknown_connection, unknown_user, unknown_mapping, invalid_value,
    /// invalid_json, already_exists, connection_disabled, unauthorized, unavailable, internal.
    pub code: String,
    pub detail: String,
}

impl From<&AdminError> for ErrorBody {
    fn from(error: &AdminError) -> Self {
        Self { code: error.code().to_owned(), detail: error.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods() {
        assert_eq!(grace("0").unwrap(), time::Duration::ZERO);
        assert_eq!(grace("90s").unwrap(), time::Duration::seconds(90));
        assert_eq!(grace("24h").unwrap(), time::Duration::hours(24));
        assert_eq!(grace("7d").unwrap(), time::Duration::days(7));
        for bad in ["", "h", "-1h", "1w", "1.5h", "99999999999999d", "400d"] {
            assert!(grace(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_input_tells_absent_from_null() {
        let input: SettingsInput = serde_json::from_str(r#"{"on_create_role": null, "read_scope": "all"}"#).unwrap();
        let change = input.change().unwrap();
        assert_eq!(change.on_create_role, Some(None));
        assert_eq!(change.device_policy, None);
        assert_eq!(change.read_scope, Some(ReadScope::All));
        let bad: SettingsInput = serde_json::from_str(r#"{"on_deactivate": "wipe"}"#).unwrap();
        assert!(matches!(bad.change(), Err(AdminError::InvalidValue(_))));
        assert!(serde_json::from_str::<SettingsInput>(r#"{"colour": "red"}"#).is_err());
    }
}
