//! "Test this connection" (issue 14 §2): the requests Okta's and Entra ID's Test Connection
//! buttons send, run in process as the connection against the SCIM routes, each reported with
//! its answer. They only read, so a test leaves no event; the filters name random values, so
//! an empty list is the right answer (idp-quirks.md).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::AdminError;
use super::http::{admin, reply, OperatorName};
use crate::api::{ApiState, Caller, Party};

/// The largest answer a probe reads: a list of at most one resource, or an empty one.
const ANSWER_LIMIT: usize = 1024 * 1024;
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProbeReport {
    pub tenant: String,
    pub connection: String,
    /// Whether every check passed.
    pub passed: bool,
    pub checks: Vec<ProbeCheck>,
}

/// One request an IdP's test sends, and what the server answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProbeCheck {
    /// okta or entra.
    pub idp: String,
    pub method: String,
    /// The path under the connection's SCIM base URL.
    pub path: String,
    pub expected: String,
    pub status: u16,
    pub passed: bool,
    /// What the answer held: its totalResults, or the error's detail.
    pub detail: String,
}

/// What a check needs of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 200 and a ListResponse.
    List,
    /// 200 and a ListResponse with no resource.
    EmptyList,
}

impl Expect {
    fn describe(self) -> &'static str {
        match self {
            Expect::List => "200 and a ListResponse",
            Expect::EmptyList => "200 and an empty ListResponse",
        }
    }

    /// Whether the answer meets it, and what the answer held.
    fn judge(self, status: StatusCode, body: &Value) -> (bool, String) {
        if status != StatusCode::OK {
            let detail = body["detail"].as_str().unwrap_or("no detail");
            return (false, detail.to_owned());
        }
        let is_list = body["schemas"].as_array().is_some_and(|s| s.iter().any(|s| s == LIST_RESPONSE));
        let total = body["totalResults"].as_u64();
        match (is_list, total) {
            (true, Some(total)) => (self == Expect::List || total == 0, format!("totalResults {total}")),
            _ => (false, "not a ListResponse".to_owned()),
        }
    }
}

/// The requests, with fresh random values in the filters, as each IdP sends them.
fn checks() -> Vec<(&'static str, String, Expect)> {
    // The values are hex, hyphens, `@` and dots: the spaces and quotes are all to encode.
    let filter = |attribute: &str, value: &str| format!("{attribute}%20eq%20%22{value}%22");
    let okta_login = format!("{}@example.invalid", Uuid::new_v4().simple());
    vec![
        ("okta", "/Users?startIndex=1&count=1".to_owned(), Expect::List),
        ("okta", format!("/Users?filter={}&startIndex=1&count=100", filter("userName", &okta_login)), Expect::EmptyList),
        ("entra", format!("/Users?filter={}", filter("userName", &Uuid::new_v4().to_string())), Expect::EmptyList),
        (
            "entra",
            format!("/Groups?excludedAttributes=members&filter={}", filter("displayName", &Uuid::new_v4().to_string())),
            Expect::EmptyList,
        ),
    ]
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/connections/{connection}/test",
    params(("tenant" = String, Path), ("connection" = String, Path, description = "name or id")),
    responses((status = 200, body = ProbeReport), (status = 404, body = super::model::ErrorBody)))]
pub(super) async fn test_connection(
    State(state): State<ApiState>,
    Extension(op): Extension<OperatorName>,
    headers: HeaderMap,
    Path((t, c)): Path<(String, String)>,
) -> Response {
    reply(run(&state, &headers, &op, &t, &c).await)
}

async fn run(state: &ApiState, headers: &HeaderMap, op: &OperatorName, tenant: &str, connection: &str) -> Result<ProbeReport, AdminError> {
    let admin = admin(state, headers, op);
    let tenant = admin.existing_tenant(tenant).await?;
    let found = admin.find(&tenant, connection).await?;
    let view = admin.connection(tenant.as_str(), &found.id.to_string()).await?;
    // An IdP presents a live secret of an enabled connection; without one, every request it
    // sends gets the SCIM API's 401, which is what the report says.
    let refused = match (found.disabled.is_some(), view.credentials.iter().any(|k| k.live)) {
        (true, _) => Some("the connection is disabled: the SCIM API refuses its credentials"),
        (false, false) => Some("the connection has no live secret (revoked or expired): rotate to issue one"),
        (false, true) => None,
    };
    let caller = Caller { tenant: tenant.clone(), party: Party::Connection(found.clone()), provenance: op.1.clone() };
    let scim: Router = crate::api::resource_routes().layer(Extension(caller)).with_state(state.clone());
    let mut report = Vec::new();
    for (idp, path, expect) in checks() {
        let (status, passed, detail) = match refused {
            Some(why) => (StatusCode::UNAUTHORIZED, false, why.to_owned()),
            None => {
                let request = Request::get(&path).body(Body::empty()).expect("a GET with a relative path is a valid request");
                let answer = scim.clone().oneshot(request).await.unwrap_or_else(|never| match never {});
                let status = answer.status();
                let bytes = axum::body::to_bytes(answer.into_body(), ANSWER_LIMIT).await.unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let (passed, detail) = expect.judge(status, &body);
                (status, passed, detail)
            }
        };
        report.push(ProbeCheck {
            idp: idp.to_owned(),
            method: "GET".to_owned(),
            path,
            expected: expect.describe().to_owned(),
            status: status.as_u16(),
            passed,
            detail,
        });
    }
    Ok(ProbeReport { tenant: tenant.to_string(), connection: found.name, passed: report.iter().all(|c| c.passed), checks: report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn judging_answers() {
        let list = |total: u64| json!({"schemas": [LIST_RESPONSE], "totalResults": total, "Resources": []});
        assert_eq!(Expect::EmptyList.judge(StatusCode::OK, &list(0)), (true, "totalResults 0".to_owned()));
        assert_eq!(Expect::EmptyList.judge(StatusCode::OK, &list(2)), (false, "totalResults 2".to_owned()));
        assert_eq!(Expect::List.judge(StatusCode::OK, &list(2)), (true, "totalResults 2".to_owned()));
        assert_eq!(Expect::List.judge(StatusCode::OK, &json!({"id": "x"})), (false, "not a ListResponse".to_owned()));
        let error = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", "detail": "bad filter"});
        assert_eq!(Expect::List.judge(StatusCode::BAD_REQUEST, &error), (false, "bad filter".to_owned()));
    }

    #[test]
    fn the_filters_name_fresh_values_each_time() {
        assert_ne!(checks()[1].1, checks()[1].1);
        assert!(checks()[2].1.starts_with("/Users?filter=userName%20eq%20%22"));
    }
}
