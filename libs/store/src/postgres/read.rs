//! Reading the read models and the log.

use std::collections::HashMap;

use deadpool_postgres::Client;
use domain::group::MemberKind;
use domain::{EventPayload, Owner, ResourceId, StreamKind, TenantSlug};
use scim::list::ListQuery;
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::backend;
use super::dialect::Postgres;
use crate::api::*;
use crate::audit::{self, AuditQuery, EVENT_COLUMNS};
use crate::member_pages;
use crate::paging::{self, PagePlan, Span};
use crate::projection::{member_kind_named, owner_named};
use crate::query::{SqlValue, Target};
use crate::seal::SealLink;
use crate::user_groups;

fn record(row: &Row) -> ResourceRecord {
    ResourceRecord {
        id: ResourceId::from_uuid(row.get("id")),
        document: row.get("document"),
        version: row.get("version"),
        created: row.get("created_at"),
        last_modified: row.get("last_modified"),
    }
}

/// One resource by id, with the tenant that holds it (one of a parent's sub-tenants when
/// `span` spans them): newest first, several only while a move is half done (ADR 0074).
pub async fn one(
    client: &Client,
    target: Target,
    tenant: &TenantSlug,
    span: Span,
    scope: Scope,
    id: ResourceId,
) -> StoreResult<Vec<(TenantSlug, ResourceRecord)>> {
    let (sql, params) = paging::one(&Postgres, target, tenant, span, scope, id);
    let params: Vec<Box<dyn ToSql + Sync + Send>> = params.iter().map(to_sql).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    let rows = client.query(&stmt, &refs).await.map_err(backend)?;
    rows.iter()
        .map(|row| {
            let holder: String = row.get("tenant");
            let holder = TenantSlug::parse(&holder).map_err(|e| StoreError::corrupt(format!("stored tenant '{holder}'"), e))?;
            Ok((holder, record(row)))
        })
        .collect()
}

fn to_sql(value: &SqlValue) -> Box<dyn ToSql + Sync + Send> {
    match value {
        SqlValue::Text(s) => Box::new(s.clone()),
        SqlValue::Bool(b) => Box::new(*b),
        SqlValue::Int(i) => Box::new(*i),
        SqlValue::Float(f) => Box::new(*f),
        SqlValue::Uuid(u) => Box::new(*u),
        SqlValue::Time(t) => Box::new(*t),
    }
}

/// One page of a filtered, sorted list, and the total (`paging::PagePlan` says how);
/// `with_groups` (users only) brings each user's groups along from the same rows.
pub async fn page(
    client: &Client,
    target: Target,
    (tenant, span): (&TenantSlug, Span),
    scope: Scope,
    query: &ListQuery,
    with_groups: bool,
    resume: &paging::ResumePoints,
) -> StoreResult<Page> {
    let plan = PagePlan::new(&Postgres, target, (tenant, span), scope, query, with_groups, resume)?;
    let params: Vec<Box<dyn ToSql + Sync + Send>> = plan.params.iter().map(to_sql).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
    let mut rows = Vec::new();
    let mut groups = with_groups.then(HashMap::new);
    let mut total = None;
    if let Some(sql) = &plan.rows_sql {
        let stmt = client.prepare_cached(sql).await.map_err(backend)?;
        for row in client.query(&stmt, &refs).await.map_err(backend)? {
            total = total.or(row.get::<_, Option<i64>>("total").map(|n| n as u64));
            let record = record(&row);
            if let Some(groups) = &mut groups {
                user_groups::collect(groups, record.id, &row.get("groups"))?;
            }
            rows.push((record, row.get::<_, i64>("seq")));
        }
    }
    let total = match plan.total(total, rows.len()) {
        Some(total) => total,
        None => {
            let stmt = client.prepare_cached(&plan.count_sql).await.map_err(backend)?;
            client.query_one(&stmt, &refs[..plan.count_params]).await.map_err(backend)?.get::<_, i64>(0) as u64
        }
    };
    Ok(plan.finish(rows, total, groups))
}

pub async fn owned(
    client: &Client,
    target: Target,
    tenant: &TenantSlug,
    owner: Owner,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<(ResourceId, i64)>> {
    let stmt = client.prepare_cached(&paging::owned(&Postgres, target)).await.map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str(), &owner.to_string(), &after, &i64::from(limit)]).await.map_err(backend)?;
    Ok(rows.iter().map(|row| (ResourceId::from_uuid(row.get(0)), row.get(1))).collect())
}

