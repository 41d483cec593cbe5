//! How a parent tenant (Reftab's super tenant) routes what its connections push into its
//! sub-tenants (docs/adr/0074-a-parent-routes-by-a-rule-into-sub-tenants.md): a user by the
//! value of one of its attributes, or by membership of the groups the rule maps; a group by its
//! displayName. The rule is part of the parent's stream (`tenant.routing_set`); the SCIM handler
//! asks it, before any command, which sub-tenant a resource belongs to.

use std::collections::BTreeMap;

use scim::document::Document;
use serde::{Deserialize, Serialize};

use crate::{DomainError, TenantSlug};

/// Where a parent's users and groups go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// How users are routed; its fields sit beside `group_map`, so that the rules recorded
    /// before users could route by groups (`attribute` and `map`) read as they were written.
    #[serde(flatten)]
    pub users: UserRouting,
    /// Group displayName → sub-tenant. A group named in no entry cannot be routed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_map: BTreeMap<String, TenantSlug>,
}

/// How a parent routes its users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserRouting {
    /// By the value of one attribute.
    Attribute {
        /// A core attribute (`userType`) or an extension's, by its full URN
        /// (`urn:…:enterprise:2.0:User:department`).
        attribute: String,
        /// Attribute value → sub-tenant (values compare exactly as the IdP sends them).
        map: BTreeMap<String, TenantSlug>,
    },
    /// By membership of a group that `group_map` routes: an IdP creates a user before any group
    /// names it, so a new user waits in `users_wait_in` until a mapped group's write names it,
    /// and then moves into that group's sub-tenant.
    Groups { users_wait_in: TenantSlug },
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
    /// A rule that routes users one way: by `attribute` (a SCIM attribute name or URN) through
    /// a non-empty `map`, or by the groups of a non-empty `group_map`, waiting in
    /// `users_wait_in` until one names them. The waiting sub-tenant is no group's: a user there
    /// is one no mapped group has named yet.
    pub fn new(
        attribute: Option<String>,
        map: BTreeMap<String, TenantSlug>,
        users_wait_in: Option<TenantSlug>,
        group_map: BTreeMap<String, TenantSlug>,
    ) -> Result<Self, DomainError> {
        let users = match (attribute, users_wait_in) {
            (Some(attribute), None) => {
                let name = attribute.rsplit(':').next().unwrap_or_default();
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-') {
                    return Err(DomainError::invalid(format!("'{attribute}' is no SCIM attribute name or URN")));
                }
                if map.is_empty() {
                    return Err(DomainError::invalid("a routing rule maps at least one value to a sub-tenant"));
                }
                UserRouting::Attribute { attribute, map }
            }
            (None, Some(waiting)) => {
                if !map.is_empty() {
                    return Err(DomainError::invalid("a rule that routes users by group membership maps no attribute values"));
                }
                if group_map.is_empty() {
                    return Err(DomainError::invalid("a rule that routes users by group membership maps at least one group"));
                }
                if let Some((name, _)) = group_map.iter().find(|(_, target)| **target == waiting) {
                    return Err(DomainError::invalid(format!(
                        "users wait in '{waiting}' until a mapped group names them, so no group may map there (group '{name}' does)"
                    )));
                }
                UserRouting::Groups { users_wait_in: waiting }
            }
            (Some(_), Some(_)) => return Err(DomainError::invalid("a rule routes users by an attribute or by group membership, not both")),
            (None, None) => {
                return Err(DomainError::invalid(
                    "a rule routes users by an attribute (attribute and map) or by group membership (users_wait_in)",
                ))
            }
        };
        Ok(RoutingRule { users, group_map })
    }

    /// Every sub-tenant the rule names.
    pub fn targets(&self) -> impl Iterator<Item = &TenantSlug> {
        let map = match &self.users {
            UserRouting::Attribute { map, .. } => Some(map),
            UserRouting::Groups { .. } => None,
        };
        map.into_iter().flat_map(BTreeMap::values).chain(self.users_wait_in()).chain(self.group_map.values())
    }

    /// Where users wait for a group to route them, when the rule routes them by membership.
    pub fn users_wait_in(&self) -> Option<&TenantSlug> {
        match &self.users {
            UserRouting::Groups { users_wait_in } => Some(users_wait_in),
            UserRouting::Attribute { .. } => None,
        }
    }

    /// The sub-tenant of a new user, or of a user as a change leaves it.
    pub fn route_user(&self, user: &Document) -> Result<&TenantSlug, Unroutable> {
        match &self.users {
            UserRouting::Attribute { attribute, map } => {
                let value = value_of(attribute, user);
                value.and_then(|v| map.get(v)).ok_or_else(|| Unroutable { rule: attribute.clone(), value: value.map(str::to_owned) })
            }
            UserRouting::Groups { users_wait_in } => Ok(users_wait_in),
        }
    }

    /// Whether a change to a user's attributes can route it elsewhere: under a membership rule
    /// only a group's write moves a user.
    pub fn routes_users_by_attribute(&self) -> bool {
        matches!(self.users, UserRouting::Attribute { .. })
    }

    /// The sub-tenant of a group.
    pub fn route_group(&self, group: &Document) -> Result<&TenantSlug, Unroutable> {
        let name = group.str("displayName");
        name.and_then(|n| self.group_map.get(n))
            .ok_or_else(|| Unroutable { rule: "group displayName".to_owned(), value: name.map(str::to_owned) })
    }
}

