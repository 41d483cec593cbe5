//! The discovery endpoints: what this service provider supports, generated from the schemas.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Extension;
use domain::connection::AuthMode;
use scim::discovery::{self, AuthenticationScheme, Capabilities};
use scim::list::list_response;
use scim::ScimError;

use super::auth::Party;
use super::reply::ScimReply;
use super::resources::{base_url, origin};
use super::{ApiState, Caller};

fn capabilities(state: &ApiState) -> Capabilities {
    Capabilities {
        sort: true,
        etag: true,
        bulk_max_operations: u32::try_from(state.settings.bulk_max_operations).unwrap_or(u32::MAX),
        bulk_max_payload_bytes: state.settings.bulk_max_payload_bytes as u64,
    }
}

/// Lists the schemes the calling connection can use: its own mode's.
pub async fn service_provider_config(State(state): State<ApiState>, Extension(caller): Extension<Caller>, headers: HeaderMap) -> ScimReply {
    let auth = match &caller.party {
        Party::Connection(connection) => connection.auth,
        Party::Operator(_) => AuthMode::Bearer,
    };
    let schemes = match auth {
        AuthMode::Bearer => vec![AuthenticationScheme::OAuthBearerToken],
        AuthMode::Header => vec![AuthenticationScheme::HeaderToken],
        AuthMode::Basic => vec![AuthenticationScheme::HttpBasic],
        AuthMode::Oauth => {
            let token_url = format!("{}/oauth/{}/token", origin(&state, &headers), caller.tenant);
            vec![AuthenticationScheme::OAuth2ClientCredentials { token_url }]
        }
    };
    ScimReply::ok(discovery::service_provider_config(&base_url(&state, &headers, &caller), capabilities(&state), &schemes))
}

pub async fn resource_types(State(state): State<ApiState>, Extension(caller): Extension<Caller>, headers: HeaderMap) -> ScimReply {
    let all = discovery::resource_types(&base_url(&state, &headers, &caller));
    ScimReply::ok(list_response(all.len() as u64, 1, all))
}

pub async fn resource_type(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
) -> ScimReply {
    match discovery::find_resource_type(&id) {
        Some(rt) => ScimReply::ok(discovery::resource_type(&base_url(&state, &headers, &caller), rt)),
        None => ScimReply::error(ScimError::not_found(format!("resource type {id} not found"))),
    }
}

pub async fn schemas(State(state): State<ApiState>, Extension(caller): Extension<Caller>, headers: HeaderMap) -> ScimReply {
    let all = discovery::schemas(&base_url(&state, &headers, &caller));
    ScimReply::ok(list_response(all.len() as u64, 1, all))
}

pub async fn schema(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
) -> ScimReply {
    match discovery::find_schema(&id) {
        Some(schema) => ScimReply::ok(discovery::schema(&base_url(&state, &headers, &caller), schema)),
        None => ScimReply::error(ScimError::not_found(format!("schema {id} not found"))),
    }
}
