//! Running commands: load a stream, decide with its aggregate, commit the outcome; decided
//! again when another writer got to the stream first.
//!
//! Handlers parse requests into domain commands and hand them here; nothing else appends.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use domain::access_token::{AccessToken, AccessTokenCommand, AccessTokenEvent};
use domain::connection::{Connection, ConnectionCommand, ConnectionEvent};
use domain::device::{Device, DeviceEvent};
use domain::enrollment::{Enrollment, EnrollmentEvent};
use domain::event::encode;
use domain::group::{Group, GroupCommand, GroupEvent};
use domain::master_key::{MasterKeyEvent, MasterKeys};
use domain::oauth_grant::{Grant, GrantEvent};
use domain::operator::{Operator, OperatorCommand, OperatorEvent};
use domain::ownership;
use domain::role::assignment::{Assignment, AssignmentEvent};
use domain::role::{RolePolicy, RolePolicyEvent};
use domain::tenant::{Tenant, TenantEvent};
use domain::user::{User, UserCommand, UserEvent};
use domain::{DomainError, Owner, Principal, ResourceId, StreamKind, TenantSlug};
use scim::document::Document;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Instant;

use telemetry::metrics::CommitResult;
use time::OffsetDateTime;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tracing::Instrument;

use crate::api::{Commit, EventMetadata, ReadModelChange, RecordedEvent, Reservation, SecretWrite, Store, StoreError};

/// How many times a command is decided again after losing a race for its stream.
const ATTEMPTS: u32 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A stream that does not exist yet.
    New,
    /// A stream that exists, at whatever version.
    Existing,
    /// A stream at exactly this version (If-Match).
    Version(i64),
    /// A stream with events, whether or not its resource still exists (an erasure acts on
    /// deleted users too); the aggregate decides what a stream without events means.
    Recorded,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client's If-Match names a version the resource has moved past.
    #[error("the resource is at version {current}, not {expected}")]
    PreconditionFailed { expected: i64, current: i64 },
}

/// A command's result: the resource after it, and its version and times.
pub struct Outcome<A> {
    pub id: ResourceId,
    pub aggregate: A,
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    /// Whether the command changed anything (an idempotent PUT does not).
    pub changed: bool,
}

/// Creates a resource on a fresh stream (owned by whom the command names).
pub async fn create<A: Resource>(
    store: &dyn Store,
    tenant: &TenantSlug,
    command: A::Command,
    metadata: EventMetadata,
) -> Result<Outcome<A>, CommandError> {
    // Nobody owns a stream yet to be created: the principal is not asked.
    run::<A>(store, tenant, ResourceId::new(), command, &Principal::Operator, metadata, Expect::New).await
}

/// Changes an existing resource for `principal`, who must own it or be able to claim it;
/// `if_match` is the version the client last saw.
pub async fn change<A: Resource>(
    store: &dyn Store,
    tenant: &TenantSlug,
    id: ResourceId,
    command: A::Command,
    principal: &Principal,
    metadata: EventMetadata,
    if_match: Option<i64>,
) -> Result<Outcome<A>, CommandError> {
    let expect = if_match.map_or(Expect::Existing, Expect::Version);
    run::<A>(store, tenant, id, command, principal, metadata, expect).await
}

/// Runs `command` from `principal` on the stream `id` of `tenant`.
pub async fn run<A: Resource>(
    store: &dyn Store,
    tenant: &TenantSlug,
    id: ResourceId,
    command: A::Command,
    principal: &Principal,
    metadata: EventMetadata,
    expect: Expect,
) -> Result<Outcome<A>, CommandError> {
    let span = tracing::info_span!("command", resource = A::KIND.as_str());
    async move {
        // Commands on one stream in this process queue up rather than race; writers in other
        // processes are met by the retries below.
        let _turn = stream_turn(id).await;
        run_in_turn::<A>(store, tenant, id, command, principal, metadata, expect).await
    }
    .instrument(span)
    .await
}

