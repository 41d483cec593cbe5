//! `GET /admin/v1/lag`: how far the NATS relay and the subscribers this process runs are behind
//! the log's head, read from their saved checkpoints; the console samples it to plot lag over
//! time.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::AdminError;
use super::http::{reply, OperatorName};
use crate::api::ApiState;

/// The log's head and each follower's place behind it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LagView {
    /// The log's last position.
    pub head: i64,
    /// The relay to NATS, when this process runs one.
    pub relay: Option<FollowerLag>,
    /// The subscribers this process runs (none with `--no-workers`).
    pub subscribers: Vec<FollowerLag>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FollowerLag {
    /// The checkpoint's name (`nats-relay:<stream>`, a subscriber's name).
    pub name: String,
    /// The last position it handled.
    pub checkpoint: i64,
    /// Positions between its checkpoint and the head.
    pub behind: i64,
    /// relay: flowing or stalled; subscriber: active, standing_by or retrying.
    pub state: String,
}

#[utoipa::path(get, path = "/admin/v1/lag", responses((status = 200, body = LagView), (status = 503, body = super::model::ErrorBody)))]
pub(super) async fn lag(State(state): State<ApiState>, Extension(_): Extension<OperatorName>) -> Response {
    reply(read(&state).await)
}

async fn read(state: &ApiState) -> Result<LagView, AdminError> {
    let store = &*state.store;
    let relay = match (&state.relay, state.settings.relay()) {
        (Some(health), Some(settings)) => {
            let lag = bus::in_process::lag(store, &settings.job()).await?;
            let state = if health.stall().is_some() { "stalled" } else { "flowing" };
            Some(FollowerLag { name: lag.name, checkpoint: lag.checkpoint, behind: lag.behind, state: state.to_owned() })
        }
        _ => None,
    };
    let mut subscribers = Vec::new();
    for health in state.subscribers.subscribers() {
        let lag = bus::in_process::lag(store, &health.name).await?;
        let state = match (health.active, health.retrying.is_some()) {
            (_, true) => "retrying",
            (true, false) => "active",
            (false, false) => "standing_by",
        };
        subscribers.push(FollowerLag { name: lag.name, checkpoint: lag.checkpoint, behind: lag.behind, state: state.to_owned() });
    }
    Ok(LagView { head: store.head().await?, relay, subscribers })
}
