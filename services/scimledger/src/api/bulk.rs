//! POST /Bulk (RFC 7644 §3.7): each operation runs through the same write path as its own
//! endpoint (`resources::write`), as its own command; `scim::bulk` decides the order and
//! resolves `bulkId` references.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Extension;
use domain::group::Group;
use domain::user::User;
use scim::bulk::{BulkRequest, Done, Failed, Method, Operation, Run};
use scim::ScimError;

use super::body::BulkBody;
use super::endpoint::Endpoint;
use super::reply::{etag, EntityTags, ScimReply};
use super::resources::{base_url, id_of, write, Write};
use super::{ApiState, Caller};

pub async fn bulk(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    BulkBody(body): BulkBody,
) -> Result<ScimReply, ScimReply> {
    if state.settings.bulk_max_operations == 0 {
        return Err(ScimError::new(501, None, "bulk operations are turned off on this server").into());
    }
    let mut run = Run::new(BulkRequest::parse(&body, state.settings.bulk_max_operations)?);
    let base = base_url(&state, &headers, &caller);
    while let Some((index, step)) = run.next_step() {
        let result = match step {
            Ok(operation) if operation.resource.id == User::RESOURCE.id => perform::<User>(&state, &caller, &base, operation).await,
            Ok(operation) => perform::<Group>(&state, &caller, &base, operation).await,
            Err(error) => Err(error.into()),
        };
        run.record(index, result);
    }
    Ok(ScimReply::ok(run.response()))
}

async fn perform<E: Endpoint>(state: &ApiState, caller: &Caller, base: &str, operation: Operation) -> Result<Done, Failed> {
    let Operation { method, id, version, data, .. } = operation;
    let id = id.as_deref().map(id_of::<E>).transpose()?;
    let location = |id| format!("{base}{}/{id}", E::RESOURCE.endpoint);
    let change = match (method, id) {
        (Method::Post, _) => Write::Create(data),
        (Method::Put, Some(id)) => Write::Replace(id, data),
        (Method::Patch, Some(id)) => Write::Patch(id, data),
        (Method::Delete, Some(id)) => Write::Delete(id),
        (_, None) => return Err(ScimError::invalid_value(format!("a bulk {} names its resource in the path", method.as_str())).into()),
    };
    match write::<E>(state, caller, change, version.as_deref().map(EntityTags::parse)).await.map(|(_, outcome)| outcome) {
        Ok(Some(outcome)) => Ok(Done {
            status: if method == Method::Post { 201 } else { 200 },
            id: Some(outcome.id.to_string()),
            location: Some(location(outcome.id)),
            version: Some(etag(outcome.version)),
        }),
        Ok(None) => Ok(Done { status: 204, id: id.map(|id| id.to_string()), location: id.map(location), version: None }),
        Err(error) => Err(Failed { error, location: id.map(location) }),
    }
}
