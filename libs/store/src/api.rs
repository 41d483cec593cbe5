//! The store interface and the types that cross it.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::connection::{AuthMode, Settings};
use domain::group::MemberKind;
use domain::{EventPayload, Owner, ResourceId, StreamKind, TenantSlug};
use scim::cursor::Position;
use scim::list::ListQuery;

use crate::query::Target;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// The current time at the precision both databases keep (microseconds), so that what a
/// command returns equals what a later read returns.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).expect("a truncated nanosecond is valid")
}

/// Who caused an event: a provisioning connection, an operator (the admin API's, or `cli`
/// at the command line), scimledger itself (a migration), or the server purging what a
/// connection disabled with purge owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Connection(Uuid),
    Operator(String),
    System(String),
    Purge { connection: Uuid },
}

/// Why the server deletes what a connection owned (metadata `reason`).
pub const CONNECTION_DISABLED: &str = "connection_disabled";

/// Recorded with every event: who, through which request, from where.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMetadata {
    pub actor: Actor,
    pub request_id: Option<String>,
    /// The W3C trace the request was part of, when there was one.
    pub trace_id: Option<TraceContext>,
    /// The address the request came from (the peer of its connection).
    pub source: Option<String>,
    /// The request's `User-Agent`, cut to [`MAX_USER_AGENT`] characters.
    pub user_agent: Option<String>,
}

/// The longest `User-Agent` kept in an event: enough to tell clients and their versions apart,
/// and no more, since it is written into every event of the request.
pub const MAX_USER_AGENT: usize = 256;

/// The W3C trace context (`traceparent`) an event was written under: its trace id names the
/// trace, its parent the span that wrote it, so that a consumer's spans join the same trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
}

impl TraceContext {
    /// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, as telemetry's propagator writes
    /// it; anything else is not one.
    pub fn from_traceparent(traceparent: String) -> Option<Self> {
        let parts: Vec<&str> = traceparent.split('-').collect();
        let hex = |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
        let well_formed = matches!(parts.as_slice(), [version, trace, span, flags]
            if hex(version, 2) && hex(trace, 32) && hex(span, 16) && hex(flags, 2));
        well_formed.then_some(Self { traceparent })
    }

    /// The trace id: 32 lower-case hex digits.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }
}

impl EventMetadata {
    /// What `actor` did outside any request (a migration, a purge, a test).
    pub fn by(actor: Actor) -> Self {
        Self { actor, request_id: None, trace_id: None, source: None, user_agent: None }
    }

    /// Keeps `user_agent`, cut to [`MAX_USER_AGENT`] characters.
    pub fn with_user_agent(mut self, user_agent: Option<&str>) -> Self {
        self.user_agent = user_agent.map(|agent| agent.chars().take(MAX_USER_AGENT).collect());
        self
    }

    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        match &self.actor {
            Actor::Connection(id) => out.insert("connection_id".into(), id.to_string().into()),
            Actor::Operator(name) => out.insert("operator".into(), name.clone().into()),
            Actor::System(what) => out.insert("system".into(), what.clone().into()),
            Actor::Purge { connection } => {
                out.insert("system".into(), "purge".into());
                out.insert("purged_connection_id".into(), connection.to_string().into());
                out.insert("reason".into(), CONNECTION_DISABLED.into())
            }
        };
        if let Some(r) = &self.request_id {
            out.insert("request_id".into(), r.clone().into());
        }
        if let Some(trace) = &self.trace_id {
            out.insert("trace_id".into(), trace.trace_id().into());
            out.insert("traceparent".into(), trace.traceparent().into());
        }
        if let Some(source) = &self.source {
            out.insert("source".into(), source.clone().into());
        }
        if let Some(agent) = &self.user_agent {
            out.insert("user_agent".into(), agent.clone().into());
        }
        Value::Object(out)
    }
}

/// A unique value claimed or released by a commit. Reservations live in their own table so
/// that read models can be dropped and rebuilt without losing uniqueness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    Claim { kind: &'static str, key: String },
    Release { kind: &'static str, key: String },
}

/// Reservation kinds. A login is a user's userName or one of its aliases: one namespace, so
/// that a login names one user (ADR 0012).
pub const LOGIN: &str = "login";
pub const GROUP_DISPLAY_NAME: &str = "group.displayName";
/// A tenant's slug, reserved in the tenant itself.
pub const TENANT: &str = "tenant";
/// A connection's name within its tenant.
pub const CONNECTION_NAME: &str = "connection.name";
/// An operator's name, in the deployment.
pub const OPERATOR_NAME: &str = "operator.name";
/// An access token's name within its tenant.
pub const ACCESS_TOKEN_NAME: &str = "access_token.name";

