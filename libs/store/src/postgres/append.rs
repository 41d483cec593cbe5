//! Appending a commit: reservations, events and the read-model change in one transaction.

use deadpool_postgres::{Client, Transaction};
use domain::group::MemberKind;

use crate::projection::member_kind_name;
use domain::ResourceId;
use uuid::Uuid;

use super::{backend, violated_constraint};
use crate::api::*;

pub async fn append(client: &mut Client, commit: Commit) -> StoreResult<Appended> {
    let tx = client.transaction().await.map_err(backend)?;
    reserve(&tx, &commit).await?;
    let first_position = insert_events(&tx, &commit).await?;
    let version = commit.expected_version + commit.events.len() as i64;
    let last_position = first_position + commit.events.len() as i64 - 1;
    apply_read_model(&tx, &commit, version, first_position).await?;
    tx.commit().await.map_err(backend)?;
    Ok(Appended { version, last_position })
}

async fn reserve(tx: &Transaction<'_>, commit: &Commit) -> StoreResult<()> {
    let tenant = commit.tenant.as_str();
    let owner = commit.stream.as_uuid();
    // Releases first: a rename that only changes case releases and claims the same key.
    for reservation in &commit.reservations {
        if let Reservation::Release { kind, key } = reservation {
            let stmt = tx
                .prepare_cached("DELETE FROM reservations WHERE tenant = $1 AND kind = $2 AND key = $3 AND owner = $4")
                .await
                .map_err(backend)?;
            tx.execute(&stmt, &[&tenant, kind, key, &owner]).await.map_err(backend)?;
        }
    }
    for reservation in &commit.reservations {
        if let Reservation::Claim { kind, key } = reservation {
            let stmt =
                tx.prepare_cached("INSERT INTO reservations (tenant, kind, key, owner) VALUES ($1, $2, $3, $4)").await.map_err(backend)?;
            tx.execute(&stmt, &[&tenant, kind, key, &owner]).await.map_err(|e| match violated_constraint(&e) {
                Some("reservations_unique") => StoreError::Uniqueness { kind, value: key.clone() },
                _ => backend(e),
            })?;
        }
    }
    Ok(())
}

/// Inserts the events; returns the position of the first.
async fn insert_events(tx: &Transaction<'_>, commit: &Commit) -> StoreResult<i64> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING position",
        )
        .await
        .map_err(backend)?;
    let metadata = commit.metadata.to_json();
    let mut first = None;
    for (i, event) in commit.events.iter().enumerate() {
        let version = commit.expected_version + 1 + i as i64;
        let row = tx
            .query_one(
                &stmt,
                &[
                    &Uuid::now_v7(),
                    &commit.tenant.as_str(),
                    &commit.kind.as_str(),
                    &commit.stream.as_uuid(),
                    &version,
                    &event.event_type,
                    &event.type_version,
                    &event.data,
                    &metadata,
                    &commit.recorded_at,
                ],
            )
            .await
            .map_err(|e| match violated_constraint(&e) {
                Some("events_stream_version_unique") => StoreError::Conflict,
                _ => backend(e),
            })?;
        first.get_or_insert(row.get::<_, i64>(0));
    }
    first.ok_or_else(|| StoreError::Backend("a commit without events".into()))
}

