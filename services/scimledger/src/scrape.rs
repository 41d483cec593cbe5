//! `/metrics`: the process's metrics as Prometheus text, on a listener of its own so that the
//! API's port (open to IdPs) does not show tenant names and traffic to anyone who asks
//! (ADR 0036).

use std::net::SocketAddr;

use anyhow::Context;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use telemetry::Scrape;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Binds `address` and serves `/metrics` there until aborted.
pub async fn serve(address: SocketAddr, metrics: Scrape) -> anyhow::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(address).await.with_context(|| format!("binding the metrics address {address}"))?;
    let address = listener.local_addr()?;
    // Tests and scripts read this line to find the port when listening on port 0; it comes
    // before the API's own line.
    println!("scimledger metrics on http://{address}/metrics");
    let router = Router::new().route("/metrics", get(render)).with_state(metrics);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    }))
}

async fn render(State(metrics): State<Scrape>) -> Response {
    match metrics.render() {
        Ok(text) => ([(CONTENT_TYPE, telemetry::scrape::CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
