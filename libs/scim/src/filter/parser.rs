//! Tokens to a filter or a PATCH path, by recursive descent:
//!
//! ```text
//! filter  = or
//! or      = and *("or" and)
//! and     = unary *("and" unary)
//! unary   = "not" unary / "(" or ")" / attrExp
//! attrExp = attrPath "[" or "]" ["." subAttr (compareOp compValue / "pr")]
//!         / attrPath "pr" / attrPath compareOp compValue
//! path    = attrPath ["[" or "]" ["." subAttr]]
//! ```
//!
//! RFC 7644 only has `not "(" filter ")"`; `not` before a bare comparison is tolerated. The
//! `"." subAttr compareOp compValue` after a value filter is Entra ID's.

use super::ast::{CompValue, CompareOp, Filter, PatchPath};
use super::lexer::{position, tokenize, Spanned, Token};
use crate::error::quoted;
use crate::path::{is_attr_name, AttrPath};
use crate::ScimError;

/// Parentheses, `not`s and brackets nested deeper than this are refused rather than risking
/// the stack.
const MAX_NESTING: usize = 50;

/// A chain of `and`s or `or`s nests the tree one level per comparison, and everything that
/// walks the tree (matching, SQL translation, printing, dropping) recurses, so the number of
/// comparisons is bounded too. SQLite refuses expressions nested deeper than 1000.
const MAX_COMPARISONS: usize = 100;

impl Filter {
    /// Parses a filter; any error is `invalidFilter` with a detail saying where and why.
    pub fn parse(text: &str) -> Result<Filter, ScimError> {
        let mut parser = Parser::new(text)?;
        if parser.tokens.is_empty() {
            return Err(ScimError::invalid_filter("the filter is empty"));
        }
        let filter = parser.or(Scope::Resource)?;
        parser.end()?;
        Ok(filter)
    }
}

impl PatchPath {
    /// `attrPath` or `valuePath ["." subAttr]` (RFC 7644 §3.5.2); any error is `invalidPath`.
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        Parser::new(text)
            .and_then(|mut parser| parser.patch_path())
            .map_err(|e| ScimError::invalid_path(format!("'{text}' is not a PATCH path: {}", e.detail)))
    }
}

