//! Properties of the filter and PATCH path parsers: printed filters and paths parse back to
//! the same tree, no input makes the parsers panic, and no PATCH request, however odd, makes
//! applying it panic or yields a document that is not canonical.

use proptest::prelude::*;
use scim::document::Document;
use scim::filter::{CompValue, CompareOp, Filter, PatchPath};
use scim::patch::PatchRequest;
use scim::path::AttrPath;
use scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA};
use serde_json::{json, Number, Value};

/// ATTRNAME, minus the words the grammar keeps for itself.
fn attr_name() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("keyword", |n| !["and", "or", "not"].iter().any(|k| n.eq_ignore_ascii_case(k))),
        Just("$ref".to_owned()),
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> + Clone {
    let schema = prop::option::of(prop_oneof![Just(USER_SCHEMA), Just(ENTERPRISE_USER_SCHEMA)].prop_map(str::to_owned));
    (schema, attr_name(), prop::option::of(attr_name())).prop_map(|(schema, name, sub_attr)| AttrPath { schema, name, sub_attr })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<u64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>().prop_filter_map("finite", Number::from_f64).prop_map(CompValue::Number),
        any::<String>().prop_map(CompValue::String),
        r#"[a-z"\\ '\u{e9}\u{263a}\u{1f600}\n]{0,12}"#.prop_map(CompValue::String),
    ]
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    use CompareOp::*;
    prop::sample::select(vec![Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le])
}

/// A comparison or a presence test on `path`.
fn attr_expression(path: impl Strategy<Value = AttrPath> + Clone) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (path.clone(), compare_op(), comp_value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        path.prop_map(Filter::Present),
    ]
}

/// `and`, `or` and `not` over `leaf`, up to `depth` levels deep.
fn logical(leaf: impl Strategy<Value = Filter> + 'static, depth: u32) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(depth, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

/// `attr[filter]`, whose filter names sub-attributes only. Kept small so that a whole filter
/// stays within the parser's 100 comparisons.
fn value_path() -> impl Strategy<Value = Filter> {
    let sub_attr = attr_name().prop_map(AttrPath::new);
    (attr_name(), logical(attr_expression(sub_attr), 2))
        .prop_map(|(name, filter)| Filter::ValuePath { path: AttrPath::new(name), filter: Box::new(filter) })
}

fn filter() -> impl Strategy<Value = Filter> {
    logical(prop_oneof![3 => attr_expression(attr_path()), 1 => value_path()], 4)
}

/// `attrPath`, or `attr[valFilter]` with an optional `.subAttr`.
fn patch_path() -> impl Strategy<Value = PatchPath> {
    let schema = prop::option::of(prop_oneof![Just(USER_SCHEMA), Just(ENTERPRISE_USER_SCHEMA)].prop_map(str::to_owned));
    let filtered = (schema, value_path(), prop::option::of(attr_name())).prop_map(|(schema, value_path, sub_attr)| {
        let Filter::ValuePath { mut path, filter } = value_path else { unreachable!("value_path makes value paths") };
        path.schema = schema;
        PatchPath { attr: path, filter: Some(*filter), sub_attr }
    });
    prop_oneof![attr_path().prop_map(|attr| PatchPath { attr, filter: None, sub_attr: None }), filtered]
}

/// Paths a PATCH may name on a User or a Group, real and not, with value filters.
fn patch_path_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "userName",
            "active",
            "title",
            "name",
            "name.givenName",
            "emails",
            "emails.value",
            "emails.primary",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[value co \"@\"].primary",
            "emails[type eq \"x\" or primary eq true].type",
            "aliases[type eq \"email\"].value",
            "addresses[type eq \"work\"].locality",
            "phoneNumbers",
            "groups",
            "id",
            "meta.created",
            "password",
            "members",
            "members.value",
            "members[value eq \"u1\"]",
            "members[value eq \"u1\"].value",
            "displayName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "x509Certificates[value pr]",
            "shoeSize",
        ])
        .prop_map(str::to_owned),
        patch_path().prop_map(|p| p.to_string()),
    ]
}

