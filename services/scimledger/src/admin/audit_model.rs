//! The audit's side of the admin model (docs/audit.md): events as auditors read them, with
//! their provenance, and the questions they ask, the same through `/admin/v1/tenants/{t}/audit`
//! and `scimledger audit`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::audit::{Change, Step};
use store::RecordedEvent;
use utoipa::{IntoParams, ToSchema};

use crate::api_time;

/// Events per page when the request names no `limit`, and the most it may.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

/// One event of the log with who caused it, through which request, from where.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// The log position: the global order, and where pages start.
    pub position: i64,
    pub event_id: String,
    /// `user.renamed`, `connection.disabled`… (docs/events.md).
    #[serde(rename = "type")]
    pub event_type: String,
    pub type_version: i32,
    /// RFC 3339, microseconds.
    pub time: String,
    /// `user`, `group`, `tenant`, `connection` or `operator`.
    pub resource_kind: String,
    pub resource_id: String,
    /// The resource's version after this event.
    pub resource_version: i64,
    /// `connection:<id>`, `operator:<name>` or `system:<what>`.
    pub actor: Option<String>,
    pub request_id: Option<String>,
    /// The W3C trace id (32 hex digits) of the request, when it came in a trace.
    pub trace_id: Option<String>,
    /// The address the request came from.
    pub source: Option<String>,
    pub user_agent: Option<String>,
    /// The event's payload as the log holds it.
    pub data: Value,
}

impl AuditEvent {
    pub fn of(event: &RecordedEvent) -> Self {
        let field = |name: &str| event.metadata.get(name).and_then(Value::as_str).map(str::to_owned);
        Self {
            position: event.position,
            event_id: event.event_id.to_string(),
            event_type: event.payload.event_type.clone(),
            type_version: event.payload.type_version,
            time: api_time(event.recorded_at),
            resource_kind: event.kind.as_str().to_owned(),
            resource_id: event.stream.to_string(),
            resource_version: event.stream_version,
            actor: event.actor(),
            request_id: field("request_id"),
            trace_id: field("trace_id"),
            source: field("source"),
            user_agent: field("user_agent"),
            data: event.payload.data.clone(),
        }
    }
}

/// Which events `audit log` lists: every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// One resource's events, by id.
    pub resource: Option<String>,
    /// The events of every user that had this login (userName or alias).
    pub login: Option<String>,
    /// An event type, e.g. `user.deactivated`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// `connection:<id>`, `operator:<name>`, `system:<what>`, or a connection's name or id,
    /// else an operator's name.
    pub actor: Option<String>,
    /// RFC 3339: recorded at or after.
    pub since: Option<String>,
    /// RFC 3339: recorded before.
    pub until: Option<String>,
    /// Only events after this log position (the `next` of the page before).
    pub after: Option<i64>,
    /// At most this many events (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// A page of the log, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    pub events: Vec<AuditEvent>,
    /// Where the next page starts (`after`), or null when this one was the last.
    pub next: Option<i64>,
}

/// One attribute an event changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeView {
    /// The SCIM path: `name.givenName`, `urn:…:User:manager.value`, `members`; `meta.owner` for a
    /// change of owner.
    pub attribute: String,
    /// The value before (null: absent); for a multi-valued attribute, the values that went.
    pub from: Value,
    /// The value after (null: absent); for a multi-valued attribute, the values that came.
    pub to: Value,
}

impl From<Change> for ChangeView {
    fn from(c: Change) -> Self {
        Self { attribute: c.attribute, from: c.from, to: c.to }
    }
}

/// An event of a resource's history and what it changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    #[serde(flatten)]
    pub event: AuditEvent,
    pub changes: Vec<ChangeView>,
}

impl From<Step> for HistoryEntry {
    fn from(step: Step) -> Self {
        Self { event: AuditEvent::of(&step.event), changes: step.changes.into_iter().map(ChangeView::from).collect() }
    }
}

/// The instant an `as-of` question names: one of the two.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// RFC 3339: the resource as it was once everything recorded until then was.
    pub at: Option<String>,
    /// A log position: the resource as it was once this event was written.
    pub position: Option<i64>,
}

/// What `audit export` takes.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// RFC 3339: only events recorded at or after.
    pub since: Option<String>,
}

/// A tenant's newest seal: the chain's hash through the event at `position`. Kept elsewhere, it
/// lets an auditor check later (`audit verify --seal`) that history up to it was not rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealView {
    pub tenant: String,
    /// How the chain is made (docs/audit.md): `sha256-chain-v1`.
    pub algorithm: String,
    /// The log position of the last event sealed.
    pub position: i64,
    /// The chain's SHA-256 through that event, hex.
    pub chain: String,
    /// RFC 3339.
    pub sealed_at: String,
}

/// What `audit verify` found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyView {
    pub tenant: String,
    /// Whether every sealed event is as it was sealed (and the exported seal, if given, matches).
    pub intact: bool,
    /// Sealed events checked before the first problem (all of them when intact).
    pub verified: u64,
    /// Everything at or before this log position was sealed.
    pub sealed_through: i64,
    /// Events after it that the sealer has not reached yet.
    pub unsealed: u64,
    /// The first bad position and what is wrong there.
    pub problem: Option<ProblemView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemView {
    pub position: i64,
    /// `edited`, `deleted`, `inserted`, `reordered` or `seal_mismatch`.
    pub kind: String,
    pub detail: String,
}

/// What `audit erase` did (docs/audit.md, Erasure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErasureView {
    pub tenant: String,
    /// The user's id.
    pub user: String,
    /// Whether this erasure recorded anything: false when the user was erased already.
    pub erased: bool,
    /// The user's stream version after the erasure.
    pub version: i64,
    /// The serials of the devices this call unassigned from the user (`device.unassigned`,
    /// caused by the erasure).
    pub unassigned: Vec<String>,
}