/// Whether paths are the resource's attributes or, inside `[…]`, sub-attributes of one
/// multi-valued attribute (where value filters cannot nest).
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Resource,
    Element,
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Spanned<'t>>,
    next: usize,
    nesting: usize,
    comparisons: usize,
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Result<Self, ScimError> {
        Ok(Self { text, tokens: tokenize(text)?, next: 0, nesting: 0, comparisons: 0 })
    }

    fn patch_path(&mut self) -> Result<PatchPath, ScimError> {
        let attr = self.attr_path()?;
        let mut filter = None;
        let mut sub_attr = None;
        if self.eat(&Token::LBracket) {
            filter = Some(self.value_filter(&attr)?);
            if self.eat(&Token::Dot) {
                sub_attr = Some(self.sub_attr_name()?);
            }
        }
        self.end()?;
        Ok(PatchPath { attr, filter, sub_attr })
    }

    fn or(&mut self, scope: Scope) -> Result<Filter, ScimError> {
        let mut left = self.and(scope)?;
        while self.eat_keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and(scope)?));
        }
        Ok(left)
    }

    fn and(&mut self, scope: Scope) -> Result<Filter, ScimError> {
        let mut left = self.unary(scope)?;
        while self.eat_keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.unary(scope)?));
        }
        Ok(left)
    }

    fn unary(&mut self, scope: Scope) -> Result<Filter, ScimError> {
        if self.eat_keyword("not") {
            return self.nested(|p| Ok(Filter::Not(Box::new(p.unary(scope)?))));
        }
        if self.eat(&Token::LParen) {
            return self.nested(|p| {
                let inner = p.or(scope)?;
                p.expect(&Token::RParen)?;
                Ok(inner)
            });
        }
        self.attr_expression(scope)
    }

    fn attr_expression(&mut self, scope: Scope) -> Result<Filter, ScimError> {
        let path = self.attr_path()?;
        let bracket = self.here();
        if !self.eat(&Token::LBracket) {
            return self.comparison(path);
        }
        if scope == Scope::Element {
            return Err(self.error_at(bracket, "value filters cannot nest"));
        }
        let mut filter = self.value_filter(&path)?;
        if self.eat(&Token::Dot) {
            // Entra ID: `emails[type eq "work"].value eq "x"` is some email that is of type
            // work and has the value x.
            let sub = AttrPath::new(self.sub_attr_name()?);
            filter = Filter::And(Box::new(filter), Box::new(self.comparison(sub)?));
        }
        Ok(Filter::ValuePath { path, filter: Box::new(filter) })
    }

    /// The filter between `[` (already consumed) and `]` after `attr`.
    fn value_filter(&mut self, attr: &AttrPath) -> Result<Filter, ScimError> {
        if attr.sub_attr.is_some() {
            return Err(self.error(&format!("'{attr}' is a sub-attribute; a value filter follows a multi-valued attribute")));
        }
        self.nested(|p| {
            let filter = p.or(Scope::Element)?;
            p.expect(&Token::RBracket)?;
            Ok(filter)
        })
    }

    /// `pr` or `compareOp compValue` after `path`.
    fn comparison(&mut self, path: AttrPath) -> Result<Filter, ScimError> {
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(self.error(&format!("the filter has more than {MAX_COMPARISONS} comparisons")));
        }
        let at = self.here();
        let op = match self.advance() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Some(Token::Word(w)) => compare_op(w).ok_or_else(|| self.error_at(at, &format!("'{}' is not an operator", quoted(w))))?,
            found => return Err(self.unexpected(at, found.as_ref(), &format!("an operator after '{}'", quoted(&path.to_string())))),
        };
        let value = self.comp_value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn comp_value(&mut self) -> Result<CompValue, ScimError> {
        let at = self.here();
        match self.advance() {
            Some(Token::Str(s)) => Ok(CompValue::String(s)),
            Some(Token::Number(n)) => Ok(CompValue::Number(n)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(CompValue::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(CompValue::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(CompValue::Null),
            found => Err(self.unexpected(at, found.as_ref(), "a value (a quoted string, a number, true, false or null)")),
        }
    }

    fn attr_path(&mut self) -> Result<AttrPath, ScimError> {
        let at = self.here();
        match self.advance() {
            Some(Token::Word(w)) if !is_keyword(w) => {
                AttrPath::parse(w).map_err(|_| self.error_at(at, &format!("'{w}' is not an attribute path")))
            }
            found => Err(self.unexpected(at, found.as_ref(), "an attribute")),
        }
    }

    fn sub_attr_name(&mut self) -> Result<String, ScimError> {
        let at = self.here();
        match self.advance() {
            Some(Token::Word(w)) if is_attr_name(w) => Ok(w.to_owned()),
            found => Err(self.unexpected(at, found.as_ref(), "a sub-attribute name")),
        }
    }

    /// Runs `inner` one nesting level deeper.
    fn nested<T>(&mut self, inner: impl FnOnce(&mut Self) -> Result<T, ScimError>) -> Result<T, ScimError> {
        if self.nesting == MAX_NESTING {
            return Err(self.error(&format!("the filter nests deeper than {MAX_NESTING} levels")));
        }
        self.nesting += 1;
        let result = inner(self);
        self.nesting -= 1;
        result
    }

    fn peek(&self) -> Option<&Token<'t>> {
        self.tokens.get(self.next).map(|s| &s.token)
    }

    fn advance(&mut self) -> Option<Token<'t>> {
        let token = self.tokens.get(self.next).map(|s| s.token.clone());
        self.next += 1;
        token
    }

    fn eat(&mut self, token: &Token<'_>) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.next += 1;
        }
        found
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.next += 1;
        }
        found
    }

    fn expect(&mut self, token: &Token<'_>) -> Result<(), ScimError> {
        let at = self.here();
        match self.advance() {
            Some(found) if found == *token => Ok(()),
            found => Err(self.unexpected(at, found.as_ref(), &token.describe())),
        }
    }

    fn end(&self) -> Result<(), ScimError> {
        match self.peek() {
            None => Ok(()),
            Some(token) => Err(self.error(&format!("{} is not expected here", token.describe()))),
        }
    }

    /// The byte offset of the next token, or the end of the text.
    fn here(&self) -> usize {
        self.tokens.get(self.next).map_or(self.text.len(), |s| s.at)
    }

    fn error(&self, what: &str) -> ScimError {
        self.error_at(self.here(), what)
    }

    fn error_at(&self, at: usize, what: &str) -> ScimError {
        if at == self.text.len() {
            ScimError::invalid_filter(format!("{what} (at the end)"))
        } else {
            ScimError::invalid_filter(format!("{what} (at character {})", position(self.text, at)))
        }
    }

    fn unexpected(&self, at: usize, found: Option<&Token<'_>>, expected: &str) -> ScimError {
        match found {
            Some(token) => self.error_at(at, &format!("expected {expected}, found {}", token.describe())),
            None => self.error_at(at, &format!("expected {expected}")),
        }
    }
}

