//! Bearer-token authentication, per tenant.
//!
//! The tenant comes from the URL; the token must belong to one of that tenant's connections.
//! A missing token, a wrong one, another tenant's, and an unknown tenant all get the same 401:
//! nothing tells a caller which tenants exist.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{OriginalUri, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::TenantSlug;
use scim::ScimError;
use store::{Actor, Connection, EventMetadata, TraceContext};

use super::errors::store_failure;
use super::reply::ScimReply;
use super::{ApiState, REQUEST_ID};
use crate::token;

/// The authenticated caller of a SCIM request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantSlug,
    pub connection: Connection,
    pub request_id: Option<String>,
    /// The trace the request is part of (see `instrument`).
    pub trace: Option<TraceContext>,
}

impl Caller {
    pub fn metadata(&self) -> EventMetadata {
        EventMetadata { actor: Actor::Connection(self.connection.id), request_id: self.request_id.clone(), trace_id: self.trace.clone() }
    }
}

pub async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let credentials = credentials(&request);
    match caller(&state, credentials).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => ScimReply::error(error).into_response(),
    }
}

/// What a request claims: its tenant, its token's hash, its request id and trace.
struct Credentials {
    tenant: Option<TenantSlug>,
    token_sha256: Option<[u8; 32]>,
    request_id: Option<String>,
    trace: Option<TraceContext>,
}

fn credentials(request: &Request) -> Credentials {
    // Inside the nested /scim/v2/{tenant} router the URI has lost its prefix; the original keeps it.
    let path = request.extensions().get::<OriginalUri>().map_or_else(|| request.uri().path(), |uri| uri.path());
    let tenant = path.strip_prefix("/scim/v2/").and_then(|rest| rest.split('/').next()).and_then(|slug| TenantSlug::parse(slug).ok());
    let token_sha256 = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .map(token::hash);
    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let trace = request.extensions().get::<TraceContext>().cloned();
    Credentials { tenant, token_sha256, request_id, trace }
}

async fn caller(state: &ApiState, credentials: Credentials) -> Result<Caller, ScimError> {
    let unauthorized = || ScimError::unauthorized("a valid bearer token of this tenant's provisioning connection is required");
    let Credentials { tenant, token_sha256, request_id, trace } = credentials;
    let (Some(tenant), Some(token_sha256)) = (tenant, token_sha256) else {
        return Err(unauthorized());
    };
    if let Some(connection) = state.tokens.get(&tenant, &token_sha256) {
        return Ok(Caller { tenant, connection, request_id, trace });
    }
    let connection = state.store.authenticate(&tenant, token_sha256).await.map_err(|e| store_failure(&e))?.ok_or_else(unauthorized)?;
    state.tokens.put(token_sha256, &connection);
    Ok(Caller { tenant, connection, request_id, trace })
}

/// Recently authenticated tokens, so a sync's thousands of requests do not each cost a look-up.
/// Only successes are kept, for [`TOKEN_TTL`]: a disabled connection stops working within that.
/// Keyed by the token's hash, which is unique across connections; the tenant is checked
/// against the connection's own.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], (Connection, Instant)>>,
}

pub const TOKEN_TTL: Duration = Duration::from_secs(30);
/// More entries than any deployment has live connections; past it the cache starts afresh.
const TOKEN_CACHE_LIMIT: usize = 10_000;

impl TokenCache {
    fn get(&self, tenant: &TenantSlug, token_sha256: &[u8; 32]) -> Option<Connection> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (connection, since) = entries.get(token_sha256)?;
        (connection.tenant == *tenant && since.elapsed() < TOKEN_TTL).then(|| connection.clone())
    }

    fn put(&self, token_sha256: [u8; 32], connection: &Connection) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= TOKEN_CACHE_LIMIT {
            entries.clear();
        }
        entries.insert(token_sha256, (connection.clone(), Instant::now()));
    }
}