/// A secret's hash, written by the commit whose command generated it. Like reservations, the
/// credentials table is state a rebuild keeps: the log names credentials, it never holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretWrite {
    pub id: Uuid,
    /// The basic username or OAuth client id the secret goes with, if any.
    pub login: Option<String>,
    pub hash: domain::secret::SecretHash,
}

/// The connections read model's row for one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRow {
    pub name: String,
    pub auth: AuthMode,
    pub login: Option<String>,
    pub settings: Value,
    pub disabled: bool,
    /// Whether a disable asked for a purge: the mark that `serve` resumes purges from.
    pub purge: bool,
    /// Credentials whose end the commit set (rotation's grace, revocation).
    pub expiries: Vec<(Uuid, OffsetDateTime)>,
}

/// The device registry's row for one device (docs/devices.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub serial: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub policy: Option<String>,
    /// The user the device is assigned to.
    pub assigned: Option<ResourceId>,
}

impl DeviceRow {
    pub fn of(device: &domain::device::DeviceState) -> Self {
        Self {
            serial: device.serial.clone(),
            name: device.name.clone(),
            kind: device.kind.clone(),
            policy: device.policy.as_ref().map(|p| p.as_str().to_owned()),
            assigned: device.assigned,
        }
    }
}

/// The users read model's row for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    /// Whether the user counts as active (an absent `active` does).
    pub active: bool,
    /// The user's SCIM document (userName, active and the profile).
    pub document: Value,
    /// Values of indexed multi-valued attributes, for filters: (attribute, type, case-folded value).
    pub values: Vec<IndexedValue>,
    pub owner: Owner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedValue {
    pub attribute: &'static str,
    pub value_type: Option<String>,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub display_name: String,
    pub display_name_key: String,
    pub external_id: Option<String>,
    /// The group's SCIM document without members (they have their own table).
    pub document: Value,
    pub owner: Owner,
}

/// What a commit does to the read models.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadModelChange {
    /// The user as it now is, and whom it belonged to before the commit (`None`: it did not
    /// exist), whose count the commit moves when it changes hands (ADR 0049).
    UpsertUser {
        row: UserRow,
        owner_before: Option<Owner>,
    },
    /// The user was deleted from `owner`'s resources.
    DeleteUser {
        owner: Owner,
    },
    Group {
        /// The group row as it now is; `None` when the commit deleted the group.
        row: Option<GroupRow>,
        added: Vec<(ResourceId, Option<MemberKind>)>,
        removed: Vec<ResourceId>,
        /// Whether the commit renamed the group: only then are its members' rows rewritten
        /// (a statement over every membership, whose plan PostgreSQL would otherwise compile
        /// on every commit to a large group).
        renamed: bool,
        /// Whom the group belonged to before the commit (`None`: it did not exist).
        owner_before: Option<Owner>,
    },
    /// A tenant was created, as a sub-tenant of `parent` if it has one.
    Tenant {
        parent: Option<TenantSlug>,
    },
    /// The tenant was deleted: every read-model row of it goes.
    DeleteTenant,
    /// A parent's routing rule changed (ADR 0074): no row holds it, but every server's cache of
    /// it is stale.
    Routing,
    Connection(ConnectionRow),
    /// An access token's secrets whose end the commit set (rotation's grace, revocation).
    AccessToken {
        expiries: Vec<(Uuid, OffsetDateTime)>,
    },
    Operator {
        name: String,
    },
    /// The device as it now is; `None` when the commit removed it.
    Device(Option<DeviceRow>),
    /// The user was erased (`user.erased`): its rows go if the same commit deleted it. Its
    /// devices are unassigned by commands of their own, caused by the erasure.
    EraseUser {
        /// The owner of the user the same commit deleted, if it did.
        deleted_from: Option<Owner>,
    },
    /// Streams whose state lives in the log alone (role policies and assignments, which the
    /// access projection folds in memory).
    Nothing,
}

