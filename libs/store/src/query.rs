//! SCIM filters and sorting compiled to parameterised SQL, for either backend.
//!
//! The look-ups IdPs make on every sync (userName, externalId, emails.value, aliases.value,
//! group displayName, members.value) hit indexed columns: case-insensitive attributes through
//! keys folded in Rust (`domain::names::fold_case`), multi-valued ones through side tables.
//! Every other attribute is answered from the stored document through the dialect's JSON
//! functions, a user's `groups` from its row's `[id, displayName]` pairs; text folds on both
//! sides by one rule (ADR 0026). Each condition means what `Filter::matches` means on the
//! resource GET renders (ADR 0027). Values are always bound as parameters, never spliced into
//! the SQL.

use domain::names::fold_case;
use scim::error::quoted;
use scim::filter::{CompValue, CompareOp, Filter};
use scim::list::{ListQuery, Sort, SortOrder};
use scim::path::{AttrPath, ResolvedPath};
use scim::schema::{AttrType, AttributeDef, ResourceType, GROUP_RESOURCE, USER_RESOURCE};
use scim::ScimError;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::projection::INDEXED_USER_VALUES;

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    Uuid(Uuid),
    Time(OffsetDateTime),
}

/// What differs between PostgreSQL and SQLite.
pub trait Dialect: Sync {
    /// The placeholder of the `n`th parameter (1-based).
    fn param(&self, n: usize) -> String;
    /// Case-folds a text expression the way `fold_case` does.
    fn fold(&self, expr: &str) -> String;
    /// The text of a UUID column.
    fn uuid_text(&self, column: &str) -> String;
    /// The text at `path` in a JSON column (`None` when absent).
    fn json_text(&self, json: &str, path: &[&str]) -> String;
    /// The JSON value at `path` in a JSON column, for `json_text` to reach into.
    fn json_value(&self, json: &str, path: &[&str]) -> String;
    /// A boolean expression: the JSON value at `path` is the boolean `value`.
    fn json_is_bool(&self, json: &str, path: &[&str], value: bool) -> String;
    /// The number at `path`, for numeric comparisons.
    fn json_number(&self, json: &str, path: &[&str]) -> String;
    /// A FROM item over the elements of the JSON array at `path`, named `alias`, and the
    /// expression that stands for one element.
    fn json_elements(&self, json: &str, path: &[&str], alias: &str) -> (String, String);
    /// A text expression as `gt`/`lt` and `sortBy` order it: by code points, as Rust compares
    /// strings and the in-memory filter evaluation does, whatever the database's collation.
    fn code_point_order(&self, expr: &str) -> String;
    fn contains(&self, expr: &str, needle: &str) -> String;
    fn starts_with(&self, expr: &str, prefix: &str) -> String;
    fn ends_with(&self, expr: &str, suffix: &str) -> String;
}

/// Which read model a query reads: its row is aliased `r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Users,
    Groups,
}

impl Target {
    pub fn table(self) -> &'static str {
        match self {
            Target::Users => "users",
            Target::Groups => "groups",
        }
    }

    fn resource(self) -> &'static ResourceType {
        match self {
            Target::Users => &USER_RESOURCE,
            Target::Groups => &GROUP_RESOURCE,
        }
    }
}

/// How an SQL expression compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text compared as is.
    Exact,
    /// Text already case-folded: the value is folded before it is bound.
    Folded,
    /// Text to fold on both sides.
    FoldBoth,
    Bool,
    Number,
    Time,
    /// A UUID column: `eq` binds a UUID, other operators compare its text.
    Uuid,
}

/// An SQL expression for one attribute, and how it compares.
struct Operand {
    expr: String,
    kind: Kind,
    /// For JSON booleans: the document and path, so `eq true` can use `json_is_bool`.
    json: Option<(String, Vec<String>)>,
}

pub struct Compiler<'d> {
    dialect: &'d dyn Dialect,
    target: Target,
    /// Parameters the surrounding query binds before the filter's.
    offset: usize,
    params: Vec<SqlValue>,
    aliases: usize,
}

