//! PATCH requests built from the attribute names and shapes IdPs use (and arbitrary ones),
//! applied to a user or a group: parsing and applying answer Ok or a 4xx, never panic, and
//! what they produce is a canonical document (validating it again changes nothing) within the
//! limits.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use scim::document::Document;
use scim::patch::PatchRequest;
use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::{json, Map, Value};

/// Names that reach deep into the engine; arbitrary text reaches the rest.
const NAMES: &[&str] = &[
    "userName",
    "displayName",
    "active",
    "title",
    "name",
    "name.givenName",
    "emails",
    "emails.value",
    "emails.type",
    "emails[type eq \"work\"]",
    "emails[type eq \"work\"].value",
    "emails[value co \"@\"].primary",
    "aliases",
    "aliases[type eq \"email\"].value",
    "members",
    "members[value eq \"00000000-0000-7000-8000-000000000001\"]",
    "members.value",
    "externalId",
    "id",
    "meta.created",
    "password",
    "groups",
    "phoneNumbers[primary eq true]",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "value",
    "type",
    "primary",
];

/// The ops, with Entra's capitals and one that is not an op.
const OPS: &[&str] = &["add", "remove", "replace", "Add", "Replace", "move"];

#[derive(Arbitrary, Debug)]
struct Input {
    group: bool,
    operations: Vec<Operation>,
}

#[derive(Arbitrary, Debug)]
struct Operation {
    op: u8,
    path: Option<Name>,
    value: Option<Json>,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Number(i64),
    Text(String),
    Name(Name),
    Array(Vec<Json>),
    Object(Vec<(Name, Json)>),
}

impl Name {
    fn text(&self) -> String {
        match self {
            Name::Known(i) => NAMES[usize::from(*i) % NAMES.len()].to_owned(),
            Name::Text(t) => t.clone(),
        }
    }
}

impl Json {
    fn value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => json!(b),
            Json::Number(n) => json!(n),
            Json::Text(t) => json!(t),
            Json::Name(n) => json!(n.text()),
            Json::Array(items) => Value::Array(items.iter().map(Json::value).collect()),
            Json::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.text(), v.value())).collect::<Map<_, _>>()),
        }
    }
}

fuzz_target!(|input: Input| {
    let (resource, document) = if input.group {
        let members = json!([{"value": "00000000-0000-7000-8000-000000000001"}, {"value": "00000000-0000-7000-8000-000000000002"}]);
        (&GROUP_RESOURCE, json!({"displayName": "Eng", "members": members}))
    } else {
        let emails = json!([{"value": "b@x.io", "type": "work", "primary": true}, {"value": "B@home.io", "type": "home"}]);
        (&USER_RESOURCE, json!({"userName": "bjensen", "emails": emails, "aliases": [{"value": "bj@x.io", "type": "email"}]}))
    };
    let document = Document::parse(&document, resource).expect("the seed documents are valid");
    let operations: Vec<Value> = input
        .operations
        .iter()
        .map(|o| {
            let mut op = json!({"op": OPS[usize::from(o.op) % OPS.len()]});
            if let Some(path) = &o.path {
                op["path"] = json!(path.text());
            }
            if let Some(value) = &o.value {
                op["value"] = value.value();
            }
            op
        })
        .collect();
    let request = match PatchRequest::parse(&json!({"Operations": operations})) {
        Ok(request) => request,
        Err(e) => {
            assert!((400..500).contains(&e.status), "{e}");
            return;
        }
    };
    match request.apply(&document, resource) {
        Ok(patched) => {
            let again = Document::from_edited(patched.as_map().clone(), resource).expect("a patched document validates again");
            assert_eq!(again, patched, "a patched document is canonical");
            request.limits.check_size(&patched).expect("a patched document is within the size limit");
        }
        Err(e) => assert!((400..500).contains(&e.status), "{e}"),
    }
});