/// [`run`] for a caller that has the stream's turn already: a move, whose commits on two
/// tenants' streams of one id take one turn (`crate::moves`).
pub(crate) async fn run_in_turn<A: Resource>(
    store: &dyn Store,
    tenant: &TenantSlug,
    id: ResourceId,
    command: A::Command,
    principal: &Principal,
    metadata: EventMetadata,
    expect: Expect,
) -> Result<Outcome<A>, CommandError> {
    {
        let mut attempt = 0;
        let mut hold = None;
        loop {
            attempt += 1;
            let this = Attempt { tenant, id, expect, held: hold.is_some() };
            match decide_and_commit::<A>(store, this, command.clone(), principal, metadata.clone()).await {
                Err(CommandError::Store(StoreError::Conflict)) if attempt < ATTEMPTS && !matches!(expect, Expect::Version(_)) => {
                    tracing::debug!(%id, attempt, "stream moved on; deciding again");
                    // Another process's queue of commands could otherwise win every race while
                    // this one backs off: holding the stream makes the next attempt its turn.
                    hold = match hold {
                        Some(hold) => Some(hold),
                        None => store.hold_stream(id).await?,
                    };
                    if hold.is_none() {
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                }
                Err(CommandError::Store(StoreError::Conflict)) => {
                    if let Expect::Version(expected) = expect {
                        return Err(CommandError::PreconditionFailed { expected, current: expected + 1 });
                    }
                    return Err(StoreError::Conflict.into());
                }
                other => return other,
            }
        }
    }
}

/// One lock per stream with a command in flight; entries go when their last holder does.
static STREAM_LOCKS: LazyLock<Mutex<HashMap<ResourceId, Weak<AsyncMutex<()>>>>> = LazyLock::new(Default::default);

pub(crate) async fn stream_turn(id: ResourceId) -> OwnedMutexGuard<()> {
    let lock = {
        let mut locks = STREAM_LOCKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(lock) = locks.get(&id).and_then(Weak::upgrade) {
            lock
        } else {
            locks.retain(|_, weak| weak.strong_count() > 0);
            let lock = Arc::new(AsyncMutex::new(()));
            locks.insert(id, Arc::downgrade(&lock));
            lock
        }
    };
    lock.lock_owned().await
}

/// A short, growing, jittered pause, so that writers racing for one stream spread out.
fn backoff(attempt: u32) -> std::time::Duration {
    let ceiling_micros = 500 * u64::from(attempt.clamp(1, 10));
    std::time::Duration::from_micros(rand::random_range(ceiling_micros / 2..=ceiling_micros))
}

/// One attempt of a command: on which stream, what it expects of it, and whether the command
/// holds it against other processes.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    tenant: &'a TenantSlug,
    id: ResourceId,
    expect: Expect,
    held: bool,
}

