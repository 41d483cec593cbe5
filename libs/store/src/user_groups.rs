//! A user's groups as the users read model keeps them: a JSON array of `[id, displayName]`
//! pairs in the order the user joined, on the user's own row.
//!
//! Why on the row: an IdP, or a policy service at every sign-in, looks a user up with its
//! groups; reading them from the row costs no join and no second query (docs/benchmarks.md).
//! Group commits keep the arrays current in the same transaction as the memberships (ADR 0014).

use std::collections::HashMap;

use domain::group::MemberKind;
use domain::ResourceId;
use serde_json::Value;
use uuid::Uuid;

use crate::api::{Reference, StoreError, StoreResult};

/// Adds `user`'s stored array to `out`, where a user in no group gets no entry (as `Page::groups`
/// and `Store::groups_of` promise).
pub fn collect(out: &mut HashMap<ResourceId, Vec<Reference>>, user: ResourceId, stored: &Value) -> StoreResult<()> {
    let groups = parse(stored)?;
    if !groups.is_empty() {
        out.insert(user, groups);
    }
    Ok(())
}

/// The references a stored array holds.
fn parse(stored: &Value) -> StoreResult<Vec<Reference>> {
    let Value::Array(pairs) = stored else { return Err(bad(stored)) };
    pairs
        .iter()
        .map(|pair| match (pair.get(0).and_then(Value::as_str), pair.get(1).and_then(Value::as_str)) {
            (Some(id), Some(display)) => Ok(Reference {
                id: ResourceId::from_uuid(Uuid::parse_str(id).map_err(|_| bad(pair))?),
                kind: MemberKind::Group,
                display: Some(display.to_owned()),
            }),
            _ => Err(bad(pair)),
        })
        .collect()
}

fn bad(value: &Value) -> StoreError {
    StoreError::corrupt(format!("stored group reference {value}"), "not a [id, displayName] pair")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_become_references_in_order() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let refs = parse(&json!([[a.to_string(), "Staff"], [b.to_string(), "Admins"]])).unwrap();
        assert_eq!(
            refs.iter().map(|r| (r.id.as_uuid(), r.display.as_deref())).collect::<Vec<_>>(),
            [(a, Some("Staff")), (b, Some("Admins"))]
        );
        assert!(parse(&json!([])).unwrap().is_empty());
    }

    #[test]
    fn anything_else_is_a_storage_fault() {
        for stored in [json!({}), json!([["not-a-uuid", "x"]]), json!([[Uuid::now_v7().to_string()]])] {
            assert!(matches!(parse(&stored), Err(StoreError::Corrupt { .. })), "{stored}");
        }
    }
}
