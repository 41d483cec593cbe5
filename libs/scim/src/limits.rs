//! The bounds on what one request may ask, so that its work is linear in its input and
//! bounded, and what it writes fits the stores and the event stream. Each refusal names its
//! limit; docs/scim.md lists them.
//!
//! - Values of one multi-valued attribute (`members` aside): [`MAX_VALUES_PER_ATTRIBUTE`].
//! - Members named by one request (a POST or PUT body, or a PATCH's operations together):
//!   [`MAX_MEMBERS_PER_REQUEST`], which keeps each membership event well under NATS's default
//!   1 MiB payload.
//! - Operations of one PATCH: [`MAX_PATCH_OPERATIONS`].
//! - Index keys (userName, externalId, displayName, emails and aliases values):
//!   [`MAX_KEY_BYTES`], within what a PostgreSQL B-tree entry holds even after case-folding.
//! - Comparisons on attributes without an index in one filter: [`MAX_UNINDEXED_FILTER_TERMS`].
//! - A resource's serialized size, `members` aside: [`Limits::max_resource_bytes`], a setting.
//! - NUL characters, which PostgreSQL's text cannot hold, in no string at all.

use std::io;

use serde_json::{Map, Value};

use crate::document::Document;
use crate::filter::{CompValue, Filter};
use crate::path::AttrPath;
use crate::schema::ResourceType;
use crate::ScimError;

pub const MAX_VALUES_PER_ATTRIBUTE: usize = 1_000;
pub const MAX_MEMBERS_PER_REQUEST: usize = 5_000;
pub const MAX_PATCH_OPERATIONS: usize = 1_000;
pub const MAX_KEY_BYTES: usize = 1_024;
pub const MAX_UNINDEXED_FILTER_TERMS: usize = 10;
pub const DEFAULT_MAX_RESOURCE_BYTES: usize = 256 * 1024;

/// The group attribute that may grow past [`MAX_VALUES_PER_ATTRIBUTE`]: it is bounded per
/// request instead, and kept out of the resource's size.
const MEMBERS: &str = "members";

/// Top-level attributes whose values are index keys, and multi-valued ones whose `value`s are.
const KEY_ATTRIBUTES: [&str; 3] = ["userName", "externalId", "displayName"];
const KEY_VALUE_ATTRIBUTES: [&str; 2] = ["emails", "aliases"];

/// The limits that are settings rather than constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest serialized resource, `members` aside (413 beyond it).
    pub max_resource_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_resource_bytes: DEFAULT_MAX_RESOURCE_BYTES }
    }
}

impl Limits {
    /// A resource as it would be stored: no larger than `max_resource_bytes` serialized.
    pub fn check_size(&self, document: &Document) -> Result<(), ScimError> {
        let mut counter = ByteCounter(0);
        for (name, value) in document.as_map().iter().filter(|(name, _)| *name != MEMBERS) {
            counter.0 += name.len() + 4;
            serde_json::to_writer(&mut counter, value).map_err(|e| ScimError::internal(format!("measuring a resource: {e}")))?;
            if counter.0 > self.max_resource_bytes {
                return Err(ScimError::payload_too_large(format!(
                    "the resource is larger than {} bytes serialized (the resource size limit)",
                    self.max_resource_bytes
                )));
            }
        }
        Ok(())
    }
}

struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A string value the stores can keep: no NUL character.
pub(crate) fn check_storable(name: &str, text: &str) -> Result<(), ScimError> {
    if text.contains('\0') {
        return Err(ScimError::invalid_value(format!("'{name}' contains a NUL character, which cannot be stored")));
    }
    Ok(())
}

/// A canonical document within the per-attribute limits: index keys no longer than
/// [`MAX_KEY_BYTES`], multi-valued attributes (`members` aside) of at most
/// [`MAX_VALUES_PER_ATTRIBUTE`] values.
pub(crate) fn check_document(document: &Map<String, Value>) -> Result<(), ScimError> {
    for name in KEY_ATTRIBUTES {
        if let Some(text) = document.get(name).and_then(Value::as_str) {
            check_key(name, text)?;
        }
    }
    for name in KEY_VALUE_ATTRIBUTES {
        for element in document.get(name).and_then(Value::as_array).into_iter().flatten() {
            if let Some(text) = element.get("value").and_then(Value::as_str) {
                check_key(name, text)?;
            }
        }
    }
    let extensions = document.values().filter_map(Value::as_object);
    for (name, value) in document.iter().chain(extensions.flatten()) {
        check_value_count(name, value)?;
    }
    Ok(())
}

/// One multi-valued attribute within [`MAX_VALUES_PER_ATTRIBUTE`] (`members` aside).
pub(crate) fn check_value_count(name: &str, value: &Value) -> Result<(), ScimError> {
    match value {
        Value::Array(items) if !MemberCount::is_members(name) && items.len() > MAX_VALUES_PER_ATTRIBUTE => Err(ScimError::invalid_value(
            format!("'{name}' has {} values; at most {MAX_VALUES_PER_ATTRIBUTE} values per multi-valued attribute", items.len()),
        )),
        _ => Ok(()),
    }
}

fn check_key(name: &str, text: &str) -> Result<(), ScimError> {
    if text.len() > MAX_KEY_BYTES {
        return Err(ScimError::invalid_value(format!(
            "'{name}' is longer than {MAX_KEY_BYTES} bytes (the limit for values that are looked up)"
        )));
    }
    Ok(())
}

