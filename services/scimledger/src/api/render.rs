//! Records and outcomes as SCIM resources: schemas, id, the document, the derived attribute
//! (a user's groups, a group's members) and meta.

use domain::group::MemberKind;
use domain::ResourceId;
use scim::schema::ResourceType;
use serde_json::{json, Map, Value};
use store::Reference;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::reply::etag;

/// Everything a rendered resource is made of.
pub struct Parts<'a> {
    pub resource: &'static ResourceType,
    /// `https://host/scim/v2/<tenant>`.
    pub base: &'a str,
    pub id: ResourceId,
    pub document: Map<String, Value>,
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    /// The derived multi-valued attribute (`groups` or `members`) and its values, when loaded.
    pub related: Option<(&'static str, &'a [Reference])>,
}

pub fn resource(parts: Parts<'_>) -> Map<String, Value> {
    let Parts { resource, base, id, mut document, version, created, last_modified, related } = parts;
    let mut out = Map::new();
    let mut schemas = vec![Value::from(resource.schema.id)];
    schemas.extend(resource.extensions.iter().filter(|e| document.contains_key(e.id)).map(|e| Value::from(e.id)));
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), id.to_string().into());
    if let Some((name, _)) = related {
        document.remove(name);
    }
    out.extend(document);
    if let Some((name, references)) = related {
        if !references.is_empty() {
            out.insert(name.into(), references.iter().map(|r| reference(base, r, name)).collect());
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": resource.name,
            "created": timestamp(created),
            "lastModified": timestamp(last_modified),
            "location": format!("{base}{}/{id}", resource.endpoint),
            "version": etag(version),
        }),
    );
    out
}

pub fn reference(base: &str, r: &Reference, attribute: &str) -> Value {
    let (endpoint, kind) = match r.kind {
        MemberKind::User => ("Users", "User"),
        MemberKind::Group => ("Groups", "Group"),
    };
    let mut out = json!({"value": r.id.to_string(), "$ref": format!("{base}/{endpoint}/{}", r.id)});
    if attribute == "groups" {
        // A user's groups name the group and say how the membership came about.
        if let Some(display) = &r.display {
            out["display"] = display.clone().into();
        }
        out["type"] = "direct".into();
    } else {
        // A group's members say what they are; `display` is left out so that a member reads
        // back exactly as the IdP wrote it.
        out["type"] = kind.into();
    }
    out
}

pub fn timestamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("timestamps format as RFC 3339")
}
