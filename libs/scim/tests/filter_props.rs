//! Properties of the filter parser: printed filters parse back to the same tree, and no input
//! makes the parsers panic.

use proptest::prelude::*;
use scim::filter::{CompValue, CompareOp, Filter, PatchPath};
use scim::path::AttrPath;
use scim::schema::{ENTERPRISE_USER_SCHEMA, USER_RESOURCE, USER_SCHEMA};
use serde_json::{json, Number};

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

proptest! {
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
