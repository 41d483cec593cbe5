//! The PatchOp message.

use serde_json::Value;

use crate::filter::PatchPath;
use crate::limits::{self, Limits, MemberCount, MAX_PATCH_OPERATIONS};
use crate::ScimError;

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOp,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
    /// The limits the patched resource must stay within.
    pub limits: Limits,
}

impl PatchRequest {
    /// Parses a PatchOp body. Structural words (`op` values, member names) are matched
    /// case-insensitively, as Entra ID capitalises them.
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        let Value::Object(fields) = body else {
            return Err(ScimError::invalid_syntax("a PATCH body must be a JSON object"));
        };
        if let Some(schemas) = member(fields, "schemas") {
            let names_patch_op =
                schemas.as_array().is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_SCHEMA))));
            if !names_patch_op {
                return Err(ScimError::invalid_syntax(format!("a PATCH body's schemas must be [\"{PATCH_OP_SCHEMA}\"]")));
            }
        }
        let Some(Value::Array(raw_ops)) = member(fields, "Operations") else {
            return Err(ScimError::invalid_syntax("a PATCH body needs an 'Operations' array"));
        };
        if raw_ops.is_empty() {
            return Err(ScimError::invalid_syntax("'Operations' is empty"));
        }
        if raw_ops.len() > MAX_PATCH_OPERATIONS {
            return Err(ScimError::invalid_value(format!(
                "the request has {} operations; at most {MAX_PATCH_OPERATIONS} per PATCH",
                raw_ops.len()
            )));
        }
        let mut members = MemberCount::default();
        let operations = raw_ops
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                PatchOperation::parse(raw).and_then(|op| op.check_limits(&mut members).map(|()| op)).map_err(|mut e| {
                    e.detail = format!("operation {}: {}", i + 1, e.detail);
                    e
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { operations, limits: Limits::default() })
    }

    /// The request, checked against `limits` (the settings') instead of the defaults.
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }
}

impl PatchOperation {
    fn parse(raw: &Value) -> Result<Self, ScimError> {
        let Value::Object(fields) = raw else {
            return Err(ScimError::invalid_syntax("an operation must be a JSON object"));
        };
        let op = match member(fields, "op").and_then(Value::as_str) {
            Some(op) if op.eq_ignore_ascii_case("add") => PatchOp::Add,
            Some(op) if op.eq_ignore_ascii_case("remove") => PatchOp::Remove,
            Some(op) if op.eq_ignore_ascii_case("replace") => PatchOp::Replace,
            Some(other) => return Err(ScimError::invalid_syntax(format!("'{other}' is not a PATCH op (add, remove, replace)"))),
            None => return Err(ScimError::invalid_syntax("an operation needs an 'op'")),
        };
        let path = match member(fields, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.trim().is_empty() => None,
            Some(Value::String(p)) => Some(PatchPath::parse(p)?),
            Some(_) => return Err(ScimError::invalid_path("'path' must be a string")),
        };
        let value = member(fields, "value").filter(|v| !v.is_null()).cloned();
        match (op, &path, &value) {
            (PatchOp::Remove, None, _) => Err(ScimError::no_target("a remove operation needs a 'path'")),
            (PatchOp::Add | PatchOp::Replace, _, None) => Err(ScimError::invalid_syntax("an add or replace operation needs a 'value'")),
            (PatchOp::Add | PatchOp::Replace, None, Some(v)) if !v.is_object() => {
                Err(ScimError::invalid_syntax("an operation without a 'path' needs an object 'value'"))
            }
            _ => Ok(Self { op, path, value }),
        }
    }
}

impl PatchOperation {
    /// The values this operation gives stay within the per-attribute limits, and its members
    /// count towards the request's.
    fn check_limits(&self, members: &mut MemberCount) -> Result<(), ScimError> {
        let Some(value) = &self.value else { return Ok(()) };
        match &self.path {
            Some(path) if MemberCount::is_members(&path.attr.name) => members.add(value),
            Some(path) => limits::check_value_count(&path.attr.name, value),
            None => {
                let Value::Object(attributes) = value else { return Ok(()) };
                members.add_in(attributes)?;
                attributes.iter().try_for_each(|(name, v)| limits::check_value_count(name, v))
            }
        }
    }
}

fn member<'a>(fields: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScimType;
    use serde_json::json;

    #[test]
    fn accepts_entra_capitalised_ops_and_operation_member_case() {
        let req = PatchRequest::parse(&json!({
            "schemas": [PATCH_OP_SCHEMA],
            "operations": [{"Op": "Replace", "Path": "active", "Value": "False"}]
        }))
        .unwrap();
        assert_eq!(req.operations[0].op, PatchOp::Replace);
        assert_eq!(req.operations[0].value, Some(json!("False")));
    }

    #[test]
    fn refusals_carry_the_right_scim_type() {
        let cases = [
            (json!({"Operations": []}), ScimType::InvalidSyntax),
            (json!({"Operations": [{"op": "move", "path": "x"}]}), ScimType::InvalidSyntax),
            (json!({"Operations": [{"op": "remove"}]}), ScimType::NoTarget),
            (json!({"Operations": [{"op": "add", "path": "title"}]}), ScimType::InvalidSyntax),
            (json!({"Operations": [{"op": "replace", "value": "x"}]}), ScimType::InvalidSyntax),
            (json!({"Operations": [{"op": "add", "path": "emails[type eq", "value": 1}]}), ScimType::InvalidPath),
            (json!({"schemas": ["urn:x"], "Operations": [{"op": "remove", "path": "title"}]}), ScimType::InvalidSyntax),
            (json!([1]), ScimType::InvalidSyntax),
        ];
        for (body, expected) in cases {
            let err = PatchRequest::parse(&body).unwrap_err();
            assert_eq!(err.scim_type, Some(expected), "{body}");
        }
    }
}
