//! What auditors ask of the log, planned once for both backends: a tenant's events that match
//! a filter, paged by log position; the users that ever had a login; and, from one resource's
//! stream, its history with what each event changed and its document as of any instant.
//!
//! A page reads the `(tenant, position)` index (migration 40) from where the last page ended,
//! so a page costs the same at any depth of the log.

use std::collections::HashSet;

use cqrs_es::Aggregate;
use domain::group::{Group, GroupEvent, Member, MemberKind};
use domain::user::User;
use domain::{Owner, ResourceId, StreamKind, TenantSlug};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::{RecordedEvent, Reference, StoreResult};
use crate::query::{Dialect, SqlValue};

/// The log's columns as both backends' event decoders read them, in this order.
pub const EVENT_COLUMNS: &str =
    "position, event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at";

/// Who an audit query asks about: the actor recorded in each event's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorFilter {
    Connection(Uuid),
    Operator(String),
    /// The server acting on its own (`purge`, `migration 5`).
    System(String),
}

/// A tenant's events that match every condition given, after `after_position`, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditQuery {
    pub tenant: TenantSlug,
    /// Only these resources' events (`None`: every stream of the tenant).
    pub streams: Option<Vec<ResourceId>>,
    /// `user.renamed`, `connection.disabled`…
    pub event_type: Option<String>,
    pub actor: Option<ActorFilter>,
    /// Recorded at or after.
    pub since: Option<OffsetDateTime>,
    /// Recorded before.
    pub until: Option<OffsetDateTime>,
    pub after_position: i64,
    pub limit: u32,
}

/// The SQL of an audit query for `dialect`, and its parameters.
pub fn plan(dialect: &dyn Dialect, query: &AuditQuery) -> (String, Vec<SqlValue>) {
    let mut params = vec![SqlValue::Text(query.tenant.to_string()), SqlValue::Int(query.after_position)];
    let mut bind = |value: SqlValue| {
        params.push(value);
        dialect.param(params.len())
    };
    let mut conditions = vec![format!("tenant = {}", dialect.param(1)), format!("position > {}", dialect.param(2))];
    if let Some(streams) = &query.streams {
        // No stream at all matches nothing (a login nobody ever had).
        let ids: Vec<String> = streams.iter().map(|id| bind(SqlValue::Uuid(id.as_uuid()))).collect();
        conditions.push(if ids.is_empty() { "FALSE".to_owned() } else { format!("stream_id IN ({})", ids.join(", ")) });
    }
    if let Some(event_type) = &query.event_type {
        conditions.push(format!("event_type = {}", bind(SqlValue::Text(event_type.clone()))));
    }
    if let Some(actor) = &query.actor {
        let (field, value) = match actor {
            ActorFilter::Connection(id) => ("connection_id", id.to_string()),
            ActorFilter::Operator(name) => ("operator", name.clone()),
            ActorFilter::System(what) => ("system", what.clone()),
        };
        conditions.push(format!("{} = {}", dialect.json_text("metadata", &[field]), bind(SqlValue::Text(value))));
    }
    if let Some(since) = query.since {
        conditions.push(format!("recorded_at >= {}", bind(SqlValue::Time(since))));
    }
    if let Some(until) = query.until {
        conditions.push(format!("recorded_at < {}", bind(SqlValue::Time(until))));
    }
    let limit = bind(SqlValue::Int(i64::from(query.limit)));
    (format!("SELECT {EVENT_COLUMNS} FROM events WHERE {} ORDER BY position LIMIT {limit}", conditions.join(" AND ")), params)
}

/// The users of `tenant` whose login `key` (case-folded) is, or ever was: the one holding it
/// now (a userName or an alias), every user that claimed it since logins were recorded
/// (`login_history`: the events' personal fields are encrypted), and every user provisioned or
/// renamed with it (or moved in with it) in the plaintext events written before.
/// Parameters: the tenant, the key.
pub fn users_by_login(dialect: &dyn Dialect) -> String {
    let (tenant, key) = (dialect.param(1), dialect.param(2));
    let user_name = dialect.fold(&dialect.json_text("payload", &["user_name"]));
    let renamed_to = dialect.fold(&dialect.json_text("payload", &["to"]));
    format!(
        "SELECT owner FROM reservations WHERE tenant = {tenant} AND kind = 'login' AND key = {key}
         UNION
         SELECT user_id FROM login_history WHERE tenant = {tenant} AND key = {key}
         UNION
         SELECT stream_id FROM events WHERE tenant = {tenant} AND stream_kind = 'user'
           AND ((event_type IN ('user.provisioned', 'user.moved_in') AND {user_name} = {key}) OR (event_type = 'user.renamed' AND {renamed_to} = {key}))"
    )
}

