//! Checking a filter against a resource type before it is run: every path names an attribute,
//! and every operator and value fit that attribute's type.

use super::ast::{CompValue, CompareOp, Filter};
use super::eval::{instant, is_schemas, SCHEMAS};
use crate::error::quoted;
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, ResourceType, Returned};
use crate::ScimError;

impl Filter {
    /// Every path resolves in `resource` (inside a value filter, to a sub-attribute of the
    /// filtered attribute), and the operators and values fit; else `invalidFilter`.
    pub fn validate(&self, resource: &ResourceType) -> Result<(), ScimError> {
        self.check(Scope::Resource(resource))
    }

    fn check(&self, scope: Scope<'_>) -> Result<(), ScimError> {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.check(scope)?;
                b.check(scope)
            }
            Filter::Not(inner) => inner.check(scope),
            Filter::Present(path) => filterable(scope.definition(path)?, path),
            Filter::Compare { path, op, value } => check_comparison(scope.definition(path)?, path, *op, value),
            Filter::ValuePath { path, filter } => match scope {
                Scope::Resource(_) => {
                    let attr = scope.definition(path)?;
                    if !attr.multi_valued {
                        return Err(ScimError::invalid_filter(format!(
                            "'{}' is not multi-valued and takes no value filter",
                            quoted(&path.to_string())
                        )));
                    }
                    filter.check(Scope::Element(attr))
                }
                Scope::Element(_) => {
                    Err(ScimError::invalid_filter(format!("value filters cannot nest ('{}[…]')", quoted(&path.to_string()))))
                }
            },
        }
    }
}

/// What paths name: the resource type's attributes, or the sub-attributes of the attribute a
/// value filter is on.
#[derive(Clone, Copy)]
enum Scope<'r> {
    Resource(&'r ResourceType),
    Element(&'static AttributeDef),
}

impl Scope<'_> {
    fn definition(self, path: &AttrPath) -> Result<&'static AttributeDef, ScimError> {
        let found = match self {
            Scope::Resource(_) if is_schemas(path) => Some(&SCHEMAS),
            Scope::Resource(rt) => path.resolve(rt).map(|resolved| resolved.target()),
            Scope::Element(_) if path.schema.is_some() || path.sub_attr.is_some() => None,
            Scope::Element(attr) if attr.kind != AttrType::Complex => path.name.eq_ignore_ascii_case("value").then_some(attr),
            Scope::Element(attr) => attr.sub_attribute(&path.name),
        };
        found.ok_or_else(|| match self {
            Scope::Resource(rt) => ScimError::invalid_filter(format!("'{}' is not an attribute of {}", quoted(&path.to_string()), rt.name)),
            Scope::Element(attr) => {
                ScimError::invalid_filter(format!("'{}' is not a sub-attribute of '{}'", quoted(&path.to_string()), attr.name))
            }
        })
    }
}

/// What the read models keep of the attribute can be filtered on: not what they leave out (a
/// member's `display`), what only rendering makes (`meta.location`), nor what is never returned
/// (`password`).
fn filterable(def: &AttributeDef, path: &AttrPath) -> Result<(), ScimError> {
    if def.filterable && def.returned != Returned::Never {
        return Ok(());
    }
    Err(ScimError::invalid_filter(format!("'{}' cannot be filtered on", quoted(&path.to_string()))))
}

