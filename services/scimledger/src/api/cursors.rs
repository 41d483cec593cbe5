//! Cursors as clients see them: the query's cursor sealed with the deployment's key for the
//! calling tenant (ADR 0045). Requests have theirs opened before the query is parsed, and pages
//! hand out sealed ones.

use scim::cursor;
use scim::ScimError;
use serde_json::Value;

use super::{ApiState, Caller};

fn is_cursor(name: &str) -> bool {
    name.eq_ignore_ascii_case("cursor")
}

/// Opens the `cursor` of query-string parameters in place (an empty one asks for the first page).
pub fn open_params(state: &ApiState, caller: &Caller, params: &mut [(String, String)]) -> Result<(), ScimError> {
    for (_, value) in params.iter_mut().filter(|(name, value)| is_cursor(name) && !value.trim().is_empty()) {
        *value = cursor::unseal(&state.cursor_key, caller.tenant.as_str(), value)?;
    }
    Ok(())
}

/// Opens the `cursor` of a SearchRequest in place.
pub fn open_search(state: &ApiState, caller: &Caller, body: &mut Value) -> Result<(), ScimError> {
    let Value::Object(fields) = body else { return Ok(()) };
    for (_, value) in fields.iter_mut().filter(|(name, _)| is_cursor(name)) {
        if let Value::String(text) = value {
            if !text.trim().is_empty() {
                *text = cursor::unseal(&state.cursor_key, caller.tenant.as_str(), text)?;
            }
        }
    }
    Ok(())
}

/// The cursor a client of `caller`'s tenant gets for the query's cursor `inner`.
pub fn seal(state: &ApiState, caller: &Caller, inner: &str) -> String {
    cursor::seal(&state.cursor_key, caller.tenant.as_str(), inner)
}