async fn decide_and_commit<A: Resource>(
    store: &dyn Store,
    attempt: Attempt<'_>,
    command: A::Command,
    principal: &Principal,
    metadata: EventMetadata,
) -> Result<Outcome<A>, CommandError> {
    let Attempt { tenant, id, expect, held } = attempt;
    let resumed = match expect {
        Expect::New => None,
        Expect::Existing | Expect::Version(_) | Expect::Recorded => A::resume(store, tenant, id, &command).await?,
    };
    let start = match resumed {
        Some(resumed) => Start::Resumed(resumed),
        None => Start::Replay(match expect {
            Expect::New => Vec::new(),
            Expect::Existing | Expect::Version(_) | Expect::Recorded => store.stream(tenant, A::KIND, id).await?,
        }),
    };
    let (version, first_recorded, last_recorded) = start.version_and_times();
    let command_for_secrets = command.clone();
    let principal = *principal;
    let decision = move || decide::<A>(start, command, principal, expect);
    // A creation replays nothing, and its work is linear in a document the resource size limit
    // bounds: deciding it here costs less than handing it to the pool and back (ADR 0030).
    let (before, mut aggregate, mut events) = match expect {
        Expect::New => decision().await?,
        Expect::Existing | Expect::Version(_) | Expect::Recorded => crate::cpu::run(decision).await??,
    };
    let unknown = unknown_references::<A>(store, tenant, &events).await?;
    if !unknown.is_empty() {
        events = A::without_references(events, &unknown);
        aggregate = before.clone();
        for event in &events {
            aggregate.apply(event.clone());
        }
    }
    let now = crate::api::now();
    let created = first_recorded.unwrap_or(now);
    if events.is_empty() {
        let last_modified = last_recorded.unwrap_or(now);
        return Ok(Outcome { id, aggregate, version, created, last_modified, changed: false });
    }
    let (reservations, read_model) = A::commit_parts(&before, &events, &aggregate);
    let secrets = A::secrets(&command_for_secrets, &aggregate);
    let started = Instant::now();
    let appended = store
        .append(Commit {
            tenant: tenant.clone(),
            kind: A::KIND,
            stream: id,
            expected_version: version,
            events: events.iter().map(encode).collect(),
            metadata,
            recorded_at: now,
            reservations,
            read_model,
            secrets,
            key: None,
            held,
        })
        .instrument(tracing::info_span!("append", events = events.len()))
        .await;
    let result = match &appended {
        Ok(_) => CommitResult::Committed,
        Err(StoreError::Conflict | StoreError::Uniqueness { .. } | StoreError::Unstorable(_)) => CommitResult::Refused,
        Err(_) => CommitResult::Failed,
    };
    telemetry::metrics::commit(store.backend_name(), result, started.elapsed());
    let appended = appended?;
    Ok(Outcome { id, aggregate, version: appended.version, created, last_modified: now, changed: true })
}

/// What a command is decided on: the stream's events to replay, or the resource as kept apart
/// from them.
pub(crate) enum Start<A> {
    Replay(Vec<RecordedEvent>),
    Resumed(Resumed<A>),
}

/// A resource kept apart from its stream, at the stream's `version` (ADR 0066).
/// A resource that is gone is a default aggregate at version 0, with no times.
pub struct Resumed<A> {
    pub aggregate: A,
    pub version: i64,
    pub created: Option<OffsetDateTime>,
    pub last_modified: Option<OffsetDateTime>,
}

impl<A> Start<A> {
    /// The stream's version, and when its first and last events were recorded (none for a new
    /// stream).
    fn version_and_times(&self) -> (i64, Option<OffsetDateTime>, Option<OffsetDateTime>) {
        match self {
            Start::Replay(history) => (history.len() as i64, history.first().map(|e| e.recorded_at), history.last().map(|e| e.recorded_at)),
            Start::Resumed(r) => (r.version, r.created, r.last_modified),
        }
    }
}

/// Replays the stream (or takes the resumed resource) and decides `command` on it: the
/// CPU-bound part of a command, run on [`crate::cpu`]. Returns the resource before and after,
/// and the new events.
pub(crate) async fn decide<A: Resource>(
    start: Start<A>,
    command: A::Command,
    principal: Principal,
    expect: Expect,
) -> Result<(A, A, Vec<A::Event>), CommandError> {
    let (current, before) = match start {
        Start::Replay(history) => (history.len() as i64, replayed(&history)?),
        Start::Resumed(resumed) => (resumed.version, resumed.aggregate),
    };
    let mut aggregate = before.clone();
    if matches!(expect, Expect::Existing | Expect::Version(_)) && !aggregate.exists() {
        return Err(DomainError::NotFound.into());
    }
    // After the existence check: a stale If-Match on a resource that is gone is a 404, not a 412.
    if let Expect::Version(expected) = expect {
        if expected != current {
            return Err(CommandError::PreconditionFailed { expected, current });
        }
    }
    let sink = EventSink::default();
    A::handle_as(&mut aggregate, &principal, command, &sink).await?;
    let events = sink.collect().await;
    Ok((before, aggregate, events))
}