fn check_comparison(def: &AttributeDef, path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<(), ScimError> {
    let refuse = |why: &str| Err(ScimError::invalid_filter(format!("'{}': {why}", quoted(&format!("{path} {op} {value}")))));
    filterable(def, path)?;
    // `eq null` and `ne null` test presence, as `not … pr` and `pr` do: they fit any attribute.
    if *value == CompValue::Null && matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Ok(());
    }
    // A bare complex attribute compares its `value` sub-attribute (`emails co "x"`), but is not
    // ordered by it.
    let def = match def.compared() {
        _ if def.kind == AttrType::Complex && op.is_ordering() => {
            return refuse("a complex attribute is not ordered; name one of its sub-attributes")
        }
        Some(compared) => compared,
        None => return refuse("a complex attribute compares through a sub-attribute; name one"),
    };
    if def.kind == AttrType::Boolean && (op.is_ordering() || op.is_substring()) {
        return refuse("a boolean takes eq, ne and pr only");
    }
    // RFC 7644 §3.4.2.2: binary data has no order.
    if def.kind == AttrType::Binary && op.is_ordering() {
        return refuse("a binary attribute is not ordered");
    }
    if op.is_substring() && !matches!(value, CompValue::String(_)) {
        return refuse("co, sw and ew take a string");
    }
    if op.is_ordering() && matches!(value, CompValue::Null | CompValue::Bool(_)) {
        return refuse("gt, ge, lt and le take a string, a number or a date-time");
    }
    // A value of another type would match nothing, silently: `userName gt 5`.
    let fits = match (def.kind, value) {
        (AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime, CompValue::String(_)) => true,
        (AttrType::Boolean, CompValue::Bool(_)) => true,
        // Entra ID sends booleans as strings, in filters too: `active eq "False"`.
        (AttrType::Boolean, CompValue::String(s)) => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"),
        (AttrType::Integer | AttrType::Decimal, CompValue::Number(_)) => true,
        _ => false,
    };
    if !fits {
        return refuse(&format!("a {} attribute compares with a {0} value", def.kind.as_str()));
    }
    // A malformed date-time would otherwise match nothing, silently.
    let date_time = |v: &CompValue| matches!(v, CompValue::String(s) if instant(s).is_some());
    if def.kind == AttrType::DateTime && !op.is_substring() && !date_time(value) {
        return refuse("a dateTime compares with an RFC 3339 date-time such as \"2011-05-13T04:42:34Z\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use crate::ScimType;

    fn validate(text: &str, rt: &ResourceType) -> Result<(), ScimError> {
        Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).validate(rt)
    }

    #[test]
    fn accepts_what_the_schemas_have() {
        for text in [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            r#"emails[type eq "work"].value eq "user@x.com""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
            r#"employeeNumber eq "1" and manager pr and manager eq "x""#,
            r#"externalId eq "x" and id eq "y" and active eq false and active ne "True""#,
            "meta.created eq null and title ne null",
            r#"meta.created sw "2011""#,
            r#"groups[display co "eng"] and groups.value eq "x" and groups pr and groups.type eq "direct""#,
            r#"name eq null and manager ne null and emails.type eq null and photos eq null"#,
            r#"x509Certificates.value co "MII" and meta.resourceType eq "User""#,
            r#"EMAILS[TYPE eq "work"]"#,
        ] {
            assert_eq!(validate(text, &USER_RESOURCE), Ok(()), "{text}");
        }
        assert_eq!(validate(r#"displayName eq "x" and members[value eq "1"] and members.value co "a""#, &GROUP_RESOURCE), Ok(()));
    }

    #[test]
    fn refuses_unknown_attributes_and_operators_that_do_not_fit() {
        for (text, detail) in [
            (r#"nope eq "x""#, "'nope' is not an attribute of User"),
            ("name.nope pr", "'name.nope' is not an attribute of User"),
            (r#"urn:x:y:userName eq "x""#, "'urn:x:y:userName' is not an attribute of User"),
            (r#"emails[nope eq "x"]"#, "'nope' is not a sub-attribute of 'emails'"),
            (r#"emails[emails.type eq "x"]"#, "'emails.type' is not a sub-attribute of 'emails'"),
            (r#"emails[type eq "work"].nope eq "x""#, "'nope' is not a sub-attribute of 'emails'"),
            (r#"name[givenName eq "x"]"#, "'name' is not multi-valued"),
            (r#"userName[value eq "x"]"#, "'userName' is not multi-valued"),
            ("active gt true", "'active gt true': a boolean takes eq, ne and pr only"),
            (r#"active co "t""#, "'active co \"t\"': a boolean takes eq, ne and pr only"),
            (r#"emails[primary sw "t"]"#, "'primary sw \"t\"': a boolean"),
            (r#"emails gt "a""#, "'emails gt \"a\"': a complex attribute is not ordered"),
            (r#"name eq "x""#, "'name eq \"x\"': a complex attribute compares through a sub-attribute"),
            (r#"x509Certificates.value gt "A""#, "'x509Certificates.value gt \"A\"': a binary attribute is not ordered"),
            (r#"x509Certificates[value le "A"]"#, "'value le \"A\"': a binary attribute is not ordered"),
            ("name gt null", "'name gt null': a complex attribute is not ordered"),
            ("groups[$ref pr]", "'$ref' cannot be filtered on"),
            (r#"meta.version eq "W/\"1\"""#, "'meta.version' cannot be filtered on"),
            (r#"meta.location sw "http""#, "'meta.location' cannot be filtered on"),
            ("password pr", "'password' cannot be filtered on"),
            ("userName co 1", "'userName co 1': co, sw and ew take a string"),
            ("title ew null", "'title ew null': co, sw and ew take a string"),
            ("title gt null", "'title gt null': gt, ge, lt and le take"),
            ("title le false", "'title le false': gt, ge, lt and le take"),
            (r#"meta.created gt "yesterday""#, "'meta.created gt \"yesterday\"': a dateTime compares with an RFC 3339"),
            ("meta.lastModified eq 2011", "'meta.lastModified eq 2011': a dateTime"),
        ] {
            let err = validate(text, &USER_RESOURCE).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidFilter)), "{text}");
            assert!(err.detail.starts_with(detail), "{text}: {}", err.detail);
        }
        for text in [r#"members.display eq "x""#, r#"members[type eq "User"]"#, "members.$ref pr"] {
            let err = validate(text, &GROUP_RESOURCE).unwrap_err();
            assert!(err.detail.ends_with("cannot be filtered on"), "{text}: {}", err.detail);
        }
        let long = format!("userName eq \"{}\" and active gt true", "x".repeat(70_000));
        assert!(validate(&long, &USER_RESOURCE).unwrap_err().detail.len() < 300, "a detail quotes a bounded part of the filter");
        let err = validate(r#"userName eq "x""#, &GROUP_RESOURCE).unwrap_err();
        assert_eq!(err.detail, "'userName' is not an attribute of Group");
    }

    #[test]
    fn value_filters_built_by_hand_cannot_nest() {
        let inner = Filter::parse(r#"x[type eq "work"]"#).unwrap();
        let nested = Filter::ValuePath { path: AttrPath::new("emails"), filter: Box::new(inner) };
        let err = nested.validate(&USER_RESOURCE).unwrap_err();
        assert_eq!(err.detail, "value filters cannot nest ('x[…]')");
    }
}
