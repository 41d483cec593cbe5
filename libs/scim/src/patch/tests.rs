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

/// One PATCH case: the resource before, the operations, and the resource after or the
/// refusal's scimType.
struct Case {
    name: &'static str,
    resource: &'static crate::schema::ResourceType,
    before: Value,
    operations: Value,
    after: Result<Value, ScimType>,
}

fn run(cases: Vec<Case>) {
    for case in cases {
        let before = Document::parse(&case.before, case.resource).unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
        let result = PatchRequest::parse(&json!({"schemas": [super::PATCH_OP_SCHEMA], "Operations": case.operations}))
            .and_then(|request| request.apply(&before, case.resource));
        match (result, case.after) {
            (Ok(after), Ok(expected)) => {
                let expected = Document::parse(&expected, case.resource).unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
                assert_eq!(Value::Object(after.into_map()), Value::Object(expected.into_map()), "{}", case.name);
            }
            (Err(error), Err(expected)) => assert_eq!(error.scim_type, Some(expected), "{}: {}", case.name, error.detail),
            (result, expected) => panic!("{}: got {result:?}, expected {expected:?}", case.name),
        }
    }
}

const U1: &str = "2819c223-7f76-453a-919d-413861904646";
const U2: &str = "902c246b-6245-4190-8e05-00816be7344a";
const U3: &str = "c3a26dd3-27a0-4dec-a2ac-ce211e105f97";

fn group_with_members() -> Value {
    json!({"displayName": "Tour Guides", "members": [{"value": U1}, {"value": U2}]})
}

fn babs() -> Value {
    json!({"userName": "bjensen", "name": {"givenName": "Barbara", "familyName": "Jensen"}, "title": "Tour Guide",
           "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
           "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": true},
                         {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"}]})
}

fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// Every example of RFC 7644 §3.5.2.1–3, in order.
#[test]
fn rfc_7644_patch_examples() {
    run(vec![
        Case {
            name: "§3.5.2.1 add a member",
            resource: &GROUP_RESOURCE,
            before: json!({"displayName": "Tour Guides"}),
            operations: json!([{"op": "add", "path": "members", "value": [
                {"display": "Babs Jensen", "$ref": format!("https://example.com/v2/Users/{U1}"), "value": U1}]}]),
            after: Ok(
                json!({"displayName": "Tour Guides", "members": [{"value": U1, "$ref": format!("https://example.com/v2/Users/{U1}")}]}),
            ),
        },
        Case {
            name: "§3.5.2.1 path-less add of emails and nickname",
            resource: &USER_RESOURCE,
            before: json!({"userName": "bjensen", "emails": [{"value": "bjensen@example.com", "type": "work"}]}),
            operations: json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}}]),
            after: Ok(json!({"userName": "bjensen", "nickName": "Babs",
                             "emails": [{"value": "bjensen@example.com", "type": "work"}, {"value": "babs@jensen.org", "type": "home"}]})),
        },
        Case {
            name: "§3.5.2.1 add of a value already there changes nothing",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}]),
            after: Ok(babs()),
        },
        Case {
            name: "§3.5.2.1 add to a single-valued attribute replaces it",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "add", "path": "title", "value": "Lead Guide"}]),
            after: Ok(with(babs(), json!({"title": "Lead Guide"}))),
        },
        Case {
            name: "§3.5.2.2 remove a single member",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "remove", "path": format!("members[value eq \"{U1}\"]")}]),
            after: Ok(json!({"displayName": "Tour Guides", "members": [{"value": U2}]})),
        },
        Case {
            name: "§3.5.2.2 remove all members",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "remove", "path": "members"}]),
            after: Ok(json!({"displayName": "Tour Guides"})),
        },
        Case {
            name: "§3.5.2.2 remove by a complex filter",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
            after: Ok(with(babs(), json!({"emails": [{"value": "babs@jensen.org", "type": "home"}]}))),
        },
        Case {
            name: "§3.5.2.2 remove all members, then add one: the list is replaced",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "remove", "path": "members"}, {"op": "add", "path": "members", "value": [{"display": "James Smith", "value": U3}]}]),
            after: Ok(json!({"displayName": "Tour Guides", "members": [{"value": U3}]})),
        },
        Case {
            name: "§3.5.2.2 remove a single-valued attribute",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "remove", "path": "title"}]),
            after: Ok(with(babs(), json!({"title": null}))),
        },
        Case {
            name: "§3.5.2.3 replace all members",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "replace", "path": "members", "value": [{"display": "Babs Jensen", "value": U1}, {"display": "James Smith", "value": U3}]}]),
            after: Ok(json!({"displayName": "Tour Guides", "members": [{"value": U1}, {"value": U3}]})),
        },
        Case {
            name: "§3.5.2.3 replace the work address",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
                "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA",
                "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true}}]),
            after: Ok(with(
                babs(),
                json!({"addresses": [
                {"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA", "postalCode": "91608",
                 "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true},
                {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"}]}),
            )),
        },
        Case {
            name: "§3.5.2.3 replace a sub-attribute of the work address",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
            after: Ok(with(
                babs(),
                json!({"addresses": [
                {"type": "work", "streetAddress": "1010 Broadway Ave", "locality": "Hollywood", "primary": true},
                {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood"}]}),
            )),
        },
        Case {
            name: "§3.5.2.3 path-less replace of emails and nickname",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "value": {"emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}}]),
            after: Ok(with(babs(), json!({"nickName": "Babs"}))),
        },
        Case {
            name: "§3.5.2.3 replace on a filter with no match that describes no element",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "path": "addresses[streetAddress co \"Nowhere\"].locality", "value": "X"}]),
            after: Err(ScimType::NoTarget),
        },
    ]);
}

/// Multi-valued attributes: `primary` stays on one element, the one just set.
#[test]
fn setting_a_primary_clears_the_others() {
    let set_home_primary = json!({"emails": [{"value": "bjensen@example.com", "type": "work", "primary": false},
                                             {"value": "babs@jensen.org", "type": "home", "primary": true}]});
    run(vec![
        Case {
            name: "add of a new primary element",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "add", "path": "emails", "value": [{"value": "b@new.org", "type": "other", "primary": true}]}]),
            after: Ok(with(
                babs(),
                json!({"emails": [{"value": "bjensen@example.com", "type": "work", "primary": false},
                {"value": "babs@jensen.org", "type": "home"}, {"value": "b@new.org", "type": "other", "primary": true}]}),
            )),
        },
        Case {
            name: "replace of a sub-attribute through a filter",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
            after: Ok(with(babs(), set_home_primary.clone())),
        },
        Case {
            name: "path-less add of a primary element",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home", "primary": "True"}]}}]),
            after: Ok(with(babs(), set_home_primary)),
        },
        Case {
            name: "a replaced list keeps its first primary only",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "path": "phoneNumbers", "value": [{"value": "1", "primary": true}, {"value": "2", "primary": true}]}]),
            after: Ok(with(babs(), json!({"phoneNumbers": [{"value": "1", "primary": true}, {"value": "2", "primary": false}]}))),
        },
    ]);
}

