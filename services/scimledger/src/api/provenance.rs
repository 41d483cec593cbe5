//! What every event a request causes records about the request besides its actor: the request
//! id, the W3C trace, the address it came from and its `User-Agent` (docs/audit.md). Taken once
//! per request by `instrument`, and handed on as a request extension to the SCIM and admin
//! handlers.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::header::USER_AGENT;
use store::{Actor, EventMetadata, TraceContext};

use super::REQUEST_ID;

#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub request_id: Option<String>,
    /// The trace the request is part of (see `instrument`).
    pub trace: Option<TraceContext>,
    /// The peer address of the request's connection: the client, or the proxy in front.
    pub source: Option<String>,
    pub user_agent: Option<String>,
}

impl Provenance {
    pub fn of(request: &Request, trace: Option<TraceContext>) -> Self {
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        Self {
            request_id: header(REQUEST_ID).map(str::to_owned),
            trace,
            source: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip().to_string()),
            user_agent: header(USER_AGENT).map(str::to_owned),
        }
    }

    /// The metadata of the events `actor` causes through this request.
    pub fn metadata(&self, actor: Actor) -> EventMetadata {
        EventMetadata {
            request_id: self.request_id.clone(),
            trace_id: self.trace.clone(),
            source: self.source.clone(),
            ..EventMetadata::by(actor)
        }
        .with_user_agent(self.user_agent.as_deref())
    }
}
