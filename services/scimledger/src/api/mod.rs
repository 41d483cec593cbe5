//! The SCIM HTTP API (axum).
//!
//! - [`auth`]: credentials in the connection's auth mode → the calling connection of the
//!   tenant in the URL; 401 with `WWW-Authenticate`.
//! - [`tenant_cache`]: each tenant's live secrets and routing rule, while the store says they are current.
//! - [`oauth`]: `/oauth/{tenant}/token` (client credentials, authorization code, refresh
//!   token grants) and its access tokens; `/oauth/{tenant}/authorize`, sign-in and consent.
//! - [`access`]: what that connection may change, claim and see.
//! - [`body`]: request bodies: size limit, media type, JSON syntax.
//! - [`reply`]: SCIM responses and errors (`application/scim+json`), and an Error body for the
//!   errors the router and its layers answer without one.
//! - [`errors`]: command and store failures as SCIM errors.
//! - [`render`]: read-model records and command outcomes as SCIM resources.
//! - [`group_body`]: a group with its members written as they are read, a page at a time.
//! - [`endpoint`]: what differs between /Users and /Groups.
//! - [`cursors`]: list cursors sealed for the calling tenant.
//! - [`resources`]: the handlers both share: list, search, get, create, replace, patch, delete,
//!   and the one write path they and /Bulk take.
//! - [`bulk`]: /Bulk: each operation through that write path, `bulkId`s resolved.
//! - [`discovery`]: /ServiceProviderConfig, /ResourceTypes, /Schemas.
//! - [`health`]: /healthz, /readyz and /healthz/subscribers.
//! - [`enroll`]: /enroll/v1/{tenant}/verify, which user an enrollment link enrolls (once).
//! - [`request_id`]: cheap unique request ids; clients' own ones only when short and plain.
//! - [`uri`]: the URL length limit (414).
//! - [`instrument`]: each request's span, trace context and metrics.
//! - [`provenance`]: what events record about their request: id, trace, source, user agent.

mod access;
mod auth;
mod body;
mod bulk;
mod cursors;
mod discovery;
mod endpoint;
mod enroll;
mod errors;
mod group_body;
mod health;
mod instrument;
mod oauth;
pub(crate) mod provenance;
pub(crate) mod render;
mod reply;
mod request_id;
mod resources;
pub(crate) mod routing;
mod tenant_cache;
mod uri;

pub(crate) use resources::origin;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use domain::group::Group;
use domain::user::User;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use store::Store;

use crate::config::Settings;

pub use auth::{Caller, Party};
pub use oauth::GrantKey;
pub use tenant_cache::TenantCache;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach, behind one shared allocation. The router clones its layers'
/// state for every request, a score of times: a clone is then one reference count, where a
/// struct of a dozen shared parts cost a dozen and an allocation (the subscribers' health).
#[derive(Clone)]
pub struct ApiState(Arc<ApiParts>);

impl ApiState {
    pub fn new(parts: ApiParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for ApiState {
    type Target = ApiParts;

    fn deref(&self) -> &ApiParts {
        &self.0
    }
}

/// The parts of [`ApiState`].
pub struct ApiParts {
    pub store: Arc<dyn Store>,
    pub tenants: Arc<TenantCache>,
    pub settings: Settings,
    /// Seals the cursors of cursor pages (ADR 0045).
    pub cursor_key: scim::cursor::CursorKey,
    /// Whether the NATS relay's events flow, when it runs.
    pub relay: Option<bus::nats::RelayHealth>,
    /// How the subscribers this process runs are doing (none with `--no-workers`).
    pub subscribers: bus::BusHealth,
    /// The in-memory access projection (ADR 0061), which also derives `role.*` events.
    pub access: Arc<crate::access::Projection>,
    /// Seals authorization codes, refresh tokens and the authorize forms (ADR 0072).
    pub oauth_key: oauth::GrantKey,
    /// Writes each parent refused as unroutable since this process started (ADR 0074).
    pub unroutable: routing::Refusals,
}

/// /Users and /Groups with the SCIM verbs, for the `Caller` a layer around them puts in the
/// request: a connection over SCIM, or an operator through the admin API (manual provisioning).
pub(crate) fn resource_routes() -> Router<ApiState> {
    Router::new()
        .route("/Users", get(resources::list::<User>).post(resources::create::<User>))
        .route("/Users/.search", post(resources::search::<User>))
        .route(
            "/Users/{id}",
            get(resources::fetch::<User>).put(resources::replace::<User>).patch(resources::patch::<User>).delete(resources::remove::<User>),
        )
        .route("/Groups", get(resources::list::<Group>).post(resources::create::<Group>))
        .route("/Groups/.search", post(resources::search::<Group>))
        .route(
            "/Groups/{id}",
            get(resources::fetch::<Group>)
                .put(resources::replace::<Group>)
                .patch(resources::patch::<Group>)
                .delete(resources::remove::<Group>),
        )
}

pub fn router(state: ApiState) -> Router {
    let timeout = Duration::from_secs(state.settings.request_timeout_secs);
    let scim = resource_routes()
        .route("/.search", post(resources::search_all))
        .route("/Bulk", post(bulk::bulk))
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .fallback(reply::no_such_endpoint)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/healthz/subscribers", get(health::subscribers))
        .route("/enroll/v1/{tenant}/verify", post(enroll::verify))
        .nest("/scim/v2/{tenant}", scim)
        .route("/oauth/{tenant}/token", post(oauth::token))
        .route("/oauth/{tenant}/authorize", get(oauth::authorize_page).post(oauth::authorize_form))
        .nest("/admin/v1", crate::admin::http::router(state.clone()))
        .nest("/access/v1", crate::access::http::router())
        .merge(crate::console::router())
        .fallback(reply::no_such_endpoint)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::map_request(request_id::drop_unfit))
                .layer(SetRequestIdLayer::new(REQUEST_ID, request_id::SequentialRequestIds::new()))
                .layer(axum::middleware::from_fn(instrument::instrument))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(reply::panicked))
                .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout)),
        )
        .layer(axum::middleware::from_fn(uri::bounded))
        .layer(axum::middleware::map_response(reply::errors_are_scim))
}
