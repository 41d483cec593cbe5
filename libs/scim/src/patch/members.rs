//! The members a group PATCH names, so that it can be decided knowing, of the group's members,
//! only whether those are among them (docs/adr/0066-group-commands-resume-from-the-group-row.md).

use serde_json::Value;

use super::request::{PatchOp, PatchOperation, PatchRequest};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::limits::MemberCount;

impl PatchRequest {
    /// The `value` of every member the operations name, when each operation on `members` names
    /// the members it touches: an add (path `members`, or `members` in a path-less value), a
    /// remove with values (Entra ID), a remove by `members[value eq "…"]` (Okta; `or`-ed
    /// equalities too). `None` when one does not (a replace of the list, a remove of every
    /// member, a filter on anything but the value, a sub-attribute): deciding it needs every
    /// member. Values that are not strings are left to [`PatchRequest::apply`] to refuse.
    pub fn named_members(&self) -> Option<Vec<String>> {
        let mut named = Vec::new();
        for operation in &self.operations {
            operation.name_members(&mut named)?;
        }
        Some(named)
    }

    /// The `value` of every member an add or a replace puts into the list (path `members`, or
    /// `members` in a path-less value): the members a group takes in, where a parent routes
    /// users by the groups that name them (ADR 0074). A removal takes nobody in.
    pub fn added_members(&self) -> Vec<String> {
        let mut added = Vec::new();
        for operation in self.operations.iter().filter(|o| o.op != PatchOp::Remove) {
            match (&operation.path, &operation.value) {
                (None, Some(Value::Object(attributes))) => {
                    attributes.iter().filter(|(name, _)| MemberCount::is_members(name)).for_each(|(_, value)| values_of(value, &mut added))
                }
                (Some(path), Some(value))
                    if MemberCount::is_members(&path.attr.name)
                        && path.filter.is_none()
                        && path.attr.sub_attr.is_none()
                        && path.sub_attr.is_none() =>
                {
                    values_of(value, &mut added)
                }
                _ => {}
            }
        }
        added
    }
}

impl PatchOperation {
    fn name_members(&self, named: &mut Vec<String>) -> Option<()> {
        let Some(path) = &self.path else {
            let attributes = self.value.as_ref().and_then(Value::as_object)?;
            for (_, value) in attributes.iter().filter(|(name, _)| MemberCount::is_members(name)) {
                if self.op != PatchOp::Add {
                    return None;
                }
                values_of(value, named);
            }
            return Some(());
        };
        if !MemberCount::is_members(&path.attr.name) {
            return Some(());
        }
        if path.attr.sub_attr.is_some() || path.sub_attr.is_some() {
            return None;
        }
        match (self.op, &path.filter, &self.value) {
            (PatchOp::Add, None, Some(value)) | (PatchOp::Remove, None, Some(value)) => values_of(value, named),
            (PatchOp::Remove, Some(filter), _) => values_compared(filter, named)?,
            _ => return None,
        }
        Some(())
    }
}

/// The `value`s of a member list (or of one member) given as an operation's value.
fn values_of(value: &Value, named: &mut Vec<String>) {
    let elements = match value {
        Value::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    for element in elements {
        let text = match element {
            Value::Object(fields) => fields.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")).and_then(|(_, v)| v.as_str()),
            scalar => scalar.as_str(),
        };
        named.extend(text.map(str::to_owned));
    }
}

/// The values a filter of `value eq "…"` terms, `or`-ed, compares with; `None` for any other
/// filter.
fn values_compared(filter: &Filter, named: &mut Vec<String>) -> Option<()> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::String(text) }
            if path.sub_attr.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            named.push(text.clone());
            Some(())
        }
        Filter::Or(a, b) => {
            values_compared(a, named)?;
            values_compared(b, named)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn named(operations: Value) -> Option<Vec<String>> {
        PatchRequest::parse(&json!({ "Operations": operations })).unwrap().named_members()
    }

    #[test]
    fn okta_and_entra_member_operations_name_their_members() {
        assert_eq!(
            named(json!([{"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b", "display": "B"}]}])),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(named(json!([{"op": "remove", "path": "members[value eq \"a\"]"}])), Some(vec!["a".to_owned()]));
        assert_eq!(
            named(json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}])),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(named(json!([{"Op": "Remove", "Path": "members", "Value": [{"Value": "a"}]}])), Some(vec!["a".to_owned()]));
        assert_eq!(
            named(json!([{"op": "replace", "value": {"displayName": "x"}}, {"op": "add", "value": {"members": [{"value": "c"}]}}])),
            Some(vec!["c".to_owned()])
        );
        assert_eq!(named(json!([{"op": "replace", "path": "displayName", "value": "x"}])), Some(vec![]));
    }

    #[test]
    fn adds_and_replaces_take_members_in_and_removals_do_not() {
        let added = |operations: Value| PatchRequest::parse(&json!({ "Operations": operations })).unwrap().added_members();
        assert_eq!(
            added(json!([
                {"op": "add", "path": "members", "value": [{"value": "a"}]},
                {"op": "replace", "path": "members", "value": [{"value": "b"}]},
                {"op": "add", "value": {"members": [{"value": "c"}], "displayName": "x"}},
                {"op": "remove", "path": "members", "value": [{"value": "d"}]},
                {"op": "remove", "path": "members[value eq \"e\"]"},
                {"op": "replace", "path": "displayName", "value": "y"}
            ])),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn operations_that_touch_members_they_do_not_name_need_every_member() {
        for operations in [
            json!([{"op": "replace", "path": "members", "value": [{"value": "a"}]}]),
            json!([{"op": "remove", "path": "members"}]),
            json!([{"op": "remove", "path": "members[type eq \"User\"]"}]),
            json!([{"op": "remove", "path": "members[value ne \"a\"]"}]),
            json!([{"op": "replace", "path": "members[value eq \"a\"].display", "value": "A"}]),
            json!([{"op": "replace", "value": {"members": [{"value": "a"}]}}]),
            json!([{"op": "add", "path": "members[value eq \"a\"]", "value": {"display": "A"}}]),
        ] {
            assert_eq!(named(operations.clone()), None, "{operations}");
        }
    }
}