/// Members named by one request, counted as its parts are read.
#[derive(Debug, Default)]
pub(crate) struct MemberCount(usize);

impl MemberCount {
    /// Counts the members of `value`, the value given for `members`.
    pub(crate) fn add(&mut self, value: &Value) -> Result<(), ScimError> {
        self.0 += match value {
            Value::Array(items) => items.len(),
            _ => 1,
        };
        if self.0 > MAX_MEMBERS_PER_REQUEST {
            return Err(ScimError::invalid_value(format!(
                "the request names more than {MAX_MEMBERS_PER_REQUEST} members (the limit per request)"
            )));
        }
        Ok(())
    }

    /// Counts `members` wherever an object of attributes holds it.
    pub(crate) fn add_in(&mut self, attributes: &Map<String, Value>) -> Result<(), ScimError> {
        for (_, value) in attributes.iter().filter(|(name, _)| name.eq_ignore_ascii_case(MEMBERS)) {
            self.add(value)?;
        }
        Ok(())
    }

    pub(crate) fn is_members(name: &str) -> bool {
        name.eq_ignore_ascii_case(MEMBERS)
    }
}

/// A filter the stores can run within bounds: at most [`MAX_UNINDEXED_FILTER_TERMS`]
/// comparisons on attributes without an index (each one is a scan of the tenant's resources),
/// and no NUL character in a value (`invalidFilter`).
pub fn check_filter(filter: &Filter, resource: &ResourceType) -> Result<(), ScimError> {
    let mut unindexed = 0;
    walk(filter, resource, None, &mut unindexed)?;
    if unindexed > MAX_UNINDEXED_FILTER_TERMS {
        return Err(ScimError::too_many(format!(
            "the filter has {unindexed} comparisons on attributes without an index; at most {MAX_UNINDEXED_FILTER_TERMS}"
        )));
    }
    Ok(())
}

/// `within`: the indexed-ness of the attribute whose value filter this is.
fn walk(filter: &Filter, resource: &ResourceType, within: Option<bool>, unindexed: &mut usize) -> Result<(), ScimError> {
    let mut term = |path: &AttrPath| {
        if !within.unwrap_or_else(|| is_indexed(path, resource)) {
            *unindexed += 1;
        }
    };
    match filter {
        Filter::Compare { path, value, .. } => {
            if matches!(value, CompValue::String(s) if s.contains('\0')) {
                return Err(ScimError::invalid_filter("a filter value contains a NUL character"));
            }
            term(path);
            Ok(())
        }
        Filter::Present(path) => {
            term(path);
            Ok(())
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            walk(a, resource, within, unindexed)?;
            walk(b, resource, within, unindexed)
        }
        Filter::Not(inner) => walk(inner, resource, within, unindexed),
        Filter::ValuePath { path, filter } => walk(filter, resource, Some(is_indexed(path, resource)), unindexed),
    }
}

/// Whether the stores answer comparisons on `path` from an index (docs/architecture.md).
fn is_indexed(path: &AttrPath, resource: &ResourceType) -> bool {
    let Some(resolved) = path.resolve(resource) else { return false };
    if resolved.extension.is_some() {
        return false;
    }
    let name = resolved.attribute.name;
    match resource.name {
        "User" => matches!(name, "id" | "externalId" | "meta" | "userName" | "emails" | "aliases"),
        _ => matches!(name, "id" | "externalId" | "meta" | "displayName" | "members"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use crate::ScimType;
    use serde_json::json;

    fn filter(text: &str) -> Filter {
        Filter::parse(text).unwrap()
    }

    #[test]
    fn unindexed_filter_terms_are_bounded_and_indexed_ones_are_not() {
        let titles = (0..=MAX_UNINDEXED_FILTER_TERMS).map(|i| format!("title co \"{i}\"")).collect::<Vec<_>>().join(" or ");
        let err = check_filter(&filter(&titles), &USER_RESOURCE).unwrap_err();
        assert_eq!((err.status, err.scim_type), (400, Some(ScimType::TooMany)));
        assert!(err.detail.contains(&MAX_UNINDEXED_FILTER_TERMS.to_string()), "{}", err.detail);

        let names = (0..30).map(|i| format!("userName eq \"u{i}\" or emails[type eq \"work\" and value co \"{i}\"]")).collect::<Vec<_>>();
        assert!(check_filter(&filter(&names.join(" or ")), &USER_RESOURCE).is_ok());
        let members = (0..50).map(|i| format!("members.value eq \"{i}\"")).collect::<Vec<_>>().join(" or ");
        assert!(check_filter(&filter(&members), &GROUP_RESOURCE).is_ok());
    }

    #[test]
    fn a_nul_in_a_filter_value_is_invalid_filter() {
        let err = check_filter(&filter("userName eq \"a\\u0000b\""), &USER_RESOURCE).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
    }

    #[test]
    fn resource_size_leaves_members_out_and_names_the_limit() {
        let limits = Limits { max_resource_bytes: 100 };
        let members: Vec<Value> = (0..50).map(|i| json!({"value": format!("{i:036}")})).collect();
        let group = Document::parse(&json!({"displayName": "Eng", "members": members}), &GROUP_RESOURCE).unwrap();
        assert!(limits.check_size(&group).is_ok());
        let user = Document::parse(&json!({"userName": "a", "title": "x".repeat(100)}), &USER_RESOURCE).unwrap();
        let err = limits.check_size(&user).unwrap_err();
        assert_eq!(err.status, 413);
        assert!(err.detail.contains("100 bytes"), "{}", err.detail);
    }
}