/// Mutability, required attributes, bad paths: refused, and the request applies nothing.
#[test]
fn refusals() {
    let refused = |name: &'static str, resource, before: Value, operations: Value, scim_type| Case {
        name,
        resource,
        before,
        operations,
        after: Err(scim_type),
    };
    run(vec![
        refused(
            "remove the required userName",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "remove", "path": "userName"}]),
            ScimType::InvalidValue,
        ),
        refused(
            "replace userName with null",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "value": {"userName": null}}]),
            ScimType::InvalidValue,
        ),
        refused(
            "remove a group's required displayName",
            &GROUP_RESOURCE,
            group_with_members(),
            json!([{"op": "remove", "path": "displayName"}]),
            ScimType::InvalidValue,
        ),
        refused(
            "read-only id by path",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            ScimType::Mutability,
        ),
        refused(
            "read-only meta sub-attribute",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            ScimType::Mutability,
        ),
        refused(
            "read-only groups",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "add", "path": "groups", "value": [{"value": U1}]}]),
            ScimType::Mutability,
        ),
        refused(
            "an immutable member value changed",
            &GROUP_RESOURCE,
            group_with_members(),
            json!([{"op": "replace", "path": format!("members[value eq \"{U1}\"].value"), "value": U3}]),
            ScimType::Mutability,
        ),
        refused(
            "an unknown attribute",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "add", "path": "shoeSize", "value": 9}]),
            ScimType::InvalidPath,
        ),
        refused(
            "an unknown sub-attribute",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "add", "path": "name.shoeSize", "value": "9"}]),
            ScimType::InvalidPath,
        ),
        refused(
            "an unknown sub-attribute after a filter",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].shoeSize", "value": "9"}]),
            ScimType::InvalidPath,
        ),
        refused(
            "a filter on a single-valued attribute",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "path": "title[value eq \"x\"]", "value": "y"}]),
            ScimType::InvalidPath,
        ),
        refused(
            "a malformed path",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "y"}]),
            ScimType::InvalidPath,
        ),
        refused(
            "an unknown extension URN",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "add", "path": "urn:example:Thing:attr", "value": "y"}]),
            ScimType::InvalidPath,
        ),
        refused("remove without a path", &USER_RESOURCE, babs(), json!([{"op": "remove"}]), ScimType::NoTarget),
        refused(
            "a wrong type",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "path": "name.givenName", "value": 7}]),
            ScimType::InvalidValue,
        ),
        refused(
            "a boolean that is not one",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "path": "active", "value": "yes"}]),
            ScimType::InvalidValue,
        ),
        refused(
            "one bad operation among good ones",
            &USER_RESOURCE,
            babs(),
            json!([{"op": "replace", "path": "title", "value": "new"}, {"op": "remove", "path": "emails[type eq \"home\"]"}, {"op": "replace", "path": "id", "value": "x"}]),
            ScimType::Mutability,
        ),
    ]);
}