/// One command's outcome, written atomically.
#[derive(Debug, Clone)]
pub struct Commit {
    pub tenant: TenantSlug,
    pub kind: StreamKind,
    pub stream: ResourceId,
    /// The stream's version the command was decided on (0 for a new stream).
    pub expected_version: i64,
    pub events: Vec<EventPayload>,
    pub metadata: EventMetadata,
    pub recorded_at: OffsetDateTime,
    pub reservations: Vec<Reservation>,
    pub read_model: ReadModelChange,
    /// Secrets the command generated, stored beside the stream's owner.
    pub secrets: Vec<SecretWrite>,
    /// The user's data key, written or destroyed with the commit (`crate::shred`).
    pub key: Option<KeyWrite>,
    /// The committing command holds the stream ([`Store::hold_stream`]): the append must not
    /// wait for the holder, itself.
    pub held: bool,
}

/// What a user commit does to the user's data key (docs/adr/0068).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyWrite {
    /// The user's first key, wrapped by the newest master key. Another writer having stored
    /// one first is a `Conflict`: the command is decided again and finds it.
    Create(crate::shred::table::WrappedKey),
    /// The erasure: the key is deleted, and the personal fields it encrypted read as erased.
    Destroy,
}

impl Commit {
    /// The stream version of the `i`th event (0-based) of this commit.
    pub fn event_version(&self, i: usize) -> i64 {
        self.expected_version + 1 + i as i64
    }

    /// The stream's version once this commit is appended.
    pub fn version_after(&self) -> i64 {
        self.expected_version + self.events.len() as i64
    }

    /// What the append returns once its events took positions from `first_position` on.
    pub fn appended_at(&self, first_position: i64) -> Appended {
        Appended { version: self.version_after(), last_position: first_position + self.events.len() as i64 - 1 }
    }
}

/// What a successful append returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the commit.
    pub version: i64,
    /// The log position of the last event appended.
    pub last_position: i64,
}

/// What a reader of a tenant's users and groups sees (docs/adr/0040-ownership-and-read-scope.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every user and group of the tenant.
    Tenant,
    /// What `connection` owns, and, with `manual`, what operators provisioned (so that a
    /// connection that claims manual resources can find them).
    Owned { connection: Uuid, manual: bool },
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: i64,
    pub event_id: Uuid,
    pub tenant: TenantSlug,
    pub kind: StreamKind,
    pub stream: ResourceId,
    pub stream_version: i64,
    pub payload: EventPayload,
    pub metadata: Value,
    pub recorded_at: OffsetDateTime,
}

impl RecordedEvent {
    /// The owner this event's actor stands for: its connection, else `operator`.
    pub fn actor_owner(&self) -> Owner {
        match self.metadata.get("connection_id").and_then(Value::as_str).and_then(|id| id.parse().ok()) {
            Some(id) => Owner::Connection(id),
            None => Owner::Operator,
        }
    }

    /// Who caused the event, as the envelope and the audit name it: `connection:<id>`,
    /// `operator:<name>` or `system:<what>`.
    pub fn actor(&self) -> Option<String> {
        let field = |name: &str| self.metadata.get(name).and_then(Value::as_str);
        field("connection_id")
            .map(|id| format!("connection:{id}"))
            .or_else(|| field("operator").map(|name| format!("operator:{name}")))
            .or_else(|| field("system").map(|what| format!("system:{what}")))
    }

    /// The domain event, owned (if it founds its resource) as the log recorded it
    /// (`domain::event::decode_recorded`).
    pub fn decode<E: serde::de::DeserializeOwned>(&self) -> StoreResult<E> {
        domain::event::decode_recorded(&self.payload, || self.actor_owner())
            .map_err(|e| StoreError::corrupt(format!("the event at position {}", self.position), e))
    }
}

/// A place in the log's commit order: the writing transaction, then the position. On SQLite,
/// where one writer commits in position order, `transaction` is the position too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogCursor {
    pub transaction: i64,
    pub position: i64,
}

/// What is kept of a follower (a subscriber, the relay): where it got to and how delivery goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowerRecord {
    pub cursor: LogCursor,
    /// Deliveries that failed, in all (each one was retried).
    pub failures: i64,
    /// Set while the follower retries one event.
    pub retrying: Option<Retrying>,
}

/// A follower retrying the event it failed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrying {
    pub since: OffsetDateTime,
    pub last_error: String,
}

/// The most of a failure's text kept with a follower's checkpoint: enough to tell what went
/// wrong, bounded so that a failing sink's huge error cannot bloat the table.
pub const FAILURE_TEXT_LIMIT: usize = 1024;

