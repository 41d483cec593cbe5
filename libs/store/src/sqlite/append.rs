//! Appending commits: a group of them in one `BEGIN IMMEDIATE` transaction on the writer
//! thread, each inside its own savepoint, so that a refused commit rolls back alone. Each
//! commit does what postgres/append.rs does, in the same order: reservations (releases, then
//! claims), events, then the read-model change. Callers hear of their commit only once the
//! whole group is durably committed.

use rusqlite::{params, Connection, TransactionBehavior};
use uuid::Uuid;

use super::{backend, time_text, violation, Violation};
use crate::api::*;
use crate::projection::member_kind_name;

/// One transaction for the group; each commit's result, valid only once the group committed.
pub fn append_group(connection: &mut Connection, commits: &[Commit]) -> Vec<StoreResult<Appended>> {
    let mut tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return failed_group(commits.len(), &e.to_string()),
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
            if tx.is_autocommit() {
                return failed_group(commits.len(), &format!("the transaction was rolled back: {error}"));
            }
        }
        results.push(result);
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => failed_group(commits.len(), &e.to_string()),
    }
}

/// None of the group is written.
fn failed_group(size: usize, error: &str) -> Vec<StoreResult<Appended>> {
    (0..size).map(|_| Err(StoreError::Backend(error.to_owned()))).collect()
}

/// Removes group `?2` from a user row's `groups` array (user_groups.rs), keeping the order.
const WITHOUT_GROUP: &str =
    "(SELECT json_group_array(json(e.value) ORDER BY e.key) FROM json_each(users.groups) e WHERE e.value ->> 0 <> ?2)";

fn append_one(db: &Connection, commit: &Commit) -> StoreResult<Appended> {
    reserve(db, commit)?;
    let first_position = insert_events(db, commit)?;
    let appended = commit.appended_at(first_position);
    apply_read_model(db, commit, appended.version, first_position)?;
    Ok(appended)
}

fn reserve(tx: &Connection, commit: &Commit) -> StoreResult<()> {
    let tenant = commit.tenant.as_str();
    let owner = commit.stream.to_string();
    // Releases first: a rename that only changes case releases and claims the same key.
    for reservation in &commit.reservations {
        if let Reservation::Release { kind, key } = reservation {
            let mut stmt = tx
                .prepare_cached("DELETE FROM reservations WHERE tenant = ?1 AND kind = ?2 AND key = ?3 AND owner = ?4")
                .map_err(backend)?;
            stmt.execute(params![tenant, kind, key, owner]).map_err(backend)?;
        }
    }
    for reservation in &commit.reservations {
        if let Reservation::Claim { kind, key } = reservation {
            let mut stmt =
                tx.prepare_cached("INSERT INTO reservations (tenant, kind, key, owner) VALUES (?1, ?2, ?3, ?4)").map_err(backend)?;
            stmt.execute(params![tenant, kind, key, owner]).map_err(|e| match violation(&e) {
                Some(Violation::Unique("reservations.tenant, reservations.kind, reservations.key")) => {
                    StoreError::Uniqueness { kind, value: key.clone() }
                }
                _ => backend(e),
            })?;
        }
    }
    Ok(())
}

fn insert_events(tx: &Connection, commit: &Commit) -> StoreResult<i64> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(backend)?;
    let metadata = commit.metadata.to_json().to_string();
    let recorded_at = time_text::format(commit.recorded_at);
    let stream = commit.stream.to_string();
    let mut first = None;
    for (i, event) in commit.events.iter().enumerate() {
        let version = commit.event_version(i);
        stmt.execute(params![
            Uuid::now_v7().to_string(),
            commit.tenant.as_str(),
            commit.kind.as_str(),
            stream,
            version,
            event.event_type,
            event.type_version,
            event.data.to_string(),
            metadata,
            recorded_at,
        ])
        .map_err(|e| match violation(&e) {
            Some(Violation::Unique("events.tenant, events.stream_id, events.stream_version")) => StoreError::Conflict,
            _ => backend(e),
        })?;
        first.get_or_insert(tx.last_insert_rowid());
    }
    first.ok_or_else(|| StoreError::Backend("a commit without events".into()))
}

