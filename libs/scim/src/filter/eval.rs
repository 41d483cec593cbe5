//! Evaluating a filter against a resource, or against one element of a multi-valued attribute
//! (PATCH value filters such as `members[value eq "…"]`).
//!
//! A comparison holds if any value the path reaches compares (`emails.type eq "work"` looks
//! at every email, RFC 7644 §3.4.2.2), `ne` included: `emails.type ne "work"` holds when some
//! email is of another type. An attribute with no value is `ne` anything but null. `eq null`
//! and `ne null` are `not … pr` and `pr`. A complex attribute named alone compares through its
//! `value` sub-attribute. An attribute the resource type does not have matches nothing.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::ast::{CompValue, CompareOp, Filter};
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, ResourceType};

/// `schemas` is in no schema definition, yet RFC 7644's examples filter on it: the resource's
/// schema URNs, which compare case-insensitively.
pub(super) const SCHEMAS: AttributeDef = AttributeDef::string("schemas", "The schema URNs of the resource.").multi();

pub(super) fn is_schemas(path: &AttrPath) -> bool {
    path.schema.is_none() && path.sub_attr.is_none() && path.name.eq_ignore_ascii_case("schemas")
}

/// An RFC 3339 date-time, the form of every `dateTime` attribute.
pub(super) fn instant(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

impl CompareOp {
    pub(super) fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
    }

    pub(super) fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

impl Filter {
    /// Whether `resource`, as rendered to clients (core attributes top-level, extension
    /// attributes under their schema URN), matches.
    pub fn matches(&self, resource: &Value, rt: &ResourceType) -> bool {
        self.holds(&Scope::Resource { resource, rt })
    }

    /// Whether one element of the multi-valued attribute `attr` matches; the filter's paths are
    /// `attr`'s sub-attributes (`value`, for a multi-valued simple attribute).
    pub fn matches_element(&self, element: &Value, attr: &AttributeDef) -> bool {
        self.holds(&Scope::Element { element, attr })
    }

    fn holds(&self, scope: &Scope<'_>) -> bool {
        match self {
            Filter::And(a, b) => a.holds(scope) && b.holds(scope),
            Filter::Or(a, b) => a.holds(scope) || b.holds(scope),
            Filter::Not(inner) => !inner.holds(scope),
            Filter::Present(path) => scope.is_present(path),
            // `eq null` and `ne null` are presence tests, everywhere (RFC 7643 §2.5: no value and
            // null are one state).
            Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Null } => !scope.is_present(path),
            Filter::Compare { path, op: CompareOp::Ne, value: CompValue::Null } => scope.is_present(path),
            Filter::Compare { path, op, value } => scope.locate(path).is_some_and(|found| found.compares(*op, value)),
            Filter::ValuePath { path, filter } => match scope {
                Scope::Resource { .. } => scope
                    .locate(path)
                    .is_some_and(|found| found.elements().any(|element| filter.holds(&Scope::Element { element, attr: found.attribute }))),
                Scope::Element { .. } => false,
            },
        }
    }
}

/// What a filter's paths are looked up in.
enum Scope<'a> {
    Resource { resource: &'a Value, rt: &'a ResourceType },
    Element { element: &'a Value, attr: &'a AttributeDef },
}

/// Where a path led: the attribute it names, the attribute's value if there is one, and the
/// sub-attribute it goes on to.
struct Found<'a> {
    attribute: &'a AttributeDef,
    value: Option<&'a Value>,
    sub_attribute: Option<&'a AttributeDef>,
}

impl<'a> Scope<'a> {
    fn is_present(&self, path: &AttrPath) -> bool {
        self.locate(path).is_some_and(|found| found.is_present())
    }

