//! Query parameters of list and search requests (RFC 7644 §3.4.2, RFC 9865) and the
//! ListResponse message.

use serde_json::{json, Value};

use crate::cursor::{self, Position};
use crate::error::quoted;
use crate::filter::Filter;
use crate::path::AttrPath;
use crate::projection::Selection;
use crate::schema::{AttrType, ResourceType, Returned};
use crate::ScimError;

pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The page size when a client gives no `count` (Okta's import uses 100 or 200).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The largest page served; larger `count`s are reduced to it (RFC 7644 §3.4.2.4).
pub const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub by: AttrPath,
    pub order: SortOrder,
}

/// Which page a list request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// RFC 7644 index paging; 1-based, as SCIM counts.
    Index { start_index: u64 },
    /// RFC 9865 cursor paging: the first page (an empty `cursor`) or the one a cursor names.
    Cursor(Option<Position>),
}

/// A validated list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub paging: Paging,
    pub count: u32,
    pub sort: Option<Sort>,
    pub selection: Selection,
    /// What a cursor of this query is bound to: the resource type and the filter, so that a
    /// cursor replayed on another query is refused.
    cursor_scope: String,
}

impl ListQuery {
    /// Parses query-string parameters (names matched case-insensitively).
    pub fn from_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>, resource: &ResourceType) -> Result<Self, ScimError> {
        let mut raw = RawQuery::default();
        for (name, value) in params {
            if let Some(slot) = raw.slot(name) {
                *slot = Some(Value::String(value.to_owned()));
            }
        }
        raw.into_query(resource)
    }

    /// Parses a SearchRequest body (POST `/.search`).
    pub fn from_search_request(body: &Value, resource: &ResourceType) -> Result<Self, ScimError> {
        let Value::Object(fields) = body else {
            return Err(ScimError::invalid_syntax("a search request must be a JSON object"));
        };
        let mut raw = RawQuery::default();
        for (name, value) in fields {
            if let Some(slot) = raw.slot(name) {
                *slot = Some(value.clone());
            }
        }
        raw.into_query(resource)
    }

    /// The startIndex a ListResponse reports (1 for cursor pages).
    pub fn start_index(&self) -> u64 {
        match self.paging {
            Paging::Index { start_index } => start_index,
            Paging::Cursor(_) => 1,
        }
    }

    /// The opaque cursor of `position` in this query.
    pub fn cursor(&self, position: Position) -> String {
        cursor::encode(&self.cursor_scope, position)
    }
}

#[derive(Default)]
struct RawQuery {
    filter: Option<Value>,
    start_index: Option<Value>,
    cursor: Option<Value>,
    count: Option<Value>,
    sort_by: Option<Value>,
    sort_order: Option<Value>,
    attributes: Option<Value>,
    excluded: Option<Value>,
}

impl RawQuery {
    /// Where a parameter of this name goes (names are matched case-insensitively); `None` for
    /// parameters SCIM does not define, which are ignored.
    fn slot(&mut self, name: &str) -> Option<&mut Option<Value>> {
        Some(match name.to_ascii_lowercase().as_str() {
            "filter" => &mut self.filter,
            "startindex" => &mut self.start_index,
            "cursor" => &mut self.cursor,
            "count" => &mut self.count,
            "sortby" => &mut self.sort_by,
            "sortorder" => &mut self.sort_order,
            "attributes" => &mut self.attributes,
            "excludedattributes" => &mut self.excluded,
            _ => return None,
        })
    }