/// `error` cut to [`FAILURE_TEXT_LIMIT`] bytes at a character boundary.
pub fn failure_text(error: &str) -> &str {
    if error.len() <= FAILURE_TEXT_LIMIT {
        return error;
    }
    let mut end = FAILURE_TEXT_LIMIT;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

/// A user or group as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRecord {
    pub id: ResourceId,
    pub document: Value,
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
}

/// What a group command is decided on instead of its replayed stream (ADR 0066): the group's
/// row, which holds its state but its members at the stream's version, and of its members the
/// ones the command needs, in the order they joined.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSnapshot {
    pub record: ResourceRecord,
    pub owner: Owner,
    pub members: Vec<(ResourceId, Option<MemberKind>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub total: u64,
    pub records: Vec<ResourceRecord>,
    /// The groups of each user on the page, when they were asked for with it (users in no
    /// group have no entry).
    pub groups: Option<HashMap<ResourceId, Vec<Reference>>>,
    /// Cursor pages: where the next page starts (`None` on the last page).
    pub next: Option<Position>,
    /// Cursor pages: where the previous page ends (`None` on the first page).
    pub previous: Option<Position>,
}

/// A group a user belongs to (with its display name), or a member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub id: ResourceId,
    pub kind: MemberKind,
    pub display: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub slug: TenantSlug,
    pub created: OffsetDateTime,
    /// The tenant this one is a sub-tenant of (ADR 0074).
    pub parent: Option<TenantSlug>,
}

/// A connection as the read model holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: Uuid,
    pub tenant: TenantSlug,
    pub name: String,
    pub auth: AuthMode,
    /// The basic username or OAuth client id.
    pub login: Option<String>,
    pub settings: Settings,
    pub created: OffsetDateTime,
    pub disabled: Option<OffsetDateTime>,
}

/// A live secret of an enabled connection: what authentication compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSecret {
    pub credential_id: Uuid,
    pub connection: Connection,
    pub hash: [u8; 32],
    pub expires_at: Option<OffsetDateTime>,
}

/// One of a connection's secrets, without its hash: what `connection show` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: Uuid,
    pub connection: Uuid,
    pub created_at: OffsetDateTime,
    /// When it stops (or stopped) working; `None` while it has no end.
    pub expires_at: Option<OffsetDateTime>,
}

/// A live secret of an access token (ADR 0063), or an operator's (no end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSecret {
    pub hash: [u8; 32],
    /// When it stops working: the end of a rotation's grace period; `None` while it has none.
    pub expires_at: Option<OffsetDateTime>,
}

impl AccessSecret {
    pub fn live_at(&self, at: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|end| end > at)
    }
}

/// An operator's token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSecret {
    pub name: String,
    pub hash: [u8; 32],
}

/// Tells a cache of authentication look-ups when it must forget: the generation moves on with
/// every change to connections or secrets, and is `None` while changes cannot be heard (then
/// nothing may be cached).
pub type SecretChanges = tokio::sync::watch::Receiver<Option<u64>>;

/// What went wrong in the store. Only [`Unavailable`](StoreError::Unavailable) is worth a
/// retry: the others say that the request, the stored data, the settings or the code is at
/// fault, and retrying changes nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The stream moved on since the command was decided: decide again.
    #[error("the resource was changed concurrently")]
    Conflict,
    /// A unique value (a login, a group displayName) is taken.
    #[error("{kind} '{value}' is already taken")]
    Uniqueness { kind: &'static str, value: String },
    /// A filter or sort the store cannot answer (`invalidFilter`, `invalidValue`).
    #[error("{0}")]
    InvalidQuery(#[from] scim::ScimError),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    /// The database refused a value of the request (PostgreSQL's NUL or untranslatable
    /// characters, an indexed value too large to index): the request, not the store, is at fault.
    #[error("{0}")]
    Unstorable(Unstorable),
    /// The database cannot be reached or stopped answering (connection refused or closed, no
    /// connection free in time, an I/O failure): the one failure a retry may cure.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Stored data that does not decode: an event, a row, a time.
    #[error("{what} does not decode: {detail}")]
    Corrupt { what: String, detail: String },
    /// The store cannot be opened as configured (a bad URL, a data directory it cannot use, a
    /// file another server holds).
    #[error("{0}")]
    Config(String),
    /// A failure that only a bug explains (a statement the database rejects, a task that died).
    #[error("internal storage error: {0}")]
    Internal(String),
}

/// Why the database refused a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unstorable {
    /// A NUL character, or one the database encoding cannot hold.
    #[error("a value holds a character that cannot be stored (such as U+0000)")]
    Character,
    /// A value too large for the index that keeps it unique or findable.
    #[error("a value is too large to be stored and indexed")]
    TooLarge,
}

