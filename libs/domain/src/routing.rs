//! How a parent tenant (Reftab's super tenant) routes what its connections push into its
//! sub-tenants (docs/adr/0074-a-parent-routes-by-a-rule-into-sub-tenants.md): a user by the
//! value of one of its attributes, a group by its displayName. The rule is part of the parent's
//! stream (`tenant.routing_set`); the SCIM handler asks it, before any command, which sub-tenant
//! a resource belongs to.

use std::collections::BTreeMap;

use scim::document::Document;
use serde::{Deserialize, Serialize};

use crate::{DomainError, TenantSlug};

/// Where a parent's users and groups go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// The user attribute whose value picks the sub-tenant: a core attribute (`userType`) or an
    /// extension's, by its full URN (`urn:…:enterprise:2.0:User:department`).
    pub attribute: String,
    /// Attribute value → sub-tenant (values compare exactly as the IdP sends them).
    pub map: BTreeMap<String, TenantSlug>,
    /// Group displayName → sub-tenant. A group named in no entry cannot be routed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_map: BTreeMap<String, TenantSlug>,
}

/// Why a resource has no sub-tenant: the rule that was asked and the value it was asked about
/// (`None` when the resource has no value for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unroutable {
    pub rule: String,
    pub value: Option<String>,
}

impl std::fmt::Display for Unroutable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(value) => write!(f, "no sub-tenant is mapped to {} '{value}'", self.rule),
            None => write!(f, "the resource has no {}, which routes it to a sub-tenant", self.rule),
        }
    }
}

impl RoutingRule {
    /// A rule whose attribute is a SCIM attribute name or URN and that maps to something.
    pub fn new(attribute: String, map: BTreeMap<String, TenantSlug>, group_map: BTreeMap<String, TenantSlug>) -> Result<Self, DomainError> {
        let name = attribute.rsplit(':').next().unwrap_or_default();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-') {
            return Err(DomainError::invalid(format!("'{attribute}' is no SCIM attribute name or URN")));
        }
        if map.is_empty() {
            return Err(DomainError::invalid("a routing rule maps at least one value to a sub-tenant"));
        }
        Ok(RoutingRule { attribute, map, group_map })
    }

    /// Every sub-tenant the rule names.
    pub fn targets(&self) -> impl Iterator<Item = &TenantSlug> {
        self.map.values().chain(self.group_map.values())
    }

    /// The sub-tenant of a user.
    pub fn route_user(&self, user: &Document) -> Result<&TenantSlug, Unroutable> {
        let value = self.value_of(user);
        value.and_then(|v| self.map.get(v)).ok_or_else(|| Unroutable { rule: self.attribute.clone(), value: value.map(str::to_owned) })
    }

    /// The sub-tenant of a group.
    pub fn route_group(&self, group: &Document) -> Result<&TenantSlug, Unroutable> {
        let name = group.str("displayName");
        name.and_then(|n| self.group_map.get(n))
            .ok_or_else(|| Unroutable { rule: "group displayName".to_owned(), value: name.map(str::to_owned) })
    }

    /// The attribute's value as text: an extension attribute when the name is a URN (schema,
    /// then `:` and the name), else a core attribute.
    fn value_of<'d>(&self, user: &'d Document) -> Option<&'d str> {
        match self.attribute.rsplit_once(':') {
            Some((schema, name)) if self.attribute.starts_with("urn:") => user.extension_attribute(schema, name)?.as_str(),
            _ => user.str(&self.attribute),
        }
    }
}

#[cfg(test)]
mod tests {
    use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    use super::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn slug(s: &str) -> TenantSlug {
        TenantSlug::parse(s).unwrap()
    }

    fn rule() -> RoutingRule {
        let map = [("Acme".to_owned(), slug("acme")), ("Globex".to_owned(), slug("globex"))].into();
        let group_map = [("Acme Staff".to_owned(), slug("acme"))].into();
        RoutingRule::new(format!("{ENTERPRISE}:organization"), map, group_map).unwrap()
    }

    fn user(organization: Option<&str>) -> Document {
        let mut body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE], "userName": "bob"});
        if let Some(o) = organization {
            body[ENTERPRISE] = json!({"organization": o});
        }
        Document::parse(&body, &USER_RESOURCE).unwrap()
    }

    #[test]
    fn a_user_goes_where_its_attribute_value_is_mapped() {
        assert_eq!(rule().route_user(&user(Some("Globex"))).unwrap(), &slug("globex"));
    }

    #[test]
    fn a_user_with_an_unmapped_or_missing_value_is_unroutable_and_says_why() {
        let unmapped = rule().route_user(&user(Some("Initech"))).unwrap_err();
        assert_eq!(unmapped.value.as_deref(), Some("Initech"));
        assert!(unmapped.to_string().contains("organization 'Initech'"), "{unmapped}");
        assert_eq!(rule().route_user(&user(None)).unwrap_err().value, None);
    }

    #[test]
    fn a_core_attribute_routes_too() {
        let rule = RoutingRule::new("userType".into(), [("Contractor".to_owned(), slug("acme"))].into(), Default::default()).unwrap();
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "c", "userType": "Contractor"});
        assert_eq!(rule.route_user(&Document::parse(&body, &USER_RESOURCE).unwrap()).unwrap(), &slug("acme"));
    }

    #[test]
    fn a_group_goes_where_its_display_name_is_mapped() {
        let staff = Document::parse(
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Acme Staff"}),
            &GROUP_RESOURCE,
        )
        .unwrap();
        assert_eq!(rule().route_group(&staff).unwrap(), &slug("acme"));
        let other =
            Document::parse(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Other"}), &GROUP_RESOURCE)
                .unwrap();
        assert_eq!(rule().route_group(&other).unwrap_err().value.as_deref(), Some("Other"));
    }

    #[test]
    fn a_rule_needs_an_attribute_name_and_a_mapping() {
        assert!(RoutingRule::new("bad name".into(), [("a".to_owned(), slug("acme"))].into(), Default::default()).is_err());
        assert!(RoutingRule::new("department".into(), Default::default(), Default::default()).is_err());
    }
}