/// The resource a stream's `history` leaves.
pub(crate) fn replayed<A: Resource>(history: &[RecordedEvent]) -> Result<A, CommandError> {
    // Through `RecordedEvent::decode`: a founding event from before ownership takes its owner
    // from the event's actor.
    let past: Vec<A::Event> = history.iter().map(RecordedEvent::decode).collect::<Result<_, _>>()?;
    let mut resource = A::default();
    for event in past {
        resource.apply(event);
    }
    Ok(resource)
}

/// Ids the new events refer to that are no user or group of the tenant. They are left out of
/// the commit rather than failing it: an IdP that pushes a membership for a user it failed to
/// create should not lose the rest of the group.
async fn unknown_references<A: Resource>(
    store: &dyn Store,
    tenant: &TenantSlug,
    events: &[A::Event],
) -> Result<Vec<ResourceId>, CommandError> {
    let referenced = A::referenced(events);
    if referenced.is_empty() {
        return Ok(Vec::new());
    }
    let known = store.resource_kinds(tenant, &referenced).await?;
    Ok(referenced.into_iter().filter(|id| !known.contains_key(id)).collect())
}

/// What the executor needs of an aggregate beyond cqrs-es's `Aggregate`.
pub trait Resource: Aggregate<Error = DomainError, Services = (), Command: Clone + Send + 'static> + Clone + 'static {
    const KIND: StreamKind;
    /// What the commit writes besides the events, given the resource before and after them.
    fn commit_parts(before: &Self, events: &[Self::Event], after: &Self) -> (Vec<Reservation>, ReadModelChange);
    /// Whether the stream holds a resource a command may change.
    fn exists(&self) -> bool;
    /// The resource as `command` needs it, where it is kept apart from its stream so that the
    /// command need not replay it (a group, ADR 0066); `None`: the stream is replayed. A
    /// resource that is gone is a default (non-existent) aggregate.
    fn resume(
        _store: &dyn Store,
        _tenant: &TenantSlug,
        _id: ResourceId,
        _command: &Self::Command,
    ) -> impl std::future::Future<Output = Result<Option<Resumed<Self>>, StoreError>> + Send {
        async { Ok(None) }
    }
    /// Resources the new events refer to, which must exist in the tenant.
    fn referenced(_events: &[Self::Event]) -> Vec<ResourceId> {
        Vec::new()
    }
    /// The events without their references to `unknown` resources.
    fn without_references(events: Vec<Self::Event>, _unknown: &[ResourceId]) -> Vec<Self::Event> {
        events
    }
    /// Secrets the command generated, stored with its commit.
    fn secrets(_command: &Self::Command, _after: &Self) -> Vec<SecretWrite> {
        Vec::new()
    }
    /// Decides `command` for `principal`. Only users and groups have owners (ADR 0040); the
    /// tenant, connection and operator streams are changed by operators through the admin
    /// API, which admits its caller itself, so by default the principal is not asked.
    fn handle_as(
        aggregate: &mut Self,
        _principal: &Principal,
        command: Self::Command,
        sink: &EventSink<Self>,
    ) -> impl std::future::Future<Output = Result<(), DomainError>> {
        aggregate.handle(command, &(), sink)
    }
}

/// A resource the SCIM API serves: a user or a group.
pub trait ScimResource: Resource {
    /// The current SCIM document, unless the resource does not exist (or was deleted).
    fn document(&self) -> Option<Document>;
    /// The command that deletes the resource.
    fn delete() -> Self::Command;
    /// How the resource moves between a parent's sub-tenants (`crate::moves`); `None`: it
    /// does not.
    fn moves() -> Option<Moves<Self>> {
        None
    }
}

/// The commands of a move between a parent's sub-tenants (ADR 0074).
pub struct Moves<A: Aggregate> {
    /// Brings the resource, as `resource` owned by `owner`, in from the sub-tenant `from`.
    pub move_in: fn(resource: Document, owner: Owner, from: TenantSlug) -> A::Command,
    /// Takes the resource out to the sub-tenant `to`.
    pub move_out: fn(to: TenantSlug) -> A::Command,
}

impl Resource for User {
    const KIND: StreamKind = StreamKind::User;

