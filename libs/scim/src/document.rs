//! Canonical resource documents.
//!
//! A client's JSON becomes a [`Document`]: attribute names spelt as the schema spells them,
//! values of the declared types (Entra's `"False"` becomes `false`), a single object given for a
//! multi-valued attribute wrapped in an array, nulls and empty arrays removed, read-only and
//! write-only input dropped (`id`, `meta`, `groups`, `password`), unknown attributes and unknown
//! extension URNs ignored. Extension attributes are nested under their schema URN, as RFC 7643
//! lays them out. Wrong types and missing required attributes are `invalidValue`.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::limits::{self, MemberCount};
use crate::path::split_urn;
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceType, SchemaDef};
use crate::ScimError;

/// A validated, canonical resource document: what the service provider stores of a resource.
/// It holds no `id`, `meta`, `schemas` or derived attributes; those are added when rendered.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Document(Map<String, Value>);

impl Document {
    /// Parses a client's representation of a whole resource (POST and PUT bodies), within the
    /// limits of [`crate::limits`] that do not depend on settings.
    pub fn parse(input: &Value, resource: &'static ResourceType) -> Result<Self, ScimError> {
        let document = Self::build(input, resource)?;
        if let Some(members) = document.get("members") {
            MemberCount::default().add(members)?;
        }
        Ok(document)
    }

    /// Re-validates a document after it was edited as JSON (by a PATCH): its members were
    /// counted as the PATCH's operations were read.
    pub fn from_edited(object: Map<String, Value>, resource: &'static ResourceType) -> Result<Self, ScimError> {
        Self::build(&Value::Object(object), resource)
    }

    fn build(input: &Value, resource: &'static ResourceType) -> Result<Self, ScimError> {
        let Value::Object(object) = input else {
            return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
        };
        let mut builder = Builder::new(resource);
        for (key, value) in object {
            builder.put_top_level(key, value)?;
        }
        let document = builder.finish();
        document.check_required(resource)?;
        limits::check_document(&document.0)?;
        Ok(document)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// Sets a top-level attribute by its canonical name (the domain owns a few, like `active`).
    pub fn set(&mut self, name: &str, value: Value) {
        self.0.insert(name.to_owned(), value);
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name)
    }

    /// The `value` of every element of a multi-valued attribute (emails, aliases, members).
    pub fn values_of(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0.get(name).and_then(Value::as_array).into_iter().flatten().filter_map(|element| element.get("value").and_then(Value::as_str))
    }

    /// An attribute of an extension schema.
    pub fn extension_attribute(&self, schema: &str, name: &str) -> Option<&Value> {
        self.0.get(schema)?.get(name)
    }

    fn check_required(&self, resource: &ResourceType) -> Result<(), ScimError> {
        for attr in resource.schema.attributes.iter().filter(|a| a.required) {
            if !self.0.contains_key(attr.name) {
                return Err(ScimError::invalid_value(format!("the required attribute '{}' is missing", attr.name)));
            }
        }
        Ok(())
    }
}

/// Collects canonical attributes, then lays them out in schema order.
struct Builder {
    resource: &'static ResourceType,
    core: Map<String, Value>,
    extensions: Vec<(&'static SchemaDef, Map<String, Value>)>,
}

impl Builder {
    fn new(resource: &'static ResourceType) -> Self {
        Self { resource, core: Map::new(), extensions: Vec::new() }
    }

    fn put_top_level(&mut self, key: &str, value: &Value) -> Result<(), ScimError> {
        if key.eq_ignore_ascii_case("schemas") {
            return check_schemas(value);
        }
        if let Some(schema) = self.resource.schema_by_urn(key) {
            // `"urn:…:enterprise:2.0:User": { … }`: the extension's attributes as an object.
            let Value::Object(attrs) = value else {
                if value.is_null() {
                    return Ok(());
                }
                return Err(ScimError::invalid_value(format!("'{key}' must be an object of that schema's attributes")));
            };
            for (name, v) in attrs {
                self.put_in_schema(schema, name, v)?;
            }
            return Ok(());
        }
        match split_urn(key) {
            // `"urn:…:enterprise:2.0:User:employeeNumber": "E"` (Entra's path-less PATCH keys).
            (Some(urn), name) => match self.resource.schema_by_urn(urn) {
                Some(schema) => self.put_in_schema(schema, name, value),
                // Unknown extension URNs that carry no attributes we know are ignored (Entra's
                // ADSCIM group schema, custom Okta namespaces).
                None => Ok(()),
            },
            (None, name) => match self.resource.core_attribute(name) {
                Some(def) => self.put(None, def, value),
                // Unknown attributes are tolerated rather than failing a whole provisioning run.
                None => Ok(()),
            },
        }
    }

