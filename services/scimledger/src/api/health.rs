//! Liveness and readiness.
//!
//! `/readyz` tells outsiders what state the service is in, never why: the reasons (a database
//! error, a NATS limit) can name hosts and internals, so they go to the log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

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
    let retrying: Vec<String> = state.subscribers.subscribers().into_iter().filter(|s| s.retrying.is_some()).map(|s| s.name).collect();
    let mut degraded = Vec::new();
    if state.relay.as_ref().and_then(|relay| relay.stall()).is_some() {
        degraded.push("events are not reaching NATS".to_owned());
    }
    if !retrying.is_empty() {
        degraded.push(format!("subscribers retrying: {}", retrying.join(", ")));
    }
    match degraded.is_empty() {
        true => (StatusCode::OK, format!("ready ({backend})")),
        false => (StatusCode::OK, format!("ready ({backend}); degraded: {}, see the server log", degraded.join("; "))),
    }
}

/// The subscribers this process runs: whether it is the active one, what each handled and how
/// often it failed, and how far behind the log each one's checkpoint is. Failure details stay
/// in the log, as for `/readyz`.
pub async fn subscribers(State(state): State<ApiState>) -> Response {
    let mut out = Vec::new();
    for health in state.subscribers.subscribers() {
        let lag = match bus::in_process::lag(&*state.store, &health.name).await {
            Ok(lag) => lag,
            Err(e) => {
                tracing::error!(error = %e, "health: cannot read a subscriber's checkpoint");
                return (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer").into_response();
            }
        };
        out.push(json!({
            "name": health.name,
            "active": health.active,
            "handled": health.handled,
            "failures": health.failures,
            "retrying": health.retrying.is_some(),
            "checkpoint": lag.checkpoint,
            "head": lag.head,
            "behind": lag.behind,
        }));
    }
    Json(json!({"subscribers": out})).into_response()
}