    /// `None` when the path names no attribute.
    fn locate(&self, path: &AttrPath) -> Option<Found<'a>> {
        match *self {
            Scope::Resource { resource, .. } if is_schemas(path) => {
                Some(Found { attribute: &SCHEMAS, value: member(resource, "schemas"), sub_attribute: None })
            }
            Scope::Resource { resource, rt } => {
                let resolved = path.resolve(rt)?;
                let container = match resolved.extension {
                    Some(ext) => member(resource, ext.id),
                    None => Some(resource),
                };
                let value = container.and_then(|c| member(c, resolved.attribute.name));
                Some(Found { attribute: resolved.attribute, value, sub_attribute: resolved.sub_attribute })
            }
            Scope::Element { .. } if path.schema.is_some() || path.sub_attr.is_some() => None,
            // The elements of a multi-valued simple attribute are the values themselves.
            Scope::Element { element, attr } if attr.kind != AttrType::Complex => {
                path.name.eq_ignore_ascii_case("value").then_some(Found { attribute: attr, value: Some(element), sub_attribute: None })
            }
            Scope::Element { element, attr } => {
                let sub = attr.sub_attribute(&path.name)?;
                Some(Found { attribute: sub, value: member(element, sub.name), sub_attribute: None })
            }
        }
    }
}

impl<'a> Found<'a> {
    /// The attribute's value, or each of its elements if it is multi-valued.
    fn elements(&self) -> impl Iterator<Item = &'a Value> {
        let (items, single): (&'a [Value], Option<&'a Value>) = match self.value {
            Some(Value::Array(items)) => (items, None),
            Some(Value::Null) | None => (&[], None),
            Some(value) => (&[], Some(value)),
        };
        items.iter().chain(single)
    }

    /// The definition the values compare by and the non-null values: a sub-attribute's in
    /// every element, and a bare complex attribute compares its `value` (`emails eq "x"`).
    fn compared(&self) -> (&'a AttributeDef, Vec<&'a Value>) {
        let sub = self.sub_attribute.or_else(|| match self.attribute.kind {
            AttrType::Complex => self.attribute.compared(),
            _ => None,
        });
        let values = match sub {
            Some(sub) => self.elements().filter_map(|e| member(e, sub.name)).filter(|v| !v.is_null()).collect(),
            None => self.elements().collect(),
        };
        (sub.unwrap_or(self.attribute), values)
    }

    /// `pr`: a bare attribute is present when it has a non-empty value (`emails pr` when there
    /// is any email); a sub-attribute when some element has it.
    fn is_present(&self) -> bool {
        match self.sub_attribute {
            Some(_) => self.compared().1.into_iter().any(has_content),
            None => self.value.is_some_and(has_content),
        }
    }

    fn compares(&self, op: CompareOp, expected: &CompValue) -> bool {
        let (def, values) = self.compared();
        match (op, expected) {
            // `Filter::holds` answers `eq null` and `ne null`; validation refuses the rest.
            (_, CompValue::Null) => false,
            (CompareOp::Ne, _) => values.is_empty() || values.into_iter().any(|v| !compare(def, CompareOp::Eq, expected, v)),
            _ => values.into_iter().any(|v| compare(def, op, expected, v)),
        }
    }
}

/// A member of a JSON object, by name matched case-insensitively.
fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn has_content(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// One non-null value against a non-null `expected`; `ne` is decided by the caller.
fn compare(def: &AttributeDef, op: CompareOp, expected: &CompValue, actual: &Value) -> bool {
    match (expected, actual) {
        (CompValue::String(e), Value::String(a)) if def.kind == AttrType::DateTime && !op.is_substring() => {
            instant(a).zip(instant(e)).is_some_and(|(a, e)| order_holds(op, a.cmp(&e)))
        }
        (CompValue::String(e), Value::String(a)) => compare_text(op, a, e, def.case_exact),
        (CompValue::Number(e), Value::Number(a)) => compare_numbers(a, e).is_some_and(|ordering| order_holds(op, ordering)),
        (CompValue::Bool(e), Value::Bool(a)) => op == CompareOp::Eq && a == e,
        // Entra ID sends booleans as strings, in filters too: `active eq "False"`.
        (CompValue::String(e), Value::Bool(a)) => op == CompareOp::Eq && e.eq_ignore_ascii_case(if *a { "true" } else { "false" }),
        _ => false,
    }
}

fn compare_text(op: CompareOp, actual: &str, expected: &str, case_exact: bool) -> bool {
    let (actual, expected) = (fold(actual, case_exact), fold(expected, case_exact));
    match op {
        CompareOp::Co => actual.contains(expected.as_ref()),
        CompareOp::Sw => actual.starts_with(expected.as_ref()),
        CompareOp::Ew => actual.ends_with(expected.as_ref()),
        _ => order_holds(op, actual.cmp(&expected)),
    }
}

fn fold(text: &str, case_exact: bool) -> Cow<'_, str> {
    crate::text::folded(text, case_exact)
}