fn apply_read_model(tx: &Connection, commit: &Commit, version: i64, first_position: i64) -> StoreResult<()> {
    let tenant = commit.tenant.as_str();
    let id = commit.stream.to_string();
    let at = time_text::format(commit.recorded_at);
    match &commit.read_model {
        ReadModelChange::UpsertUser(row) => {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO users (tenant, id, seq, user_name, user_name_key, external_id, active, document, version, created_at, last_modified)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                     ON CONFLICT (tenant, id) DO UPDATE SET user_name = excluded.user_name, user_name_key = excluded.user_name_key,
                       external_id = excluded.external_id, active = excluded.active, document = excluded.document,
                       version = excluded.version, last_modified = excluded.last_modified",
                )
                .map_err(backend)?;
            stmt.execute(params![
                tenant,
                id,
                first_position,
                row.user_name,
                row.user_name_key,
                row.external_id,
                row.active,
                row.document.to_string(),
                version,
                at
            ])
            .map_err(backend)?;
            if commit.expected_version > 0 {
                tx.prepare_cached("DELETE FROM user_values WHERE tenant = ?1 AND user_id = ?2")
                    .map_err(backend)?
                    .execute(params![tenant, id])
                    .map_err(backend)?;
            }
            let mut insert = tx
                .prepare_cached("INSERT INTO user_values (tenant, user_id, attribute, value_type, value_key) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(backend)?;
            for value in &row.values {
                insert.execute(params![tenant, id, value.attribute, value.value_type, value.key]).map_err(backend)?;
            }
        }
        ReadModelChange::DeleteUser => {
            tx.execute("DELETE FROM users WHERE tenant = ?1 AND id = ?2", params![tenant, id]).map_err(backend)?;
            tx.execute("DELETE FROM user_values WHERE tenant = ?1 AND user_id = ?2", params![tenant, id]).map_err(backend)?;
            tx.execute("DELETE FROM memberships WHERE tenant = ?1 AND member_id = ?2", params![tenant, id]).map_err(backend)?;
        }
        ReadModelChange::Group { row: Some(row), added, removed } => {
            // Before the group row is written, so it sees the old name: only a renamed group
            // rewrites its members' rows.
            tx.prepare_cached(
                "UPDATE users SET groups = (SELECT json_group_array(CASE WHEN e.value ->> 0 = ?2 THEN json_array(?2, ?3) ELSE json(e.value) END ORDER BY e.key)
                                            FROM json_each(users.groups) e)
                 WHERE tenant = ?1 AND id IN (SELECT member_id FROM memberships WHERE tenant = ?1 AND group_id = ?2)
                   AND EXISTS (SELECT 1 FROM groups WHERE tenant = ?1 AND id = ?2 AND display_name <> ?3)",
            )
            .map_err(backend)?
            .execute(params![tenant, id, row.display_name])
            .map_err(backend)?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO groups (tenant, id, seq, display_name, display_name_key, external_id, document, version, created_at, last_modified)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
                     ON CONFLICT (tenant, id) DO UPDATE SET display_name = excluded.display_name, display_name_key = excluded.display_name_key,
                       external_id = excluded.external_id, document = excluded.document, version = excluded.version, last_modified = excluded.last_modified",
                )
                .map_err(backend)?;
            stmt.execute(params![
                tenant,
                id,
                first_position,
                row.display_name,
                row.display_name_key,
                row.external_id,
                row.document.to_string(),
                version,
                at
            ])
            .map_err(backend)?;
            let mut remove =
                tx.prepare_cached("DELETE FROM memberships WHERE tenant = ?1 AND group_id = ?2 AND member_id = ?3").map_err(backend)?;
            let mut leave =
                tx.prepare_cached(&format!("UPDATE users SET groups = {WITHOUT_GROUP} WHERE tenant = ?1 AND id = ?3")).map_err(backend)?;
            for member in removed {
                remove.execute(params![tenant, id, member.to_string()]).map_err(backend)?;
                leave.execute(params![tenant, id, member.to_string()]).map_err(backend)?;
            }
            let mut add = tx
                .prepare_cached(
                    "INSERT INTO memberships (tenant, group_id, member_id, member_kind) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )
                .map_err(backend)?;
            let mut join = tx
                .prepare_cached(
                    "UPDATE users SET groups = json_insert(groups, '$[#]', json_array(?2, ?3))
                     WHERE tenant = ?1 AND id = ?4 AND NOT EXISTS (SELECT 1 FROM json_each(users.groups) e WHERE e.value ->> 0 = ?2)",
                )
                .map_err(backend)?;
            for (member, kind) in added {
                add.execute(params![tenant, id, member.to_string(), kind.map(member_kind_name)]).map_err(backend)?;
                join.execute(params![tenant, id, row.display_name, member.to_string()]).map_err(backend)?;
            }
        }
        ReadModelChange::Group { row: None, .. } => {
            tx.execute(
                &format!(
                    "UPDATE users SET groups = {WITHOUT_GROUP}
                     WHERE tenant = ?1 AND id IN (SELECT member_id FROM memberships WHERE tenant = ?1 AND group_id = ?2)"
                ),
                params![tenant, id],
            )
            .map_err(backend)?;
            tx.execute("DELETE FROM groups WHERE tenant = ?1 AND id = ?2", params![tenant, id]).map_err(backend)?;
            tx.execute("DELETE FROM memberships WHERE tenant = ?1 AND (group_id = ?2 OR member_id = ?2)", params![tenant, id])
                .map_err(backend)?;
        }
        ReadModelChange::Tenant => {
            tx.execute("INSERT INTO tenants (slug, created_at) VALUES (?1, ?2)", params![tenant, at]).map_err(backend)?;
        }
        ReadModelChange::Connection(row) => {
            tx.prepare_cached(
                "INSERT INTO connections (id, tenant, name, auth, login, settings, created_at, disabled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?8 THEN ?7 END)
                 ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, disabled_at = coalesce(connections.disabled_at, excluded.disabled_at)",
            )
            .map_err(backend)?
            .execute(params![id, tenant, row.name, row.auth.as_str(), row.login, row.settings.to_string(), at, row.disabled])
            .map_err(backend)?;
            let mut expire = tx.prepare_cached("UPDATE credentials SET expires_at = ?2 WHERE id = ?1").map_err(backend)?;
            for (credential, end) in &row.expiries {
                expire.execute(params![credential.to_string(), time_text::format(*end)]).map_err(backend)?;
            }
        }
        ReadModelChange::Operator { name } => {
            tx.execute("INSERT INTO operators (id, name, created_at) VALUES (?1, ?2, ?3)", params![id, name, at]).map_err(backend)?;
        }
    }
    for secret in &commit.secrets {
        tx.prepare_cached(
            "INSERT INTO credentials (id, tenant, owner_kind, owner_id, login, secret_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(backend)?
            .execute(params![secret.id.to_string(), tenant, commit.kind.as_str(), id, secret.login, &secret.hash.0[..], at])
            .map_err(backend)?;
    }
    Ok(())
}
