//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) with the `returned` rules:
//! `always` attributes survive any selection, `never` ones are never shown, `request` ones only
//! when asked for.

use serde_json::{Map, Value};

use crate::path::AttrPath;
use crate::schema::{AttributeDef, ResourceType, Returned, COMMON_ATTRIBUTES};

/// Which attributes a response carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Selection {
    pub fn is_default(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether the response includes a top-level attribute at all: lets a caller skip work
    /// (such as loading group members) that an `excludedAttributes=members` makes pointless.
    pub fn includes(&self, resource: &ResourceType, name: &str) -> bool {
        let Some(def) = resource.core_attribute(name) else { return true };
        match def.returned {
            Returned::Always => true,
            Returned::Never => false,
            _ if !self.attributes.is_empty() => self.attributes.iter().any(|p| names(p, resource, None, def)),
            Returned::Request => false,
            Returned::Default => !self.excluded.iter().any(|p| p.sub_attr.is_none() && names(p, resource, None, def)),
        }
    }

    /// Applies the selection to a rendered resource (core attributes top-level, extension
    /// attributes under their URN).
    pub fn apply(&self, resource_type: &ResourceType, mut resource: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in std::mem::take(&mut resource) {
            if key == "schemas" {
                out.insert(key, value);
                continue;
            }
            if let Some(ext) = resource_type.extension_by_urn(&key) {
                let Value::Object(attrs) = value else { continue };
                let kept = self.filter_attributes(resource_type, Some(ext.id), ext.attributes, attrs);
                if !kept.is_empty() {
                    out.insert(key, Value::Object(kept));
                }
                continue;
            }
            let defs = resource_type.schema.attributes.iter().chain(COMMON_ATTRIBUTES);
            if let Some(def) = defs.clone().find(|d| d.name == key) {
                if let Some(v) = self.select(resource_type, None, def, value) {
                    out.insert(key, v);
                }
            }
        }
        out
    }

    fn filter_attributes(
        &self,
        rt: &ResourceType,
        schema: Option<&str>,
        defs: &[AttributeDef],
        attrs: Map<String, Value>,
    ) -> Map<String, Value> {
        attrs
            .into_iter()
            .filter_map(|(k, v)| {
                let def = defs.iter().find(|d| d.name == k)?;
                self.select(rt, schema, def, v).map(|v| (k, v))
            })
            .collect()
    }

    /// The part of one attribute's value the selection keeps.
    fn select(&self, rt: &ResourceType, schema: Option<&str>, def: &AttributeDef, value: Value) -> Option<Value> {
        match def.returned {
            Returned::Never => return None,
            Returned::Always => return Some(value),
            _ => {}
        }
        if !self.attributes.is_empty() {
            let asked: Vec<&AttrPath> = self.attributes.iter().filter(|p| names(p, rt, schema, def)).collect();
            if asked.is_empty() {
                return None;
            }
            if asked.iter().any(|p| p.sub_attr.is_none()) {
                return Some(value);
            }
            let subs: Vec<&str> = asked.iter().filter_map(|p| p.sub_attr.as_deref()).collect();
            return keep_sub_attributes(value, |name| subs.iter().any(|s| s.eq_ignore_ascii_case(name)));
        }
        if def.returned == Returned::Request {
            return None;
        }
        let excluded: Vec<&AttrPath> = self.excluded.iter().filter(|p| names(p, rt, schema, def)).collect();
        if excluded.iter().any(|p| p.sub_attr.is_none()) {
            return None;
        }
        let subs: Vec<&str> = excluded.iter().filter_map(|p| p.sub_attr.as_deref()).collect();
        if subs.is_empty() {
            return Some(value);
        }
        keep_sub_attributes(value, |name| !subs.iter().any(|s| s.eq_ignore_ascii_case(name)))
    }
}

/// Whether `path` names the attribute `def` of schema `schema` (`None`: the core schema).
fn names(path: &AttrPath, rt: &ResourceType, schema: Option<&str>, def: &AttributeDef) -> bool {
    if !path.name.eq_ignore_ascii_case(def.name) {
        return false;
    }
    match (&path.schema, schema) {
        (None, _) => true,
        (Some(urn), Some(s)) => urn.eq_ignore_ascii_case(s),
        (Some(urn), None) => urn.eq_ignore_ascii_case(rt.schema.id),
    }
}

fn keep_sub_attributes(value: Value, keep: impl Fn(&str) -> bool) -> Option<Value> {
    let filter_object = |v: Value| match v {
        Value::Object(fields) => {
            let kept: Map<String, Value> = fields.into_iter().filter(|(k, _)| keep(k)).collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other),
    };
    match value {
        Value::Array(items) => {
            let kept: Vec<Value> = items.into_iter().filter_map(filter_object).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => filter_object(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    fn sample() -> Map<String, Value> {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "1", "userName": "b", "displayName": "B",
            "name": {"givenName": "Bar", "familyName": "Jen"},
            "emails": [{"value": "b@x", "type": "work"}],
            ENTERPRISE_USER_SCHEMA: {"department": "R&D", "costCenter": "4"},
            "meta": {"resourceType": "User"}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn paths(list: &[&str]) -> Vec<AttrPath> {
        list.iter().map(|p| AttrPath::parse(p).unwrap()).collect()
    }

    #[test]
    fn attributes_keep_only_what_is_asked_and_always_returned() {
        let sel = Selection {
            attributes: paths(&["userName", "name.givenName", &format!("{ENTERPRISE_USER_SCHEMA}:department")]),
            excluded: vec![],
        };
        let out = Value::Object(sel.apply(&USER_RESOURCE, sample()));
        assert_eq!(
            out,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "1", "userName": "b", "name": {"givenName": "Bar"},
                ENTERPRISE_USER_SCHEMA: {"department": "R&D"}
            })
        );
    }

    #[test]
    fn excluded_attributes_drop_what_is_named_but_never_id() {
        let sel = Selection { attributes: vec![], excluded: paths(&["emails", "id", "name.familyName"]) };
        let out = sel.apply(&USER_RESOURCE, sample());
        assert!(out.contains_key("id"));
        assert!(!out.contains_key("emails"));
        assert_eq!(out["name"], json!({"givenName": "Bar"}));
    }

    #[test]
    fn includes_tells_whether_members_are_wanted() {
        let sel = Selection { attributes: vec![], excluded: paths(&["members"]) };
        assert!(!sel.includes(&GROUP_RESOURCE, "members"));
        assert!(Selection::default().includes(&GROUP_RESOURCE, "members"));
        let sel = Selection { attributes: paths(&["displayName"]), excluded: vec![] };
        assert!(!sel.includes(&GROUP_RESOURCE, "members"));
    }
}