impl<'d> Compiler<'d> {
    /// `first_param` is the number of parameters the surrounding query binds before the filter's,
    /// the tenant's first: side tables are searched for the tenant's rows through it.
    pub fn new(dialect: &'d dyn Dialect, target: Target, first_param: usize) -> Self {
        Self { dialect, target, offset: first_param, params: Vec::new(), aliases: 0 }
    }

    /// The parameters bound so far, to follow the surrounding query's own.
    pub fn into_params(self) -> Vec<SqlValue> {
        self.params
    }

    /// Binds one more parameter and returns its placeholder.
    pub fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        self.dialect.param(self.offset + self.params.len())
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("e{}", self.aliases)
    }

    /// A boolean SQL expression selecting the rows `filter` matches.
    pub fn filter(&mut self, filter: &Filter) -> Result<String, ScimError> {
        match filter {
            Filter::And(a, b) => Ok(format!("({} AND {})", self.filter(a)?, self.filter(b)?)),
            Filter::Or(a, b) => Ok(format!("({} OR {})", self.filter(a)?, self.filter(b)?)),
            // A missing attribute compares as unknown (NULL); `not` of it is true.
            Filter::Not(inner) => Ok(format!("(NOT COALESCE({}, FALSE))", self.filter(inner)?)),
            Filter::Present(path) => self.present_path(path),
            // `eq null` and `ne null` are presence tests, as `Filter::matches` has them.
            Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Null } => {
                Ok(format!("(NOT COALESCE({}, FALSE))", self.present_path(path)?))
            }
            Filter::Compare { path, op: CompareOp::Ne, value: CompValue::Null } => self.present_path(path),
            Filter::Compare { path, op: CompareOp::Ne, value } if self.is_multi_valued(path) => {
                // Some value is another, or there is none (as `Filter::matches` has it).
                let none = self.on_attribute(path, Reach::Compared, &|_, operand| Ok(format!("({} IS NOT NULL)", operand.expr)))?;
                let other = self.on_attribute(path, Reach::Compared, &|c, operand| {
                    let has_value = format!("({} IS NOT NULL)", operand.expr);
                    let eq = c.compare(operand, CompareOp::Eq, value)?;
                    Ok(format!("({has_value} AND NOT COALESCE({eq}, FALSE))"))
                })?;
                Ok(format!("((NOT {none}) OR {other})"))
            }
            Filter::Compare { path, op, value } => self.on_attribute(path, Reach::Compared, &|c, operand| c.compare(operand, *op, value)),
            Filter::ValuePath { path, filter } => {
                self.on_attribute(path, Reach::Elements(filter), &|_, _| unreachable!("value paths select elements"))
            }
        }
    }

    /// `pr`: an attribute named alone is present when it has a value, or for a multi-valued
    /// one, any element (an element need not have a `value`, ADR 0025).
    fn present_path(&mut self, path: &AttrPath) -> Result<String, ScimError> {
        self.on_attribute(path, Reach::Whole, &|c, operand| Ok(c.present(operand)))
    }

    /// Whether `path` reaches the values of a multi-valued attribute (`schemas` included).
    fn is_multi_valued(&self, path: &AttrPath) -> bool {
        let schemas = path.schema.is_none() && path.name.eq_ignore_ascii_case("schemas");
        schemas || path.resolve(self.target.resource()).is_some_and(|r| r.attribute.multi_valued)
    }

    /// Resolves `path` and builds the condition: directly on a column or document field, or
    /// inside an EXISTS over the elements of a multi-valued attribute.
    fn on_attribute(
        &mut self,
        path: &AttrPath,
        reach: Reach<'_>,
        leaf: &dyn Fn(&mut Self, Operand) -> Result<String, ScimError>,
    ) -> Result<String, ScimError> {
        if path.schema.is_none() && path.name.eq_ignore_ascii_case("schemas") {
            return self.schemas_condition(reach, leaf);
        }
        let resolved = path.resolve(self.target.resource()).ok_or_else(|| {
            ScimError::invalid_filter(format!("'{}' is not an attribute of {}", quoted(&path.to_string()), self.target.resource().name))
        })?;
        let attr = resolved.attribute;
        let no_value = || ScimError::invalid_filter(format!("'{}' compares through a sub-attribute; name one", attr.name));
        if attr.multi_valued {
            // What each element is tested on: a sub-attribute, or (`emails eq "x"`) the one a
            // bare attribute compares.
            let sub = match (resolved.sub_attribute, &reach) {
                (Some(sub), _) => Some(sub),
                (None, Reach::Compared) => Some(attr.compared().ok_or_else(no_value)?),
                (None, Reach::Whole | Reach::Elements(_)) => None,
            };
            let needs_value = match (&reach, sub) {
                (Reach::Elements(f), _) => requires_value(f),
                (_, Some(sub)) => sub.name == "value",
                (_, None) => false,
            };
            return self.exists_element(&resolved, &reach, needs_value, &|c, elements| match (&reach, sub) {
                (Reach::Elements(f), _) => c.element_filter(elements, attr, f),
                (_, Some(sub)) => leaf(c, elements.operand(c.dialect, sub)?),
                // `emails pr`: any element at all.
                (_, None) => Ok("TRUE".to_owned()),
            });
        }
        if matches!(reach, Reach::Elements(_)) {
            return Err(ScimError::invalid_filter(format!("'{}' is not multi-valued", attr.name)));
        }
        // A bare complex attribute is compared through its `value` (`manager eq "id"`), never as
        // the text of its JSON object; it is present when it has any sub-attribute.
        let resolved = match (resolved.sub_attribute, &reach) {
            (None, Reach::Compared) if attr.kind == AttrType::Complex => {
                ResolvedPath { sub_attribute: Some(attr.compared().ok_or_else(no_value)?), ..resolved }
            }
            _ => resolved,
        };
        let operand = self.single_operand(&resolved)?;
        leaf(self, operand)
    }

    /// `schemas eq "urn:…:enterprise:2.0:User"`: whether the resource has that extension.
    fn schemas_condition(
        &mut self,
        reach: Reach<'_>,
        leaf: &dyn Fn(&mut Self, Operand) -> Result<String, ScimError>,
    ) -> Result<String, ScimError> {
        let rt = self.target.resource();
        let mut alternatives = vec![format!("'{}'", rt.schema.id.to_lowercase())];
        for ext in rt.extensions {
            alternatives.push(format!(
                "CASE WHEN {} IS NOT NULL THEN '{}' END",
                self.dialect.json_text("r.document", &[ext.id]),
                ext.id.to_lowercase()
            ));
        }
        let (from, element) = (format!("(SELECT {} AS s) AS sch", alternatives.join(" AS s UNION ALL SELECT ")), "sch.s".to_owned());
        let condition = match reach {
            Reach::Elements(filter) => self.element_filter(&Elements::Schemas { element }, &SCHEMAS, filter)?,
            Reach::Whole | Reach::Compared => leaf(self, Operand { expr: element, kind: Kind::Folded, json: None })?,
        };
        // An extension the resource does not have is a NULL row, which is no URN.
        Ok(format!("EXISTS (SELECT 1 FROM {from} WHERE sch.s IS NOT NULL AND {condition})"))
    }

    fn single_operand(&mut self, resolved: &ResolvedPath) -> Result<Operand, ScimError> {
        let attr = resolved.attribute;
        let target = resolved.target();
        let column = |expr: &str, kind| Ok(Operand { expr: expr.to_owned(), kind, json: None });
        if resolved.extension.is_none() {
            if let (Some((expr, kind)), None) = (key_column(self.target, attr.name), resolved.sub_attribute) {
                return column(expr, kind);
            }
            match (self.target, attr.name, resolved.sub_attribute.map(|s| s.name)) {
                (_, "meta", Some("created")) => return column("r.created_at", Kind::Time),
                (_, "meta", Some("lastModified")) => return column("r.last_modified", Kind::Time),
                (_, "meta", Some("resourceType")) => {
                    return column(&format!("'{}'", self.target.resource().name), Kind::Exact);
                }
                (_, "meta", Some(other)) => return Err(ScimError::invalid_filter(format!("meta.{other} cannot be filtered on"))),
                _ => {}
            }
        }
        let mut path: Vec<&str> = Vec::with_capacity(3);
        if let Some(ext) = resolved.extension {
            path.push(ext.id);
        }
        path.push(attr.name);
        if let Some(sub) = resolved.sub_attribute {
            path.push(sub.name);
        }
        Ok(json_operand(self.dialect, "r.document", &path, target))
    }

    /// The rows with an element of a multi-valued attribute that satisfies the condition: from a
    /// side table where one indexes it, else by EXISTS over a JSON array. `user_values` holds
    /// only elements with a `value`, so it answers only conditions that need one.
    fn exists_element(
        &mut self,
        resolved: &ResolvedPath,
        reach: &Reach<'_>,
        needs_value: bool,
        body: &dyn Fn(&mut Self, &Elements) -> Result<String, ScimError>,
    ) -> Result<String, ScimError> {
        let attr = resolved.attribute;
        let alias = self.alias();
        let core = resolved.extension.is_none();
        let indexed = core
            && self.target == Target::Users
            && INDEXED_USER_VALUES.contains(&attr.name)
            && needs_value
            && match reach {
                Reach::Elements(f) => only_names(f, &["value", "type"]),
                Reach::Compared | Reach::Whole => resolved.sub_attribute.is_none_or(|s| matches!(s.name, "value" | "type")),
            };
        let (from, elements) = if indexed {
            (format!("user_values {alias}"), Elements::UserValues { alias: alias.clone(), attribute: attr.name })
        } else if core && self.target == Target::Groups && attr.name == "members" {
            (format!("memberships {alias}"), Elements::Members { alias: alias.clone() })
        } else if core && self.target == Target::Users && attr.name == "groups" {
            let (from, element) = self.dialect.json_elements(USER_GROUPS, &[], &alias);
            (from, Elements::Groups { element })
        } else {
            let mut path = Vec::new();
            if let Some(ext) = resolved.extension {
                path.push(ext.id);
            }
            path.push(attr.name);
            let (from, element) = self.dialect.json_elements("r.document", &path, &alias);
            (from, Elements::Json { element })
        };
        let condition = body(self, &elements)?;
        // A side table is searched on its own, through its value index, for the ids it matches
        // (uncorrelated: SQLite runs a correlated EXISTS once per row of the resource table).
        let tenant = self.dialect.param(1);
        Ok(match &elements {
            Elements::UserValues { alias, attribute } => {
                format!("r.id IN (SELECT {alias}.user_id FROM {from} WHERE {alias}.tenant = {tenant} AND {alias}.attribute = '{attribute}' AND {condition})")
            }
            Elements::Members { alias } => {
                format!("r.id IN (SELECT {alias}.group_id FROM {from} WHERE {alias}.tenant = {tenant} AND {condition})")
            }
            Elements::Groups { .. } | Elements::Schemas { .. } | Elements::Json { .. } => {
                format!("EXISTS (SELECT 1 FROM {from} WHERE {condition})")
            }
        })
    }

    /// The inner filter of a value path, on one element.
    fn element_filter(&mut self, elements: &Elements, attr: &'static AttributeDef, filter: &Filter) -> Result<String, ScimError> {
        match filter {
            Filter::And(a, b) => {
                Ok(format!("({} AND {})", self.element_filter(elements, attr, a)?, self.element_filter(elements, attr, b)?))
            }
            Filter::Or(a, b) => Ok(format!("({} OR {})", self.element_filter(elements, attr, a)?, self.element_filter(elements, attr, b)?)),
            Filter::Not(inner) => Ok(format!("(NOT COALESCE({}, FALSE))", self.element_filter(elements, attr, inner)?)),
            Filter::Present(path) => self.element_present(elements, attr, path),
            Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Null } => {
                Ok(format!("(NOT COALESCE({}, FALSE))", self.element_present(elements, attr, path)?))
            }
            Filter::Compare { path, op: CompareOp::Ne, value: CompValue::Null } => self.element_present(elements, attr, path),
            Filter::Compare { path, op, value } => {
                let operand = elements.operand(self.dialect, sub_of(attr, path)?)?;
                self.compare(operand, *op, value)
            }
            Filter::ValuePath { .. } => Err(ScimError::invalid_filter("value filters cannot nest")),
        }
    }

    fn element_present(&mut self, elements: &Elements, attr: &'static AttributeDef, path: &AttrPath) -> Result<String, ScimError> {
        let operand = elements.operand(self.dialect, sub_of(attr, path)?)?;
        Ok(self.present(operand))
    }

    fn present(&mut self, operand: Operand) -> String {
        match operand.kind {
            Kind::Exact | Kind::Folded | Kind::FoldBoth => format!("({0} IS NOT NULL AND {0} <> '')", operand.expr),
            _ => format!("({} IS NOT NULL)", operand.expr),
        }
    }

    fn compare(&mut self, operand: Operand, op: CompareOp, value: &CompValue) -> Result<String, ScimError> {
        if *value == CompValue::Null {
            return match op {
                CompareOp::Eq => Ok(format!("({} IS NULL)", operand.expr)),
                CompareOp::Ne => Ok(format!("({} IS NOT NULL)", operand.expr)),
                _ => Err(ScimError::invalid_filter("null can only be compared with eq or ne")),
            };
        }
        if op == CompareOp::Ne {
            let eq = self.compare(operand, CompareOp::Eq, value)?;
            return Ok(format!("(NOT COALESCE({eq}, FALSE))"));
        }
        match operand.kind {
            Kind::Bool => self.compare_bool(operand, op, value),
            Kind::Number => {
                let n = match value {
                    CompValue::Number(n) => n.as_f64().unwrap_or_default(),
                    _ => return Err(ScimError::invalid_filter("a number attribute compares with a number")),
                };
                let p = self.bind(SqlValue::Float(n));
                Ok(format!("({} {} {p})", operand.expr, ordering_sql(op)?))
            }
            Kind::Time => {
                let CompValue::String(text) = value else {
                    return Err(ScimError::invalid_filter("a dateTime compares with an RFC 3339 string"));
                };
                let instant = OffsetDateTime::parse(text, &Rfc3339)
                    .map_err(|_| ScimError::invalid_filter(format!("'{text}' is not an RFC 3339 dateTime")))?;
                let p = self.bind(SqlValue::Time(instant));
                let sql_op = if op == CompareOp::Eq { "=" } else { ordering_sql(op)? };
                Ok(format!("({} {sql_op} {p})", operand.expr))
            }
            Kind::Uuid => {
                let text = string_value(value)?;
                if op == CompareOp::Eq {
                    return Ok(match Uuid::try_parse(text) {
                        Ok(uuid) if uuid.hyphenated().to_string() == text => {
                            let p = self.bind(SqlValue::Uuid(uuid));
                            format!("({} = {p})", operand.expr)
                        }
                        // ids are case-sensitive: no other spelling names a resource.
                        _ => "(1 = 0)".to_owned(),
                    });
                }
                let expr = self.dialect.uuid_text(&operand.expr);
                self.compare_text(expr, op, text.to_owned())
            }
            Kind::Exact => self.compare_text(operand.expr, op, string_value(value)?.to_owned()),
            Kind::Folded => self.compare_text(operand.expr, op, fold_case(string_value(value)?)),
            // Both sides folded by the database, so that a row and a value fold alike.
            Kind::FoldBoth => {
                let expr = self.dialect.fold(&operand.expr);
                let p = self.bind(SqlValue::Text(string_value(value)?.to_owned()));
                Ok(self.text_condition(expr, op, self.dialect.fold(&p))?)
            }
        }
    }

    fn compare_bool(&mut self, operand: Operand, op: CompareOp, value: &CompValue) -> Result<String, ScimError> {
        let wanted = match value {
            CompValue::Bool(b) => *b,
            CompValue::String(s) if s.eq_ignore_ascii_case("true") => true,
            CompValue::String(s) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(ScimError::invalid_filter("a boolean attribute compares with true or false")),
        };
        if op != CompareOp::Eq {
            return Err(ScimError::invalid_filter("a boolean attribute compares with eq or ne only"));
        }
        Ok(match operand.json {
            Some((json, path)) => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                self.dialect.json_is_bool(&json, &path, wanted)
            }
            None => {
                let p = self.bind(SqlValue::Bool(wanted));
                format!("({} = {p})", operand.expr)
            }
        })
    }

    fn compare_text(&mut self, expr: String, op: CompareOp, value: String) -> Result<String, ScimError> {
        let p = self.bind(SqlValue::Text(value));
        self.text_condition(expr, op, p)
    }

    /// `expr op p` on text, `p` being a placeholder or an expression over one.
    fn text_condition(&self, expr: String, op: CompareOp, p: String) -> Result<String, ScimError> {
        Ok(match op {
            CompareOp::Eq => format!("({expr} = {p})"),
            CompareOp::Co => self.dialect.contains(&expr, &p),
            CompareOp::Sw => self.dialect.starts_with(&expr, &p),
            CompareOp::Ew => self.dialect.ends_with(&expr, &p),
            other => format!("({} {} {})", self.dialect.code_point_order(&expr), ordering_sql(other)?, self.dialect.code_point_order(&p)),
        })
    }

    /// The ORDER BY expression for `sortBy` (ties and an absent sortBy fall back to the order
    /// resources were created in).
    pub fn order_by(&mut self, sort: Option<&Sort>) -> Result<String, ScimError> {
        let Some(sort) = sort else { return Ok("r.seq".to_owned()) };
        let cannot = |why: &str| ScimError::invalid_value(format!("cannot sort by '{}': {why}", quoted(&sort.by.to_string())));
        let resolved = sort.by.resolve(self.target.resource()).ok_or_else(|| cannot("no such attribute"))?;
        let attr = resolved.attribute;
        let sub = match resolved.sub_attribute {
            Some(sub) => sub,
            None => attr.compared().ok_or_else(|| cannot("a complex attribute sorts by a sub-attribute; name one"))?,
        };
        let expr = if attr.multi_valued {
            let value = if resolved.extension.is_none() && self.target == Target::Users && attr.name == "groups" {
                // A user's groups have no primary: the first, as GET lists them.
                let first = self.dialect.json_value(USER_GROUPS, &["0"]);
                group_field(self.dialect, &first, sub)?.expr
            } else if resolved.extension.is_none() && self.target == Target::Groups && attr.name == "members" {
                return Err(cannot("members are kept apart from the group's document"));
            } else {
                // RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary element, or
                // else by its first.
                let mut path = Vec::new();
                if let Some(ext) = resolved.extension {
                    path.push(ext.id);
                }
                path.push(attr.name);
                let alias = self.alias();
                let (elements, element) = self.dialect.json_elements("r.document", &path, &alias);
                let primary =
                    format!("(SELECT {element} FROM {elements} WHERE {} LIMIT 1)", self.dialect.json_is_bool(&element, &["primary"], true));
                path.push("0");
                let chosen = format!("COALESCE({primary}, {})", self.dialect.json_value("r.document", &path));
                json_operand(self.dialect, &chosen, &[sub.name], sub).expr
            };
            match sub.case_exact {
                true => self.dialect.code_point_order(&value),
                false => self.dialect.code_point_order(&self.dialect.fold(&value)),
            }
        } else {
            let operand =
                self.single_operand(&ResolvedPath { sub_attribute: Some(sub).filter(|_| attr.kind == AttrType::Complex), ..resolved })?;
            match operand.kind {
                Kind::FoldBoth => self.dialect.code_point_order(&self.dialect.fold(&operand.expr)),
                Kind::Exact | Kind::Folded => self.dialect.code_point_order(&operand.expr),
                Kind::Bool | Kind::Number | Kind::Time | Kind::Uuid => operand.expr,
            }
        };
        let direction = match sort.order {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        };
        // Resources without the attribute sort last either way (RFC 7644 §3.4.2.3).
        Ok(format!("({expr} IS NULL), {expr} {direction}, r.seq"))
    }
}