/// Integers compare exactly (ids beyond 2^53 stay distinct); anything else as floats.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return Some(a.cmp(&b));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// Whether `actual.cmp(expected) == ordering` satisfies `op`.
fn order_holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering.is_eq(),
        CompareOp::Ne => ordering.is_ne(),
        CompareOp::Gt => ordering.is_gt(),
        CompareOp::Ge => ordering.is_ge(),
        CompareOp::Lt => ordering.is_lt(),
        CompareOp::Le => ordering.is_le(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE, USER_SCHEMA};

    fn bjensen() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "BJensen-Ext",
            "userName": "bjensen@example.com",
            "name": {"familyName": "O'Malley", "givenName": "Barbara", "middleName": null},
            "title": "Tour Guide",
            "userType": "Employee",
            "active": false,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "ims": [{"value": "babs@foo.com", "type": "xmpp"}],
            "phoneNumbers": [],
            ENTERPRISE_USER_SCHEMA: {
                "employeeNumber": "701984",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            },
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34.000+00:00"
            }
        })
    }

    fn assert_matches(resource: &Value, rt: &ResourceType, cases: &[(&str, bool)]) {
        for (text, expected) in cases {
            let filter = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(filter.matches(resource, rt), *expected, "{text}");
        }
    }

    #[test]
    fn strings_compare_case_insensitively_unless_case_exact() {
        assert_matches(
            &bjensen(),
            &USER_RESOURCE,
            &[
                (r#"userName eq "BJENSEN@example.com""#, true),
                (r#"USERNAME Eq "bjensen@example.com""#, true),
                (r#"username sw "BJ""#, true),
                (r#"userName ew "@EXAMPLE.COM""#, true),
                (r#"name.familyName co "o'mal""#, true),
                (r#"userName eq "bjensen""#, false),
                (r#"externalId eq "BJensen-Ext""#, true),
                (r#"externalId eq "bjensen-ext""#, false),
                (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
                (r#"title gt "Tour""#, true),
                (r#"title lt "tour guide""#, false),
                (r#"title le "TOUR GUIDE""#, true),
            ],
        );
    }

    #[test]
    fn the_rfc_examples_evaluate() {
        assert_matches(
            &bjensen(),
            &USER_RESOURCE,
            &[
                ("title pr", true),
                (r#"title pr and userType eq "Employee""#, true),
                (r#"title pr or userType eq "Intern""#, true),
                (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#, true),
                (r#"schemas eq "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, true),
                (r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group""#, false),
                (r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true),
                (r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false),
                (r#"userType eq "Employee" and (emails.type eq "work")"#, true),
                (r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, true),
                (r#"emails[type eq "home" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#, true),
                (r#"emails[type eq "home" and value co "@example.com"] or ims[type eq "aim"]"#, false),
            ],
        );
    }

    #[test]
    fn multi_valued_attributes_match_through_any_element() {
        assert_matches(
            &bjensen(),
            &USER_RESOURCE,
            &[
                (r#"emails eq "babs@jensen.org""#, true),
                (r#"emails.value eq "BABS@jensen.org""#, true),
                (r#"emails.type eq "home""#, true),
                // Any value: the work email is not of type home.
                (r#"emails.type ne "home""#, true),
                (r#"not (emails.type eq "home")"#, false),
                (r#"phoneNumbers.type ne "home""#, true),
                (r#"emails.type ne "other""#, true),
                (r#"emails[type eq "home" and primary eq true]"#, false),
                (r#"emails[type eq "work" and primary eq true]"#, true),
                (r#"emails[not (type eq "work")]"#, true),
                ("emails pr", true),
                ("emails.primary pr", true),
                ("ims.display pr", false),
                ("phoneNumbers pr", false),
                (r#"phoneNumbers[type eq "work"]"#, false),
            ],
        );
    }

    #[test]
    fn entra_work_email_lookup() {
        assert_matches(
            &bjensen(),
            &USER_RESOURCE,
            &[
                (r#"emails[type eq "work"].value eq "BJensen@example.com""#, true),
                (r#"emails[type eq "work"].value eq "babs@jensen.org""#, false),
                (r#"emails[type eq "home"].value ew "jensen.org""#, true),
                (r#"emails[type eq "home"].primary pr"#, false),
            ],
        );
    }

    #[test]
    fn extension_attributes_live_under_their_urn() {
        assert_matches(
            &bjensen(),
            &USER_RESOURCE,
            &[
                (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#, true),
                (r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq "701984""#, true),
                (r#"employeeNumber eq "701984""#, true),
                (
                    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
                    true,
                ),
                (
                    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87E4-49D8CA9F808D""#,
                    false,
                ),
                (r#"manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#, true),
                ("costCenter pr", false),
            ],
        );
    }

    #[test]
    fn date_times_compare_as_instants() {
        assert_matches(
            &bjensen(),
            &USER_RESOURCE,
            &[
                (r#"meta.lastModified eq "2011-05-13T04:42:34Z""#, true),
                (r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, true),
                (r#"meta.lastModified gt "2011-05-13T04:42:33.999Z""#, true),
                (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
                (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false),
                (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true),
                (r#"meta.created lt "2011-01-01T00:00:00Z" and meta.created gt "2009-12-31T23:59:59-01:00""#, true),
                (r#"meta.created eq "not a date""#, false),
                (r#"meta.created sw "2010-01""#, true),
            ],
        );
    }

    #[test]
    fn booleans_and_a_deactivated_user() {
        assert_matches(
            &bjensen(),
            &USER_RESOURCE,
            &[
                ("active eq false", true),
                ("active eq true", false),
                ("active ne true", true),
                (r#"active eq "False""#, true),
                ("active pr", true),
                (r#"active eq false and userName eq "bjensen@example.com""#, true),
            ],
        );
    }

    #[test]
    fn missing_values_null_and_unknown_attributes() {
        assert_matches(
            &bjensen(),
            &USER_RESOURCE,
            &[
                (r#"nickName eq "x""#, false),
                (r#"nickName ne "x""#, true),
                ("nickName eq null", true),
                ("nickName ne null", false),
                ("nickName pr", false),
                ("name.middleName eq null", true),
                ("name.middleName pr", false),
                ("name.givenName ne null", true),
                ("title eq null", false),
                ("title gt null", false),
                (r#"nope eq "x""#, false),
                (r#"nope ne "x""#, false),
                ("nope pr", false),
                ("not (nope pr)", true),
                (r#"urn:x:y:z:userName eq "bjensen@example.com""#, false),
            ],
        );
    }

    #[test]
    fn null_tests_presence_as_pr_does() {
        let mut user = bjensen();
        user["photos"] = json!([{"value": "https://x/1.jpg"}]);
        user["addresses"] = json!([{"locality": "Oslo"}]);
        user["phoneNumbers"] = json!([{"type": "work"}]);
        for (path, present) in [
            ("photos.type", false),
            ("photos", true),
            ("ims.type", true),
            ("x509Certificates", false),
            ("addresses", true),
            ("addresses.type", false),
            ("phoneNumbers", true),
            ("phoneNumbers.value", false),
            ("name", true),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", true),
            ("costCenter", false),
        ] {
            let cases = [
                (format!("{path} pr"), present),
                (format!("not ({path} pr)"), !present),
                (format!("{path} ne null"), present),
                (format!("{path} eq null"), !present),
            ];
            for (text, expected) in cases {
                assert_eq!(Filter::parse(&text).unwrap().matches(&user, &USER_RESOURCE), expected, "{text}");
            }
        }
        // An element without a value is found by what it has (ADR 0025).
        assert_matches(
            &user,
            &USER_RESOURCE,
            &[(r#"phoneNumbers[type eq "work"]"#, true), (r#"phoneNumbers[type eq "work" and value eq null]"#, true)],
        );
    }

    #[test]
    fn numbers_compare_numerically() {
        // A multi-valued simple attribute: each element is a value, named `value` in a filter.
        let element = json!(10);
        let attr = AttributeDef::string("counts", "").of_type(AttrType::Integer).multi();
        for (text, expected) in
            [("value eq 10", true), ("value eq 10.0", true), ("value gt 9.5", true), ("value lt 1e1", false), ("value ne 11", true)]
        {
            assert_eq!(Filter::parse(text).unwrap().matches_element(&element, &attr), expected, "{text}");
        }
        assert!(!Filter::parse(r#"value eq "10""#).unwrap().matches_element(&element, &attr));
        let big = json!(9_007_199_254_740_993_u64);
        assert!(!Filter::parse("value eq 9007199254740992").unwrap().matches_element(&big, &attr));
    }

    #[test]
    fn elements_of_a_multi_valued_attribute() {
        let members = GROUP_RESOURCE.schema.attribute("members").unwrap();
        let member = json!({"value": "2819c223", "display": "Babs Jensen", "$ref": "https://x/Users/2819c223"});
        for (text, expected) in [
            (r#"value eq "2819c223""#, true),
            (r#"VALUE eq "2819c223""#, true),
            (r#"value eq "2819C223""#, false),
            (r#"display eq "babs jensen""#, true),
            ("$ref pr", true),
            ("type pr", false),
            (r#"type ne "Group""#, true),
            (r#"value eq "2819c223" and not (display sw "x")"#, true),
            (r#"nope eq "x""#, false),
            (r#"members.value eq "2819c223""#, false),
        ] {
            assert_eq!(Filter::parse(text).unwrap().matches_element(&member, members), expected, "{text}");
        }
        let emails = USER_RESOURCE.schema.attribute("emails").unwrap();
        let email = json!({"value": "a@x.com", "type": "work", "primary": "True"});
        assert!(Filter::parse(r#"type eq "WORK" and primary eq "true""#).unwrap().matches_element(&email, emails));
    }

    #[test]
    fn schemas_is_a_list_of_urns() {
        let schemas = [Filter::parse(r#"schemas[value eq "urn:ietf:params:scim:schemas:core:2.0:user"]"#).unwrap()];
        assert!(schemas[0].matches(&bjensen(), &USER_RESOURCE));
        assert_matches(&bjensen(), &USER_RESOURCE, &[("schemas pr", true), (r#"schemas co "enterprise""#, true)]);
        assert_matches(&json!({"userName": "x"}), &USER_RESOURCE, &[("schemas pr", false), (r#"schemas ne "urn:x""#, true)]);
    }

    #[test]
    fn attribute_names_in_the_document_match_case_insensitively() {
        let sloppy = json!({"USERNAME": "x", "Emails": [{"VALUE": "a@x.com"}], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EmployeeNumber": "7"}});
        assert_matches(
            &sloppy,
            &USER_RESOURCE,
            &[(r#"userName eq "X""#, true), (r#"emails.value eq "a@x.com""#, true), (r#"employeeNumber eq "7""#, true)],
        );
    }
}