fn compare_op(word: &str) -> Option<CompareOp> {
    const OPS: [(&str, CompareOp); 9] = [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ];
    OPS.iter().find(|(name, _)| word.eq_ignore_ascii_case(name)).map(|(_, op)| *op)
}

/// The logical words cannot be attribute names: `not` starts a negation, and `and`/`or` where
/// an attribute should be is a mistake best reported as such.
fn is_keyword(word: &str) -> bool {
    ["and", "or", "not"].iter().any(|k| word.eq_ignore_ascii_case(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ENTERPRISE_USER_SCHEMA;
    use crate::ScimType;

    fn path(text: &str) -> AttrPath {
        AttrPath::parse(text).unwrap()
    }

    fn compare(p: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare { path: path(p), op, value }
    }

    fn cmp(p: &str, op: CompareOp, value: &str) -> Filter {
        compare(p, op, CompValue::String(value.into()))
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn value_path(p: &str, filter: Filter) -> Filter {
        Filter::ValuePath { path: path(p), filter: Box::new(filter) }
    }

    /// Every example filter of RFC 7644 §3.4.2.2.
    #[test]
    fn parses_the_rfc_examples() {
        use CompareOp::*;
        let examples = [
            (r#"userName eq "bjensen""#, cmp("userName", Eq, "bjensen")),
            (r#"name.familyName co "O'Malley""#, cmp("name.familyName", Co, "O'Malley")),
            (r#"userName sw "J""#, cmp("userName", Sw, "J")),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                cmp("urn:ietf:params:scim:schemas:core:2.0:User:userName", Sw, "J"),
            ),
            ("title pr", Filter::Present(path("title"))),
            (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, cmp("meta.lastModified", Gt, "2011-05-13T04:42:34Z")),
            (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, cmp("meta.lastModified", Ge, "2011-05-13T04:42:34Z")),
            (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, cmp("meta.lastModified", Lt, "2011-05-13T04:42:34Z")),
            (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, cmp("meta.lastModified", Le, "2011-05-13T04:42:34Z")),
            (r#"title pr and userType eq "Employee""#, and(Filter::Present(path("title")), cmp("userType", Eq, "Employee"))),
            (r#"title pr or userType eq "Intern""#, or(Filter::Present(path("title")), cmp("userType", Eq, "Intern"))),
            (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, cmp("schemas", Eq, ENTERPRISE_USER_SCHEMA)),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                and(cmp("userType", Eq, "Employee"), or(cmp("emails", Co, "example.com"), cmp("emails.value", Co, "example.org"))),
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                and(
                    cmp("userType", Ne, "Employee"),
                    Filter::Not(Box::new(or(cmp("emails", Co, "example.com"), cmp("emails.value", Co, "example.org")))),
                ),
            ),
            (r#"userType eq "Employee" and (emails.type eq "work")"#, and(cmp("userType", Eq, "Employee"), cmp("emails.type", Eq, "work"))),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                and(cmp("userType", Eq, "Employee"), value_path("emails", and(cmp("type", Eq, "work"), cmp("value", Co, "@example.com")))),
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                or(
                    value_path("emails", and(cmp("type", Eq, "work"), cmp("value", Co, "@example.com"))),
                    value_path("ims", and(cmp("type", Eq, "xmpp"), cmp("value", Co, "@foo.com"))),
                ),
            ),
        ];
        for (text, expected) in examples {
            assert_eq!(Filter::parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let parsed = Filter::parse(r#"NOT (title PR) AnD userName Eq "x" OR active eq TRUE or x eq Null"#).unwrap();
        let not_title = Filter::Not(Box::new(Filter::Present(path("title"))));
        let expected = or(
            or(and(not_title, cmp("userName", CompareOp::Eq, "x")), compare("active", CompareOp::Eq, CompValue::Bool(true))),
            compare("x", CompareOp::Eq, CompValue::Null),
        );
        assert_eq!(parsed, expected);
    }

    #[test]
    fn and_binds_tighter_than_or_and_both_associate_left() {
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| Filter::Present(path(n)));
        assert_eq!(Filter::parse("a pr or b pr and c pr or d pr").unwrap(), or(or(a.clone(), and(b.clone(), c.clone())), d));
        assert_eq!(Filter::parse("a pr and b pr and c pr").unwrap(), and(and(a, b), c));
    }

    #[test]
    fn not_takes_a_parenthesised_filter_or_one_comparison() {
        let negated = |f| Filter::Not(Box::new(f));
        assert_eq!(Filter::parse(r#"not userName eq "x""#).unwrap(), negated(cmp("userName", CompareOp::Eq, "x")));
        assert_eq!(
            Filter::parse(r#"not a eq "1" and b eq "2""#).unwrap(),
            and(negated(cmp("a", CompareOp::Eq, "1")), cmp("b", CompareOp::Eq, "2"))
        );
        assert_eq!(Filter::parse("not(a pr)").unwrap(), negated(Filter::Present(path("a"))));
    }

    #[test]
    fn values_are_json_literals() {
        let value = |text: &str| match Filter::parse(&format!("x eq {text}")).unwrap() {
            Filter::Compare { value, .. } => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(value("false"), CompValue::Bool(false));
        assert_eq!(value("NULL"), CompValue::Null);
        assert_eq!(value("-12"), CompValue::Number((-12).into()));
        assert_eq!(value("2.5e1").to_string(), "25.0");
        assert_eq!(value(r#""say \"hi\" \\ \u263A""#), CompValue::String("say \"hi\" \\ ☺".into()));
    }

    #[test]
    fn urn_qualified_paths_split_at_the_last_colon() {
        let text = format!("{ENTERPRISE_USER_SCHEMA}:manager.value eq \"26118915\"");
        let Filter::Compare { path, .. } = Filter::parse(&text).unwrap() else { panic!() };
        assert_eq!(path.schema.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!((path.name.as_str(), path.sub_attr.as_deref()), ("manager", Some("value")));
        assert!(Filter::parse("members[$ref pr]").is_ok());
    }

    #[test]
    fn entra_sub_attribute_after_a_value_filter_joins_the_value_filter() {
        assert_eq!(
            Filter::parse(r#"emails[type eq "work"].value eq "user@x.com""#).unwrap(),
            value_path("emails", and(cmp("type", CompareOp::Eq, "work"), cmp("value", CompareOp::Eq, "user@x.com")))
        );
        let work_or_primary = or(cmp("type", CompareOp::Eq, "work"), compare("primary", CompareOp::Eq, CompValue::Bool(true)));
        assert_eq!(
            Filter::parse(r#"emails[type eq "work" or primary eq true].value pr and userName sw "a""#).unwrap(),
            and(value_path("emails", and(work_or_primary, Filter::Present(path("value")))), cmp("userName", CompareOp::Sw, "a"))
        );
    }

    #[test]
    fn errors_are_invalid_filter_and_say_where() {
        let cases = [
            ("", "the filter is empty"),
            ("   ", "the filter is empty"),
            (r#"userName eq "bjensen"#, "the string at character 13 is not terminated"),
            (r#"userName eq "x" extra"#, "'extra' is not expected here (at character 17)"),
            (r#"userName eq "x")"#, "')' is not expected here (at character 16)"),
            (r#"userName like "x""#, "'like' is not an operator (at character 10)"),
            ("userName eq", "expected a value (a quoted string, a number, true, false or null) (at the end)"),
            ("userName eq bjensen", "expected a value (a quoted string, a number, true, false or null), found 'bjensen' (at character 13)"),
            ("userName", "expected an operator after 'userName' (at the end)"),
            (r#"(userName eq "x""#, "expected ')' (at the end)"),
            (r#"emails[type eq "work""#, "expected ']' (at the end)"),
            (r#"emails[type eq "work"]."#, "expected a sub-attribute name (at the end)"),
            (r#"emails[type eq "work"].value"#, "expected an operator after 'value' (at the end)"),
            ("emails[]", "expected an attribute, found ']' (at character 8)"),
            (r#"emails.value[type eq "work"]"#, "'emails.value' is a sub-attribute"),
            (r#"emails[x[y pr]]"#, "value filters cannot nest (at character 9)"),
            (r#"and eq "x""#, "expected an attribute, found 'and' (at character 1)"),
            (r#"user@name eq "x""#, "'user@name' is not an attribute path (at character 1)"),
            (r#"userName eq "x" and"#, "expected an attribute (at the end)"),
            ("not", "expected an attribute (at the end)"),
            (r#"é eq "x""#, "'é' is not an attribute path (at character 1)"),
            (r#""é" eq "x""#, "expected an attribute, found the string \"é\" (at character 1)"),
        ];
        for (text, detail) in cases {
            let err = Filter::parse(text).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidFilter)), "{text}");
            assert!(err.detail.starts_with(detail), "{text}: {}", err.detail);
        }
    }

    #[test]
    fn deep_nesting_and_long_chains_are_refused_not_overflowed() {
        for text in ["(".repeat(100_000), "not ".repeat(100_000), format!("{}a pr{}", "(".repeat(51), ")".repeat(51))] {
            let err = Filter::parse(&text).unwrap_err();
            assert!(err.detail.contains("nests deeper than 50 levels"), "{}", err.detail);
        }
        let nested = format!("{}a pr{}", "(".repeat(50), ")".repeat(50));
        assert_eq!(Filter::parse(&nested), Ok(Filter::Present(path("a"))));

        let chain = |n: usize| vec!["a pr"; n].join(" or ");
        assert!(Filter::parse(&chain(MAX_COMPARISONS)).is_ok());
        let err = Filter::parse(&chain(100_000)).unwrap_err();
        assert!(err.detail.starts_with("the filter has more than 100 comparisons"), "{}", err.detail);
    }

    #[test]
    fn patch_paths() {
        let plain = |p: &str| PatchPath { attr: path(p), filter: None, sub_attr: None };
        assert_eq!(PatchPath::parse("members"), Ok(plain("members")));
        assert_eq!(PatchPath::parse("name.givenName"), Ok(plain("name.givenName")));
        let urn = format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber");
        assert_eq!(PatchPath::parse(&urn), Ok(plain(&urn)));
        assert_eq!(
            PatchPath::parse(r#"members[value eq "2819c223"]"#),
            Ok(PatchPath { attr: path("members"), filter: Some(cmp("value", CompareOp::Eq, "2819c223")), sub_attr: None })
        );
        assert_eq!(
            PatchPath::parse(r#"emails[type eq "work"].value"#),
            Ok(PatchPath { attr: path("emails"), filter: Some(cmp("type", CompareOp::Eq, "work")), sub_attr: Some("value".into()) })
        );
        assert_eq!(
            PatchPath::parse(r#"emails[type eq "untyped"]"#),
            Ok(PatchPath { attr: path("emails"), filter: Some(cmp("type", CompareOp::Eq, "untyped")), sub_attr: None })
        );
    }

    #[test]
    fn bad_patch_paths_are_invalid_path() {
        for text in [
            "",
            "members[value eq",
            "members[value eq \"x\"",
            "emails[]",
            "emails[type eq \"work\"].",
            "emails[type eq \"work\"].value eq \"x\"",
            "emails[type eq \"work\"] extra",
            "name.givenName[x pr]",
            "emails[x[y pr]]",
            "1abc",
            "a b",
            "name..x",
        ] {
            let err = PatchPath::parse(text).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidPath)), "{text}");
            assert!(err.detail.starts_with(&format!("'{text}' is not a PATCH path: ")), "{}", err.detail);
        }
    }
}
