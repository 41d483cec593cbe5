//! Appending commits: a group of them in one `BEGIN IMMEDIATE` transaction on the writer
//! thread, each inside its own savepoint, so that a refused commit rolls back alone. Each
//! commit runs the steps of its write plan (`write_plan`), each as its SQLite statement.
//! Callers hear of their commit only once the whole group is durably committed.

use std::sync::LazyLock;

use rusqlite::{params, Connection, TransactionBehavior};
use uuid::Uuid;

use super::dialect::Sqlite;
use super::{backend, time_text, violation, Violation};
use crate::api::*;
use crate::projection::member_kind_name;
use crate::query::Target;
use crate::write_plan::{self, WriteStep};

/// The statements counting users and groups in the creation order's blocks, built once.
static COUNT_USER_IN_BLOCK: LazyLock<String> = LazyLock::new(|| write_plan::count_in_block_sql(&Sqlite, Target::Users));
static COUNT_GROUP_IN_BLOCK: LazyLock<String> = LazyLock::new(|| write_plan::count_in_block_sql(&Sqlite, Target::Groups));

/// One transaction for the group; each commit's result, valid only once the group committed.
pub fn append_group(connection: &mut Connection, commits: &[Commit]) -> Vec<StoreResult<Appended>> {
    let mut tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return failed_group(commits.len(), &backend(e)),
    };
    let mut results = Vec::with_capacity(commits.len());
    for commit in commits {
        let result = tx.savepoint().map_err(backend).and_then(|savepoint| {
            let appended = append_one(&savepoint, commit)?;
            savepoint.commit().map_err(backend)?;
            Ok(appended)
        });
        if let Err(error) = &result {
            // Some failures (a full disk, an I/O error) make SQLite roll back the whole
            // transaction, not just the statement. The commits before are then gone, and a
            // savepoint opened now would begin (and its release commit) a transaction of its own.
            // SQLite does that only for a full disk, an I/O failure, a lock or memory it could
            // not get: the store is unavailable, whichever commit met it.
            if tx.is_autocommit() {
                return failed_group(commits.len(), &StoreError::Unavailable(format!("the transaction was rolled back: {error}")));
            }
        }
        results.push(result);
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => failed_group(commits.len(), &backend(e)),
    }
}

/// None of the group is written.
fn failed_group(size: usize, error: &StoreError) -> Vec<StoreResult<Appended>> {
    (0..size).map(|_| Err(error.clone())).collect()
}

/// A user row's `groups` array (user_groups.rs) without group `?2`, in order. A macro so that
/// the statements using it stay literals, looked up in the statement cache without building
/// their text first.
macro_rules! without_group {
    () => {
        "(SELECT json_group_array(json(e.value) ORDER BY e.key) FROM json_each(users.groups) e WHERE e.value ->> 0 <> ?2)"
    };
}

const LEAVE_GROUP: &str = concat!("UPDATE users SET groups = ", without_group!(), " WHERE tenant = ?1 AND id = ?3");
const LEAVE_DELETED_GROUP: &str = concat!(
    "UPDATE users SET groups = ",
    without_group!(),
    " WHERE tenant = ?1 AND id IN (SELECT member_id FROM memberships WHERE tenant = ?1 AND group_id = ?2)"
);

/// Writes the read-model changes of commits a rebuild replays (each with the log position of
/// its first event), in order, in one transaction: all of them or, on an error, none.
pub fn replay_all(connection: &mut Connection, commits: &[(Commit, i64)]) -> StoreResult<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    for (commit, position) in commits {
        run(&tx, commit, write_plan::replay(commit, *position))?;
    }
    tx.commit().map_err(backend)
}

fn append_one(db: &Connection, commit: &Commit) -> StoreResult<Appended> {
    run(db, commit, write_plan::plan(commit))
}

