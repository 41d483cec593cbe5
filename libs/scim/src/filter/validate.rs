//! Checking a filter against a resource type before it is run.

use super::ast::{CompValue, CompareOp, Filter};
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, ResourceType};
use crate::ScimError;

impl Filter {
    /// Every path names an attribute of `resource`; operators fit the attribute's type.
    pub fn validate(&self, resource: &ResourceType) -> Result<(), ScimError> {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.validate(resource)?;
                b.validate(resource)
            }
            Filter::Not(inner) => inner.validate(resource),
            Filter::Present(path) => resolve(path, resource).map(|_| ()),
            Filter::Compare { path, op, value } => {
                if path.schema.is_none() && path.name.eq_ignore_ascii_case("schemas") {
                    return Ok(());
                }
                check_operator(resolve(path, resource)?, *op, value, path)
            }
            Filter::ValuePath { path, filter } => {
                let attr = resolve(path, resource)?;
                if !attr.multi_valued {
                    return Err(ScimError::invalid_filter(format!("'{path}' is not multi-valued and takes no value filter")));
                }
                filter.validate_within(attr)
            }
        }
    }

    fn validate_within(&self, attr: &AttributeDef) -> Result<(), ScimError> {
        let sub = |path: &AttrPath| -> Result<&AttributeDef, ScimError> {
            if attr.kind != AttrType::Complex && path.name.eq_ignore_ascii_case("value") {
                return Ok(attr);
            }
            attr.sub_attribute(&path.name)
                .filter(|_| path.schema.is_none() && path.sub_attr.is_none())
                .ok_or_else(|| ScimError::invalid_filter(format!("'{path}' is not a sub-attribute of '{}'", attr.name)))
        };
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.validate_within(attr)?;
                b.validate_within(attr)
            }
            Filter::Not(inner) => inner.validate_within(attr),
            Filter::Present(path) => sub(path).map(|_| ()),
            Filter::Compare { path, op, value } => check_operator(sub(path)?, *op, value, path),
            Filter::ValuePath { .. } => Err(ScimError::invalid_filter("value filters cannot nest")),
        }
    }
}

fn resolve(path: &AttrPath, resource: &ResourceType) -> Result<&'static AttributeDef, ScimError> {
    path.resolve(resource)
        .map(|r| r.target())
        .ok_or_else(|| ScimError::invalid_filter(format!("'{path}' is not an attribute of {}", resource.name)))
}

fn check_operator(def: &AttributeDef, op: CompareOp, value: &CompValue, path: &AttrPath) -> Result<(), ScimError> {
    let ordering = matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le);
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    // A bare complex attribute compares its `value` sub-attribute (`emails co "x"`).
    let def = match def.kind {
        AttrType::Complex => def
            .sub_attribute("value")
            .ok_or_else(|| ScimError::invalid_filter(format!("'{path}' is a complex attribute; name one of its sub-attributes")))?,
        _ => def,
    };
    if def.kind == AttrType::Boolean && (ordering || substring) {
        return Err(ScimError::invalid_filter(format!("'{path}' is a boolean: only eq, ne and pr apply")));
    }
    if substring && !matches!(value, CompValue::String(_)) {
        return Err(ScimError::invalid_filter(format!("co, sw and ew compare '{path}' with a string")));
    }
    if ordering && matches!(value, CompValue::Null | CompValue::Bool(_)) {
        return Err(ScimError::invalid_filter(format!("gt, ge, lt and le need a string, number or dateTime for '{path}'")));
    }
    Ok(())
}