/// How a condition reaches an attribute named alone, with no sub-attribute.
enum Reach<'f> {
    /// As a whole, for `pr`: a multi-valued attribute through any element.
    Whole,
    /// Through what it compares ([`AttributeDef::compared`]): `emails eq "x"` is on `value`.
    Compared,
    /// Through the elements a value filter selects.
    Elements(&'f Filter),
}

/// `schemas`, which no schema defines, as a value filter sees it: each element is a URN.
const SCHEMAS: AttributeDef = AttributeDef::string("schemas", "The schema URNs of the resource.").multi();

/// The column of a user's groups: `[id, displayName]` pairs (ADR 0014).
const USER_GROUPS: &str = "r.groups";

/// The elements of a multi-valued attribute inside an EXISTS.
enum Elements {
    UserValues {
        alias: String,
        attribute: &'static str,
    },
    Members {
        alias: String,
    },
    /// A user's groups, each an `[id, displayName]` pair, rendered with `type` "direct".
    Groups {
        element: String,
    },
    /// The resource's schema URNs, folded.
    Schemas {
        element: String,
    },
    Json {
        element: String,
    },
}

impl Elements {
    fn operand(&self, dialect: &dyn Dialect, sub: &AttributeDef) -> Result<Operand, ScimError> {
        let not_indexed = || ScimError::invalid_filter(format!("'{}' cannot be filtered on here", sub.name));
        match self {
            Elements::UserValues { alias, .. } => match sub.name {
                "value" => Ok(Operand { expr: format!("{alias}.value_key"), kind: Kind::Folded, json: None }),
                "type" => Ok(Operand { expr: format!("{alias}.value_type"), kind: Kind::Folded, json: None }),
                _ => Err(not_indexed()),
            },
            Elements::Members { alias } => match sub.name {
                "value" => Ok(Operand { expr: format!("{alias}.member_id"), kind: Kind::Uuid, json: None }),
                _ => Err(not_indexed()),
            },
            Elements::Groups { element } => group_field(dialect, element, sub),
            Elements::Schemas { element } => Ok(Operand { expr: element.clone(), kind: Kind::Folded, json: None }),
            Elements::Json { element } => Ok(json_operand(dialect, element, &[sub.name], sub)),
        }
    }
}