    fn put_in_schema(&mut self, schema: &'static SchemaDef, name: &str, value: &Value) -> Result<(), ScimError> {
        let is_core = std::ptr::eq(schema, self.resource.schema);
        let def = if is_core { self.resource.core_attribute(name) } else { schema.attribute(name) };
        match def {
            Some(def) => self.put((!is_core).then_some(schema), def, value),
            None => Ok(()),
        }
    }

    fn put(&mut self, extension: Option<&'static SchemaDef>, def: &'static AttributeDef, value: &Value) -> Result<(), ScimError> {
        let Some(value) = normalize_attribute(def, value)? else {
            return Ok(());
        };
        let target = match extension {
            None => &mut self.core,
            Some(schema) => match self.extensions.iter().position(|(s, _)| std::ptr::eq(*s, schema)) {
                Some(i) => &mut self.extensions[i].1,
                None => {
                    self.extensions.push((schema, Map::new()));
                    &mut self.extensions.last_mut().expect("just pushed").1
                }
            },
        };
        target.insert(def.name.to_owned(), value);
        Ok(())
    }

    fn finish(mut self) -> Document {
        let mut out = Map::new();
        let order = crate::schema::definition_order(self.resource);
        for name in order {
            if let Some(v) = self.core.remove(name) {
                out.insert(name.to_owned(), v);
            }
        }
        for ext in self.resource.extensions {
            if let Some((_, attrs)) = self.extensions.iter_mut().find(|(s, _)| std::ptr::eq(*s, *ext)) {
                let mut ordered = Map::new();
                for attr in ext.attributes {
                    if let Some(v) = attrs.remove(attr.name) {
                        ordered.insert(attr.name.to_owned(), v);
                    }
                }
                if !ordered.is_empty() {
                    out.insert(ext.id.to_owned(), Value::Object(ordered));
                }
            }
        }
        Document(out)
    }
}

fn check_schemas(value: &Value) -> Result<(), ScimError> {
    match value {
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
        Value::Null => Ok(()),
        _ => Err(ScimError::invalid_value("'schemas' must be an array of schema URNs")),
    }
}

/// The canonical form of one attribute's value, or `None` when it carries nothing to store.
pub fn normalize_attribute(def: &AttributeDef, value: &Value) -> Result<Option<Value>, ScimError> {
    if matches!(def.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
        return Ok(None);
    }
    if value.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        return normalize_single(def, value);
    }
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = normalize_single(def, item)? {
            out.push(v);
        }
    }
    keep_one_primary(&mut out);
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// RFC 7643 §2.4: `primary: true` appears no more than once; the first one stands.
fn keep_one_primary(items: &mut [Value]) {
    let mut seen = false;
    for item in items.iter_mut() {
        if let Some(primary) = item.get_mut("primary") {
            if *primary == Value::Bool(true) {
                if seen {
                    *primary = Value::Bool(false);
                }
                seen = true;
            }
        }
    }
}

/// The canonical form of one element of a multi-valued attribute (or of a single value).
pub fn normalize_element(def: &AttributeDef, value: &Value) -> Result<Option<Value>, ScimError> {
    normalize_single(def, value)
}