    fn into_query(self, resource: &ResourceType) -> Result<ListQuery, ScimError> {
        let filter = match self.filter.as_ref().map(text) {
            Some(Some(f)) if !f.trim().is_empty() => {
                let filter = Filter::parse(f)?;
                filter.validate(resource)?;
                crate::limits::check_filter(&filter, resource)?;
                Some(filter)
            }
            Some(Some(_)) | None => None,
            Some(None) => return Err(ScimError::invalid_filter("'filter' must be a string")),
        };
        let cursor_scope = format!("{}|{}", resource.id, filter.as_ref().map(ToString::to_string).unwrap_or_default());
        // RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count is 0.
        let start_index = integer(self.start_index.as_ref(), "startIndex")?.map(|i| i.max(1) as u64);
        let paging = match (self.cursor.as_ref(), start_index) {
            (None, start_index) => Paging::Index { start_index: start_index.unwrap_or(1) },
            (Some(_), Some(_)) => return Err(ScimError::invalid_value("give either 'startIndex' or 'cursor', not both")),
            (Some(Value::Null), None) => Paging::Cursor(None),
            (Some(Value::String(c)), None) if c.trim().is_empty() => Paging::Cursor(None),
            (Some(Value::String(c)), None) => Paging::Cursor(Some(cursor::decode(&cursor_scope, c)?)),
            (Some(_), None) => return Err(ScimError::invalid_cursor("'cursor' must be a string")),
        };
        let count = integer(self.count.as_ref(), "count")?.map_or(DEFAULT_PAGE_SIZE, |c| c.clamp(0, MAX_PAGE_SIZE as i64) as u32);
        let sort = match self.sort_by.as_ref().and_then(text) {
            Some(by) if !by.trim().is_empty() => {
                let by = AttrPath::parse(by).map_err(|e| ScimError::invalid_value(e.detail))?;
                check_sort_by(&by, resource)?;
                let order = match self.sort_order.as_ref().and_then(text) {
                    None => SortOrder::Ascending,
                    Some(o) if o.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
                    Some(o) if o.eq_ignore_ascii_case("descending") => SortOrder::Descending,
                    Some(o) => return Err(ScimError::invalid_value(format!("'{}' is not a sortOrder (ascending, descending)", quoted(o)))),
                };
                Some(Sort { by, order })
            }
            _ => None,
        };
        if sort.is_some() && matches!(paging, Paging::Cursor(_)) {
            // ADR 0011: cursor pages follow the creation order, the one order every page can
            // be read in from an index.
            return Err(ScimError::invalid_value("cursor pages come in creation order: page a sorted list with startIndex"));
        }
        let selection = Selection {
            attributes: attribute_list(self.attributes.as_ref(), "attributes")?,
            excluded: attribute_list(self.excluded.as_ref(), "excludedAttributes")?,
        };
        Ok(ListQuery { filter, paging, count, sort, selection, cursor_scope })
    }
}

/// `sortBy` names an attribute that has an order: one filters may name, that is not binary,
/// and, if complex, compares through a `value` sub-attribute (`manager`, `emails`; not `name`).
fn check_sort_by(by: &AttrPath, resource: &ResourceType) -> Result<(), ScimError> {
    let cannot = |why: &str| Err(ScimError::invalid_value(format!("cannot sort by '{}': {why}", quoted(&by.to_string()))));
    let Some(resolved) = by.resolve(resource) else { return cannot("no such attribute") };
    let Some(sorted) = resolved.target().compared() else {
        return cannot("a complex attribute sorts by a sub-attribute; name one");
    };
    if !(resolved.attribute.filterable && sorted.filterable) || sorted.returned == Returned::Never {
        return cannot("it cannot be filtered on");
    }
    if sorted.kind == AttrType::Binary {
        return cannot("binary data has no order");
    }
    Ok(())
}

fn text(value: &Value) -> Option<&str> {
    value.as_str()
}

fn integer(value: Option<&Value>, name: &str) -> Result<Option<i64>, ScimError> {
    let bad = || ScimError::invalid_value(format!("'{name}' must be an integer"));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// Parses `attributes` / `excludedAttributes`: a comma-separated string, or a JSON array of them
/// in a SearchRequest.
pub fn attribute_list(value: Option<&Value>, name: &str) -> Result<Vec<AttrPath>, ScimError> {
    let items: Vec<&str> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s.split(',').collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| ScimError::invalid_value(format!("'{name}' must list attribute names"))))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ScimError::invalid_value(format!("'{name}' must list attribute names"))),
    };
    items
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| AttrPath::parse(s).map_err(|e| ScimError::invalid_value(e.detail)))
        .collect()
}