/// A sub-attribute of one `[id, displayName]` pair of a user's groups, as GET renders it.
fn group_field(dialect: &dyn Dialect, pair: &str, sub: &AttributeDef) -> Result<Operand, ScimError> {
    let (expr, kind) = match sub.name {
        "value" => (dialect.json_text(pair, &["0"]), Kind::Exact),
        "display" => (dialect.json_text(pair, &["1"]), Kind::FoldBoth),
        "type" => (format!("(CASE WHEN {} IS NOT NULL THEN 'direct' END)", dialect.json_text(pair, &["0"])), Kind::Folded),
        _ => return Err(ScimError::invalid_filter(format!("groups.{} cannot be filtered on", sub.name))),
    };
    Ok(Operand { expr, kind, json: None })
}

/// The indexed column that holds a core attribute of `target` whole, with how it compares: the
/// keys a resource is found by.
fn key_column(target: Target, attribute: &str) -> Option<(&'static str, Kind)> {
    match (target, attribute) {
        (_, "id") => Some(("r.id", Kind::Uuid)),
        (_, "externalId") => Some(("r.external_id", Kind::Exact)),
        (Target::Users, "userName") => Some(("r.user_name_key", Kind::Folded)),
        (Target::Groups, "displayName") => Some(("r.display_name_key", Kind::Folded)),
        _ => None,
    }
}