fn normalize_single(def: &AttributeDef, value: &Value) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong_type = || {
        ScimError::invalid_value(format!(
            "'{}' must be a {}{}",
            def.name,
            def.kind.as_str(),
            if def.multi_valued { " (or an array of them)" } else { "" }
        ))
    };
    let normalized = match def.kind {
        AttrType::Complex => {
            let Value::Object(fields) = value else {
                return Err(wrong_type());
            };
            let mut out = Map::new();
            for sub in def.sub_attributes {
                let given = fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(sub.name)).map(|(_, v)| v);
                if let Some(v) = given {
                    if let Some(v) = normalize_attribute(sub, v)? {
                        out.insert(sub.name.to_owned(), v);
                    }
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        AttrType::Boolean => Value::Bool(parse_bool(value).ok_or_else(wrong_type)?),
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| wrong_type())?,
            _ => return Err(wrong_type()),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            Value::String(s) => {
                s.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number).ok_or_else(wrong_type)?
            }
            _ => return Err(wrong_type()),
        },
        AttrType::DateTime => {
            let text = value.as_str().ok_or_else(wrong_type)?;
            OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| ScimError::invalid_value(format!("'{}' must be an RFC 3339 date-time", def.name)))?;
            value.clone()
        }
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            limits::check_storable(def.name, value.as_str().ok_or_else(wrong_type)?)?;
            value.clone()
        }
    };
    Ok(Some(normalized))
}

/// A boolean, or Entra ID's string spelling of one (`"True"`, `"False"`).
pub fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    fn user(input: Value) -> Result<Document, ScimError> {
        Document::parse(&input, &USER_RESOURCE)
    }

    #[test]
    fn canonicalises_names_types_and_drops_read_only_and_password() {
        let doc = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "client-chosen", "meta": {"created": "x"},
            "USERNAME": "bjensen@example.com",
            "Active": "False",
            "password": "hunter2",
            "groups": [],
            "name": {"GivenName": "Barbara", "familyName": null},
            "emails": {"value": "b@example.com", "type": "work"},
            "favouriteColour": "blue"
        }))
        .unwrap();
        assert_eq!(
            Value::Object(doc.into_map()),
            json!({
                "userName": "bjensen@example.com",
                "name": {"givenName": "Barbara"},
                "active": false,
                "emails": [{"value": "b@example.com", "type": "work"}]
            })
        );
    }

    #[test]
    fn nests_extension_attributes_under_their_urn() {
        let doc = user(json!({
            "userName": "a",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "E1",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"department": "R&D"}
        }))
        .unwrap();
        assert_eq!(doc.get(ENTERPRISE_USER_SCHEMA).unwrap(), &json!({"employeeNumber": "E1", "department": "R&D"}));
    }

    #[test]
    fn missing_required_attribute_is_invalid_value() {
        let err = user(json!({"displayName": "x"})).unwrap_err();
        assert_eq!((err.status, err.scim_type), (400, Some(crate::ScimType::InvalidValue)));
        assert!(err.detail.contains("userName"));
    }

    #[test]
    fn wrong_types_are_invalid_value() {
        for bad in [
            json!({"userName": 7}),
            json!({"userName": "a", "active": "maybe"}),
            json!({"userName": "a", "name": "Barbara"}),
            json!({"userName": "a", "emails": ["b@example.com"]}),
        ] {
            let err = user(bad.clone()).unwrap_err();
            assert_eq!(err.scim_type, Some(crate::ScimType::InvalidValue), "{bad}");
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_invalid_syntax() {
        let err = user(json!(["userName"])).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidSyntax));
    }

    #[test]
    fn only_the_first_primary_stays_primary() {
        let doc = user(json!({"userName": "a", "emails": [
            {"value": "1@x", "primary": true}, {"value": "2@x", "primary": "True"}
        ]}))
        .unwrap();
        assert_eq!(doc.get("emails").unwrap()[1]["primary"], json!(false));
    }

    #[test]
    fn groups_accept_unknown_extension_urns_and_members() {
        let doc = Document::parse(
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "displayName": "Eng",
                "members": [{"value": "u1", "display": "x", "$ref": null}]
            }),
            &GROUP_RESOURCE,
        )
        .unwrap();
        assert_eq!(doc.get("members").unwrap(), &json!([{"value": "u1"}]));
    }
}