    async fn handle_as(
        aggregate: &mut Self,
        principal: &Principal,
        command: Self::Command,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        ownership::handle_as(aggregate, principal, command, &(), sink).await
    }

    fn commit_parts(before: &Self, events: &[UserEvent], after: &Self) -> (Vec<Reservation>, ReadModelChange) {
        let (reservations, change) = crate::projection::user_commit(before, after);
        match events.iter().any(|event| matches!(event, UserEvent::Erased {})) {
            true => (reservations, ReadModelChange::EraseUser { deleted_from: before.state().map(|s| s.owner) }),
            false => (reservations, change),
        }
    }

    fn exists(&self) -> bool {
        self.state().is_some()
    }
}

impl ScimResource for User {
    fn document(&self) -> Option<Document> {
        self.state().map(|s| s.document())
    }

    fn delete() -> UserCommand {
        UserCommand::Delete
    }

    fn moves() -> Option<Moves<Self>> {
        Some(Moves {
            move_in: |resource, owner, from| UserCommand::MoveIn { resource, owner, from },
            move_out: |to| UserCommand::MoveOut { to },
        })
    }
}

impl Resource for Group {
    const KIND: StreamKind = StreamKind::Group;

    async fn handle_as(
        aggregate: &mut Self,
        principal: &Principal,
        command: Self::Command,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        ownership::handle_as(aggregate, principal, command, &(), sink).await
    }

    fn commit_parts(before: &Self, events: &[GroupEvent], after: &Self) -> (Vec<Reservation>, ReadModelChange) {
        crate::projection::group_commit(before, events, after)
    }

    async fn resume(
        store: &dyn Store,
        tenant: &TenantSlug,
        id: ResourceId,
        command: &GroupCommand,
    ) -> Result<Option<Resumed<Self>>, StoreError> {
        Ok(Some(crate::group_snapshot::resume(store, tenant, id, command).await?))
    }

    fn exists(&self) -> bool {
        self.state().is_some()
    }