/// Whether `query` finds its rows by one key alone (`userName eq "…"`, `id eq "…"`…), unsorted:
/// a read through the key's index, planned the same at every table size (ADR 0078).
pub fn finds_by_key(target: Target, query: &ListQuery) -> bool {
    let Some(Filter::Compare { path, op: CompareOp::Eq, value: CompValue::String(_) }) = &query.filter else {
        return false;
    };
    let keyed = path.resolve(target.resource()).is_some_and(|resolved| {
        resolved.extension.is_none() && resolved.sub_attribute.is_none() && key_column(target, resolved.attribute.name).is_some()
    });
    keyed && query.sort.is_none()
}

/// A field of a JSON document, compared as its attribute's type says.
fn json_operand(dialect: &dyn Dialect, json: &str, path: &[&str], def: &AttributeDef) -> Operand {
    let text = dialect.json_text(json, path);
    let (expr, kind) = match def.kind {
        AttrType::Boolean => (text, Kind::Bool),
        AttrType::Integer | AttrType::Decimal => (dialect.json_number(json, path), Kind::Number),
        AttrType::DateTime => (text, Kind::Exact),
        _ if def.case_exact => (text, Kind::Exact),
        _ => (text, Kind::FoldBoth),
    };
    Operand { expr, kind, json: Some((json.to_owned(), path.iter().map(|s| s.to_string()).collect())) }
}