pub async fn groups_of(client: &Client, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
    let ids: Vec<Uuid> = users.iter().map(ResourceId::as_uuid).collect();
    let stmt = client.prepare_cached("SELECT id, groups FROM users WHERE tenant = $1 AND id = ANY($2)").await.map_err(backend)?;
    let mut out = HashMap::new();
    for row in client.query(&stmt, &[&tenant.as_str(), &ids]).await.map_err(backend)? {
        user_groups::collect(&mut out, ResourceId::from_uuid(row.get("id")), &row.get("groups"))?;
    }
    Ok(out)
}

pub async fn members_of(client: &Client, tenant: &TenantSlug, groups: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
    let ids: Vec<Uuid> = groups.iter().map(ResourceId::as_uuid).collect();
    let stmt = client
        .prepare_cached(
            "WITH m AS MATERIALIZED (SELECT group_id, member_id, added FROM memberships WHERE tenant = $1 AND group_id = ANY($2))
             SELECT m.group_id, m.member_id, u.id IS NOT NULL AS is_user
             FROM m
             LEFT JOIN users u ON u.tenant = $1 AND u.id = m.member_id
             LEFT JOIN groups g ON g.tenant = $1 AND g.id = m.member_id
             WHERE u.id IS NOT NULL OR g.id IS NOT NULL
             ORDER BY m.added",
        )
        .await
        .map_err(backend)?;
    let mut out: HashMap<ResourceId, Vec<Reference>> = HashMap::new();
    for row in client.query(&stmt, &[&tenant.as_str(), &ids]).await.map_err(backend)? {
        out.entry(ResourceId::from_uuid(row.get(0))).or_default().push(member(row.get(1), row.get(2)));
    }
    Ok(out)
}

/// The members of `group` added after `after`, up to `limit`, each with its `added`.
pub async fn member_page(
    client: &Client,
    tenant: &TenantSlug,
    group: ResourceId,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<(i64, Reference)>> {
    let stmt = client.prepare_cached(&member_pages::page_sql(&Postgres)).await.map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str(), &group.as_uuid(), &after, &i64::from(limit)]).await.map_err(backend)?;
    Ok(rows.iter().map(|row| (row.get(0), member(row.get(1), row.get(2)))).collect())
}

fn member(id: Uuid, is_user: bool) -> Reference {
    Reference { id: ResourceId::from_uuid(id), kind: if is_user { MemberKind::User } else { MemberKind::Group }, display: None }
}

pub async fn group_snapshot(
    client: &Client,
    tenant: &TenantSlug,
    id: ResourceId,
    named: Option<&[ResourceId]>,
) -> StoreResult<Option<GroupSnapshot>> {
    let stmt = client
        .prepare_cached("SELECT id, document, version, created_at, last_modified, owner FROM groups WHERE tenant = $1 AND id = $2")
        .await
        .map_err(backend)?;
    let Some(row) = client.query_opt(&stmt, &[&tenant.as_str(), &id.as_uuid()]).await.map_err(backend)? else { return Ok(None) };
    let owner = owner_named(row.get("owner"))?;
    let rows = match named {
        Some(named) => {
            let stmt = client
                .prepare_cached(
                    "SELECT member_id, member_kind FROM memberships WHERE tenant = $1 AND group_id = $2 AND member_id = ANY($3) ORDER BY added",
                )
                .await
                .map_err(backend)?;
            let named: Vec<Uuid> = named.iter().map(ResourceId::as_uuid).collect();
            client.query(&stmt, &[&tenant.as_str(), &id.as_uuid(), &named]).await
        }
        None => {
            let stmt = client
                .prepare_cached("SELECT member_id, member_kind FROM memberships WHERE tenant = $1 AND group_id = $2 ORDER BY added")
                .await
                .map_err(backend)?;
            client.query(&stmt, &[&tenant.as_str(), &id.as_uuid()]).await
        }
    }
    .map_err(backend)?;
    let members = rows.iter().map(|m| Ok((ResourceId::from_uuid(m.get(0)), member_kind_named(m.get(1))?))).collect::<StoreResult<_>>()?;
    Ok(Some(GroupSnapshot { record: record(&row), owner, members }))
}