impl StoreError {
    /// Stored data at `what` that does not decode.
    pub fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt { what: what.into(), detail: detail.to_string() }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A stored secret as the 32 bytes it must be.
pub(crate) fn secret_bytes(name: &str, stored: &[u8]) -> StoreResult<[u8; 32]> {
    stored
        .try_into()
        .map_err(|_| StoreError::Corrupt { what: format!("the stored secret '{name}'"), detail: format!("{} bytes, not 32", stored.len()) })
}

/// Held while this process is the one process of the deployment doing one job (the NATS relay:
/// exactly one publishes). Dropping it gives the job up.
#[async_trait]
pub trait Lease: Send {
    /// Resolves once the lease is lost (the database session holding it ended): another
    /// process may hold it by then, so the job must stop.
    async fn lost(&mut self);
}

/// A stream held against other processes' commits (ADR 0051); dropping it lets them go on.
pub struct StreamHold {
    _guard: Box<dyn Send>,
}

impl StreamHold {
    /// A hold that lasts as long as `guard`.
    pub fn new(guard: impl Send + 'static) -> Self {
        Self { _guard: Box::new(guard) }
    }
}

/// The event log and read models of one deployment, for every tenant.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `postgres` or `sqlite`, for logs and health output.
    fn backend_name(&self) -> &'static str;

    /// Where read models are rebuilt beside the live ones ([`crate::rebuild`]).
    fn shadow(&self) -> &dyn crate::rebuild::Shadow;

    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Changes to the last log position this process appended, so followers of the log wake
    /// at once; appends by other processes are seen by polling.
    fn appended(&self) -> tokio::sync::watch::Receiver<i64>;