/// The ListResponse message; its counts are JSON integers.
pub fn list_response(total_results: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total_results,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

/// The ListResponse of a cursor page (RFC 9865 §2): no startIndex; `nextCursor` unless this is
/// the last page, `previousCursor` unless it is the first.
pub fn cursor_list_response(total_results: u64, resources: Vec<Value>, next: Option<String>, previous: Option<String>) -> Value {
    let mut body = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total_results,
        "itemsPerPage": resources.len(),
    });
    if let Some(next) = next {
        body["nextCursor"] = next.into();
    }
    if let Some(previous) = previous {
        body["previousCursor"] = previous.into();
    }
    body["Resources"] = resources.into();
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::USER_RESOURCE;

    #[test]
    fn defaults_when_paging_is_absent() {
        let q = ListQuery::from_params([], &USER_RESOURCE).unwrap();
        assert_eq!((q.paging, q.count, q.filter), (Paging::Index { start_index: 1 }, DEFAULT_PAGE_SIZE, None));
    }

    #[test]
    fn clamps_start_index_and_count() {
        let q = ListQuery::from_params([("startIndex", "-4"), ("COUNT", "100000")], &USER_RESOURCE).unwrap();
        assert_eq!((q.start_index(), q.count), (1, MAX_PAGE_SIZE));
        let q = ListQuery::from_params([("count", "-1")], &USER_RESOURCE).unwrap();
        assert_eq!(q.count, 0);
    }

    #[test]
    fn refuses_non_integers_and_bad_filters() {
        let err = ListQuery::from_params([("count", "ten")], &USER_RESOURCE).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidValue));
        let err = ListQuery::from_params([("filter", "userName eq")], &USER_RESOURCE).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidFilter));
        let err = ListQuery::from_params([("filter", "shoeSize eq 3")], &USER_RESOURCE).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidFilter));
    }

    #[test]
    fn cursors_start_empty_and_come_back_from_the_same_query() {
        let first = ListQuery::from_params([("cursor", ""), ("filter", "userName sw \"a\"")], &USER_RESOURCE).unwrap();
        assert_eq!(first.paging, Paging::Cursor(None));
        let text = first.cursor(Position::After(7));
        let next = ListQuery::from_params([("cursor", text.as_str()), ("filter", "userName sw \"a\"")], &USER_RESOURCE).unwrap();
        assert_eq!(next.paging, Paging::Cursor(Some(Position::After(7))));
        let search = ListQuery::from_search_request(&json!({"cursor": text, "filter": "userName sw \"a\""}), &USER_RESOURCE).unwrap();
        assert_eq!(search.paging, next.paging);
        // Another filter, or none, is another query.
        for params in [vec![("cursor", text.as_str())], vec![("cursor", text.as_str()), ("filter", "userName sw \"b\"")]] {
            let err = ListQuery::from_params(params, &USER_RESOURCE).unwrap_err();
            assert_eq!(err.scim_type, Some(crate::ScimType::InvalidCursor));
        }
    }

    #[test]
    fn cursors_refuse_start_index_and_sorting() {
        let err = ListQuery::from_params([("cursor", ""), ("startIndex", "1")], &USER_RESOURCE).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidValue));
        let err = ListQuery::from_params([("cursor", ""), ("sortBy", "userName")], &USER_RESOURCE).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidValue));
        let err = ListQuery::from_search_request(&json!({"cursor": 5}), &USER_RESOURCE).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidCursor));
    }

    #[test]
    fn sort_by_names_an_attribute_with_an_order() {
        for by in ["userName", "name.givenName", "emails", "emails.type", "manager", "groups.display", "meta.created"] {
            assert!(ListQuery::from_params([("sortBy", by)], &USER_RESOURCE).is_ok(), "{by}");
        }
        for (by, why) in [
            ("name", "a complex attribute sorts by a sub-attribute"),
            ("addresses", "a complex attribute sorts by a sub-attribute"),
            ("meta", "a complex attribute sorts by a sub-attribute"),
            ("x509Certificates.value", "binary data has no order"),
            ("meta.location", "it cannot be filtered on"),
            ("password", "it cannot be filtered on"),
            ("shoeSize", "no such attribute"),
        ] {
            let err = ListQuery::from_params([("sortBy", by)], &USER_RESOURCE).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(crate::ScimType::InvalidValue)), "{by}");
            assert!(err.detail.contains(why), "{by}: {}", err.detail);
        }
    }

    #[test]
    fn list_response_counts_are_integers() {
        let body = list_response(0, 1, vec![]);
        assert_eq!(body["totalResults"], json!(0));
        assert_eq!(body["itemsPerPage"], json!(0));
        assert_eq!(body["startIndex"], json!(1));
    }
}