async fn apply_read_model(tx: &Transaction<'_>, commit: &Commit, version: i64, first_position: i64) -> StoreResult<()> {
    let tenant = commit.tenant.as_str();
    let id = commit.stream.as_uuid();
    match &commit.read_model {
        ReadModelChange::UpsertUser(row) => {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO users (tenant, id, seq, user_name, user_name_key, external_id, active, document, version, created_at, last_modified)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
                     ON CONFLICT (tenant, id) DO UPDATE SET user_name = EXCLUDED.user_name, user_name_key = EXCLUDED.user_name_key,
                       external_id = EXCLUDED.external_id, active = EXCLUDED.active, document = EXCLUDED.document,
                       version = EXCLUDED.version, last_modified = EXCLUDED.last_modified",
                )
                .await
                .map_err(backend)?;
            tx.execute(
                &stmt,
                &[
                    &tenant,
                    &id,
                    &first_position,
                    &row.user_name,
                    &row.user_name_key,
                    &row.external_id,
                    &row.active,
                    &row.document,
                    &version,
                    &commit.recorded_at,
                ],
            )
            .await
            .map_err(backend)?;
            if commit.expected_version > 0 {
                let stmt = tx.prepare_cached("DELETE FROM user_values WHERE tenant = $1 AND user_id = $2").await.map_err(backend)?;
                tx.execute(&stmt, &[&tenant, &id]).await.map_err(backend)?;
            }
            if !row.values.is_empty() {
                let attributes: Vec<&str> = row.values.iter().map(|v| v.attribute).collect();
                let types: Vec<Option<&str>> = row.values.iter().map(|v| v.value_type.as_deref()).collect();
                let keys: Vec<&str> = row.values.iter().map(|v| v.key.as_str()).collect();
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO user_values (tenant, user_id, attribute, value_type, value_key)
                         SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])",
                    )
                    .await
                    .map_err(backend)?;
                tx.execute(&stmt, &[&tenant, &id, &attributes, &types, &keys]).await.map_err(backend)?;
            }
        }
        ReadModelChange::DeleteUser => {
            tx.execute("DELETE FROM users WHERE tenant = $1 AND id = $2", &[&tenant, &id]).await.map_err(backend)?;
            tx.execute("DELETE FROM user_values WHERE tenant = $1 AND user_id = $2", &[&tenant, &id]).await.map_err(backend)?;
            tx.execute("DELETE FROM memberships WHERE tenant = $1 AND member_id = $2", &[&tenant, &id]).await.map_err(backend)?;
        }
        ReadModelChange::Group { row: Some(row), added, removed } => {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO groups (tenant, id, seq, display_name, display_name_key, external_id, document, version, created_at, last_modified)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                     ON CONFLICT (tenant, id) DO UPDATE SET display_name = EXCLUDED.display_name, display_name_key = EXCLUDED.display_name_key,
                       external_id = EXCLUDED.external_id, document = EXCLUDED.document, version = EXCLUDED.version, last_modified = EXCLUDED.last_modified",
                )
                .await
                .map_err(backend)?;
            tx.execute(
                &stmt,
                &[
                    &tenant,
                    &id,
                    &first_position,
                    &row.display_name,
                    &row.display_name_key,
                    &row.external_id,
                    &row.document,
                    &version,
                    &commit.recorded_at,
                ],
            )
            .await
            .map_err(backend)?;
            change_members(tx, tenant, id, added, removed).await?;
        }
        ReadModelChange::Group { row: None, .. } => {
            tx.execute("DELETE FROM groups WHERE tenant = $1 AND id = $2", &[&tenant, &id]).await.map_err(backend)?;
            tx.execute("DELETE FROM memberships WHERE tenant = $1 AND (group_id = $2 OR member_id = $2)", &[&tenant, &id])
                .await
                .map_err(backend)?;
        }
    }
    Ok(())
}

async fn change_members(
    tx: &Transaction<'_>,
    tenant: &str,
    group: Uuid,
    added: &[(ResourceId, Option<MemberKind>)],
    removed: &[ResourceId],
) -> StoreResult<()> {
    if !removed.is_empty() {
        let ids: Vec<Uuid> = removed.iter().map(ResourceId::as_uuid).collect();
        let stmt = tx
            .prepare_cached("DELETE FROM memberships WHERE tenant = $1 AND group_id = $2 AND member_id = ANY($3)")
            .await
            .map_err(backend)?;
        tx.execute(&stmt, &[&tenant, &group, &ids]).await.map_err(backend)?;
    }
    if !added.is_empty() {
        let ids: Vec<Uuid> = added.iter().map(|(id, _)| id.as_uuid()).collect();
        let kinds: Vec<Option<&str>> = added.iter().map(|(_, kind)| kind.map(member_kind_name)).collect();
        let stmt = tx
            .prepare_cached(
                "INSERT INTO memberships (tenant, group_id, member_id, member_kind)
                 SELECT $1, $2, * FROM unnest($3::uuid[], $4::text[]) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(backend)?;
        tx.execute(&stmt, &[&tenant, &group, &ids, &kinds]).await.map_err(backend)?;
    }
    Ok(())
}
