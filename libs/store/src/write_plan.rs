//! A commit's writes, decided once for both backends (ADR 0017): an ordered list of typed
//! steps, each of which a backend translates to one statement of its SQL (run once, or once per
//! element where the backend has no arrays) and binds. The order is the plan's, not the
//! backend's: releases before claims (a rename that only changes case releases and claims the
//! same key), events before the rows (a new row's `seq` is its stream's position), a group's
//! members' rows renamed before the group row (the rename compares with the old name).
//!
//! A new read model is a new step here and one SQL mapping per backend.

use domain::group::MemberKind;
use domain::{EventPayload, Owner, ResourceId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::{
    Commit, ConnectionRow, DeviceRow, GroupRow, IndexedValue, KeyWrite, ReadModelChange, Reservation, SecretWrite, UserRow, LOGIN,
};
use crate::query::{Dialect, Target};
use crate::shred::table::WrappedKey;

/// One write of a commit, on the commit's tenant and stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WriteStep<'c> {
    /// Waits while a command of another process holds the stream (`Store::hold_stream`), so
    /// that a writer that lost a race for it cannot lose again (ADR 0051). First, before the
    /// commit touches any row.
    WaitForStreamHolder,
    /// Frees a unique value the stream held.
    ReleaseReservation {
        kind: &'static str,
        key: &'c str,
    },
    /// Takes a unique value for the stream; fails the commit with `Uniqueness` if it is taken.
    ClaimReservation {
        kind: &'static str,
        key: &'c str,
    },
    /// Remembers that the stream (a user) had the login `key`, for the audit's look-up by login.
    RecordLogin {
        key: &'c str,
    },
    /// Forgets every login the (erased) user had.
    ForgetLogins,
    /// Stores the user's first data key (wrapped); fails the commit with `Conflict` if the user
    /// has one.
    InsertUserKey(&'c WrappedKey),
    /// Deletes the user's data key: its events' personal fields become unreadable.
    DeleteUserKey,
    /// Appends an event at `version` of the stream; fails the commit with `Conflict` if that
    /// version exists. The first one's log position is the append's answer.
    AppendEvent {
        version: i64,
        event: &'c EventPayload,
    },
    /// Stands for the events of a commit that a rebuild replays: the log holds them from
    /// `position` on already, so nothing is appended, and a new row's `seq` is `position`.
    Replayed {
        position: i64,
    },
    /// Inserts or updates the user's row (its `seq` is set on insert only).
    UpsertUserRow(&'c UserRow),
    /// Drops the user's indexed values, so that the ones inserted after are all it has.
    ClearUserValues,
    InsertUserValues(&'c [IndexedValue]),
    DeleteUserRow,
    DeleteUserValues,
    /// Drops the memberships of the stream in any group.
    DeleteMembershipsOfMember,
    /// Rewrites the group's name in its members' rows, when it differs from the stored one.
    RenameGroupInUsers {
        display_name: &'c str,
    },
    /// Inserts or updates the group's row (its `seq` is set on insert only).
    UpsertGroupRow(&'c GroupRow),
    RemoveMembers(&'c [ResourceId]),
    /// Drops the group from the `groups` of these users' rows.
    LeaveGroupInUsers(&'c [ResourceId]),
    /// Adds the group to the `groups` of these users' rows, unless they have it.
    JoinGroupInUsers {
        display_name: &'c str,
        members: &'c [(ResourceId, Option<MemberKind>)],
    },
    AddMembers(&'c [(ResourceId, Option<MemberKind>)]),
    /// Remembers that these members joined the group, for the audit's as-of (kept after they
    /// leave; like `RecordLogin`, not a read model a rebuild writes).
    RecordMembersJoined(&'c [(ResourceId, Option<MemberKind>)]),
    /// Drops the deleted group from the `groups` of its members' rows.
    LeaveDeletedGroupInUsers,
    DeleteGroupRow,
    /// Drops the group's memberships, as a group and as a member.
    DeleteGroupMemberships,
    /// Inserts the tenant's row (the commit's tenant is the tenant) with its parent, if any.
    InsertTenantRow {
        parent: Option<&'c str>,
    },
    /// Deletes the deleted tenant's rows of one read model (its events stay in the log).
    ForgetTenant(TenantRows),
    /// Inserts or updates the connection's row: its settings, and when it was disabled (kept
    /// from the first disable).
    UpsertConnectionRow(&'c ConnectionRow),
    /// Sets when one of the stream's credentials stops working.
    ExpireCredential {
        credential: Uuid,
        at: &'c OffsetDateTime,
    },
    InsertOperatorRow {
        name: &'c str,
    },
    /// Inserts or updates the device's row.
    UpsertDeviceRow(&'c DeviceRow),
    DeleteDeviceRow,
    /// Stores a generated secret's hash for the stream (a connection or an operator).
    InsertCredential(&'c SecretWrite),
    /// Tells every server's authentication cache, at commit, that credentials changed (ADR
    /// 0021); nothing where no server caches them.
    SignalCredentialsChanged,
    /// Adds `delta` (+1: created or gained, -1: deleted or lost) to `owner`'s count of the
    /// tenant's users or groups (`target`), in the stripe the stream's id picks (ADR 0049),
    /// and to the same count of the block of the creation order the stream's row is in (ADR
    /// 0080): so it runs while the row is there, after its insert and before its delete.
    CountResource {
        target: Target,
        owner: Owner,
        stripe: i16,
        delta: i64,
    },
}

/// The read models a deleted tenant's rows are deleted from, in an order that leaves no row
/// pointing at a deleted one. The reservation of the tenant's own slug stays: a deleted tenant's
/// slug is never used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantRows {
    Memberships,
    UserValues,
    Users,
    Groups,
    Credentials,
    Connections,
    Devices,
    ResourceCounts,
    ResourceBlocks,
    Reservations,
    LoginHistory,
    MemberHistory,
    Tenant,
}

impl TenantRows {
    pub const ALL: [TenantRows; 13] = [
        TenantRows::Memberships,
        TenantRows::UserValues,
        TenantRows::Users,
        TenantRows::Groups,
        TenantRows::Credentials,
        TenantRows::Connections,
        TenantRows::Devices,
        TenantRows::ResourceCounts,
        TenantRows::ResourceBlocks,
        TenantRows::Reservations,
        TenantRows::LoginHistory,
        TenantRows::MemberHistory,
        TenantRows::Tenant,
    ];

    /// The statement that deletes the tenant's rows, the tenant's slug bound as `tenant`
    /// (the dialect's first parameter).
    pub fn delete_sql(self, tenant: &str) -> String {
        let (table, condition) = match self {
            TenantRows::Memberships => ("memberships", ""),
            TenantRows::UserValues => ("user_values", ""),
            TenantRows::Users => ("users", ""),
            TenantRows::Groups => ("groups", ""),
            TenantRows::Credentials => ("credentials", ""),
            TenantRows::Connections => ("connections", ""),
            TenantRows::Devices => ("devices", ""),
            TenantRows::ResourceCounts => ("resource_counts", ""),
            TenantRows::ResourceBlocks => ("resource_blocks", ""),
            TenantRows::Reservations => ("reservations", " AND kind <> 'tenant'"),
            TenantRows::LoginHistory => ("login_history", ""),
            TenantRows::MemberHistory => ("member_history", ""),
            TenantRows::Tenant => return format!("DELETE FROM tenants WHERE slug = {tenant}"),
        };
        format!("DELETE FROM {table} WHERE tenant = {tenant}{condition}")
    }
}

/// How many rows a tenant's count of one kind is spread over (ADR 0049).
pub const COUNT_STRIPES: u8 = 16;

/// How many log positions one block of the creation order spans: a row's block is its `seq`
/// divided by this (ADR 0080; migration 58 divides by the same).
pub const BLOCK_POSITIONS: i64 = 1024;

/// The statement of a [`WriteStep::CountResource`] that counts in the creation order's blocks
/// (ADR 0080): it adds the delta (parameter 4) to the owner's (2) count in the stripe (3) of
/// the block that the row of `target` with the tenant (1) and id (5) is in. No row, no count.
pub fn count_in_block_sql(dialect: &dyn Dialect, target: Target) -> String {
    let p = |n| dialect.param(n);
    let table = target.table();
    format!(
        "INSERT INTO resource_blocks (tenant, kind, owner, block, stripe, total)
         SELECT r.tenant, '{table}', {}, r.seq / {BLOCK_POSITIONS}, CAST({} AS SMALLINT), CAST({} AS BIGINT) FROM {table} r WHERE r.tenant = {} AND r.id = {}
         ON CONFLICT (tenant, kind, owner, block, stripe) DO UPDATE SET total = resource_blocks.total + excluded.total",
        p(2),
        p(3),
        p(4),
        p(1),
        p(5)
    )
}

/// The steps that take a deleted user's rows out of the read models, the count first: its
/// block is read from the row.
fn delete_user(count: WriteStep<'_>) -> [WriteStep<'_>; 4] {
    [count, WriteStep::DeleteUserRow, WriteStep::DeleteUserValues, WriteStep::DeleteMembershipsOfMember]
}

/// The counts a resource's commit moves: from the owner it had (if it existed) to the one it
/// has (if it still exists); nothing when they are the same.
fn recount(commit: &Commit, target: Target, before: Option<Owner>, after: Option<Owner>) -> Vec<WriteStep<'static>> {
    if before == after {
        return Vec::new();
    }
    let count = |owner, delta| WriteStep::CountResource { target, owner, stripe: stripe(commit), delta };
    before.map(|owner| count(owner, -1)).into_iter().chain(after.map(|owner| count(owner, 1))).collect()
}

/// The steps of `commit`, in the order they must run.
pub fn plan(commit: &Commit) -> Vec<WriteStep<'_>> {
    let mut steps = Vec::new();
    if commit.expected_version > 0 && !commit.held {
        steps.push(WriteStep::WaitForStreamHolder);
    }
    steps.extend(commit.reservations.iter().filter_map(|reservation| match reservation {
        Reservation::Release { kind, key } => Some(WriteStep::ReleaseReservation { kind, key }),
        Reservation::Claim { .. } => None,
    }));
    steps.extend(commit.reservations.iter().filter_map(|reservation| match reservation {
        Reservation::Claim { kind, key } => Some(WriteStep::ClaimReservation { kind, key }),
        Reservation::Release { .. } => None,
    }));
    steps.extend(commit.reservations.iter().filter_map(|reservation| match reservation {
        Reservation::Claim { kind, key } if *kind == LOGIN => Some(WriteStep::RecordLogin { key }),
        _ => None,
    }));
    match &commit.key {
        Some(KeyWrite::Create(wrapped)) => steps.push(WriteStep::InsertUserKey(wrapped)),
        Some(KeyWrite::Destroy) => steps.push(WriteStep::DeleteUserKey),
        None => {}
    }
    steps.extend(commit.events.iter().enumerate().map(|(i, event)| WriteStep::AppendEvent { version: commit.event_version(i), event }));
    let count = |target: Target, owner, delta| WriteStep::CountResource { target, owner, stripe: stripe(commit), delta };
    match &commit.read_model {
        ReadModelChange::UpsertUser { row, owner_before } => {
            steps.push(WriteStep::UpsertUserRow(row));
            steps.extend(recount(commit, Target::Users, *owner_before, Some(row.owner)));
            // Only a row that was there has values to clear: a stream with history may hold a
            // user just moved back in (ADR 0074), whose row is new.
            if owner_before.is_some() {
                steps.push(WriteStep::ClearUserValues);
            }
            if !row.values.is_empty() {
                steps.push(WriteStep::InsertUserValues(&row.values));
            }
        }
        ReadModelChange::DeleteUser { owner } => steps.extend(delete_user(count(Target::Users, *owner, -1))),
        ReadModelChange::EraseUser { deleted_from } => {
            if let Some(owner) = deleted_from {
                steps.extend(delete_user(count(Target::Users, *owner, -1)));
            }
            steps.push(WriteStep::ForgetLogins);
        }
        ReadModelChange::Group { row: Some(row), added, removed, renamed, owner_before } => {
            if *renamed {
                steps.push(WriteStep::RenameGroupInUsers { display_name: &row.display_name });
            }
            steps.push(WriteStep::UpsertGroupRow(row));
            steps.extend(recount(commit, Target::Groups, *owner_before, Some(row.owner)));
            if !removed.is_empty() {
                steps.extend([WriteStep::RemoveMembers(removed), WriteStep::LeaveGroupInUsers(removed)]);
            }
            if !added.is_empty() {
                steps.push(WriteStep::JoinGroupInUsers { display_name: &row.display_name, members: added });
                steps.extend([WriteStep::AddMembers(added), WriteStep::RecordMembersJoined(added)]);
            }
        }
        ReadModelChange::Group { row: None, owner_before, .. } => {
            steps.extend(recount(commit, Target::Groups, *owner_before, None));
            steps.extend([WriteStep::LeaveDeletedGroupInUsers, WriteStep::DeleteGroupRow, WriteStep::DeleteGroupMemberships]);
        }
        ReadModelChange::Tenant { parent } => {
            steps.push(WriteStep::InsertTenantRow { parent: parent.as_ref().map(domain::TenantSlug::as_str) })
        }
        ReadModelChange::DeleteTenant => steps.extend(TenantRows::ALL.map(WriteStep::ForgetTenant)),
        ReadModelChange::Connection(row) => {
            steps.push(WriteStep::UpsertConnectionRow(row));
            steps.extend(row.expiries.iter().map(|(credential, at)| WriteStep::ExpireCredential { credential: *credential, at }));
        }
        ReadModelChange::AccessToken { expiries } => {
            steps.extend(expiries.iter().map(|(credential, at)| WriteStep::ExpireCredential { credential: *credential, at }))
        }
        ReadModelChange::Operator { name } => steps.push(WriteStep::InsertOperatorRow { name }),
        ReadModelChange::Device(Some(row)) => steps.push(WriteStep::UpsertDeviceRow(row)),
        ReadModelChange::Device(None) => steps.push(WriteStep::DeleteDeviceRow),
        ReadModelChange::Routing | ReadModelChange::Nothing => {}
    }
    steps.extend(commit.secrets.iter().map(WriteStep::InsertCredential));
    if signals_credentials(commit) {
        steps.push(WriteStep::SignalCredentialsChanged);
    }
    steps
}

/// Whether `commit` changes what authentication or routing reads (tenants, connections, access
/// tokens, operators, routing rules): its plan then tells the servers' caches (ADR 0021).
pub fn signals_credentials(commit: &Commit) -> bool {
    matches!(
        commit.read_model,
        ReadModelChange::Tenant { .. }
            | ReadModelChange::DeleteTenant
            | ReadModelChange::Routing
            | ReadModelChange::Connection(_)
            | ReadModelChange::AccessToken { .. }
            | ReadModelChange::Operator { .. }
    )
}

/// The steps of `commit` replayed by a rebuild, its events being in the log from
/// `first_position` on: the commit's own plan, with its events not appended again.
pub fn replay(commit: &Commit, first_position: i64) -> Vec<WriteStep<'_>> {
    let mut steps = plan(commit);
    let first = steps.iter().position(|step| matches!(step, WriteStep::AppendEvent { .. }));
    // The member history is kept, as the log is: written once by the commit itself.
    steps.retain(|step| !matches!(step, WriteStep::AppendEvent { .. } | WriteStep::RecordMembersJoined(_)));
    if let Some(first) = first {
        steps.insert(first, WriteStep::Replayed { position: first_position });
    }
    steps
}

/// The stripe of the tenant's count a stream's creation and deletion go to: from the random
/// end of its id, so that concurrent creates rarely share one.
fn stripe(commit: &Commit) -> i16 {
    i16::from(commit.stream.as_uuid().as_bytes()[15] % COUNT_STRIPES)
}

#[cfg(test)]
mod tests {
    use domain::{Owner, StreamKind, TenantSlug};
    use serde_json::json;

    use super::WriteStep::*;
    use super::*;
    use crate::api::{Actor, EventMetadata, GROUP_DISPLAY_NAME, LOGIN};

    fn commit(
        kind: StreamKind,
        expected_version: i64,
        events: Vec<EventPayload>,
        reservations: Vec<Reservation>,
        read_model: ReadModelChange,
    ) -> Commit {
        Commit {
            tenant: TenantSlug::parse("acme").unwrap(),
            kind,
            stream: ResourceId::new(),
            expected_version,
            events,
            metadata: EventMetadata::by(Actor::Operator("test".into())),
            recorded_at: crate::api::now(),
            reservations,
            read_model,
            secrets: Vec::new(),
            key: None,
            held: false,
        }
    }

    fn user_row(values: Vec<IndexedValue>) -> UserRow {
        UserRow {
            user_name: "Alice".into(),
            user_name_key: "alice".into(),
            external_id: None,
            active: true,
            document: json!({"userName": "Alice"}),
            values,
            owner: Owner::Operator,
        }
    }

    fn group_row(name: &str) -> GroupRow {
        GroupRow {
            display_name: name.into(),
            display_name_key: name.to_lowercase(),
            external_id: None,
            document: json!({"displayName": name}),
            owner: Owner::Operator,
        }
    }

    fn payload(n: usize) -> Vec<EventPayload> {
        (0..n).map(|i| EventPayload { event_type: format!("test.{i}"), type_version: 1, data: json!({}) }).collect()
    }

    fn claim(kind: &'static str, key: &str) -> Reservation {
        Reservation::Claim { kind, key: key.into() }
    }

    fn release(kind: &'static str, key: &str) -> Reservation {
        Reservation::Release { kind, key: key.into() }
    }

    #[test]
    fn a_new_user_claims_its_logins_then_appends_then_writes_its_row_and_values() {
        let value = IndexedValue { attribute: "emails", value_type: Some("work".into()), key: "a@acme.com".into() };
        let c = commit(
            StreamKind::User,
            0,
            payload(1),
            vec![claim(LOGIN, "alice"), claim(LOGIN, "al")],
            ReadModelChange::UpsertUser { row: user_row(vec![value.clone()]), owner_before: None },
        );
        let ReadModelChange::UpsertUser { row, .. } = &c.read_model else { unreachable!() };
        assert_eq!(
            plan(&c),
            vec![
                ClaimReservation { kind: LOGIN, key: "alice" },
                ClaimReservation { kind: LOGIN, key: "al" },
                RecordLogin { key: "alice" },
                RecordLogin { key: "al" },
                AppendEvent { version: 1, event: &c.events[0] },
                UpsertUserRow(row),
                CountResource { target: Target::Users, owner: Owner::Operator, stripe: stripe(&c), delta: 1 },
                InsertUserValues(std::slice::from_ref(&value)),
            ]
        );
    }

    /// A user's first key is stored before its events; an erasure destroys it, deletes the
    /// user it deleted and forgets its devices and logins.
    #[test]
    fn a_key_goes_in_before_the_events_and_an_erasure_takes_everything_of_the_user() {
        let mut c = commit(
            StreamKind::User,
            0,
            payload(1),
            Vec::new(),
            ReadModelChange::UpsertUser { row: user_row(Vec::new()), owner_before: None },
        );
        let key = WrappedKey { master_key: None, wrapped: vec![7; 56] };
        c.key = Some(KeyWrite::Create(key.clone()));
        assert_eq!(plan(&c)[..2], [InsertUserKey(&key), AppendEvent { version: 1, event: &c.events[0] }]);

        let mut c = commit(
            StreamKind::User,
            2,
            payload(2),
            vec![release(LOGIN, "alice")],
            ReadModelChange::EraseUser { deleted_from: Some(Owner::Operator) },
        );
        c.key = Some(KeyWrite::Destroy);
        assert_eq!(
            plan(&c),
            vec![
                WaitForStreamHolder,
                ReleaseReservation { kind: LOGIN, key: "alice" },
                DeleteUserKey,
                AppendEvent { version: 3, event: &c.events[0] },
                AppendEvent { version: 4, event: &c.events[1] },
                CountResource { target: Target::Users, owner: Owner::Operator, stripe: stripe(&c), delta: -1 },
                DeleteUserRow,
                DeleteUserValues,
                DeleteMembershipsOfMember,
                ForgetLogins,
            ]
        );
        let c = commit(StreamKind::User, 4, payload(1), Vec::new(), ReadModelChange::EraseUser { deleted_from: None });
        assert_eq!(plan(&c)[2..], [ForgetLogins]);
    }

    /// Releases go first whatever order the commit lists them in: a rename that only changes
    /// case releases and claims the same key.
    #[test]
    fn a_changed_user_releases_before_it_claims_and_replaces_its_values() {
        let c = commit(
            StreamKind::User,
            3,
            payload(2),
            vec![claim(LOGIN, "alice"), release(LOGIN, "alice")],
            ReadModelChange::UpsertUser { row: user_row(Vec::new()), owner_before: Some(Owner::Operator) },
        );
        let ReadModelChange::UpsertUser { row, .. } = &c.read_model else { unreachable!() };
        assert_eq!(
            plan(&c),
            vec![
                WaitForStreamHolder,
                ReleaseReservation { kind: LOGIN, key: "alice" },
                ClaimReservation { kind: LOGIN, key: "alice" },
                RecordLogin { key: "alice" },
                AppendEvent { version: 4, event: &c.events[0] },
                AppendEvent { version: 5, event: &c.events[1] },
                UpsertUserRow(row),
                ClearUserValues,
            ]
        );
    }

    /// A claim moves the user from one owner's count to another's (ADR 0049).
    #[test]
    fn a_claimed_user_is_counted_as_its_new_owners() {
        let okta = Owner::Connection(uuid::Uuid::new_v4());
        let mut row = user_row(Vec::new());
        row.owner = okta;
        let c =
            commit(StreamKind::User, 1, payload(2), Vec::new(), ReadModelChange::UpsertUser { row, owner_before: Some(Owner::Operator) });
        let counts: Vec<_> = plan(&c).into_iter().filter(|step| matches!(step, CountResource { .. })).collect();
        assert_eq!(
            counts,
            vec![
                CountResource { target: Target::Users, owner: Owner::Operator, stripe: stripe(&c), delta: -1 },
                CountResource { target: Target::Users, owner: okta, stripe: stripe(&c), delta: 1 },
            ]
        );
    }

    #[test]
    fn a_deleted_user_is_uncounted_from_its_row_then_leaves_its_row_values_and_memberships() {
        let c =
            commit(StreamKind::User, 2, payload(1), vec![release(LOGIN, "alice")], ReadModelChange::DeleteUser { owner: Owner::Operator });
        assert_eq!(
            plan(&c),
            vec![
                WaitForStreamHolder,
                ReleaseReservation { kind: LOGIN, key: "alice" },
                AppendEvent { version: 3, event: &c.events[0] },
                CountResource { target: Target::Users, owner: Owner::Operator, stripe: stripe(&c), delta: -1 },
                DeleteUserRow,
                DeleteUserValues,
                DeleteMembershipsOfMember,
            ]
        );
    }

    /// A user moved back onto a stream it left has no row there: it counts again, with no
    /// values to clear.
    #[test]
    fn a_user_moved_in_on_a_stream_with_history_counts_as_a_new_row() {
        let value = IndexedValue { attribute: "aliases", value_type: None, key: "al".into() };
        let c = commit(
            StreamKind::User,
            2,
            payload(1),
            vec![claim(LOGIN, "alice")],
            ReadModelChange::UpsertUser { row: user_row(vec![value.clone()]), owner_before: None },
        );
        let ReadModelChange::UpsertUser { row, .. } = &c.read_model else { unreachable!() };
        assert_eq!(
            plan(&c)[1..],
            [
                ClaimReservation { kind: LOGIN, key: "alice" },
                RecordLogin { key: "alice" },
                AppendEvent { version: 3, event: &c.events[0] },
                UpsertUserRow(row),
                CountResource { target: Target::Users, owner: Owner::Operator, stripe: stripe(&c), delta: 1 },
                InsertUserValues(std::slice::from_ref(&value)),
            ]
        );
    }

    #[test]
    fn a_changed_group_renames_in_users_before_its_row_then_removes_then_adds() {
        let (gone, new) = (ResourceId::new(), ResourceId::new());
        let c = commit(
            StreamKind::Group,
            1,
            payload(1),
            vec![release(GROUP_DISPLAY_NAME, "eng"), claim(GROUP_DISPLAY_NAME, "engineering")],
            ReadModelChange::Group {
                row: Some(group_row("Engineering")),
                added: vec![(new, Some(MemberKind::User))],
                removed: vec![gone],
                renamed: true,
                owner_before: Some(Owner::Operator),
            },
        );
        let ReadModelChange::Group { row: Some(row), added, removed, .. } = &c.read_model else { unreachable!() };
        assert_eq!(
            plan(&c),
            vec![
                WaitForStreamHolder,
                ReleaseReservation { kind: GROUP_DISPLAY_NAME, key: "eng" },
                ClaimReservation { kind: GROUP_DISPLAY_NAME, key: "engineering" },
                AppendEvent { version: 2, event: &c.events[0] },
                RenameGroupInUsers { display_name: "Engineering" },
                UpsertGroupRow(row),
                RemoveMembers(removed),
                LeaveGroupInUsers(removed),
                JoinGroupInUsers { display_name: "Engineering", members: added },
                AddMembers(added),
                RecordMembersJoined(added),
            ]
        );
    }

    #[test]
    fn a_group_whose_members_did_not_change_writes_no_membership_step() {
        let c = commit(
            StreamKind::Group,
            1,
            payload(1),
            Vec::new(),
            ReadModelChange::Group {
                row: Some(group_row("Eng")),
                added: Vec::new(),
                removed: Vec::new(),
                renamed: true,
                owner_before: Some(Owner::Operator),
            },
        );
        let ReadModelChange::Group { row: Some(row), .. } = &c.read_model else { unreachable!() };
        assert_eq!(
            plan(&c),
            vec![
                WaitForStreamHolder,
                AppendEvent { version: 2, event: &c.events[0] },
                RenameGroupInUsers { display_name: "Eng" },
                UpsertGroupRow(row)
            ]
        );
    }

    #[test]
    fn a_new_group_counts_once_in_one_of_the_tenants_stripes() {
        let c = commit(
            StreamKind::Group,
            0,
            payload(1),
            Vec::new(),
            ReadModelChange::Group {
                row: Some(group_row("Eng")),
                added: Vec::new(),
                removed: Vec::new(),
                renamed: true,
                owner_before: None,
            },
        );
        let counts: Vec<_> = plan(&c).into_iter().filter(|step| matches!(step, CountResource { .. })).collect();
        assert_eq!(counts, vec![CountResource { target: Target::Groups, owner: Owner::Operator, stripe: stripe(&c), delta: 1 }]);
        let stripes: std::collections::HashSet<i16> = (0..200)
            .map(|_| stripe(&commit(StreamKind::User, 0, payload(1), Vec::new(), ReadModelChange::DeleteUser { owner: Owner::Operator })))
            .collect();
        assert_eq!(stripes.len(), usize::from(COUNT_STRIPES), "ids spread over every stripe");
    }

    #[test]
    fn a_deleted_group_leaves_its_members_rows_then_goes() {
        let c = commit(
            StreamKind::Group,
            4,
            payload(1),
            vec![release(GROUP_DISPLAY_NAME, "eng")],
            ReadModelChange::Group {
                row: None,
                added: Vec::new(),
                removed: Vec::new(),
                renamed: false,
                owner_before: Some(Owner::Operator),
            },
        );
        assert_eq!(
            plan(&c),
            vec![
                WaitForStreamHolder,
                ReleaseReservation { kind: GROUP_DISPLAY_NAME, key: "eng" },
                AppendEvent { version: 5, event: &c.events[0] },
                CountResource { target: Target::Groups, owner: Owner::Operator, stripe: stripe(&c), delta: -1 },
                LeaveDeletedGroupInUsers,
                DeleteGroupRow,
                DeleteGroupMemberships,
            ]
        );
    }

    /// A rotation writes the connection row, ends the older secret, stores the new one, and
    /// tells the servers' caches, after its event.
    #[test]
    fn a_rotation_stores_the_new_secret_ends_the_old_and_signals() {
        let (old, at) = (Uuid::now_v7(), crate::api::now());
        let row = ConnectionRow {
            name: "okta".into(),
            auth: domain::connection::AuthMode::Bearer,
            login: None,
            settings: json!({}),
            disabled: false,
            purge: false,
            expiries: vec![(old, at)],
        };
        let mut c = commit(StreamKind::Connection, 1, payload(1), vec![], ReadModelChange::Connection(row));
        c.secrets = vec![SecretWrite { id: Uuid::now_v7(), login: None, hash: domain::secret::SecretHash([7; 32]) }];
        let ReadModelChange::Connection(row) = &c.read_model else { unreachable!() };
        assert_eq!(
            plan(&c),
            vec![
                WaitForStreamHolder,
                AppendEvent { version: 2, event: &c.events[0] },
                UpsertConnectionRow(row),
                ExpireCredential { credential: old, at: &row.expiries[0].1 },
                InsertCredential(&c.secrets[0]),
                SignalCredentialsChanged,
            ]
        );
    }

    /// A replayed commit appends nothing: its rows take the position its events have in the log.
    #[test]
    fn a_replayed_commit_writes_its_rows_without_appending_its_events() {
        let c = commit(
            StreamKind::User,
            0,
            payload(2),
            Vec::new(),
            ReadModelChange::UpsertUser { row: user_row(Vec::new()), owner_before: None },
        );
        let ReadModelChange::UpsertUser { row, .. } = &c.read_model else { unreachable!() };
        assert_eq!(
            replay(&c, 42),
            vec![
                Replayed { position: 42 },
                UpsertUserRow(row),
                CountResource { target: Target::Users, owner: Owner::Operator, stripe: stripe(&c), delta: 1 }
            ]
        );
    }

    #[test]
    fn a_held_commit_does_not_wait_for_its_own_hold() {
        let mut c = commit(StreamKind::User, 3, payload(1), Vec::new(), ReadModelChange::DeleteUser { owner: Owner::Operator });
        assert_eq!(plan(&c).first(), Some(&WaitForStreamHolder));
        c.held = true;
        assert!(!plan(&c).contains(&WaitForStreamHolder));
    }

    #[test]
    fn a_deleted_tenant_forgets_every_read_model_then_signals() {
        let c = commit(StreamKind::Tenant, 1, payload(1), Vec::new(), ReadModelChange::DeleteTenant);
        let mut expected = vec![WaitForStreamHolder, AppendEvent { version: 2, event: &c.events[0] }];
        expected.extend(TenantRows::ALL.map(ForgetTenant));
        expected.push(SignalCredentialsChanged);
        assert_eq!(plan(&c), expected);
    }
}
