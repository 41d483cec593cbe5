//! /Bulk (RFC 7644 §3.7): the BulkRequest, the order its operations run in, `bulkId`
//! references, and the BulkResponse. Running an operation is the caller's: this module says
//! which operation is next and what it says once its references are resolved (ADR 0010).
//!
//! - An operation runs when every operation whose `bulkId` it references has run, so a group
//!   may name users created later in the request; otherwise request order is kept.
//! - `bulkId:<id>` is resolved in any string of `data` and in the path.
//! - Operations that reference each other in a cycle are answered 409 and not run (§3.7.1
//!   allows stopping there); a reference to a failed operation is 409 as well; a reference
//!   that names no operation of the request is 400 `invalidValue`. An operation's references
//!   are taken in the order they appear (its path, then `data` in document order), and one that
//!   names no operation is answered before one that failed, so the same request always gets
//!   the same answer.
//! - Once `failOnErrors` operations have failed, the rest do not run and are not in the response.

use std::collections::{BTreeSet, HashMap, HashSet};

use indexmap::IndexSet;

use serde_json::{json, Map, Value};

use crate::error::quoted;
use crate::schema::{ResourceType, GROUP_RESOURCE, USER_RESOURCE};
use crate::ScimError;

pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

const REFERENCE_PREFIX: &str = "bulkId:";

/// The 413 of a body over maxPayloadSize; RFC 7644 §3.7.4 wants the limit in the error.
pub fn payload_too_large(max_payload_bytes: usize) -> ScimError {
    ScimError::payload_too_large(format!("the bulk request is larger than maxPayloadSize ({max_payload_bytes} bytes)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One operation, ready to run: references resolved.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    pub resource: &'static ResourceType,
    /// The resource's id, for PUT, PATCH and DELETE.
    pub id: Option<String>,
    /// The `version` (an entity tag) the client last saw: If-Match.
    pub version: Option<String>,
    /// The resource (POST, PUT) or the PatchOp message (PATCH); Null for DELETE.
    pub data: Value,
}

/// The client's operation, parsed as far as it goes; an operation that does not parse fails
/// alone, like one that fails when run.
#[derive(Debug, Clone)]
struct Entry {
    method: String,
    bulk_id: Option<String>,
    parsed: Result<Parsed, ScimError>,
}

#[derive(Debug, Clone)]
struct Parsed {
    method: Method,
    resource: &'static ResourceType,
    /// The path's id, or `bulkId:<id>` in it.
    target: Option<String>,
    version: Option<String>,
    data: Value,
    /// The bulkIds this operation references, in the order they appear.
    references: IndexSet<String>,
}

#[derive(Debug, Clone)]
pub struct BulkRequest {
    fail_on_errors: Option<u32>,
    entries: Vec<Entry>,
}

impl BulkRequest {
    /// Parses a BulkRequest of at most `max_operations` operations. Over the limit is 413
    /// (RFC 7644 §3.7.4) and nothing runs.
    pub fn parse(body: &Value, max_operations: usize) -> Result<Self, ScimError> {
        let Value::Object(fields) = body else {
            return Err(ScimError::invalid_syntax("a bulk request must be a JSON object"));
        };
        let field = |name: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        let Some(Value::Array(operations)) = field("Operations") else {
            return Err(ScimError::invalid_syntax("a bulk request needs an 'Operations' array"));
        };
        if operations.len() > max_operations {
            return Err(ScimError::payload_too_large(format!(
                "the bulk request has {} operations, more than maxOperations ({max_operations})",
                operations.len()
            )));
        }
        let fail_on_errors = match field("failOnErrors") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) if n >= 1 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => return Err(ScimError::invalid_value("'failOnErrors' must be a positive integer")),
            },
            Some(_) => return Err(ScimError::invalid_value("'failOnErrors' must be a positive integer")),
        };
        let entries: Vec<Entry> = operations.iter().map(entry).collect();
        let mut defined = HashSet::new();
        for entry in &entries {
            if let (Some(id), Ok(Parsed { method: Method::Post, .. })) = (&entry.bulk_id, &entry.parsed) {
                if !defined.insert(id.as_str()) {
                    return Err(ScimError::invalid_value(format!("bulkId '{id}' is given to more than one operation")));
                }
            }
        }
        Ok(BulkRequest { fail_on_errors, entries })
    }
}

fn entry(operation: &Value) -> Entry {
    let text = |name: &str| operation.get(name).and_then(Value::as_str).map(str::to_owned);
    let method = text("method").unwrap_or_default();
    let bulk_id = text("bulkId");
    Entry { parsed: parse_operation(operation, &method), method, bulk_id }
}