/// Every PATCH shape of shared/design/idp-quirks.md.
#[test]
fn idp_quirk_shapes() {
    run(vec![
        Case {
            name: "Entra: capitalised ops and a string boolean",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "Replace", "path": "active", "value": "False"}, {"op": "Add", "path": "nickName", "value": "B"}]),
            after: Ok(with(babs(), json!({"active": false, "nickName": "B"}))),
        },
        Case {
            name: "Entra: remove members by a value list removes only those",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "Remove", "path": "members", "value": [{"value": U1}]}]),
            after: Ok(json!({"displayName": "Tour Guides", "members": [{"value": U2}]})),
        },
        Case {
            name: "Entra: remove a member by filter; no match is no change",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "remove", "path": format!("members[value eq \"{U2}\"]")}, {"op": "remove", "path": format!("members[value eq \"{U3}\"]")}]),
            after: Ok(json!({"displayName": "Tour Guides", "members": [{"value": U1}]})),
        },
        Case {
            name: "Entra: add members with a null $ref",
            resource: &GROUP_RESOURCE,
            before: json!({"displayName": "Tour Guides"}),
            operations: json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": U1}]}]),
            after: Ok(json!({"displayName": "Tour Guides", "members": [{"value": U1}]})),
        },
        Case {
            name: "Entra: path-less replace with dotted and URN keys",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "value": {"displayName": "D", "name.givenName": "G",
                format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber"): "E"}}]),
            after: Ok(with(
                babs(),
                json!({"displayName": "D", "name": {"givenName": "G", "familyName": "Jensen"}, ENTERPRISE_USER_SCHEMA: {"employeeNumber": "E"}}),
            )),
        },
        Case {
            name: "Entra: a value-filter path with no match creates the element",
            resource: &USER_RESOURCE,
            before: json!({"userName": "bjensen"}),
            operations: json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@x.org"},
                               {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555"}]),
            after: Ok(
                json!({"userName": "bjensen", "emails": [{"value": "b@x.org", "type": "work"}], "phoneNumbers": [{"value": "555", "type": "mobile"}]}),
            ),
        },
        Case {
            name: "Entra: userName replaced by path",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "Replace", "path": "userName", "value": "new@x"}]),
            after: Ok(with(babs(), json!({"userName": "new@x"}))),
        },
        Case {
            name: "Entra validator: an odd filter that matches nothing removes nothing",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "remove", "path": "emails[type eq \"untyped\"]"}]),
            after: Ok(babs()),
        },
        Case {
            name: "Okta: deactivation by a path-less value",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "value": {"active": false}}]),
            after: Ok(with(babs(), json!({"active": false}))),
        },
        Case {
            name: "Okta: group rename with the read-only id in the value",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "replace", "value": {"id": "ignored", "displayName": "Guides"}}]),
            after: Ok(json!({"displayName": "Guides", "members": [{"value": U1}, {"value": U2}]})),
        },
        Case {
            name: "Okta: remove one member and add another in one request",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "remove", "path": format!("members[value eq \"{U1}\"]")}, {"op": "add", "path": "members", "value": [{"value": U3, "display": "x"}]}]),
            after: Ok(json!({"displayName": "Tour Guides", "members": [{"value": U2}, {"value": U3}]})),
        },
        Case {
            name: "Okta: replace the member list",
            resource: &GROUP_RESOURCE,
            before: group_with_members(),
            operations: json!([{"op": "replace", "path": "members", "value": [{"value": U3}]}]),
            after: Ok(json!({"displayName": "Tour Guides", "members": [{"value": U3}]})),
        },
        Case {
            name: "Okta aliases mapping: add creates the email alias",
            resource: &USER_RESOURCE,
            before: json!({"userName": "bob", "aliases": [{"value": "bobby", "type": "username"}]}),
            operations: json!([{"op": "add", "path": "aliases[type eq \"email\"].value", "value": "bob@acme.com"}]),
            after: Ok(
                json!({"userName": "bob", "aliases": [{"value": "bobby", "type": "username"}, {"value": "bob@acme.com", "type": "email"}]}),
            ),
        },
        Case {
            name: "Okta aliases mapping: replace changes the email alias",
            resource: &USER_RESOURCE,
            before: json!({"userName": "bob", "aliases": [{"value": "bob@acme.com", "type": "email"}]}),
            operations: json!([{"op": "replace", "path": "aliases[type eq \"email\"].value", "value": "robert@acme.com"}]),
            after: Ok(json!({"userName": "bob", "aliases": [{"value": "robert@acme.com", "type": "email"}]})),
        },
        Case {
            name: "Okta aliases mapping: removing the value removes the alias",
            resource: &USER_RESOURCE,
            before: json!({"userName": "bob", "aliases": [{"value": "bobby", "type": "username"}, {"value": "bob@acme.com", "type": "email"}]}),
            operations: json!([{"op": "remove", "path": "aliases[type eq \"email\"].value"}]),
            after: Ok(json!({"userName": "bob", "aliases": [{"value": "bobby", "type": "username"}]})),
        },
        Case {
            name: "removing every alias value removes the attribute",
            resource: &USER_RESOURCE,
            before: json!({"userName": "bob", "aliases": [{"value": "bobby", "type": "username"}, {"value": "bob@acme.com", "type": "email"}]}),
            operations: json!([{"op": "remove", "path": "aliases.value"}]),
            after: Ok(json!({"userName": "bob"})),
        },
        Case {
            name: "Okta: password in a path-less value is accepted and dropped",
            resource: &USER_RESOURCE,
            before: babs(),
            operations: json!([{"op": "replace", "value": {"password": "hunter2", "title": "Guide"}}]),
            after: Ok(with(babs(), json!({"title": "Guide"}))),
        },
        Case {
            name: "scim2-tester: removing active leaves it absent",
            resource: &USER_RESOURCE,
            before: with(babs(), json!({"active": true})),
            operations: json!([{"op": "remove", "path": "active"}]),
            after: Ok(babs()),
        },
    ]);
}

