//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;

use super::ApiState;

/// The process answers.
pub async fn live() -> &'static str {
    "ok"
}

/// The process can serve: its store answers.
pub async fn ready(State(state): State<ApiState>) -> (StatusCode, String) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, format!("ready ({})", state.store.backend_name())),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")),
    }
}