/// Runs `steps`, the plan of `commit`.
fn run<'c>(db: &Connection, commit: &'c Commit, steps: Vec<WriteStep<'c>>) -> StoreResult<Appended> {
    let context = Context {
        tenant: commit.tenant.as_str(),
        id: commit.stream.to_string(),
        metadata: commit.metadata.to_json().to_string(),
        version: commit.version_after(),
        at: time_text::format(commit.recorded_at),
        kind: commit.kind.as_str(),
    };
    let mut first_position = None;
    for step in steps {
        let position = translate(db, &context, first_position, step)?;
        first_position = first_position.or(position);
    }
    let first_position = first_position.ok_or_else(|| StoreError::Internal("a commit without events".into()))?;
    Ok(commit.appended_at(first_position))
}

/// What every statement of a commit binds, computed once.
struct Context<'c> {
    tenant: &'c str,
    id: String,
    metadata: String,
    version: i64,
    at: String,
    kind: &'static str,
}

/// Runs one step as its statement (once per element where PostgreSQL binds an array);
/// an appended event answers with its position. `first_position` is the commit's first
/// event's, once appended: a new row's `seq`.
fn translate(db: &Connection, c: &Context, first_position: Option<i64>, step: WriteStep) -> StoreResult<Option<i64>> {
    let (tenant, id) = (c.tenant, c.id.as_str());
    let execute = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> StoreResult<Option<i64>> {
        db.prepare_cached(sql).map_err(backend)?.execute(params).map_err(backend)?;
        Ok(None)
    };
    let seq = || first_position.ok_or_else(|| StoreError::Internal("a read-model row planned before its events".into()));
    match step {
        // The database file has one writer at a time (the process's writer thread, or another
        // process's behind SQLite's lock), which already queues commits in turn.
        WriteStep::WaitForStreamHolder => Ok(None),
        WriteStep::ReleaseReservation { kind, key } => {
            execute("DELETE FROM reservations WHERE tenant = ?1 AND kind = ?2 AND key = ?3 AND owner = ?4", params![tenant, kind, key, id])
        }
        WriteStep::ClaimReservation { kind, key } => {
            let mut stmt =
                db.prepare_cached("INSERT INTO reservations (tenant, kind, key, owner) VALUES (?1, ?2, ?3, ?4)").map_err(backend)?;
            stmt.execute(params![tenant, kind, key, id]).map_err(|e| match violation(&e) {
                Some(Violation::Unique("reservations.tenant, reservations.kind, reservations.key")) => {
                    StoreError::Uniqueness { kind, value: key.to_owned() }
                }
                _ => backend(e),
            })?;
            Ok(None)
        }
        WriteStep::InsertUserKey(key) => {
            let mut stmt = db
                .prepare_cached("INSERT INTO user_keys (tenant, user_id, wrapped, created_at, master_key) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(backend)?;
            let master_key = key.master_key.as_ref().map(|id| id.as_str());
            stmt.execute(params![tenant, id, key.wrapped, c.at, master_key]).map_err(|e| match violation(&e) {
                Some(Violation::Unique("user_keys.tenant, user_keys.user_id")) => StoreError::Conflict,
                _ => backend(e),
            })?;
            Ok(None)
        }
        WriteStep::RecordLogin { key } => {
            execute("INSERT INTO login_history (tenant, key, user_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING", params![tenant, key, id])
        }
        WriteStep::ForgetLogins => execute("DELETE FROM login_history WHERE tenant = ?1 AND user_id = ?2", params![tenant, id]),
        WriteStep::DeleteUserKey => execute("DELETE FROM user_keys WHERE tenant = ?1 AND user_id = ?2", params![tenant, id]),
        WriteStep::AppendEvent { version, event } => {
            let mut stmt = db
                .prepare_cached(
                    "INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(backend)?;
            stmt.execute(params![
                Uuid::now_v7().to_string(),
                tenant,
                c.kind,
                id,
                version,
                event.event_type,
                event.type_version,
                event.data.to_string(),
                c.metadata,
                c.at,
            ])
            .map_err(|e| match violation(&e) {
                Some(Violation::Unique("events.tenant, events.stream_id, events.stream_version")) => StoreError::Conflict,
                _ => backend(e),
            })?;
            Ok(Some(db.last_insert_rowid()))
        }
        WriteStep::Replayed { position } => Ok(Some(position)),
        WriteStep::UpsertUserRow(row) => execute(
            "INSERT INTO users (tenant, id, seq, user_name, user_name_key, external_id, active, document, version, created_at, last_modified, owner)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)
             ON CONFLICT (tenant, id) DO UPDATE SET user_name = excluded.user_name, user_name_key = excluded.user_name_key,
               external_id = excluded.external_id, active = excluded.active, document = excluded.document,
               version = excluded.version, last_modified = excluded.last_modified, owner = excluded.owner",
            params![
                tenant,
                id,
                seq()?,
                row.user_name,
                row.user_name_key,
                row.external_id,
                row.active,
                row.document.to_string(),
                c.version,
                c.at,
                row.owner.to_string()
            ],
        ),
        WriteStep::ClearUserValues | WriteStep::DeleteUserValues => {
            execute("DELETE FROM user_values WHERE tenant = ?1 AND user_id = ?2", params![tenant, id])
        }
        WriteStep::InsertUserValues(values) => {
            let mut insert = db
                .prepare_cached("INSERT INTO user_values (tenant, user_id, attribute, value_type, value_key) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(backend)?;
            for value in values {
                insert.execute(params![tenant, id, value.attribute, value.value_type, value.key]).map_err(backend)?;
            }
            Ok(None)
        }
        WriteStep::DeleteUserRow => execute("DELETE FROM users WHERE tenant = ?1 AND id = ?2", params![tenant, id]),
        WriteStep::DeleteMembershipsOfMember => execute("DELETE FROM memberships WHERE tenant = ?1 AND member_id = ?2", params![tenant, id]),
        WriteStep::RenameGroupInUsers { display_name } => execute(
            "UPDATE users SET groups = (SELECT json_group_array(CASE WHEN e.value ->> 0 = ?2 THEN json_array(?2, ?3) ELSE json(e.value) END ORDER BY e.key)
                                        FROM json_each(users.groups) e)
             WHERE tenant = ?1 AND id IN (SELECT member_id FROM memberships WHERE tenant = ?1 AND group_id = ?2)
               AND EXISTS (SELECT 1 FROM groups WHERE tenant = ?1 AND id = ?2 AND display_name <> ?3)",
            params![tenant, id, display_name],
        ),
        WriteStep::UpsertGroupRow(row) => execute(
            "INSERT INTO groups (tenant, id, seq, display_name, display_name_key, external_id, document, version, created_at, last_modified, owner)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)
             ON CONFLICT (tenant, id) DO UPDATE SET display_name = excluded.display_name, display_name_key = excluded.display_name_key,
               external_id = excluded.external_id, document = excluded.document, version = excluded.version,
               last_modified = excluded.last_modified, owner = excluded.owner",
            params![
                tenant,
                id,
                seq()?,
                row.display_name,
                row.display_name_key,
                row.external_id,
                row.document.to_string(),
                c.version,
                c.at,
                row.owner.to_string()
            ],
        ),
        WriteStep::RemoveMembers(members) => {
            let mut remove =
                db.prepare_cached("DELETE FROM memberships WHERE tenant = ?1 AND group_id = ?2 AND member_id = ?3").map_err(backend)?;
            for member in members {
                remove.execute(params![tenant, id, member.to_string()]).map_err(backend)?;
            }
            Ok(None)
        }
        WriteStep::LeaveGroupInUsers(members) => {
            let mut leave = db.prepare_cached(LEAVE_GROUP).map_err(backend)?;
            for member in members {
                leave.execute(params![tenant, id, member.to_string()]).map_err(backend)?;
            }
            Ok(None)
        }
        WriteStep::JoinGroupInUsers { display_name, members } => {
            let mut join = db
                .prepare_cached(
                    "UPDATE users SET groups = json_insert(groups, '$[#]', json_array(?2, ?3))
                     WHERE tenant = ?1 AND id = ?4 AND NOT EXISTS (SELECT 1 FROM json_each(users.groups) e WHERE e.value ->> 0 = ?2)",
                )
                .map_err(backend)?;
            for (member, _) in members {
                join.execute(params![tenant, id, display_name, member.to_string()]).map_err(backend)?;
            }
            Ok(None)
        }
        WriteStep::AddMembers(members) => {
            let mut add = db
                .prepare_cached(
                    "INSERT INTO memberships (tenant, group_id, member_id, member_kind) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )
                .map_err(backend)?;
            for (member, kind) in members {
                add.execute(params![tenant, id, member.to_string(), kind.map(member_kind_name)]).map_err(backend)?;
            }
            Ok(None)
        }
        WriteStep::RecordMembersJoined(members) => {
            let mut record = db
                .prepare_cached("INSERT INTO member_history (tenant, group_id, member_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
                .map_err(backend)?;
            for (member, _) in members {
                record.execute(params![tenant, id, member.to_string()]).map_err(backend)?;
            }
            Ok(None)
        }
        WriteStep::LeaveDeletedGroupInUsers => execute(LEAVE_DELETED_GROUP, params![tenant, id]),
        WriteStep::DeleteGroupRow => execute("DELETE FROM groups WHERE tenant = ?1 AND id = ?2", params![tenant, id]),
        WriteStep::DeleteGroupMemberships => {
            execute("DELETE FROM memberships WHERE tenant = ?1 AND (group_id = ?2 OR member_id = ?2)", params![tenant, id])
        }
        WriteStep::InsertTenantRow { parent } => {
            execute("INSERT INTO tenants (slug, created_at, parent) VALUES (?1, ?2, ?3)", params![tenant, c.at, parent])
        }
        WriteStep::ForgetTenant(rows) => execute(&rows.delete_sql("?1"), params![tenant]),
        WriteStep::UpsertConnectionRow(row) => execute(
            "INSERT INTO connections (id, tenant, name, auth, login, settings, created_at, disabled_at, purge_requested_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?8 THEN ?7 END, CASE WHEN ?9 THEN ?7 END)
             ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, disabled_at = coalesce(connections.disabled_at, excluded.disabled_at),
               purge_requested_at = coalesce(connections.purge_requested_at, excluded.purge_requested_at)",
            params![id, tenant, row.name, row.auth.as_str(), row.login, row.settings.to_string(), c.at, row.disabled, row.purge],
        ),
        WriteStep::UpsertDeviceRow(row) => execute(
            "INSERT INTO devices (tenant, id, serial, name, kind, policy, assigned, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (tenant, id) DO UPDATE SET serial = excluded.serial, name = excluded.name, kind = excluded.kind,
               policy = excluded.policy, assigned = excluded.assigned, updated_at = excluded.updated_at",
            params![tenant, id, row.serial, row.name, row.kind, row.policy, row.assigned.map(|u| u.to_string()), c.at],
        ),
        WriteStep::DeleteDeviceRow => execute("DELETE FROM devices WHERE tenant = ?1 AND id = ?2", params![tenant, id]),
        WriteStep::ExpireCredential { credential, at } => {
            execute("UPDATE credentials SET expires_at = ?2 WHERE id = ?1", params![credential.to_string(), time_text::format(*at)])
        }
        WriteStep::InsertOperatorRow { name } => execute("INSERT INTO operators (id, name, created_at) VALUES (?1, ?2, ?3)", params![id, name, c.at]),
        WriteStep::InsertCredential(secret) => execute(
            "INSERT INTO credentials (id, tenant, owner_kind, owner_id, login, secret_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![secret.id.to_string(), tenant, c.kind, id, secret.login, &secret.hash.0[..], c.at],
        ),
        // Read by every server's feed (`changes`), this process's included (ADR 0021).
        WriteStep::SignalCredentialsChanged => execute("UPDATE credential_changes SET generation = generation + 1", params![]),
        WriteStep::CountResource { target, owner, stripe, delta } => {
            let (kind, owner) = (target.table(), owner.to_string());
            execute(
                "INSERT INTO resource_counts (tenant, kind, owner, stripe, total) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, kind, owner, stripe) DO UPDATE SET total = total + excluded.total",
                params![tenant, kind, owner, stripe, delta],
            )?;
            let in_block = match target {
                Target::Users => &COUNT_USER_IN_BLOCK,
                Target::Groups => &COUNT_GROUP_IN_BLOCK,
            };
            execute(in_block, params![tenant, owner, stripe, delta, id])
        }
    }
}