/// The value of `attribute` as text: an extension attribute when the name is a URN (schema,
/// then `:` and the name), else a core attribute.
fn value_of<'d>(attribute: &str, user: &'d Document) -> Option<&'d str> {
    match attribute.rsplit_once(':') {
        Some((schema, name)) if attribute.starts_with("urn:") => user.extension_attribute(schema, name)?.as_str(),
        _ => user.str(attribute),
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
        RoutingRule::new(Some(format!("{ENTERPRISE}:organization")), map, None, group_map).unwrap()
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
        let rule =
            RoutingRule::new(Some("userType".into()), [("Contractor".to_owned(), slug("acme"))].into(), None, Default::default()).unwrap();
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
        assert!(RoutingRule::new(Some("bad name".into()), [("a".to_owned(), slug("acme"))].into(), None, Default::default()).is_err());
        assert!(RoutingRule::new(Some("department".into()), Default::default(), None, Default::default()).is_err());
    }

    fn by_groups() -> RoutingRule {
        RoutingRule::new(None, Default::default(), Some(slug("lobby")), [("Acme Staff".to_owned(), slug("acme"))].into()).unwrap()
    }

    #[test]
    fn under_a_membership_rule_a_new_user_waits_and_no_attribute_moves_it() {
        let rule = by_groups();
        assert_eq!(rule.route_user(&user(Some("Globex"))).unwrap(), &slug("lobby"));
        assert_eq!(rule.route_user(&user(None)).unwrap(), &slug("lobby"));
        assert_eq!(rule.users_wait_in(), Some(&slug("lobby")));
        assert!(!rule.routes_users_by_attribute());
        assert_eq!(rule.targets().collect::<Vec<_>>(), [&slug("lobby"), &slug("acme")]);
        assert_eq!(self::rule().users_wait_in(), None);
        assert!(self::rule().routes_users_by_attribute());
    }

    #[test]
    fn a_rule_routes_users_one_way_and_a_membership_rule_needs_groups_none_mapped_to_the_waiting_room() {
        let acme = || -> BTreeMap<String, TenantSlug> { [("Acme".to_owned(), slug("acme"))].into() };
        let neither = RoutingRule::new(None, Default::default(), None, acme()).unwrap_err();
        assert!(neither.to_string().contains("users_wait_in"), "{neither}");
        let both = RoutingRule::new(Some("department".into()), acme(), Some(slug("lobby")), acme()).unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        let values = RoutingRule::new(None, acme(), Some(slug("lobby")), acme()).unwrap_err();
        assert!(values.to_string().contains("no attribute values"), "{values}");
        let no_groups = RoutingRule::new(None, Default::default(), Some(slug("lobby")), Default::default()).unwrap_err();
        assert!(no_groups.to_string().contains("at least one group"), "{no_groups}");
        let waiting_mapped = RoutingRule::new(None, Default::default(), Some(slug("acme")), acme()).unwrap_err();
        assert!(waiting_mapped.to_string().contains("group 'Acme'"), "{waiting_mapped}");
    }

    #[test]
    fn a_rule_recorded_before_membership_routing_reads_as_it_was_written() {
        let recorded = json!({
            "attribute": format!("{ENTERPRISE}:organization"),
            "map": {"Acme": "acme", "Globex": "globex"},
            "group_map": {"Acme Staff": "acme"}
        });
        let read: RoutingRule = serde_json::from_value(recorded.clone()).unwrap();
        assert_eq!(read, rule());
        let event = json!({"type": "tenant.routing_set", "data": recorded});
        assert_eq!(serde_json::from_value::<crate::tenant::TenantEvent>(event).unwrap(), crate::tenant::TenantEvent::RoutingSet(rule()));
        assert_eq!(serde_json::to_value(&read).unwrap(), recorded);
        let without_groups: RoutingRule = serde_json::from_value(json!({"attribute": "userType", "map": {"Staff": "acme"}})).unwrap();
        assert!(without_groups.group_map.is_empty());
        let by_groups_written = serde_json::to_value(by_groups()).unwrap();
        assert_eq!(by_groups_written, json!({"users_wait_in": "lobby", "group_map": {"Acme Staff": "acme"}}));
        assert_eq!(serde_json::from_value::<RoutingRule>(by_groups_written).unwrap(), by_groups());
    }
}