/// The groups of `tenant` that ever added `member` (`member_history`): the groups a
/// user's as-of representation may name. Parameters: the tenant, the member's id.
pub fn groups_naming(dialect: &dyn Dialect) -> String {
    format!("SELECT group_id FROM member_history WHERE tenant = {} AND member_id = {}", dialect.param(1), dialect.param(2))
}

/// The groups `member` was in at `instant`, with each group's displayName then, in the order
/// it joined them (as the users read model keeps a user's groups), from the streams of the
/// groups that ever added it (each in version order). The group aggregate says whether the
/// group existed and held the member; the events say when the member last came in.
pub fn groups_as_of(member: ResourceId, groups: &[Vec<RecordedEvent>], instant: Instant) -> StoreResult<Vec<Reference>> {
    let mut joined = Vec::new();
    for events in groups {
        let mut group = Group::default();
        let mut came_in = None;
        for event in events.iter().take_while(|e| instant.includes(e)) {
            let decoded: GroupEvent = event.decode()?;
            match &decoded {
                GroupEvent::Created { members, .. } | GroupEvent::MembersAdded { members } if names(members, member) => {
                    came_in = came_in.or(Some(event.position));
                }
                GroupEvent::MembersRemoved { members } if names(members, member) => came_in = None,
                _ => {}
            }
            group.apply(decoded);
        }
        let (Some(state), Some(position), Some(first)) = (group.state(), came_in, events.first()) else { continue };
        if state.members.iter().any(|m| m.value == member) {
            let display = Some(state.display_name.to_string());
            joined.push((position, Reference { id: first.stream, kind: MemberKind::Group, display }));
        }
    }
    joined.sort_by_key(|(position, _)| *position);
    Ok(joined.into_iter().map(|(_, reference)| reference).collect())
}

fn names(members: &[Member], member: ResourceId) -> bool {
    members.iter().any(|m| m.value == member)
}

/// One attribute an event changed: its SCIM path, and its value before and after (null when
/// absent). For a multi-valued attribute, `from` holds the values that went and `to` the ones
/// that came, so that a change to a large group costs what changed, not the group's size.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub attribute: String,
    pub from: Value,
    pub to: Value,
}

/// One event of a resource's history and what it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub event: RecordedEvent,
    pub changes: Vec<Change>,
}

/// A user's or a group's state as the log says it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The SCIM document (a group's members included; a user's groups are not: they are the
    /// groups' own history, which [`groups_as_of`] reads).
    pub document: Map<String, Value>,
    pub owner: Owner,
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
}

/// Where in the log an as-of question stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instant {
    /// Everything recorded at or before this time.
    At(OffsetDateTime),
    /// Everything up to and including this log position.
    Position(i64),
}

impl Instant {
    fn includes(self, event: &RecordedEvent) -> bool {
        match self {
            Instant::At(at) => event.recorded_at <= at,
            Instant::Position(position) => event.position <= position,
        }
    }
}

/// What the audit folds: a user's or a group's document and owner after each event.
trait Audited: Aggregate + Default {
    fn current(&self) -> Option<(Map<String, Value>, Owner)>;
}

impl Audited for User {
    fn current(&self) -> Option<(Map<String, Value>, Owner)> {
        self.state().map(|s| (s.document().into_map(), s.owner))
    }
}

impl Audited for Group {
    fn current(&self) -> Option<(Map<String, Value>, Owner)> {
        self.state().map(|s| (s.document().into_map(), s.owner))
    }
}