mod limits {
    use super::*;
    use crate::limits::{Limits, MAX_KEY_BYTES, MAX_MEMBERS_PER_REQUEST, MAX_PATCH_OPERATIONS, MAX_VALUES_PER_ATTRIBUTE};

    fn emails(n: usize, prefix: &str) -> Value {
        Value::Array((0..n).map(|i| json!({"value": format!("{prefix}{i}@x.io"), "type": "work"})).collect())
    }

    fn member_ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("00000000-0000-7000-8000-{i:012}")).collect()
    }

    #[test]
    fn twenty_thousand_values_are_refused_by_the_per_attribute_limit() {
        let err = PatchRequest::parse(&json!({"Operations": [{"op": "add", "path": "emails", "value": emails(20_000, "e")}]})).unwrap_err();
        assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidValue)));
        assert!(err.detail.contains(&format!("at most {MAX_VALUES_PER_ATTRIBUTE} values")), "{}", err.detail);
        // Path-less values are counted too.
        let err = PatchRequest::parse(&json!({"Operations": [{"op": "add", "value": {"emails": emails(20_000, "e")}}]})).unwrap_err();
        assert!(err.detail.contains("'emails' has 20000 values"), "{}", err.detail);
    }

    #[test]
    fn adds_within_the_limit_merge_by_folded_value_and_type() {
        let doc = user(json!({"userName": "b", "emails": emails(MAX_VALUES_PER_ATTRIBUTE / 2, "e")}));
        // Half of them again, upper-cased (merged), half new (appended).
        let again: Vec<Value> = (0..MAX_VALUES_PER_ATTRIBUTE / 2)
            .map(|i| match i % 2 {
                0 => json!({"value": format!("E{i}@X.IO"), "type": "work"}),
                _ => json!({"value": format!("n{i}@x.io"), "type": "work"}),
            })
            .collect();
        let out = patch_user(&doc, json!([{"op": "add", "path": "emails", "value": again}])).unwrap();
        assert_eq!(out["emails"].as_array().unwrap().len(), MAX_VALUES_PER_ATTRIBUTE / 2 + MAX_VALUES_PER_ATTRIBUTE / 4);
        assert_eq!(out["emails"][0]["value"], "E0@X.IO");
    }

    #[test]
    fn values_grown_past_the_limit_by_several_operations_are_refused() {
        let ops: Vec<Value> = (0..3).map(|i| json!({"op": "add", "path": "emails", "value": emails(400, &format!("o{i}-"))})).collect();
        let err = patch_user(&user(json!({"userName": "b"})), Value::Array(ops)).unwrap_err();
        assert!(err.detail.starts_with("operation 3:") && err.detail.contains("1200 values"), "{}", err.detail);
    }

    #[test]
    fn members_per_request_and_operations_per_patch_are_bounded() {
        let ids = member_ids(MAX_MEMBERS_PER_REQUEST / 2 + 1);
        let add = json!({"op": "add", "path": "members", "value": ids.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()});
        let err = PatchRequest::parse(&json!({"Operations": [add.clone(), add]})).unwrap_err();
        assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidValue)));
        assert!(err.detail.contains(&format!("more than {MAX_MEMBERS_PER_REQUEST} members")), "{}", err.detail);
        let group = json!({"displayName": "Eng", "members": member_ids(MAX_MEMBERS_PER_REQUEST + 1).iter().map(|id| json!({"value": id})).collect::<Vec<_>>()});
        assert!(Document::parse(&group, &GROUP_RESOURCE).unwrap_err().detail.contains("members"));

        let ops: Vec<Value> = (0..=MAX_PATCH_OPERATIONS).map(|_| json!({"op": "replace", "path": "title", "value": "t"})).collect();
        let err = PatchRequest::parse(&json!({"Operations": ops})).unwrap_err();
        assert!(err.detail.contains(&format!("at most {MAX_PATCH_OPERATIONS} per PATCH")), "{}", err.detail);
    }

    #[test]
    fn okta_member_removals_one_by_one_and_entra_adds_batch_by_batch() {
        let ids = member_ids(900);
        let members = |ids: &[String]| ids.iter().map(|id| json!({"value": id})).collect::<Vec<_>>();
        let group = json!({"displayName": "Eng", "members": members(&ids[..600])});
        let mut ops: Vec<Value> =
            ids[..300].iter().map(|id| json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})).collect();
        ops.extend(ids[600..].chunks(100).map(|chunk| json!({"op": "Add", "path": "members", "value": members(chunk)})));
        // An add of members already there merges them.
        ops.push(json!({"op": "add", "path": "members", "value": members(&ids[300..310])}));
        let out = patch_group(group, Value::Array(ops)).unwrap();
        assert_eq!(out["members"], json!(members(&ids[300..])));
    }

    #[test]
    fn a_patch_that_grows_the_resource_past_its_size_limit_is_refused() {
        let doc = user(json!({"userName": "b"}));
        let request = PatchRequest::parse(&json!({"Operations": [{"op": "add", "path": "title", "value": "x".repeat(2000)}]}))
            .unwrap()
            .with_limits(Limits { max_resource_bytes: 1024 });
        let err = request.apply(&doc, &USER_RESOURCE).unwrap_err();
        assert_eq!(err.status, 413);
        assert!(err.detail.contains("1024 bytes"), "{}", err.detail);
    }

    #[test]
    fn nul_characters_and_over_long_keys_are_invalid_values() {
        let doc = user(json!({"userName": "b"}));
        for (path, value) in [
            ("title", json!("a\u{0}b")),
            ("name.givenName", json!("\u{0}")),
            ("emails", json!([{"value": "a\u{0}@x.io"}])),
            ("userName", json!("x".repeat(MAX_KEY_BYTES + 1))),
            ("externalId", json!("x".repeat(MAX_KEY_BYTES + 1))),
            ("aliases", json!([{"value": "x".repeat(MAX_KEY_BYTES + 1)}])),
        ] {
            let err = patch_user(&doc, json!([{"op": "replace", "path": path, "value": value}])).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidValue)), "{path}: {}", err.detail);
        }
        assert!(patch_user(&doc, json!([{"op": "replace", "path": "userName", "value": "x".repeat(MAX_KEY_BYTES)}])).is_ok());
    }
}