/// Whether every element a value filter selects has a `value` (`value eq "x"`, `value pr`);
/// `value ne "x"` and `not (…)` select elements without one too.
fn requires_value(filter: &Filter) -> bool {
    let is_value = |path: &AttrPath| path.name.eq_ignore_ascii_case("value");
    match filter {
        Filter::And(a, b) => requires_value(a) || requires_value(b),
        Filter::Or(a, b) => requires_value(a) && requires_value(b),
        Filter::Present(path) => is_value(path),
        Filter::Compare { path, op, value } => is_value(path) && *op != CompareOp::Ne && *value != CompValue::Null,
        Filter::Not(_) | Filter::ValuePath { .. } => false,
    }
}

/// Whether every path in `filter` is one of `names` (the columns a side table has).
fn only_names(filter: &Filter, names: &[&str]) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => only_names(a, names) && only_names(b, names),
        Filter::Not(inner) => only_names(inner, names),
        Filter::Present(path) | Filter::Compare { path, .. } => names.iter().any(|n| path.name.eq_ignore_ascii_case(n)),
        Filter::ValuePath { .. } => false,
    }
}

/// What a path inside a value filter names: a sub-attribute, or for a multi-valued simple
/// attribute (`schemas[value eq "…"]`) the element itself.
fn sub_of(attr: &'static AttributeDef, path: &AttrPath) -> Result<&'static AttributeDef, ScimError> {
    let found = match attr.kind {
        AttrType::Complex => attr.sub_attribute(&path.name),
        _ => path.name.eq_ignore_ascii_case("value").then_some(attr),
    };
    found.ok_or_else(|| ScimError::invalid_filter(format!("'{}' is not a sub-attribute of '{}'", path.name, attr.name)))
}

fn string_value(value: &CompValue) -> Result<&str, ScimError> {
    match value {
        CompValue::String(s) => Ok(s),
        _ => Err(ScimError::invalid_filter("this attribute compares with a string")),
    }
}

fn ordering_sql(op: CompareOp) -> Result<&'static str, ScimError> {
    match op {
        CompareOp::Gt => Ok(">"),
        CompareOp::Ge => Ok(">="),
        CompareOp::Lt => Ok("<"),
        CompareOp::Le => Ok("<="),
        other => Err(ScimError::invalid_filter(format!("{other:?} does not apply to this attribute"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(resource: &ResourceType, params: &[(&str, &str)]) -> ListQuery {
        ListQuery::from_params(params.iter().copied(), resource).unwrap()
    }

    #[test]
    fn a_query_finds_by_key_when_one_key_equality_is_all_it_asks() {
        let by_key = |target: Target, params: &[(&str, &str)]| finds_by_key(target, &query(target.resource(), params));
        for filter in [
            r#"userName eq "ann@example.com""#,
            r#"USERNAME eq "ann@example.com""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ann@example.com""#,
            r#"externalId eq "00u1""#,
            r#"id eq "01a23e39-c31f-719b-aadf-fe588cf680c2""#,
        ] {
            assert!(by_key(Target::Users, &[("filter", filter)]), "{filter}");
        }
        assert!(by_key(Target::Groups, &[("filter", r#"displayName eq "Staff""#), ("excludedAttributes", "members")]));
        for filter in [
            r#"userName co "ann""#,
            r#"userName eq "ann@example.com" and active eq true"#,
            r#"emails.value eq "ann@example.com""#,
            r#"name.givenName eq "Ann""#,
            r#"displayName eq "Ann""#,
            "active eq true",
        ] {
            assert!(!by_key(Target::Users, &[("filter", filter)]), "{filter}");
        }
        assert!(!by_key(Target::Users, &[("filter", r#"userName eq "ann@example.com""#), ("sortBy", "name.familyName")]));
        assert!(!by_key(Target::Users, &[]));
    }
}
