//! Evaluating a filter against a resource, or against one element of a multi-valued attribute
//! (PATCH value filters such as `members[value eq "…"]`).

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::ast::{CompValue, CompareOp, Filter};
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, ResourceType};

impl Filter {
    /// Whether `resource` (as rendered to clients: core attributes top-level, extension
    /// attributes under their URN) matches.
    pub fn matches(&self, resource: &Value, rt: &ResourceType) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource, rt) && b.matches(resource, rt),
            Filter::Or(a, b) => a.matches(resource, rt) || b.matches(resource, rt),
            Filter::Not(inner) => !inner.matches(resource, rt),
            Filter::Present(path) => candidates(resource, rt, path).is_some_and(|(_, values)| values.iter().any(|v| present(v))),
            Filter::Compare { path, op, value } => {
                if is_schemas(path) {
                    let urns = resource.get("schemas").and_then(Value::as_array).cloned().unwrap_or_default();
                    let schemas_def = AttributeDef::string("schemas", "");
                    return any_compares(&schemas_def, *op, value, urns.iter());
                }
                match candidates(resource, rt, path) {
                    Some((def, values)) => any_compares(def, *op, value, values.iter().copied()),
                    None => *op == CompareOp::Ne || (*op == CompareOp::Eq && *value == CompValue::Null),
                }
            }
            Filter::ValuePath { path, filter } => {
                let Some(resolved) = path.resolve(rt) else { return false };
                attribute_value(resource, rt, path)
                    .map(elements)
                    .unwrap_or_default()
                    .into_iter()
                    .any(|element| filter.matches_element(element, resolved.attribute))
            }
        }
    }

    /// Whether one element of the multi-valued attribute `attr` matches; paths in the filter
    /// are `attr`'s sub-attributes.
    pub fn matches_element(&self, element: &Value, attr: &AttributeDef) -> bool {
        match self {
            Filter::And(a, b) => a.matches_element(element, attr) && b.matches_element(element, attr),
            Filter::Or(a, b) => a.matches_element(element, attr) || b.matches_element(element, attr),
            Filter::Not(inner) => !inner.matches_element(element, attr),
            Filter::Present(path) => element_field(element, attr, path).is_some_and(|(_, v)| present(v)),
            Filter::Compare { path, op, value } => match element_field(element, attr, path) {
                Some((def, v)) => any_compares(def, *op, value, std::iter::once(v)),
                None => *op == CompareOp::Ne || (*op == CompareOp::Eq && *value == CompValue::Null),
            },
            Filter::ValuePath { .. } => false,
        }
    }
}

fn is_schemas(path: &AttrPath) -> bool {
    path.schema.is_none() && path.sub_attr.is_none() && path.name.eq_ignore_ascii_case("schemas")
}

/// A member of a JSON object, matched case-insensitively.
fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn attribute_value<'a>(resource: &'a Value, rt: &ResourceType, path: &AttrPath) -> Option<&'a Value> {
    let resolved = path.resolve(rt)?;
    let container = match resolved.extension {
        Some(ext) => member(resource, ext.id)?,
        None => resource,
    };
    member(container, resolved.attribute.name).filter(|v| !v.is_null())
}

fn elements(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The values a path compares, and their definition: every element's sub-attribute for a
/// multi-valued attribute (a bare complex one compares its `value`).
fn candidates<'a>(resource: &'a Value, rt: &ResourceType, path: &AttrPath) -> Option<(&'static AttributeDef, Vec<&'a Value>)> {
    let resolved = path.resolve(rt)?;
    let attr = resolved.attribute;
    let value = attribute_value(resource, rt, path)?;
    let sub = match resolved.sub_attribute {
        Some(sub) => Some(sub),
        None if attr.kind == AttrType::Complex => attr.sub_attribute("value"),
        None => None,
    };
    let values: Vec<&Value> = match sub {
        Some(sub) => elements(value).into_iter().filter_map(|e| member(e, sub.name)).collect(),
        None => elements(value),
    };
    Some((sub.unwrap_or(attr), values))
}

fn element_field<'a, 'd>(element: &'a Value, attr: &'d AttributeDef, path: &AttrPath) -> Option<(&'d AttributeDef, &'a Value)> {
    if attr.kind != AttrType::Complex {
        // A multi-valued simple attribute: its elements are the values themselves.
        return path.name.eq_ignore_ascii_case("value").then_some((attr, element));
    }
    let sub = attr.sub_attribute(&path.name)?;
    member(element, sub.name).filter(|v| !v.is_null()).map(|v| (sub, v))
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn any_compares<'a>(def: &AttributeDef, op: CompareOp, expected: &CompValue, mut actual: impl Iterator<Item = &'a Value>) -> bool {
    if op == CompareOp::Ne {
        return !actual.any(|v| compares(def, CompareOp::Eq, expected, v));
    }
    actual.any(|v| compares(def, op, expected, v))
}

fn compares(def: &AttributeDef, op: CompareOp, expected: &CompValue, actual: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (expected, actual) {
        (CompValue::Null, v) => return matches!(op, CompareOp::Eq) == v.is_null(),
        (CompValue::Bool(b), v) => {
            let actual = crate::document::parse_bool(v);
            return match op {
                CompareOp::Eq => actual == Some(*b),
                _ => false,
            };
        }
        (CompValue::Number(n), Value::Number(m)) => m.as_f64().zip(n.as_f64()).and_then(|(m, n)| m.partial_cmp(&n)),
        (CompValue::String(s), Value::String(a)) if def.kind == AttrType::DateTime => {
            match (OffsetDateTime::parse(a, &Rfc3339), OffsetDateTime::parse(s, &Rfc3339)) {
                (Ok(a), Ok(s)) => Some(a.cmp(&s)),
                _ => None,
            }
        }
        (CompValue::String(s), Value::String(a)) => {
            let (a, s) = if def.case_exact { (a.clone(), s.clone()) } else { (a.to_lowercase(), s.to_lowercase()) };
            return match op {
                CompareOp::Eq => a == s,
                CompareOp::Ne => a != s,
                CompareOp::Co => a.contains(&s),
                CompareOp::Sw => a.starts_with(&s),
                CompareOp::Ew => a.ends_with(&s),
                CompareOp::Gt => a > s,
                CompareOp::Ge => a >= s,
                CompareOp::Lt => a < s,
                CompareOp::Le => a <= s,
            };
        }
        (CompValue::String(s), Value::Bool(b)) => {
            return op == CompareOp::Eq && crate::document::parse_bool(&Value::String(s.clone())) == Some(*b)
        }
        _ => None,
    };
    let Some(ordering) = ordering else { return false };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
