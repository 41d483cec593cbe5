//! PATCH against documents: RFC 7644 §3.5.2's examples and every shape in idp-quirks.md.

use serde_json::{json, Value};

use super::PatchRequest;
use crate::document::Document;
use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE};
use crate::ScimType;

fn user(value: Value) -> Document {
    Document::parse(&value, &USER_RESOURCE).unwrap()
}

fn patch_user(doc: &Document, ops: Value) -> Result<Value, crate::ScimError> {
    let request = PatchRequest::parse(&json!({"Operations": ops}))?;
    request.apply(doc, &USER_RESOURCE).map(|d| Value::Object(d.into_map()))
}

fn patch_group(doc: Value, ops: Value) -> Result<Value, crate::ScimError> {
    let doc = Document::parse(&doc, &GROUP_RESOURCE).unwrap();
    let request = PatchRequest::parse(&json!({"Operations": ops}))?;
    request.apply(&doc, &GROUP_RESOURCE).map(|d| Value::Object(d.into_map()))
}

#[test]
fn add_to_a_multi_valued_attribute_appends_and_a_new_primary_clears_the_old() {
    let doc = user(json!({"userName": "b", "emails": [{"value": "a@x", "type": "work", "primary": true}]}));
    let out = patch_user(&doc, json!([{"op": "add", "path": "emails", "value": [{"value": "b@x", "type": "home"}]}])).unwrap();
    assert_eq!(out["emails"].as_array().unwrap().len(), 2);
    let out = patch_user(&doc, json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@x", "primary": true}}]))
        .unwrap();
    assert_eq!(
        out["emails"],
        json!([{"value": "a@x", "type": "work", "primary": false}, {"value": "h@x", "type": "home", "primary": true}])
    );
}

#[test]
fn replace_of_a_complex_attribute_keeps_sub_attributes_not_given() {
    let doc = user(json!({"userName": "b", "name": {"givenName": "B", "familyName": "J"}}));
    let out = patch_user(&doc, json!([{"op": "replace", "path": "name", "value": {"familyName": "K"}}])).unwrap();
    assert_eq!(out["name"], json!({"givenName": "B", "familyName": "K"}));
}

#[test]
fn remove_of_a_sub_attribute_and_of_filtered_elements() {
    let doc = user(
        json!({"userName": "b", "name": {"givenName": "B"}, "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}]}),
    );
    let out = patch_user(&doc, json!([{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "emails[type eq \"work\"]"}]))
        .unwrap();
    assert!(out.get("name").is_none());
    assert_eq!(out["emails"], json!([{"value": "b@x", "type": "home"}]));
}

#[test]
fn the_whole_enterprise_extension_as_a_path() {
    let doc = user(json!({"userName": "b"}));
    let out = patch_user(
        &doc,
        json!([{"op": "add", "path": ENTERPRISE_USER_SCHEMA, "value": {"employeeNumber": "7", "manager": {"value": "m"}}}]),
    )
    .unwrap();
    assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({"employeeNumber": "7", "manager": {"value": "m"}}));
    let doc = Document::from_edited(out.as_object().unwrap().clone(), &USER_RESOURCE).unwrap();
    let out = patch_user(&doc, json!([{"op": "replace", "path": ENTERPRISE_USER_SCHEMA, "value": {"department": "R&D"}}])).unwrap();
    assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({"department": "R&D"}));
    let doc = Document::from_edited(out.as_object().unwrap().clone(), &USER_RESOURCE).unwrap();
    let out = patch_user(&doc, json!([{"op": "remove", "path": ENTERPRISE_USER_SCHEMA}])).unwrap();
    assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
}

#[test]
fn urn_qualified_sub_attribute_paths() {
    let doc = user(json!({"userName": "b"}));
    let out =
        patch_user(&doc, json!([{"op": "replace", "path": format!("{ENTERPRISE_USER_SCHEMA}:manager.value"), "value": "m-2"}])).unwrap();
    assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({"manager": {"value": "m-2"}}));
}

#[test]
fn a_filter_that_describes_nothing_to_create_is_no_target() {
    let doc = user(json!({"userName": "b"}));
    let err = patch_user(&doc, json!([{"op": "replace", "path": "emails[value co \"x\"].type", "value": "work"}])).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn one_failing_operation_applies_nothing() {
    let doc = user(json!({"userName": "b", "title": "t"}));
    let err =
        patch_user(&doc, json!([{"op": "replace", "path": "title", "value": "new"}, {"op": "add", "path": "meta.version", "value": "x"}]))
            .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::Mutability));
    assert_eq!(doc.get("title"), Some(&json!("t")));
}

#[test]
fn group_members_add_once_and_remove_by_filter_or_value_list() {
    let group = json!({"displayName": "g", "members": [{"value": "u1"}, {"value": "u2"}]});
    let out =
        patch_group(group.clone(), json!([{"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u3", "display": "x"}]}]))
            .unwrap();
    assert_eq!(out["members"], json!([{"value": "u1"}, {"value": "u2"}, {"value": "u3"}]));
    let out = patch_group(group.clone(), json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}])).unwrap();
    assert_eq!(out["members"], json!([{"value": "u2"}]));
    let out = patch_group(group.clone(), json!([{"op": "remove", "path": "members[value eq \"u2\"]"}])).unwrap();
    assert_eq!(out["members"], json!([{"value": "u1"}]));
    let out = patch_group(group, json!([{"op": "remove", "path": "members"}])).unwrap();
    assert!(out.get("members").is_none());
}
