//! Runs of operations that amount to one, applied as one so that a PATCH costs one pass over
//! the resource rather than one per operation. IdPs send membership changes that way: Okta one
//! `remove` of `members[value eq "…"]` per member, Entra one `add` of `members` per batch.
//!
//! - consecutive `remove`s of `X[value eq "v"]` (same `X`) are one `remove` of `X` whose value
//!   lists the `v`s: both remove exactly the elements whose `value` equals one of them;
//! - consecutive `add`s of a whole multi-valued `X` without a `primary` sub-attribute are one
//!   `add` of their values together (with `primary`, which value ends up primary depends on
//!   the order the adds ran in, so those are not joined).

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{json, Value};

use super::request::{PatchOp, PatchOperation};
use crate::filter::{CompValue, CompareOp, Filter, PatchPath};
use crate::path::AttrPath;
use crate::schema::ResourceType;

/// The operations as runs: each a range of the request's operations and the one operation
/// that stands for them (borrowed when the run is a single operation).
pub(super) fn runs<'a>(operations: &'a [PatchOperation], resource: &ResourceType) -> Vec<(Range<usize>, Cow<'a, PatchOperation>)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < operations.len() {
        let kind = Joinable::of(&operations[start], resource);
        let mut end = start + 1;
        if let Some(kind) = &kind {
            while end < operations.len() && Joinable::of(&operations[end], resource).as_ref() == Some(kind) {
                end += 1;
            }
        }
        let joined = match kind {
            Some(kind) if end - start > 1 => Cow::Owned(kind.join(&operations[start..end])),
            _ => Cow::Borrowed(&operations[start]),
        };
        out.push((start..end, joined));
        start = end;
    }
    out
}

/// What makes operations joinable: the kind of run and the attribute it is on.
#[derive(PartialEq)]
enum Joinable<'a> {
    RemoveByValue(&'a AttrPath),
    AddWhole(&'a AttrPath),
}

impl<'a> Joinable<'a> {
    fn of(operation: &'a PatchOperation, resource: &ResourceType) -> Option<Self> {
        let path = operation.path.as_ref()?;
        if path.sub_attr.is_some() || path.attr.sub_attr.is_some() {
            return None;
        }
        let attr = path.attr.resolve(resource)?.attribute;
        if !attr.multi_valued {
            return None;
        }
        match (operation.op, &path.filter) {
            (PatchOp::Remove, Some(filter)) if attr.sub_attribute("value").is_some() && value_eq(filter).is_some() => {
                Some(Joinable::RemoveByValue(&path.attr))
            }
            (PatchOp::Add, None) if attr.sub_attribute("primary").is_none() && operation.value.is_some() => {
                Some(Joinable::AddWhole(&path.attr))
            }
            _ => None,
        }
    }

    fn join(&self, operations: &[PatchOperation]) -> PatchOperation {
        let (op, attr, value) = match self {
            Joinable::RemoveByValue(attr) => {
                let values = operations.iter().filter_map(|o| o.path.as_ref()?.filter.as_ref().and_then(value_eq));
                (PatchOp::Remove, attr, values.map(|v| json!({ "value": v })).collect())
            }
            Joinable::AddWhole(attr) => {
                let values = operations.iter().filter_map(|o| o.value.as_ref()).flat_map(|v| match v {
                    Value::Array(items) => items.clone(),
                    single => vec![single.clone()],
                });
                (PatchOp::Add, attr, values.collect())
            }
        };
        let path = PatchPath { attr: (*attr).clone(), filter: None, sub_attr: None };
        PatchOperation { op, path: Some(path), value: Some(Value::Array(value)) }
    }
}

/// `v` of a filter `value eq "v"`.
fn value_eq(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::String(v) }
            if path.schema.is_none() && path.sub_attr.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(v)
        }
        _ => None,
    }
}