fn parse_operation(operation: &Value, method: &str) -> Result<Parsed, ScimError> {
    if !operation.is_object() {
        return Err(ScimError::invalid_syntax("a bulk operation must be a JSON object"));
    }
    let method = Method::parse(method)
        .ok_or_else(|| ScimError::invalid_syntax(format!("'{}' is not a bulk method (POST, PUT, PATCH, DELETE)", quoted(method))))?;
    let path = operation.get("path").and_then(Value::as_str).ok_or_else(|| ScimError::invalid_syntax("a bulk operation needs a 'path'"))?;
    let (resource, target) = parse_path(path, method)?;
    let version = match operation.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => return Err(ScimError::invalid_value("'version' must be an entity tag string")),
    };
    let data = match (method, operation.get("data")) {
        (Method::Delete, _) => Value::Null,
        (_, Some(data @ Value::Object(_))) => data.clone(),
        _ => return Err(ScimError::invalid_syntax(format!("a bulk {} needs a 'data' object", method.as_str()))),
    };
    let mut references = IndexSet::new();
    if let Some(id) = target.as_deref().and_then(|t| t.strip_prefix(REFERENCE_PREFIX)) {
        references.insert(id.to_owned());
    }
    collect_references(&data, &mut references);
    Ok(Parsed { method, resource, target, version, data, references })
}

/// `/Users` for a POST, `/Users/<id or bulkId:x>` otherwise.
fn parse_path(path: &str, method: Method) -> Result<(&'static ResourceType, Option<String>), ScimError> {
    let bad = || ScimError::invalid_value(format!("'{}' is not a path a bulk {} can take", quoted(path), method.as_str()));
    let trimmed = path.trim().trim_start_matches('/');
    let (endpoint, id) = match trimmed.split_once('/') {
        Some((endpoint, id)) => (endpoint, Some(id)),
        None => (trimmed, None),
    };
    let resource = [&USER_RESOURCE, &GROUP_RESOURCE]
        .into_iter()
        .find(|rt| rt.endpoint.trim_start_matches('/').eq_ignore_ascii_case(endpoint))
        .ok_or_else(bad)?;
    match (method, id) {
        (Method::Post, None) => Ok((resource, None)),
        (Method::Post, Some(_)) | (_, None) => Err(bad()),
        (_, Some(id)) if id.is_empty() || id.contains('/') => Err(bad()),
        (_, Some(id)) => Ok((resource, Some(id.to_owned()))),
    }
}

fn collect_references(value: &Value, into: &mut IndexSet<String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(REFERENCE_PREFIX) {
                into.insert(id.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, into)),
        Value::Object(fields) => fields.values().for_each(|v| collect_references(v, into)),
        _ => {}
    }
}

fn resolve(value: &Value, ids: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => match s.strip_prefix(REFERENCE_PREFIX).and_then(|id| ids.get(id)) {
            Some(id) => Value::String(id.clone()),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, ids)).collect()),
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), resolve(v, ids))).collect()),
        other => other.clone(),
    }
}

/// What running an operation gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub status: u16,
    /// The resource's id (for a POST, the one it was given).
    pub id: Option<String>,
    pub location: Option<String>,
    pub version: Option<String>,
}

/// A failed operation: the error, and the resource's location when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub error: ScimError,
    pub location: Option<String>,
}

impl From<ScimError> for Failed {
    fn from(error: ScimError) -> Self {
        Failed { error, location: None }
    }
}

/// A bulk request being run: hands out operations one at a time and collects their results.
/// Which operation is next costs no scan of the request: each operation counts the bulkIds it
/// still waits for, and is ready when that count is zero (Kahn's order, request order among
/// the ready ones).
pub struct Run {
    request: BulkRequest,
    results: Vec<Option<Result<Done, Failed>>>,
    /// bulkId → the id its POST created; `None` when that POST failed.
    created: HashMap<String, Option<String>>,
    /// bulkIds some POST of this request defines.
    defined: HashSet<String>,
    /// For each operation, how many defined bulkIds it references whose POST has not run.
    waiting: Vec<usize>,
    /// bulkId → the operations that reference it.
    dependents: HashMap<String, Vec<usize>>,
    /// Operations that wait for nothing and have not run, in request order.
    ready: BTreeSet<usize>,
    /// No operation before this one is left to run.
    first_unrun: usize,
    errors: u32,
}

/// The next operation: its place in the request, and the operation or why it cannot run.
pub type Step = (usize, Result<Operation, ScimError>);

