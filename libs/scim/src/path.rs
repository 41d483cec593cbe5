//! Attribute paths (RFC 7644 §3.10): `userName`, `name.givenName`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.

use std::fmt;

use crate::error::quoted;
use crate::schema::{AttributeDef, ResourceType, SchemaDef};
use crate::ScimError;

/// An attribute reference, optionally URN-qualified, optionally naming a sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN the path was qualified with, as written.
    pub schema: Option<String>,
    pub name: String,
    pub sub_attr: Option<String>,
}

/// An [`AttrPath`] resolved against a resource type's schemas.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedPath {
    /// The extension schema holding the attribute; `None` for core and common attributes.
    pub extension: Option<&'static SchemaDef>,
    pub attribute: &'static AttributeDef,
    pub sub_attribute: Option<&'static AttributeDef>,
}

impl ResolvedPath {
    /// The definition the path ends at: the sub-attribute if named, else the attribute.
    pub fn target(&self) -> &'static AttributeDef {
        self.sub_attribute.unwrap_or(self.attribute)
    }
}

impl AttrPath {
    pub fn new(name: impl Into<String>) -> Self {
        Self { schema: None, name: name.into(), sub_attr: None }
    }

    /// Parses `[URN ":"] ATTRNAME ["." SUBATTR]`.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let text = text.trim();
        let (schema, rest) = split_urn(text);
        let (name, sub_attr) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        if !is_attr_name(name) || sub_attr.is_some_and(|s| !is_attr_name(s)) {
            return Err(ScimError::invalid_path(format!("'{}' is not an attribute path", quoted(text))));
        }
        Ok(Self { schema: schema.map(str::to_owned), name: name.to_owned(), sub_attr: sub_attr.map(str::to_owned) })
    }

    /// Finds the attribute in the resource type. An unqualified name is looked up in the core
    /// schema first, then in the extensions (clients send `employeeNumber` bare).
    pub fn resolve(&self, resource: &ResourceType) -> Option<ResolvedPath> {
        let (extension, attribute) = match &self.schema {
            Some(urn) => match resource.extension_by_urn(urn) {
                Some(ext) => (Some(ext), ext.attribute(&self.name)?),
                None if resource.schema.id.eq_ignore_ascii_case(urn) => (None, resource.core_attribute(&self.name)?),
                None => return None,
            },
            None => match resource.core_attribute(&self.name) {
                Some(attr) => (None, attr),
                None => resource.extensions.iter().find_map(|ext| ext.attribute(&self.name).map(|a| (Some(*ext), a)))?,
            },
        };
        let sub_attribute = match &self.sub_attr {
            Some(sub) => Some(attribute.sub_attribute(sub)?),
            None => None,
        };
        Some(ResolvedPath { extension, attribute, sub_attribute })
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Splits a URN prefix off a path: the schema is everything before the last `:`.
pub(crate) fn split_urn(text: &str) -> (Option<&str>, &str) {
    // `get`, not slicing: the fourth byte may fall inside a multi-byte character.
    if text.len() > 4 && text.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("urn:")) {
        if let Some(i) = text.rfind(':') {
            return (Some(&text[..i]), &text[i + 1..]);
        }
    }
    (None, text)
}

/// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA; `$ref` is allowed too.
pub(crate) fn is_attr_name(name: &str) -> bool {
    let name = name.strip_prefix('$').unwrap_or(name);
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_RESOURCE};

    #[test]
    fn parses_plain_dotted_and_urn_paths() {
        assert_eq!(AttrPath::parse("userName").unwrap(), AttrPath::new("userName"));
        let dotted = AttrPath::parse("name.givenName").unwrap();
        assert_eq!(dotted.sub_attr.as_deref(), Some("givenName"));
        let urn = AttrPath::parse(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value")).unwrap();
        assert_eq!(urn.schema.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(urn.name, "manager");
        assert_eq!(urn.sub_attr.as_deref(), Some("value"));
    }

    #[test]
    fn rejects_what_is_not_a_path() {
        for bad in ["", "1abc", "name..x", "a b", "emails[type", "abcé"] {
            assert!(AttrPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_case_insensitively_and_into_extensions() {
        let p = AttrPath::parse("USERNAME").unwrap().resolve(&USER_RESOURCE).unwrap();
        assert_eq!(p.attribute.name, "userName");
        let p = AttrPath::parse("employeeNumber").unwrap().resolve(&USER_RESOURCE).unwrap();
        assert_eq!(p.extension.unwrap().id, ENTERPRISE_USER_SCHEMA);
        let p = AttrPath::parse("emails.VALUE").unwrap().resolve(&USER_RESOURCE).unwrap();
        assert_eq!(p.target().name, "value");
        assert!(AttrPath::parse("nope").unwrap().resolve(&USER_RESOURCE).is_none());
    }
}
