//! Group members.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{DomainError, ResourceId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberKind {
    User,
    Group,
}

/// A member: the id of a user or group of the same tenant. Okta omits `type`; it is then
/// unknown here and resolved by the read model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub value: ResourceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MemberKind>,
}

impl Member {
    pub fn user(value: ResourceId) -> Self {
        Self { value, kind: Some(MemberKind::User) }
    }

    pub fn to_json(&self) -> Value {
        match self.kind {
            Some(MemberKind::User) => json!({"value": self.value.to_string(), "type": "User"}),
            Some(MemberKind::Group) => json!({"value": self.value.to_string(), "type": "Group"}),
            None => json!({"value": self.value.to_string()}),
        }
    }

    /// The members of a canonical document's `members` attribute, each id once. A value that is
    /// not an id scimledger hands out names nothing here, and is left out rather than failing
    /// the IdP's whole group push.
    pub fn list_from(members: Option<Value>) -> Result<Vec<Self>, DomainError> {
        let mut out: Vec<Member> = Vec::new();
        let mut seen = HashSet::new();
        for element in members.as_ref().and_then(Value::as_array).into_iter().flatten() {
            if let Some(member) = Self::from_json(element)? {
                if seen.insert(member.value) {
                    out.push(member);
                }
            }
        }
        Ok(out)
    }

    fn from_json(element: &Value) -> Result<Option<Self>, DomainError> {
        let text = element.get("value").and_then(Value::as_str).ok_or_else(|| DomainError::invalid("a member needs a 'value'"))?;
        let Ok(value) = text.parse::<ResourceId>() else { return Ok(None) };
        let kind = match element.get("type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("user") => Some(MemberKind::User),
            Some(t) if t.eq_ignore_ascii_case("group") => Some(MemberKind::Group),
            Some(t) => return Err(DomainError::invalid(format!("'{t}' is not a member type (User, Group)"))),
            None => None,
        };
        Ok(Some(Self { value, kind }))
    }
}