impl Run {
    pub fn new(request: BulkRequest) -> Self {
        let defined: HashSet<String> = request
            .entries
            .iter()
            .filter(|e| matches!(e.parsed, Ok(Parsed { method: Method::Post, .. })))
            .filter_map(|e| e.bulk_id.clone())
            .collect();
        let mut waiting = vec![0; request.entries.len()];
        let mut dependents: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, entry) in request.entries.iter().enumerate() {
            for reference in entry.parsed.iter().flat_map(|p| &p.references).filter(|r| defined.contains(*r)) {
                waiting[i] += 1;
                dependents.entry(reference.clone()).or_default().push(i);
            }
        }
        let ready = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
        let results = vec![None; request.entries.len()];
        Run { request, results, created: HashMap::new(), defined, waiting, dependents, ready, first_unrun: 0, errors: 0 }
    }

    /// The next operation to run, `None` when all have run or `failOnErrors` was reached.
    /// Every step must be answered with [`Run::record`] before the next is asked for.
    pub fn next_step(&mut self) -> Option<Step> {
        if self.request.fail_on_errors.is_some_and(|limit| self.errors >= limit) {
            return None;
        }
        if let Some(index) = self.ready.pop_first() {
            return Some((index, self.resolve(index)));
        }
        while self.results.get(self.first_unrun).is_some_and(Option::is_some) {
            self.first_unrun += 1;
        }
        let first = self.first_unrun;
        if first >= self.results.len() {
            return None;
        }
        // Everything left waits on something left: a cycle, or behind one.
        let waits = self.waits_for(first);
        Some((
            first,
            Err(ScimError::conflict(format!("bulkId references form a cycle through {}; nothing of it was run", waits.join(", ")))),
        ))
    }

    /// The bulkIds operation `i` references whose POSTs have not run yet, in order.
    fn waits_for(&self, i: usize) -> Vec<&str> {
        match &self.request.entries[i].parsed {
            Ok(parsed) => parsed
                .references
                .iter()
                .filter(|r| self.defined.contains(*r) && !self.created.contains_key(*r))
                .map(String::as_str)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn resolve(&self, i: usize) -> Result<Operation, ScimError> {
        let parsed = self.request.entries[i].parsed.as_ref().map_err(Clone::clone)?;
        if let Some(unknown) = parsed.references.iter().find(|r| !self.created.contains_key(*r)) {
            return Err(ScimError::invalid_value(format!("no operation of this request has bulkId '{}'", quoted(unknown))));
        }
        let mut ids = HashMap::new();
        for reference in &parsed.references {
            match &self.created[reference] {
                Some(id) => {
                    ids.insert(reference.clone(), id.clone());
                }
                None => return Err(ScimError::conflict(format!("the operation with bulkId '{}' failed", quoted(reference)))),
            }
        }
        let id = parsed.target.as_ref().map(|t| match t.strip_prefix(REFERENCE_PREFIX) {
            Some(reference) => ids[reference].clone(),
            None => t.clone(),
        });
        Ok(Operation {
            method: parsed.method,
            resource: parsed.resource,
            id,
            version: parsed.version.clone(),
            data: resolve(&parsed.data, &ids),
        })
    }

    /// What the operation at `index` gave.
    pub fn record(&mut self, index: usize, result: Result<Done, Failed>) {
        let entry = &self.request.entries[index];
        let defines = match (&entry.bulk_id, &entry.parsed) {
            (Some(bulk_id), Ok(Parsed { method: Method::Post, .. })) => Some(bulk_id.clone()),
            _ => None,
        };
        if let Some(bulk_id) = &defines {
            self.created.insert(bulk_id.clone(), result.as_ref().ok().and_then(|done| done.id.clone()));
        }
        if result.is_err() {
            self.errors += 1;
        }
        self.results[index] = Some(result);
        // Whatever waited for this POST waits for one bulkId less.
        for dependent in defines.and_then(|bulk_id| self.dependents.remove(&bulk_id)).into_iter().flatten() {
            self.waiting[dependent] -= 1;
            if self.waiting[dependent] == 0 && self.results[dependent].is_none() {
                self.ready.insert(dependent);
            }
        }
    }

    /// The BulkResponse: the operations that ran, in request order.
    pub fn response(&self) -> Value {
        let operations: Vec<Value> =
            self.request.entries.iter().zip(&self.results).filter_map(|(entry, result)| Some(answer(entry, result.as_ref()?))).collect();
        json!({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": operations})
    }
}

fn answer(entry: &Entry, result: &Result<Done, Failed>) -> Value {
    let mut out = Map::new();
    let method = entry.parsed.as_ref().map(|p| p.method.as_str().to_owned()).unwrap_or_else(|_| entry.method.clone());
    out.insert("method".into(), method.into());
    if let Some(bulk_id) = &entry.bulk_id {
        out.insert("bulkId".into(), bulk_id.clone().into());
    }
    let (status, location) = match result {
        Ok(done) => {
            if let Some(version) = &done.version {
                out.insert("version".into(), version.clone().into());
            }
            (done.status, done.location.clone())
        }
        Err(failed) => {
            out.insert("response".into(), failed.error.to_json());
            (failed.error.status, failed.location.clone())
        }
    };
    if let Some(location) = location {
        out.insert("location".into(), location.into());
    }
    // A string, as RFC 7644 §3.7.3 writes it.
    out.insert("status".into(), status.to_string().into());
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScimType;

    fn request(operations: Value, fail_on_errors: Option<u32>) -> BulkRequest {
        let mut body = json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": operations});
        if let Some(n) = fail_on_errors {
            body["failOnErrors"] = n.into();
        }
        BulkRequest::parse(&body, 10).unwrap()
    }

    fn created(id: &str) -> Result<Done, Failed> {
        Ok(Done { status: 201, id: Some(id.into()), location: None, version: Some("W/\"1\"".into()) })
    }

    /// Runs every step, creating `id-<index>` for each POST, and returns the order they ran in
    /// and the operations or errors each step gave.
    fn run_all(run: &mut Run) -> Vec<(usize, Result<Operation, ScimError>)> {
        let mut steps = Vec::new();
        while let Some((index, step)) = run.next_step() {
            let result = match &step {
                Ok(op) if op.method == Method::Post => created(&format!("id-{index}")),
                Ok(_) => Ok(Done { status: 200, id: None, location: None, version: None }),
                Err(e) => Err(Failed::from(e.clone())),
            };
            run.record(index, result);
            steps.push((index, step));
        }
        steps
    }

    #[test]
    fn a_long_chain_of_references_backwards_runs_from_its_end() {
        // Operation i's group holds operation i+1's: the last runs first, then back to the first.
        let n = 1000;
        let operations: Vec<Value> = (0..n)
            .map(|i| {
                let members = if i + 1 < n { json!([{"value": format!("bulkId:g{}", i + 1)}]) } else { json!([]) };
                json!({"method": "POST", "path": "/Groups", "bulkId": format!("g{i}"), "data": {"displayName": format!("G{i}"), "members": members}})
            })
            .collect();
        let body = json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": operations});
        let mut run = Run::new(BulkRequest::parse(&body, n).unwrap());
        let steps = run_all(&mut run);
        assert_eq!(steps.iter().map(|(i, _)| *i).collect::<Vec<_>>(), (0..n).rev().collect::<Vec<_>>());
        assert_eq!(steps[1].1.as_ref().unwrap().data["members"][0]["value"], format!("id-{}", n - 1));
    }

    #[test]
    fn references_to_later_operations_run_those_first_and_resolve_everywhere() {
        let mut run = Run::new(request(
            json!([
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "G", "members": [{"value": "bulkId:a"}, {"value": "bulkId:b"}]}},
                {"method": "post", "path": "/Users", "bulkId": "a", "data": {"userName": "a"}},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "b", "urn:x": {"manager": {"value": "bulkId:a"}}}},
                {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"Operations": []}},
            ]),
            None,
        ));
        let steps = run_all(&mut run);
        assert_eq!(steps.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 2, 0, 3]);
        let group = steps[2].1.as_ref().unwrap();
        assert_eq!(group.data["members"], json!([{"value": "id-1"}, {"value": "id-2"}]));
        assert_eq!(steps[1].1.as_ref().unwrap().data["urn:x"]["manager"]["value"], "id-1");
        assert_eq!(steps[3].1.as_ref().unwrap().id.as_deref(), Some("id-0"));
        let response = run.response();
        let ops = response["Operations"].as_array().unwrap();
        assert_eq!(ops.iter().map(|o| o["bulkId"].clone()).collect::<Vec<_>>(), [json!("g"), json!("a"), json!("b"), Value::Null]);
        assert_eq!(ops[1]["method"], "POST");
        assert_eq!(ops[0]["status"], "201");
    }

    #[test]
    fn cycles_failed_and_unknown_references_fail_their_operations() {
        let mut run = Run::new(request(
            json!([
                {"method": "POST", "path": "/Groups", "bulkId": "x", "data": {"displayName": "X", "members": [{"value": "bulkId:y"}]}},
                {"method": "POST", "path": "/Groups", "bulkId": "y", "data": {"displayName": "Y", "members": [{"value": "bulkId:x"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "u", "x": "bulkId:nowhere"}},
                {"method": "POST", "path": "/Users", "data": {"userName": "v", "x": "bulkId:u"}},
            ]),
            None,
        ));
        let steps = run_all(&mut run);
        let errors: Vec<(usize, u16, Option<ScimType>)> =
            steps.iter().map(|(i, s)| (*i, s.as_ref().unwrap_err().status, s.as_ref().unwrap_err().scim_type)).collect();
        assert_eq!(errors, [(2, 400, Some(ScimType::InvalidValue)), (3, 409, None), (0, 409, None), (1, 409, None)]);
    }

    #[test]
    fn unknown_references_are_answered_before_failed_ones_every_time() {
        for _ in 0..16 {
            let mut run = Run::new(request(
                json!([
                    {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "taken"}},
                    {"method": "POST", "path": "/Groups", "data": {"displayName": "G", "members": [{"value": "bulkId:dup"}, {"value": "bulkId:nosuch"}]}},
                    {"method": "POST", "path": "/Groups", "data": {"displayName": "H", "members": [{"value": "bulkId:b"}, {"value": "bulkId:a"}, {"value": "bulkId:dup"}]}},
                ]),
                None,
            ));
            let (index, step) = run.next_step().unwrap();
            assert_eq!(index, 0);
            assert!(step.is_ok());
            run.record(0, Err(ScimError::uniqueness("taken").into()));
            let (_, second) = run.next_step().unwrap();
            let error = second.unwrap_err();
            assert_eq!((error.status, error.detail.as_str()), (400, "no operation of this request has bulkId 'nosuch'"));
            run.record(1, Err(error.into()));
            let (_, third) = run.next_step().unwrap();
            assert_eq!(third.unwrap_err().detail, "no operation of this request has bulkId 'b'");
        }
    }

    #[test]
    fn fail_on_errors_stops_the_rest() {
        let mut run = Run::new(request(
            json!([
                {"method": "POST", "path": "/Users", "bulkId": "1", "data": {"userName": "a"}},
                {"method": "FLY", "path": "/Users", "data": {}},
                {"method": "POST", "path": "/Users", "bulkId": "3", "data": {"userName": "c"}},
            ]),
            Some(1),
        ));
        let steps = run_all(&mut run);
        assert_eq!(steps.len(), 2);
        let response = run.response();
        assert_eq!(response["Operations"].as_array().unwrap().len(), 2);
        assert_eq!(response["Operations"][1]["method"], "FLY");
        assert_eq!(response["Operations"][1]["status"], "400");
        assert_eq!(response["Operations"][1]["response"]["scimType"], "invalidSyntax");
    }

    #[test]
    fn paths_methods_and_data_are_checked_per_operation() {
        let mut run = Run::new(request(
            json!([
                {"method": "POST", "path": "/Users/x", "data": {}},
                {"method": "PUT", "path": "/Users", "data": {}},
                {"method": "PATCH", "path": "/Devices/1", "data": {}},
                {"method": "PUT", "path": "/Users/1"},
                {"method": "DELETE", "path": "/groups/abc", "version": "W/\"3\""},
            ]),
            None,
        ));
        let steps = run_all(&mut run);
        assert!(steps[..4].iter().all(|(_, s)| s.as_ref().unwrap_err().status == 400));
        let delete = steps[4].1.as_ref().unwrap();
        assert_eq!((delete.resource.id, delete.id.as_deref(), delete.version.as_deref()), ("Group", Some("abc"), Some("W/\"3\"")));
    }

    #[test]
    fn request_level_errors_run_nothing() {
        let ops = |n: usize| Value::Array((0..n).map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")})).collect());
        let err = BulkRequest::parse(&json!({"Operations": ops(11)}), 10).unwrap_err();
        assert_eq!((err.status, err.scim_type), (413, None));
        assert!(err.detail.contains("maxOperations (10)"), "{}", err.detail);
        assert_eq!(BulkRequest::parse(&json!([]), 10).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
        assert_eq!(
            BulkRequest::parse(&json!({"Operations": ops(1), "failOnErrors": 0}), 10).unwrap_err().scim_type,
            Some(ScimType::InvalidValue)
        );
        let twice = json!({"Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}},
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {}},
        ]});
        assert_eq!(BulkRequest::parse(&twice, 10).unwrap_err().scim_type, Some(ScimType::InvalidValue));
    }
}