pub async fn resource_kinds(client: &Client, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, MemberKind>> {
    let ids: Vec<Uuid> = ids.iter().map(ResourceId::as_uuid).collect();
    let stmt = client
        .prepare_cached(
            "SELECT id, TRUE FROM users WHERE tenant = $1 AND id = ANY($2)
             UNION ALL SELECT id, FALSE FROM groups WHERE tenant = $1 AND id = ANY($2)",
        )
        .await
        .map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str(), &ids]).await.map_err(backend)?;
    Ok(rows
        .iter()
        .map(|row| (ResourceId::from_uuid(row.get(0)), if row.get::<_, bool>(1) { MemberKind::User } else { MemberKind::Group }))
        .collect())
}

/// The newest sub-tenant of `parent` holding each of `users` (`Store::user_holders`).
pub async fn user_holders(client: &Client, parent: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, TenantSlug>> {
    let ids: Vec<Uuid> = users.iter().map(ResourceId::as_uuid).collect();
    let stmt = client.prepare_cached(&paging::user_holders(&Postgres, "= ANY($2)")).await.map_err(backend)?;
    let rows = client.query(&stmt, &[&parent.as_str(), &ids]).await.map_err(backend)?;
    let mut holders = HashMap::new();
    for row in rows {
        let holder: String = row.get(1);
        let holder = TenantSlug::parse(&holder).map_err(|e| StoreError::corrupt(format!("stored tenant '{holder}'"), e))?;
        holders.entry(ResourceId::from_uuid(row.get(0))).or_insert(holder);
    }
    Ok(holders)
}

pub async fn head(client: &Client) -> StoreResult<i64> {
    let stmt = client.prepare_cached("SELECT COALESCE(max(position), 0) FROM events").await.map_err(backend)?;
    client.query_one(&stmt, &[]).await.map_err(backend)?.try_get(0).map_err(backend)
}

fn recorded(row: &Row) -> StoreResult<RecordedEvent> {
    let tenant: String = row.get("tenant");
    let kind: String = row.get("stream_kind");
    let position: i64 = row.get("position");
    let at = || format!("the event at position {position}");
    Ok(RecordedEvent {
        position,
        event_id: row.get("event_id"),
        tenant: TenantSlug::from_log(&tenant).map_err(|e| StoreError::corrupt(at(), e))?,
        kind: StreamKind::parse(&kind).ok_or_else(|| StoreError::corrupt(at(), format!("unknown stream kind '{kind}'")))?,
        stream: ResourceId::from_uuid(row.get("stream_id")),
        stream_version: row.get("stream_version"),
        payload: EventPayload { event_type: row.get("event_type"), type_version: row.get("type_version"), data: row.get("payload") },
        metadata: row.get("metadata"),
        recorded_at: row.get::<_, OffsetDateTime>("recorded_at"),
    })
}

pub async fn stream(client: &Client, tenant: &TenantSlug, kind: StreamKind, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>> {
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = $1 AND stream_id = $2 AND stream_kind = $3 ORDER BY stream_version");
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    client.query(&stmt, &[&tenant.as_str(), &stream.as_uuid(), &kind.as_str()]).await.map_err(backend)?.iter().map(recorded).collect()
}

pub async fn audit_log(client: &Client, query: &AuditQuery) -> StoreResult<Vec<RecordedEvent>> {
    let (sql, params) = audit::plan(&Postgres, query);
    let params: Vec<Box<dyn ToSql + Sync + Send>> = params.iter().map(to_sql).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    client.query(&stmt, &refs).await.map_err(backend)?.iter().map(recorded).collect()
}

pub async fn users_by_login(client: &Client, tenant: &TenantSlug, key: &str) -> StoreResult<Vec<ResourceId>> {
    let stmt = client.prepare_cached(&audit::users_by_login(&Postgres)).await.map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str(), &key]).await.map_err(backend)?;
    Ok(rows.iter().map(|row| ResourceId::from_uuid(row.get(0))).collect())
}

pub async fn groups_naming(client: &Client, tenant: &TenantSlug, member: ResourceId) -> StoreResult<Vec<ResourceId>> {
    let stmt = client.prepare_cached(&audit::groups_naming(&Postgres)).await.map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str(), &member.as_uuid()]).await.map_err(backend)?;
    Ok(rows.iter().map(|row| ResourceId::from_uuid(row.get(0))).collect())
}

pub async fn log(client: &Client, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2");
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    client.query(&stmt, &[&after_position, &i64::from(limit)]).await.map_err(backend)?.iter().map(recorded).collect()
}

