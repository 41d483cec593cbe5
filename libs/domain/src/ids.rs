//! Identifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

/// A tenant's URL slug: lower-case letters, digits and dashes (no `_`: Okta refuses base URLs
/// with one), 1 to 63 characters, not starting or ending with a dash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let valid = (1..=63).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::invalid(format!("'{text}' is not a tenant slug: use 1 to 63 lower-case letters, digits and dashes")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where events of the deployment itself (operators) are logged: a slug no tenant can
    /// have, as slugs hold no `_`.
    pub fn deployment() -> Self {
        Self(DEPLOYMENT.to_owned())
    }

    /// A slug as the log stores it: a tenant's, or the deployment's.
    pub fn from_log(text: &str) -> Result<Self, DomainError> {
        if text == DEPLOYMENT {
            return Ok(Self::deployment());
        }
        Self::parse(text)
    }
}

const DEPLOYMENT: &str = "_deployment";

impl TryFrom<String> for TenantSlug {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantSlug> for String {
    fn from(slug: TenantSlug) -> Self {
        slug.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of a user or group: assigned by scimledger, stable, case-sensitive (a UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(Uuid);

impl ResourceId {
    /// A fresh id. Version 7 UUIDs are time-ordered, which keeps index inserts local.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for ResourceId {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for ResourceId {
    type Err = DomainError;
    /// Only the hyphenated lower-case form we hand out is an id: ids are case-sensitive.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match Uuid::try_parse(text) {
            Ok(uuid) if uuid.hyphenated().to_string() == text => Ok(Self(uuid)),
            _ => Err(DomainError::NotFound),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_slugs() {
        for ok in ["acme", "acme-corp", "a1", "0"] {
            assert!(TenantSlug::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "acme_corp", "-acme", "acme-", "ac me", &"a".repeat(64), "_deployment"] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TenantSlug::from_log("_deployment").unwrap(), TenantSlug::deployment());
    }

    #[test]
    fn ids_are_case_sensitive() {
        let id = ResourceId::new();
        assert_eq!(id.to_string().parse::<ResourceId>().unwrap(), id);
        assert!(id.to_string().to_uppercase().parse::<ResourceId>().is_err());
        assert!("nope".parse::<ResourceId>().is_err());
    }
}