    fn referenced(events: &[GroupEvent]) -> Vec<ResourceId> {
        events
            .iter()
            .flat_map(|e| match e {
                GroupEvent::Created { members, .. } | GroupEvent::MembersAdded { members } => members.iter().map(|m| m.value).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn without_references(events: Vec<GroupEvent>, unknown: &[ResourceId]) -> Vec<GroupEvent> {
        events.into_iter().filter_map(|e| e.without_members(unknown)).collect()
    }
}

impl ScimResource for Group {
    fn document(&self) -> Option<Document> {
        self.state().map(|s| s.document())
    }

    fn delete() -> GroupCommand {
        GroupCommand::Delete
    }
}

impl Resource for Tenant {
    const KIND: StreamKind = StreamKind::Tenant;

    fn commit_parts(before: &Self, _: &[TenantEvent], after: &Self) -> (Vec<Reservation>, ReadModelChange) {
        crate::directory::tenant_commit(before, after)
    }

    fn exists(&self) -> bool {
        Tenant::exists(self)
    }
}

impl Resource for Connection {
    const KIND: StreamKind = StreamKind::Connection;

    fn commit_parts(before: &Self, _: &[ConnectionEvent], after: &Self) -> (Vec<Reservation>, ReadModelChange) {
        crate::directory::connection_commit(before, after)
    }

    fn exists(&self) -> bool {
        self.state().is_some()
    }

    fn secrets(command: &ConnectionCommand, after: &Self) -> Vec<SecretWrite> {
        let login = after.state().and_then(|s| s.login.clone());
        command.new_secret().map(|s| SecretWrite { id: s.id, login, hash: s.hash }).into_iter().collect()
    }
}

impl Resource for Enrollment {
    const KIND: StreamKind = StreamKind::Enrollment;

    fn commit_parts(_: &Self, _: &[EnrollmentEvent], _: &Self) -> (Vec<Reservation>, ReadModelChange) {
        (Vec::new(), ReadModelChange::Nothing)
    }

    fn exists(&self) -> bool {
        self.user().is_some()
    }
}

/// A device's commits keep its row in the registry (removed: the row goes).
impl Resource for Device {
    const KIND: StreamKind = StreamKind::Device;

    fn commit_parts(_: &Self, _: &[DeviceEvent], after: &Self) -> (Vec<Reservation>, ReadModelChange) {
        (Vec::new(), ReadModelChange::Device(after.state().map(crate::api::DeviceRow::of)))
    }

    /// A removed device's stream exists: registering its serial again continues it.
    fn exists(&self) -> bool {
        self.known()
    }
}

impl Resource for Operator {
    const KIND: StreamKind = StreamKind::Operator;

    fn commit_parts(_: &Self, _: &[OperatorEvent], after: &Self) -> (Vec<Reservation>, ReadModelChange) {
        crate::directory::operator_commit(after)
    }

    fn exists(&self) -> bool {
        self.name().is_some()
    }

    fn secrets(command: &OperatorCommand, _: &Self) -> Vec<SecretWrite> {
        let OperatorCommand::Create { secret, .. } = command;
        vec![SecretWrite { id: secret.id, login: None, hash: secret.hash }]
    }
}

/// A tenant's role policy: every tenant has one, empty until an operator defines a role.
impl Resource for RolePolicy {
    const KIND: StreamKind = StreamKind::RolePolicy;

    fn commit_parts(_: &Self, _: &[RolePolicyEvent], _: &Self) -> (Vec<Reservation>, ReadModelChange) {
        (Vec::new(), ReadModelChange::Nothing)
    }

    fn exists(&self) -> bool {
        true
    }
}

/// A user's roles: the stream starts with the first role the user gets.
impl Resource for Assignment {
    const KIND: StreamKind = StreamKind::RoleAssignment;

    fn commit_parts(_: &Self, _: &[AssignmentEvent], _: &Self) -> (Vec<Reservation>, ReadModelChange) {
        (Vec::new(), ReadModelChange::Nothing)
    }

    fn exists(&self) -> bool {
        true
    }
}

/// An access token's name is claimed when it is made; its rotations and revocation end its
/// older secrets in the credentials table (ADR 0063, 0077).
impl Resource for AccessToken {
    const KIND: StreamKind = StreamKind::AccessToken;

    fn commit_parts(before: &Self, _: &[AccessTokenEvent], after: &Self) -> (Vec<Reservation>, ReadModelChange) {
        let reservations = match (before.name(), after.name()) {
            (None, Some(name)) => vec![Reservation::Claim { kind: crate::api::ACCESS_TOKEN_NAME, key: name.to_string() }],
            _ => Vec::new(),
        };
        (reservations, ReadModelChange::AccessToken { expiries: domain::credential::ended(before.credentials(), after.credentials()) })
    }

    fn exists(&self) -> bool {
        self.name().is_some()
    }

    fn secrets(command: &AccessTokenCommand, _: &Self) -> Vec<SecretWrite> {
        command.new_secret().map(|s| SecretWrite { id: s.id, login: None, hash: s.hash }).into_iter().collect()
    }
}

/// An authorization grant keeps no read model: codes and refresh tokens name its stream (ADR 0072).
impl Resource for Grant {
    const KIND: StreamKind = StreamKind::OauthGrant;

    fn commit_parts(_: &Self, _: &[GrantEvent], _: &Self) -> (Vec<Reservation>, ReadModelChange) {
        (Vec::new(), ReadModelChange::Nothing)
    }

    fn exists(&self) -> bool {
        self.state().is_some()
    }
}

/// The master keys' stream records rotations and keeps no read model: the key table is theirs.
impl Resource for MasterKeys {
    const KIND: StreamKind = StreamKind::MasterKey;

    fn commit_parts(_: &Self, _: &[MasterKeyEvent], _: &Self) -> (Vec<Reservation>, ReadModelChange) {
        (Vec::new(), ReadModelChange::Nothing)
    }

    fn exists(&self) -> bool {
        true
    }
}
