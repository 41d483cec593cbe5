//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;

use super::ApiState;

/// The process answers.
pub async fn live() -> &'static str {
    "ok"
}

/// The process can serve: its store answers. The answer names no internal error.
pub async fn ready(State(state): State<ApiState>) -> (StatusCode, String) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, format!("ready ({})", state.store.backend_name())),
        Err(e) => {
            // The cause stays in the log: it may name hosts, users or files.
            tracing::error!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: the store does not answer".to_owned())
        }
    }
}