/// The oldest transaction of this database still running, or the snapshot's `xmax`: every
/// transaction below it has ended (see [`committed`]).
const HORIZON: &str = "WITH snapshot AS (SELECT pg_current_snapshot() AS s),
         horizon AS (
           SELECT LEAST(pg_snapshot_xmax(s), (
             SELECT min(x) FROM pg_snapshot_xip(s) AS x
             WHERE NOT EXISTS (
               SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'transactionid' AND l.transactionid = xid(x) AND l.granted
                 AND l.mode = 'ExclusiveLock' AND a.datname IS DISTINCT FROM current_database()))) AS h
           FROM snapshot)";

/// How long [`settled`] waits for the transactions running when it was asked.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The last position handed out now, once every transaction that may hold one at or below it
/// has ended: any such transaction took its transaction id before, so it is below the
/// snapshot's `xmax` now, and once the horizon passes that `xmax` it has committed or rolled back.
pub async fn settled(client: &Client) -> StoreResult<i64> {
    let fence = client
        .query_one(
            "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('events', 'position')::regclass), 0),
                    pg_snapshot_xmax(pg_current_snapshot())::text",
            &[],
        )
        .await
        .map_err(backend)?;
    let (position, xmax): (i64, String) = (fence.get(0), fence.get(1));
    let passed = client.prepare_cached(&format!("{HORIZON} SELECT h >= $1::text::xid8 FROM horizon")).await.map_err(backend)?;
    let started = std::time::Instant::now();
    while !client.query_one(&passed, &[&xmax]).await.map_err(backend)?.get::<_, bool>(0) {
        if started.elapsed() > SETTLE_LIMIT {
            return Err(StoreError::Unavailable(format!("a transaction has run for over {SETTLE_LIMIT:?}; the log settles once it ends")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Ok(position)
}

fn seal_link(row: &Row) -> StoreResult<SealLink> {
    let tenant: String = row.get("tenant");
    let position: i64 = row.get("position");
    let hash = |column: &str| -> StoreResult<[u8; 32]> {
        let bytes: &[u8] = row.get(column);
        bytes.try_into().map_err(|_| StoreError::corrupt(format!("the seal of position {position}"), format!("{column} is not 32 bytes")))
    };
    Ok(SealLink {
        tenant: TenantSlug::from_log(&tenant).map_err(|e| StoreError::corrupt(format!("the seal of position {position}"), e))?,
        position,
        event: hash("event_sha256")?,
        chain: hash("chain_sha256")?,
        sealed_at: row.get("sealed_at"),
    })
}

pub async fn seal_head(client: &Client, tenant: &TenantSlug, position: i64) -> StoreResult<Option<SealLink>> {
    let stmt = client
        .prepare_cached(
            "SELECT tenant, position, event_sha256, chain_sha256, sealed_at FROM seals
             WHERE tenant = $1 AND position <= $2 ORDER BY position DESC LIMIT 1",
        )
        .await
        .map_err(backend)?;
    client.query_opt(&stmt, &[&tenant.as_str(), &position]).await.map_err(backend)?.as_ref().map(seal_link).transpose()
}

pub async fn seal_links(client: &Client, tenant: &TenantSlug, after: i64, limit: u32) -> StoreResult<Vec<SealLink>> {
    let stmt = client
        .prepare_cached(
            "SELECT tenant, position, event_sha256, chain_sha256, sealed_at FROM seals
             WHERE tenant = $1 AND position > $2 ORDER BY position LIMIT $3",
        )
        .await
        .map_err(backend)?;
    client.query(&stmt, &[&tenant.as_str(), &after, &i64::from(limit)]).await.map_err(backend)?.iter().map(seal_link).collect()
}

pub async fn write_seals(client: &mut Client, links: Vec<SealLink>, through: LogCursor) -> StoreResult<()> {
    let tenants: Vec<&str> = links.iter().map(|l| l.tenant.as_str()).collect();
    let positions: Vec<i64> = links.iter().map(|l| l.position).collect();
    let events: Vec<&[u8]> = links.iter().map(|l| &l.event[..]).collect();
    let chains: Vec<&[u8]> = links.iter().map(|l| &l.chain[..]).collect();
    let sealed_at: Vec<OffsetDateTime> = links.iter().map(|l| l.sealed_at).collect();
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute(
        "INSERT INTO seals (tenant, position, event_sha256, chain_sha256, sealed_at)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[], $5::timestamptz[])
         ON CONFLICT (tenant, position) DO NOTHING",
        &[&tenants, &positions, &events, &chains, &sealed_at],
    )
    .await
    .map_err(backend)?;
    tx.execute(
        "INSERT INTO checkpoints (name, transaction_id, position, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (name) DO UPDATE SET transaction_id = GREATEST(checkpoints.transaction_id, EXCLUDED.transaction_id),
           position = GREATEST(checkpoints.position, EXCLUDED.position), updated_at = now()",
        &[&crate::seal::SEALER, &through.transaction, &through.position],
    )
    .await
    .map_err(backend)?;
    tx.commit().await.map_err(backend)
}

/// ADR 0001: events are read in `(transaction_id, position)` order, only below a horizon that
/// every transaction still able to write this log has reached: the oldest transaction of this
/// database still running, or the snapshot's `xmax` (ADR 0008). A transaction running in another
/// database of the cluster (a migration, `CREATE DATABASE`) cannot write this log, so it does not
/// hold the horizon back, once it is known for one: it holds its own transaction-id lock from a
/// backend connected to another database. Any other running transaction, and one that ended
/// after the snapshot was taken, keeps the horizon at or below it, so it is read once it commits.
pub async fn committed(client: &Client, after: LogCursor, limit: u32) -> StoreResult<Vec<(LogCursor, RecordedEvent)>> {
    let sql = format!(
        "{HORIZON}
         SELECT {EVENT_COLUMNS}, transaction_id::text::bigint AS tx FROM events
         WHERE (transaction_id, position) > ($1::text::xid8, $2)
           AND transaction_id < (SELECT h FROM horizon)
         ORDER BY transaction_id, position LIMIT $3"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    let rows = client.query(&stmt, &[&after.transaction.to_string(), &after.position, &i64::from(limit)]).await.map_err(backend)?;
    rows.iter().map(|row| Ok((LogCursor { transaction: row.get("tx"), position: row.get("position") }, recorded(row)?))).collect()
}

pub async fn checkpoint(client: &Client, name: &str) -> StoreResult<LogCursor> {
    let stmt = client.prepare_cached("SELECT transaction_id, position FROM checkpoints WHERE name = $1").await.map_err(backend)?;
    Ok(client
        .query_opt(&stmt, &[&name])
        .await
        .map_err(backend)?
        .map(|row| LogCursor { transaction: row.get(0), position: row.get(1) })
        .unwrap_or_default())
}

pub async fn follower(client: &Client, name: &str) -> StoreResult<FollowerRecord> {
    let stmt = client
        .prepare_cached("SELECT transaction_id, position, failures, retrying_since, last_failure FROM checkpoints WHERE name = $1")
        .await
        .map_err(backend)?;
    Ok(client
        .query_opt(&stmt, &[&name])
        .await
        .map_err(backend)?
        .map(|row| FollowerRecord {
            cursor: LogCursor { transaction: row.get(0), position: row.get(1) },
            failures: row.get(2),
            retrying: row
                .get::<_, Option<OffsetDateTime>>(3)
                .map(|since| Retrying { since, last_error: row.get::<_, Option<String>>(4).unwrap_or_default() }),
        })
        .unwrap_or_default())
}

/// A follower that never saved a checkpoint gets a row at the start of the log, where it is.
pub async fn record_failure(client: &Client, name: &str, error: &str) -> StoreResult<()> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO checkpoints (name, transaction_id, position, updated_at, failures, retrying_since, last_failure)
             VALUES ($1, 0, 0, now(), 1, now(), $2)
             ON CONFLICT (name) DO UPDATE SET failures = checkpoints.failures + 1,
               retrying_since = COALESCE(checkpoints.retrying_since, now()), last_failure = EXCLUDED.last_failure",
        )
        .await
        .map_err(backend)?;
    client.execute(&stmt, &[&name, &failure_text(error)]).await.map_err(backend)?;
    Ok(())
}

pub async fn clear_retrying(client: &Client, name: &str) -> StoreResult<()> {
    let stmt = client
        .prepare_cached("UPDATE checkpoints SET retrying_since = NULL, last_failure = NULL WHERE name = $1 AND retrying_since IS NOT NULL")
        .await
        .map_err(backend)?;
    client.execute(&stmt, &[&name]).await.map_err(backend)?;
    Ok(())
}

pub async fn save_checkpoint(client: &Client, name: &str, cursor: LogCursor) -> StoreResult<()> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO checkpoints (name, transaction_id, position, updated_at) VALUES ($1, $2, $3, now())
             ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position, updated_at = now()",
        )
        .await
        .map_err(backend)?;
    client.execute(&stmt, &[&name, &cursor.transaction, &cursor.position]).await.map_err(backend)?;
    Ok(())
}