/// JSON values of every shape, small.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        prop::sample::select(vec!["x", "u1", "True", "false", "work", "2020-01-01T00:00:00Z", ""]).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let key = prop::sample::select(vec![
            "value",
            "type",
            "primary",
            "display",
            "givenName",
            "active",
            "userName",
            "displayName",
            "emails",
            "name.givenName",
            "id",
            "members",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn operation() -> impl Strategy<Value = Value> {
    let op = prop::sample::select(vec!["add", "Replace", "remove", "REMOVE", "move"]);
    (op, prop::option::of(patch_path_text()), prop::option::of(json_value())).prop_map(|(op, path, value)| {
        let mut operation = json!({"op": op});
        if let Some(path) = path {
            operation["path"] = path.into();
        }
        if let Some(value) = value {
            operation["value"] = value;
        }
        operation
    })
}

/// Fragments that look like filters, glued together at random.
fn token_soup() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        prop::sample::select(vec![
            "(",
            ")",
            "[",
            "]",
            ".",
            " ",
            "\"",
            "\\",
            "\\u",
            "\"x\"",
            "and",
            "OR",
            "not",
            "eq",
            "pr",
            "co",
            "true",
            "null",
            "-",
            "1",
            "1e",
            "2.5",
            "emails",
            "value",
            "urn:ietf:params:scim:schemas:core:2.0:User:",
            "$ref",
            "\u{e9}",
            "\u{1f600}",
        ])
        .prop_map(str::to_owned),
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat())
}

/// Whatever parses prints back to text that parses to the same tree, and can be validated and
/// evaluated without panicking.
fn exercise(text: &str) {
    if let Ok(filter) = Filter::parse(text) {
        assert_eq!(Filter::parse(&filter.to_string()), Ok(filter.clone()), "{text}");
        let _ = filter.validate(&USER_RESOURCE);
        let user = json!({"userName": "x", "emails": [{"value": "a@x", "type": "work"}], "meta": {"created": "2020-01-01T00:00:00Z"}});
        let _ = filter.matches(&user, &USER_RESOURCE);
    }
    let _ = PatchPath::parse(text);
}

/// A PATCH either fails with a SCIM error or yields a canonical document (one that parses to
/// itself), on a User and on a Group.
fn apply_anything(operations: Vec<Value>) {
    let body = json!({"Operations": operations});
    let Ok(request) = PatchRequest::parse(&body) else { return };
    let resources = [
        (
            &USER_RESOURCE,
            json!({"userName": "b", "active": true, "name": {"givenName": "B"},
                   "emails": [{"value": "b@x", "type": "work", "primary": true}, {"value": "c@x", "type": "home"}],
                   "aliases": [{"value": "bee", "type": "email"}], ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}}}),
        ),
        (&GROUP_RESOURCE, json!({"displayName": "g", "members": [{"value": "u1"}, {"value": "u2"}]})),
    ];
    for (resource, document) in resources {
        let document = Document::parse(&document, resource).unwrap();
        match request.apply(&document, resource) {
            Ok(patched) => {
                let again = Document::from_edited(patched.as_map().clone(), resource).expect("a patched document re-validates");
                assert_eq!(again, patched, "{body}");
            }
            Err(error) => assert_eq!(error.status, 400, "{body}: {error:?}"),
        }
    }
}

proptest! {
    #[test]
    fn printed_patch_paths_parse_back_to_the_same_tree(path in patch_path()) {
        let text = path.to_string();
        prop_assert_eq!(PatchPath::parse(&text), Ok(path), "{}", text);
    }

    #[test]
    fn any_patch_request_applies_or_fails_cleanly(operations in prop::collection::vec(operation(), 1..4)) {
        apply_anything(operations);
    }

    #[test]
    fn printed_filters_parse_back_to_the_same_tree(filter in filter()) {
        let text = filter.to_string();
        prop_assert_eq!(Filter::parse(&text), Ok(filter), "{}", text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn filter_like_token_soup_never_panics(text in token_soup()) {
        exercise(&text);
    }
}