/// A user's or group's events (its stream, in version order) with what each changed.
pub fn history(kind: StreamKind, events: Vec<RecordedEvent>) -> StoreResult<Vec<Step>> {
    match kind {
        StreamKind::User => history_of::<User>(events),
        StreamKind::Group => history_of::<Group>(events),
        _ => Ok(events.into_iter().map(|event| Step { event, changes: Vec::new() }).collect()),
    }
}

fn history_of<A: Audited>(events: Vec<RecordedEvent>) -> StoreResult<Vec<Step>>
where
    A::Event: serde::de::DeserializeOwned,
{
    let mut aggregate = A::default();
    let mut before = None;
    let mut steps = Vec::with_capacity(events.len());
    for event in events {
        aggregate.apply(event.decode::<A::Event>()?);
        let after = aggregate.current();
        let changes = changes(before.as_ref(), after.as_ref());
        steps.push(Step { event, changes });
        before = after;
    }
    Ok(steps)
}

/// The resource as it was at `instant`: `None` if it did not exist yet, or was deleted by then.
pub fn as_of(kind: StreamKind, events: &[RecordedEvent], instant: Instant) -> StoreResult<Option<Snapshot>> {
    match kind {
        StreamKind::User => as_of_with::<User>(events, instant),
        StreamKind::Group => as_of_with::<Group>(events, instant),
        _ => Ok(None),
    }
}

fn as_of_with<A: Audited>(events: &[RecordedEvent], instant: Instant) -> StoreResult<Option<Snapshot>>
where
    A::Event: serde::de::DeserializeOwned,
{
    let mut aggregate = A::default();
    let mut last = None;
    // A stream's positions and times grow with its versions, so the events in view are a prefix.
    for event in events.iter().take_while(|e| instant.includes(e)) {
        aggregate.apply(event.decode::<A::Event>()?);
        last = Some(event);
    }
    let (Some((document, owner)), Some(last), Some(first)) = (aggregate.current(), last, events.first()) else { return Ok(None) };
    Ok(Some(Snapshot { document, owner, version: last.stream_version, created: first.recorded_at, last_modified: last.recorded_at }))
}

/// What changed between two states (`None`: the resource did not exist).
fn changes(before: Option<&(Map<String, Value>, Owner)>, after: Option<&(Map<String, Value>, Owner)>) -> Vec<Change> {
    let empty = Map::new();
    let (old, new) = (before.map_or(&empty, |(doc, _)| doc), after.map_or(&empty, |(doc, _)| doc));
    let mut out = Vec::new();
    diff_objects("", '.', old, new, &mut out);
    let owner = |state: Option<&(Map<String, Value>, Owner)>| state.map_or(Value::Null, |(_, owner)| owner.to_string().into());
    let (from, to) = (owner(before), owner(after));
    if from != to {
        // Not a SCIM attribute: `meta` is the server's, which no client writes.
        out.push(Change { attribute: "meta.owner".into(), from, to });
    }
    out
}

/// The changed attributes of two objects, by path, in the order of `new` then what only `old`
/// had. Paths are SCIM's: sub-attributes follow a dot, an extension's attributes follow its URN
/// (a top-level key) after a colon.
fn diff_objects(prefix: &str, separator: char, old: &Map<String, Value>, new: &Map<String, Value>, out: &mut Vec<Change>) {
    let keys = new.keys().chain(old.keys().filter(|key| !new.contains_key(*key)));
    for key in keys {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}{separator}{key}") };
        let inner = if prefix.is_empty() && key.starts_with("urn:") { ':' } else { '.' };
        diff_values(&path, inner, old.get(key).unwrap_or(&Value::Null), new.get(key).unwrap_or(&Value::Null), out);
    }
}

/// The changes at `attribute`; `separator` joins its sub-attributes' names to it.
fn diff_values(attribute: &str, separator: char, from: &Value, to: &Value, out: &mut Vec<Change>) {
    match (from, to) {
        _ if from == to => {}
        (Value::Object(old), Value::Object(new)) => diff_objects(attribute, separator, old, new, out),
        // A complex attribute that came or went: each of its sub-attributes did.
        (Value::Object(old), Value::Null) => diff_objects(attribute, separator, old, &Map::new(), out),
        (Value::Null, Value::Object(new)) => diff_objects(attribute, separator, &Map::new(), new, out),
        (Value::Array(old), Value::Array(new)) => {
            let (gone, came) = (elements_not_in(old, new), elements_not_in(new, old));
            if !gone.is_empty() || !came.is_empty() {
                out.push(Change { attribute: attribute.to_owned(), from: Value::Array(gone), to: Value::Array(came) });
            }
        }
        _ => out.push(Change { attribute: attribute.to_owned(), from: from.clone(), to: to.clone() }),
    }
}