    // --- tenants, connections, operators (written by commands through `append`) ---
    async fn tenants(&self) -> StoreResult<Vec<Tenant>>;
    /// Every connection of the tenant, disabled ones too, by name.
    async fn connections(&self, tenant: &TenantSlug) -> StoreResult<Vec<Connection>>;
    /// The secrets of the tenant's enabled connections that are still live at `at`.
    async fn connection_secrets(&self, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<ConnectionSecret>>;
    async fn operator_secrets(&self) -> StoreResult<Vec<OperatorSecret>>;
    /// The secrets of the tenant's access tokens still live at `at` (for the access look-up),
    /// each with when it stops working.
    async fn access_secrets(&self, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<AccessSecret>>;
    /// Every secret the tenant's connections ever had, ended ones too, oldest first.
    async fn credentials(&self, tenant: &TenantSlug) -> StoreResult<Vec<Credential>>;
    /// The tenant's registered devices by serial; only those assigned to `user` if given.
    async fn devices(&self, tenant: &TenantSlug, user: Option<ResourceId>) -> StoreResult<Vec<DeviceRow>>;
    /// Where a cache of [`Self::connection_secrets`] learns of changes, also those other
    /// processes commit; `None` when this backend's look-ups are cheap enough not to cache.
    async fn secret_changes(&self) -> Option<SecretChanges>;

    /// The deployment's 32-byte secret `name` (the cursor key), made at random by the first
    /// process that asks and kept in the database, so every process of the deployment shares it.
    async fn secret(&self, name: &str) -> StoreResult<[u8; 32]>;

    /// The store as the database holds it: without the decryption of personal fields that
    /// [`crate::shred::Shredding`] adds, for the sealer and `audit verify`, which hash what is
    /// stored (ADR 0052).
    fn stored(&self) -> &dyn Store;

    /// The wrapped data keys of those of `users` that have one ([`crate::shred`]).
    async fn user_keys(
        &self,
        tenant: &TenantSlug,
        users: &[ResourceId],
    ) -> StoreResult<HashMap<ResourceId, crate::shred::table::WrappedKey>>;

    /// The data keys and the canary as the rotation of master keys reads and rewrites them.
    fn key_table(&self) -> &dyn crate::shred::table::KeyTable;

    // --- the log ---
    /// Appends a commit's events (optimistic concurrency on the stream version), applies its
    /// reservations and read-model change, all in one transaction.
    async fn append(&self, commit: Commit) -> StoreResult<Appended>;
    /// Holds `stream` until the hold is dropped: other processes' commits to it wait (once
    /// any commit in flight has ended), so a command that lost a race for the stream decides
    /// again on its newest version and cannot lose again. `None` where one process writes.
    async fn hold_stream(&self, stream: ResourceId) -> StoreResult<Option<StreamHold>>;
    /// A stream's events in version order; none when `stream` is a stream of another kind (an
    /// id names a user or a group, never both, and one kind's events do not decode as the other's).
    async fn stream(&self, tenant: &TenantSlug, kind: StreamKind, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>>;
    /// The position of the log's last event (0 while it is empty): how far followers have to go.
    async fn head(&self) -> StoreResult<i64>;
    /// Events after `position` in log order; at most `limit`.
    async fn read_log(&self, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>>;
    /// A tenant's events that match an audit query, oldest first ([`crate::audit`]).
    async fn audit_log(&self, query: &crate::audit::AuditQuery) -> StoreResult<Vec<RecordedEvent>>;
    /// The users of the tenant whose login (case-folded) `key` is or ever was.
    async fn users_by_login(&self, tenant: &TenantSlug, key: &str) -> StoreResult<Vec<ResourceId>>;
    /// The groups of the tenant whose events ever added `member` ([`crate::audit::groups_naming`]).
    async fn groups_naming(&self, tenant: &TenantSlug, member: ResourceId) -> StoreResult<Vec<ResourceId>>;
    /// Events after `after` in commit order, only from writers that have all finished: a reader
    /// that follows the log with this never skips an event that commits late.
    async fn read_committed(&self, after: LogCursor, limit: u32) -> StoreResult<Vec<(LogCursor, RecordedEvent)>>;
    /// A log position at or below which no event can appear any more: every transaction that
    /// took a position up to it has ended. On SQLite, whose one writer commits in position
    /// order, the head; on PostgreSQL it waits (boundedly) for the transactions running now.
    async fn settled(&self) -> StoreResult<i64>;
    /// The tenant's last seal link at or before `position` ([`crate::seal`]).
    async fn seal_head(&self, tenant: &TenantSlug, position: i64) -> StoreResult<Option<crate::seal::SealLink>>;
    /// The tenant's seal links after `after`, in log order; at most `limit`.
    async fn seal_links(&self, tenant: &TenantSlug, after: i64, limit: u32) -> StoreResult<Vec<crate::seal::SealLink>>;
    /// Writes seal links (keeping any already written) and moves the sealer's checkpoint to
    /// `through` (never back), in one transaction.
    async fn write_seals(&self, links: Vec<crate::seal::SealLink>, through: LogCursor) -> StoreResult<()>;
    /// Where the subscriber `name` got to (the start of the log if it never saved).
    async fn checkpoint(&self, name: &str) -> StoreResult<LogCursor>;
    async fn save_checkpoint(&self, name: &str, cursor: LogCursor) -> StoreResult<()>;
    /// The follower `name`'s checkpoint and failures (nothing saved yet: the start of the log,
    /// no failure).
    async fn follower(&self, name: &str) -> StoreResult<FollowerRecord>;
    /// Counts a failed delivery of the follower `name` and keeps its error (cut to
    /// [`FAILURE_TEXT_LIMIT`]) as the one it is retrying.
    async fn record_failure(&self, name: &str, error: &str) -> StoreResult<()>;
    /// The follower `name` got past the event it was retrying.
    async fn clear_retrying(&self, name: &str) -> StoreResult<()>;
    /// Takes the lease on `job` if no other process holds it; `None` if one does.
    async fn try_lease(&self, job: &str) -> StoreResult<Option<Box<dyn Lease>>>;

    // --- read models ---
    /// A user, if `scope` sees it.
    async fn user_in(&self, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>>;
    /// A page of the users `scope` sees; with `with_groups`, each one's groups too, read with
    /// the page (an IdP look-up asks for them on every sign-in, and a second query would cost a
    /// round trip).
    async fn users_in(&self, tenant: &TenantSlug, scope: Scope, query: &ListQuery, with_groups: bool) -> StoreResult<Page>;
    async fn group_in(&self, tenant: &TenantSlug, scope: Scope, id: ResourceId) -> StoreResult<Option<ResourceRecord>>;
    async fn groups_in(&self, tenant: &TenantSlug, scope: Scope, query: &ListQuery) -> StoreResult<Page>;
    /// A user or group of one of `parent`'s sub-tenants by id, with the sub-tenant that holds
    /// it: what the parent's SCIM endpoint reads and writes through (ADR 0074). Newest first:
    /// a user is held by two sub-tenants while its move is half done.
    async fn routed_one(
        &self,
        parent: &TenantSlug,
        target: Target,
        scope: Scope,
        id: ResourceId,
    ) -> StoreResult<Vec<(TenantSlug, ResourceRecord)>>;
    /// The sub-tenant of `parent` holding each of `users` that one holds (the newer holder of a
    /// user whose move is half done): one query for a group's named members, which a parent
    /// routing users by membership moves into the group's sub-tenant (ADR 0074).
    async fn user_holders(&self, parent: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, TenantSlug>>;
    /// A page over the users or groups of all of `parent`'s sub-tenants, and their total.
    async fn routed_page(
        &self,
        parent: &TenantSlug,
        target: Target,
        scope: Scope,
        query: &ListQuery,
        with_groups: bool,
    ) -> StoreResult<Page>;
    async fn user(&self, tenant: &TenantSlug, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        self.user_in(tenant, Scope::Tenant, id).await
    }
    async fn users(&self, tenant: &TenantSlug, query: &ListQuery, with_groups: bool) -> StoreResult<Page> {
        self.users_in(tenant, Scope::Tenant, query, with_groups).await
    }
    async fn group(&self, tenant: &TenantSlug, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
        self.group_in(tenant, Scope::Tenant, id).await
    }
    async fn groups(&self, tenant: &TenantSlug, query: &ListQuery) -> StoreResult<Page> {
        self.groups_in(tenant, Scope::Tenant, query).await
    }
    /// The groups each of `users` belongs to.
    async fn groups_of(&self, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>>;
    /// The members of each of `groups` that still exist, and what kind each is.
    async fn members_of(&self, tenant: &TenantSlug, groups: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>>;
    /// A group as [`Store::group_in`] reads it, and its members as [`Store::members_of`] does,
    /// in pages of `page`, in the order they were added: all from one snapshot, so that the
    /// members are those of the record's version however long the reader takes (ADR 0076).
    async fn group_with_members(
        &self,
        tenant: &TenantSlug,
        scope: Scope,
        id: ResourceId,
        page: u32,
    ) -> StoreResult<Option<(ResourceRecord, crate::member_pages::MemberPages)>>;
    /// A live group's snapshot with, of its members, those among `named` (every one with
    /// `None`). The row is read before the members, so that a commit to the group between the
    /// two fails the append of the command decided on them (ADR 0066).
    async fn group_snapshot(&self, tenant: &TenantSlug, id: ResourceId, named: Option<&[ResourceId]>)
        -> StoreResult<Option<GroupSnapshot>>;
    /// Which of `ids` are live users or groups of the tenant, and which kind each is.
    async fn resource_kinds(&self, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, MemberKind>>;

    // --- purges (crate::purge) ---
    /// Up to `limit` of the `kind` resources `owner` owns, after `after` in creation order, with
    /// their place in it.
    async fn owned(
        &self,
        tenant: &TenantSlug,
        kind: StreamKind,
        owner: Owner,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ResourceId, i64)>>;
    /// The connections marked for purging that still own a user or group.
    async fn pending_purges(&self) -> StoreResult<Vec<(TenantSlug, Uuid)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_context_is_a_well_formed_traceparent_and_is_recorded_with_its_trace_id() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace = TraceContext::from_traceparent(traceparent.to_owned()).unwrap();
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in ["", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-xyz-00f067aa0ba902b7-01", "not-a-trace-context"] {
            assert_eq!(TraceContext::from_traceparent(bad.to_owned()), None, "{bad:?}");
        }
        let metadata = EventMetadata { trace_id: Some(trace), ..EventMetadata::by(Actor::Operator("ops".into())) };
        let json = metadata.to_json();
        assert_eq!(
            (json["trace_id"].as_str(), json["traceparent"].as_str()),
            (Some("4bf92f3577b34da6a3ce929d0e0e4736"), Some(traceparent))
        );
    }

    #[test]
    fn a_failure_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(FAILURE_TEXT_LIMIT);
        let cut = failure_text(&long);
        assert!(cut.len() <= FAILURE_TEXT_LIMIT && cut.len() > FAILURE_TEXT_LIMIT - 2);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(failure_text("smtp refused"), "smtp refused");
    }
}
