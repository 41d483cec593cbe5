//! Liveness and readiness.
//!
//! `/readyz` tells outsiders what state the service is in, never why: the reasons (a database
//! error, a NATS limit) can name hosts and internals, so they go to the log.

use axum::extract::State;
use axum::http::StatusCode;

use super::ApiState;

/// The process answers.
pub async fn live() -> &'static str {
    "ok"
}

/// The process can serve: its store answers. A stalled relay leaves it serving (the API does not
/// need NATS, and events wait in the log) but degraded, which the body says.
pub async fn ready(State(state): State<ApiState>) -> (StatusCode, String) {
    if let Err(e) = state.store.ping().await {
        tracing::error!(error = %e, "readiness: the store does not answer");
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: the store does not answer".to_owned());
    }
    let backend = state.store.backend_name();
    match state.relay.as_ref().and_then(|relay| relay.stall()) {
        Some(_) => (StatusCode::OK, format!("ready ({backend}); degraded: events are not reaching NATS, see the server log")),
        None => (StatusCode::OK, format!("ready ({backend})")),
    }
}