/// The elements of `these` that `those` lacks, in their order (compared by their JSON text, in
/// a hash set: linear in both).
fn elements_not_in(these: &[Value], those: &[Value]) -> Vec<Value> {
    let known: HashSet<String> = those.iter().map(Value::to_string).collect();
    these.iter().filter(|v| !known.contains(&v.to_string())).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(document: Value, owner: Owner) -> (Map<String, Value>, Owner) {
        let Value::Object(map) = document else { panic!("an object") };
        (map, owner)
    }

    fn change(attribute: &str, from: Value, to: Value) -> Change {
        Change { attribute: attribute.into(), from, to }
    }

    #[test]
    fn changes_name_each_attribute_that_moved_by_its_scim_path() {
        let manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let before = state(
            json!({"userName": "bob", "name": {"givenName": "Bob", "familyName": "J"}, manager: {"manager": {"value": "m1"}},
                   "emails": [{"value": "a@x"}, {"value": "b@x"}], "title": "Eng"}),
            Owner::Operator,
        );
        let after = state(
            json!({"userName": "bob", "name": {"givenName": "Robert", "familyName": "J"}, manager: {"manager": {"value": "m2"}},
                   "emails": [{"value": "b@x"}, {"value": "c@x"}], "active": false}),
            Owner::Operator,
        );
        assert_eq!(
            changes(Some(&before), Some(&after)),
            vec![
                change("name.givenName", json!("Bob"), json!("Robert")),
                change(&format!("{manager}:manager.value"), json!("m1"), json!("m2")),
                change("emails", json!([{"value": "a@x"}]), json!([{"value": "c@x"}])),
                change("active", Value::Null, json!(false)),
                change("title", json!("Eng"), Value::Null),
            ]
        );
    }

    #[test]
    fn creation_and_deletion_change_every_attribute_and_a_claim_the_owner() {
        let connection = Uuid::now_v7();
        let one = state(json!({"displayName": "eng"}), Owner::Operator);
        assert_eq!(
            changes(None, Some(&one)),
            vec![change("displayName", Value::Null, json!("eng")), change("meta.owner", Value::Null, json!("operator"))]
        );
        assert_eq!(
            changes(Some(&one), None),
            vec![change("displayName", json!("eng"), Value::Null), change("meta.owner", json!("operator"), Value::Null)]
        );
        let claimed = state(json!({"displayName": "eng"}), Owner::Connection(connection));
        assert_eq!(changes(Some(&one), Some(&claimed)), vec![change("meta.owner", json!("operator"), json!(connection.to_string()))]);
    }

    #[test]
    fn a_query_binds_every_condition_it_has() {
        let tenant = TenantSlug::parse("acme").unwrap();
        let query = AuditQuery {
            tenant,
            streams: Some(vec![ResourceId::new(), ResourceId::new()]),
            event_type: Some("user.renamed".into()),
            actor: Some(ActorFilter::Operator("alice".into())),
            since: Some(OffsetDateTime::UNIX_EPOCH),
            until: None,
            after_position: 7,
            limit: 10,
        };
        let (sql, params) = plan(&crate::postgres::dialect::Postgres, &query);
        assert!(sql.contains("stream_id IN ($3, $4)") && sql.contains("event_type = $5") && sql.contains("= $6"), "{sql}");
        assert!(sql.contains("recorded_at >= $7") && sql.ends_with("ORDER BY position LIMIT $8"), "{sql}");
        assert_eq!(params.len(), 8);
        let (sql, _) = plan(&crate::postgres::dialect::Postgres, &AuditQuery { streams: Some(vec![]), ..query });
        assert!(sql.contains("FALSE"), "{sql}");
    }
}
