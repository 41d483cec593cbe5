//! The read models as a rebuild folds them in memory before it loads them into the shadow in
//! bulk (docs/adr/0053). Each replayed commit's plan (`write_plan::replay`) is applied here step
//! by step as each backend's SQL applies it to its tables, so a row written and rewritten by
//! many events is loaded once, in multi-row writes, instead of once per event. The tables are
//! held to the backends' SQL by the rebuild's equality test (tests/tests/rebuild.rs).

use std::collections::{HashMap, HashSet};

use domain::group::MemberKind;
use domain::{Owner, ResourceId, TenantSlug};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::{Commit, ConnectionRow, DeviceRow, GroupRow, IndexedValue, StoreError, StoreResult, UserRow};
use crate::projection::member_kind_name;
use crate::query::Target;
use crate::write_plan::{self, TenantRows, WriteStep};

/// A row's key: its tenant and its stream.
pub type Key = (TenantSlug, ResourceId);

/// The rows of every read model a rebuild writes (`READ_MODELS`), keyed as their tables are.
#[derive(Default)]
pub struct Tables {
    pub tenants: HashMap<TenantSlug, TenantRecord>,
    pub operators: HashMap<ResourceId, (String, OffsetDateTime)>,
    pub connections: HashMap<ResourceId, ConnectionRecord>,
    pub users: HashMap<Key, UserRecord>,
    /// A user's indexed values, in the order they were inserted.
    pub user_values: HashMap<Key, Vec<IndexedValue>>,
    pub groups: HashMap<Key, GroupRecord>,
    /// Each group's members, with the number that orders them (`memberships.added`).
    pub memberships: HashMap<Key, HashMap<ResourceId, Membership>>,
    /// The groups a member is in: the index that `memberships_member` is to the SQL.
    by_member: HashMap<Key, HashSet<ResourceId>>,
    /// The last `memberships.added` handed out.
    added: i64,
    pub resource_counts: HashMap<(TenantSlug, &'static str, Owner, i16), i64>,
    /// The same counts per block of the creation order too (ADR 0080).
    pub resource_blocks: HashMap<(TenantSlug, &'static str, Owner, i64, i16), i64>,
    pub devices: HashMap<Key, (DeviceRow, OffsetDateTime)>,
}

pub struct TenantRecord {
    pub created_at: OffsetDateTime,
    pub parent: Option<String>,
}

pub struct ConnectionRecord {
    pub tenant: TenantSlug,
    pub created_at: OffsetDateTime,
    /// The row as first written: name, auth and login are never updated.
    pub row: ConnectionRow,
    pub disabled_at: Option<OffsetDateTime>,
    pub purge_requested_at: Option<OffsetDateTime>,
}

/// A `users` row but its values (`Tables::user_values`).
pub struct UserRecord {
    pub seq: i64,
    pub row: UserRow,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    /// `[id, displayName]` pairs in the order the user joined (user_groups.rs).
    pub groups: Vec<(ResourceId, String)>,
}

pub struct GroupRecord {
    pub seq: i64,
    pub row: GroupRow,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub last_modified: OffsetDateTime,
}

#[derive(Clone, Copy)]
pub struct Membership {
    pub kind: Option<&'static str>,
    pub added: i64,
}

impl Tables {
    /// Applies the plan of a replayed `commit` whose first event is at log `position`.
    pub fn apply(&mut self, commit: &Commit, position: i64) -> StoreResult<()> {
        let key = (commit.tenant.clone(), commit.stream);
        let (at, version) = (commit.recorded_at, commit.version_after());
        let mut seq = None;
        for step in write_plan::replay(commit, position) {
            let first = || seq.ok_or_else(|| StoreError::Internal("a read-model row planned before its events".into()));
            match step {
                WriteStep::Replayed { position } => seq = Some(position),
                WriteStep::UpsertUserRow(row) => match self.users.get_mut(&key) {
                    Some(user) => {
                        user.row = row.clone();
                        user.version = version;
                        user.last_modified = at;
                    }
                    None => {
                        let user =
                            UserRecord { seq: first()?, row: row.clone(), version, created_at: at, last_modified: at, groups: Vec::new() };
                        self.users.insert(key.clone(), user);
                    }
                },
                WriteStep::ClearUserValues | WriteStep::DeleteUserValues => {
                    self.user_values.remove(&key);
                }
                WriteStep::InsertUserValues(values) => self.user_values.entry(key.clone()).or_default().extend(values.iter().cloned()),
                WriteStep::DeleteUserRow => {
                    self.users.remove(&key);
                }
                WriteStep::DeleteMembershipsOfMember => self.remove_member_everywhere(&key),
                WriteStep::RenameGroupInUsers { display_name } => {
                    if self.groups.get(&key).is_some_and(|group| group.row.display_name != display_name) {
                        for member in self.members_of(&key) {
                            if let Some(user) = self.users.get_mut(&(key.0.clone(), member)) {
                                for (group, name) in &mut user.groups {
                                    if *group == commit.stream {
                                        display_name.clone_into(name);
                                    }
                                }
                            }
                        }
                    }
                }
                WriteStep::UpsertGroupRow(row) => match self.groups.get_mut(&key) {
                    Some(group) => {
                        group.row = row.clone();
                        group.version = version;
                        group.last_modified = at;
                    }
                    None => {
                        let group = GroupRecord { seq: first()?, row: row.clone(), version, created_at: at, last_modified: at };
                        self.groups.insert(key.clone(), group);
                    }
                },
                WriteStep::RemoveMembers(members) => {
                    for member in members {
                        self.remove_membership(&key, *member);
                    }
                }
                WriteStep::LeaveGroupInUsers(members) => self.leave(&key, members.iter().copied()),
                WriteStep::JoinGroupInUsers { display_name, members } => {
                    for (member, _) in members {
                        if let Some(user) = self.users.get_mut(&(key.0.clone(), *member)) {
                            if !user.groups.iter().any(|(group, _)| *group == commit.stream) {
                                user.groups.push((commit.stream, display_name.to_owned()));
                            }
                        }
                    }
                }
                WriteStep::AddMembers(members) => {
                    for (member, kind) in members {
                        self.add_membership(&key, *member, *kind);
                    }
                }
                WriteStep::LeaveDeletedGroupInUsers => {
                    let members = self.members_of(&key);
                    self.leave(&key, members.into_iter());
                }
                WriteStep::DeleteGroupRow => {
                    self.groups.remove(&key);
                }
                WriteStep::DeleteGroupMemberships => {
                    for member in self.members_of(&key) {
                        self.remove_membership(&key, member);
                    }
                    self.remove_member_everywhere(&key);
                }
                WriteStep::InsertTenantRow { parent } => {
                    let tenant = TenantRecord { created_at: at, parent: parent.map(str::to_owned) };
                    if self.tenants.insert(commit.tenant.clone(), tenant).is_some() {
                        return Err(duplicate("tenant", commit));
                    }
                }
                WriteStep::ForgetTenant(rows) => self.forget_tenant(&commit.tenant, rows),
                WriteStep::UpsertConnectionRow(row) => {
                    let when = |flag: bool| flag.then_some(at);
                    match self.connections.get_mut(&commit.stream) {
                        Some(connection) => {
                            connection.row.settings = row.settings.clone();
                            connection.disabled_at = connection.disabled_at.or(when(row.disabled));
                            connection.purge_requested_at = connection.purge_requested_at.or(when(row.purge));
                        }
                        None => {
                            let connection = ConnectionRecord {
                                tenant: commit.tenant.clone(),
                                created_at: at,
                                row: row.clone(),
                                disabled_at: when(row.disabled),
                                purge_requested_at: when(row.purge),
                            };
                            self.connections.insert(commit.stream, connection);
                        }
                    }
                }
                WriteStep::InsertOperatorRow { name } => {
                    if self.operators.insert(commit.stream, (name.to_owned(), at)).is_some() {
                        return Err(duplicate("operator", commit));
                    }
                }
                WriteStep::UpsertDeviceRow(row) => {
                    self.devices.insert(key.clone(), (row.clone(), at));
                }
                WriteStep::DeleteDeviceRow => {
                    self.devices.remove(&key);
                }
                WriteStep::CountResource { target, owner, stripe, delta } => {
                    let kind = target.table();
                    *self.resource_counts.entry((commit.tenant.clone(), kind, owner, stripe)).or_default() += delta;
                    let seq = match target {
                        Target::Users => self.users.get(&key).map(|user| user.seq),
                        Target::Groups => self.groups.get(&key).map(|group| group.seq),
                    };
                    if let Some(seq) = seq {
                        let block = seq / write_plan::BLOCK_POSITIONS;
                        *self.resource_blocks.entry((commit.tenant.clone(), kind, owner, block, stripe)).or_default() += delta;
                    }
                }
                // A shadow has no credentials (a rebuild keeps the live ones), and no server
                // reads it: a replayed commit has no reservations, key, secrets or hold.
                WriteStep::ExpireCredential { .. } | WriteStep::SignalCredentialsChanged => {}
                WriteStep::WaitForStreamHolder
                | WriteStep::ReleaseReservation { .. }
                | WriteStep::ClaimReservation { .. }
                | WriteStep::RecordLogin { .. }
                | WriteStep::RecordMembersJoined(_)
                | WriteStep::ForgetLogins
                | WriteStep::InsertUserKey(_)
                | WriteStep::DeleteUserKey
                | WriteStep::AppendEvent { .. }
                | WriteStep::InsertCredential(_) => {
                    return Err(StoreError::Internal(format!("a replayed commit planned {step:?}")));
                }
            }
        }
        Ok(())
    }

    fn members_of(&self, group: &Key) -> Vec<ResourceId> {
        self.memberships.get(group).map(|members| members.keys().copied().collect()).unwrap_or_default()
    }

    /// Drops `group` from the `groups` of these members' rows.
    fn leave(&mut self, group: &Key, members: impl Iterator<Item = ResourceId>) {
        for member in members {
            if let Some(user) = self.users.get_mut(&(group.0.clone(), member)) {
                user.groups.retain(|(id, _)| *id != group.1);
            }
        }
    }

    fn add_membership(&mut self, group: &Key, member: ResourceId, kind: Option<MemberKind>) {
        let members = self.memberships.entry(group.clone()).or_default();
        if let std::collections::hash_map::Entry::Vacant(entry) = members.entry(member) {
            self.added += 1;
            entry.insert(Membership { kind: kind.map(member_kind_name), added: self.added });
            self.by_member.entry((group.0.clone(), member)).or_default().insert(group.1);
        }
    }

    fn remove_membership(&mut self, group: &Key, member: ResourceId) {
        if let Some(members) = self.memberships.get_mut(group) {
            members.remove(&member);
        }
        let key = (group.0.clone(), member);
        if let Some(groups) = self.by_member.get_mut(&key) {
            groups.remove(&group.1);
        }
    }

    /// Drops `member`'s memberships in every group.
    fn remove_member_everywhere(&mut self, member: &Key) {
        for group in self.by_member.remove(member).unwrap_or_default() {
            if let Some(members) = self.memberships.get_mut(&(member.0.clone(), group)) {
                members.remove(&member.1);
            }
        }
    }

    fn forget_tenant(&mut self, tenant: &TenantSlug, rows: TenantRows) {
        match rows {
            TenantRows::Memberships => {
                self.memberships.retain(|(t, _), _| t != tenant);
                self.by_member.retain(|(t, _), _| t != tenant);
            }
            TenantRows::UserValues => self.user_values.retain(|(t, _), _| t != tenant),
            TenantRows::Users => self.users.retain(|(t, _), _| t != tenant),
            TenantRows::Groups => self.groups.retain(|(t, _), _| t != tenant),
            TenantRows::Connections => self.connections.retain(|_, c| c.tenant != *tenant),
            TenantRows::Devices => self.devices.retain(|(t, _), _| t != tenant),
            TenantRows::ResourceCounts => self.resource_counts.retain(|(t, _, _, _), _| t != tenant),
            TenantRows::ResourceBlocks => self.resource_blocks.retain(|(t, _, _, _, _), _| t != tenant),
            TenantRows::Tenant => {
                self.tenants.remove(tenant);
            }
            // Not read models: a shadow has none of these rows.
            TenantRows::Credentials | TenantRows::Reservations | TenantRows::LoginHistory | TenantRows::MemberHistory => {}
        }
    }

    /// The `users.groups` array of a user, as JSON.
    pub fn groups_json(groups: &[(ResourceId, String)]) -> serde_json::Value {
        groups.iter().map(|(id, name)| serde_json::json!([id.as_uuid(), name])).collect()
    }

    /// The `memberships` rows of every group: (key of the group, member, its kind, `added`).
    pub fn membership_rows(&self) -> impl Iterator<Item = (&Key, Uuid, Option<&'static str>, i64)> {
        self.memberships
            .iter()
            .flat_map(|(group, members)| members.iter().map(move |(member, m)| (group, member.as_uuid(), m.kind, m.added)))
    }
}

/// Where a SQL insert would have failed on the key.
fn duplicate(what: &str, commit: &Commit) -> StoreError {
    StoreError::Internal(format!("the replay inserted {what} {} twice", commit.stream))
}

#[cfg(test)]
mod tests {
    use domain::{EventPayload, Owner, StreamKind};
    use serde_json::json;

    use super::*;
    use crate::api::{Actor, EventMetadata, ReadModelChange, Reservation, LOGIN};

    fn commit(kind: StreamKind, stream: ResourceId, version: i64, read_model: ReadModelChange) -> Commit {
        Commit {
            tenant: TenantSlug::parse("acme").unwrap(),
            kind,
            stream,
            expected_version: version - 1,
            events: vec![EventPayload { event_type: "test".into(), type_version: 1, data: json!({}) }],
            metadata: EventMetadata::by(Actor::System("test".into())),
            recorded_at: crate::api::now(),
            reservations: Vec::new(),
            read_model,
            secrets: Vec::new(),
            key: None,
            held: true,
        }
    }

    /// The user `name`, created, or changed when it was already there (`existed`).
    fn user(name: &str, existed: bool) -> ReadModelChange {
        let row = UserRow {
            user_name: name.into(),
            user_name_key: name.into(),
            external_id: None,
            active: true,
            document: json!({"userName": name}),
            values: vec![IndexedValue { attribute: "emails", value_type: None, key: format!("{name}@acme.com") }],
            owner: Owner::Operator,
        };
        ReadModelChange::UpsertUser { row, owner_before: existed.then_some(Owner::Operator) }
    }

    fn group(name: &str, existed: bool, added: &[ResourceId], removed: &[ResourceId]) -> ReadModelChange {
        let row = GroupRow {
            display_name: name.into(),
            display_name_key: name.to_lowercase(),
            external_id: None,
            document: json!({"displayName": name}),
            owner: Owner::Operator,
        };
        let added = added.iter().map(|id| (*id, Some(MemberKind::User))).collect();
        ReadModelChange::Group {
            row: Some(row),
            added,
            removed: removed.to_vec(),
            renamed: true,
            owner_before: existed.then_some(Owner::Operator),
        }
    }

    fn key(id: ResourceId) -> Key {
        (TenantSlug::parse("acme").unwrap(), id)
    }

    /// What the SQL does, row by row: a join reaches only a user row that exists, a rename
    /// reaches every member's array, a deleted user leaves its groups, an upsert keeps `seq`.
    #[test]
    fn the_plan_applied_in_memory_keeps_rows_memberships_and_group_arrays_as_the_sql_does() {
        let (early, late, eng) = (ResourceId::new(), ResourceId::new(), ResourceId::new());
        let mut tables = Tables::default();
        tables.apply(&commit(StreamKind::User, early, 1, user("early", false)), 1).unwrap();
        tables.apply(&commit(StreamKind::Group, eng, 1, group("Eng", false, &[early, late], &[])), 2).unwrap();
        tables.apply(&commit(StreamKind::User, late, 1, user("late", false)), 3).unwrap();
        tables.apply(&commit(StreamKind::Group, eng, 2, group("Engineering", true, &[], &[])), 4).unwrap();
        tables.apply(&commit(StreamKind::User, early, 2, user("early2", true)), 5).unwrap();

        let early_row = &tables.users[&key(early)];
        assert_eq!((early_row.seq, early_row.version, early_row.row.user_name.as_str()), (1, 2, "early2"));
        assert_eq!(early_row.groups, vec![(eng, "Engineering".to_owned())]);
        assert!(tables.users[&key(late)].groups.is_empty(), "no row to join when the group named it");
        assert_eq!(tables.user_values[&key(early)].len(), 1, "the values are replaced, not added to");
        let members: Vec<_> = tables.membership_rows().map(|(_, member, _, added)| (member, added)).collect();
        assert_eq!(members.len(), 2);
        assert_eq!(tables.resource_counts.values().sum::<i64>(), 3);

        tables.apply(&commit(StreamKind::User, early, 3, ReadModelChange::DeleteUser { owner: Owner::Operator }), 6).unwrap();
        assert!(!tables.users.contains_key(&key(early)) && !tables.user_values.contains_key(&key(early)));
        assert_eq!(tables.membership_rows().map(|(_, member, _, _)| member).collect::<Vec<_>>(), vec![late.as_uuid()]);
        assert_eq!(tables.resource_counts.values().sum::<i64>(), 2);
    }

    #[test]
    fn a_commit_a_rebuild_cannot_replay_fails_it() {
        let mut c = commit(StreamKind::User, ResourceId::new(), 1, user("alice", false));
        c.reservations = vec![Reservation::Claim { kind: LOGIN, key: "alice".into() }];
        assert!(matches!(Tables::default().apply(&c, 1), Err(StoreError::Internal(_))));
    }
}
