//! Reading the read models and the log.

use std::collections::HashMap;

use deadpool_postgres::Client;
use domain::group::MemberKind;
use domain::{EventPayload, ResourceId, StreamKind, TenantSlug};
use scim::list::ListQuery;
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::backend;
use super::dialect::Postgres;
use crate::api::*;
use crate::query::{Compiler, SqlValue, Target};

fn table(target: Target) -> &'static str {
    match target {
        Target::Users => "users",
        Target::Groups => "groups",
    }
}

fn record(row: &Row) -> ResourceRecord {
    ResourceRecord {
        id: ResourceId::from_uuid(row.get("id")),
        document: row.get("document"),
        version: row.get("version"),
        created: row.get("created_at"),
        last_modified: row.get("last_modified"),
    }
}

pub async fn one(client: &Client, target: Target, tenant: &TenantSlug, id: ResourceId) -> StoreResult<Option<ResourceRecord>> {
    let sql = format!("SELECT id, document, version, created_at, last_modified FROM {} WHERE tenant = $1 AND id = $2", table(target));
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    let row = client.query_opt(&stmt, &[&tenant.as_str(), &id.as_uuid()]).await.map_err(backend)?;
    Ok(row.as_ref().map(record))
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

/// One page of a filtered, sorted list, and the total. The total rides along as a window
/// count, so a look-up is one round trip; only a page past the end needs a second query.
pub async fn page(client: &Client, target: Target, tenant: &TenantSlug, query: &ListQuery) -> StoreResult<Page> {
    let mut compiler = Compiler::new(&Postgres, target, 1);
    let condition = match &query.filter {
        Some(filter) => compiler.filter(filter)?,
        None => "TRUE".to_owned(),
    };
    let order = compiler.order_by(query.sort.as_ref())?;
    let from = format!("FROM {} r WHERE r.tenant = $1 AND {condition}", table(target));
    let count_sql = format!("SELECT count(*) {from}");
    // LIMIT and OFFSET bind last, so the count query takes the same parameters less those two.
    let limit = compiler.bind(SqlValue::Int(i64::from(query.count)));
    let offset = compiler.bind(SqlValue::Int(query.start_index as i64 - 1));
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(tenant.as_str().to_owned())];
    params.extend(compiler.into_params().iter().map(to_sql));
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
    let count_refs = &refs[..refs.len() - 2];
    if query.count == 0 {
        let row = client.query_one(&count_sql, count_refs).await.map_err(backend)?;
        return Ok(Page { total: row.get::<_, i64>(0) as u64, records: vec![] });
    }
    let sql = format!(
        "SELECT r.id, r.document, r.version, r.created_at, r.last_modified, count(*) OVER () AS total {from} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    let rows = client.query(&stmt, &refs).await.map_err(backend)?;
    let total = match rows.first() {
        Some(row) => row.get::<_, i64>("total") as u64,
        None if query.start_index > 1 => client.query_one(&count_sql, count_refs).await.map_err(backend)?.get::<_, i64>(0) as u64,
        None => 0,
    };
    Ok(Page { total, records: rows.iter().map(record).collect() })
}

pub async fn groups_of(client: &Client, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
    let ids: Vec<Uuid> = users.iter().map(ResourceId::as_uuid).collect();
    let stmt = client
        .prepare_cached(
            // Materialised so the plan starts from the members' index, whatever the statistics say.
            "WITH m AS MATERIALIZED (SELECT member_id, group_id, added FROM memberships WHERE tenant = $1 AND member_id = ANY($2))
             SELECT m.member_id, g.id, g.display_name FROM m JOIN groups g ON g.tenant = $1 AND g.id = m.group_id
             ORDER BY m.added",
        )
        .await
        .map_err(backend)?;
    let mut out: HashMap<ResourceId, Vec<Reference>> = HashMap::new();
    for row in client.query(&stmt, &[&tenant.as_str(), &ids]).await.map_err(backend)? {
        out.entry(ResourceId::from_uuid(row.get(0))).or_default().push(Reference {
            id: ResourceId::from_uuid(row.get(1)),
            kind: MemberKind::Group,
            display: Some(row.get(2)),
        });
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
        out.entry(ResourceId::from_uuid(row.get(0))).or_default().push(Reference {
            id: ResourceId::from_uuid(row.get(1)),
            kind: if row.get::<_, bool>(2) { MemberKind::User } else { MemberKind::Group },
            display: None,
        });
    }
    Ok(out)
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

const EVENT_COLUMNS: &str =
    "position, event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at";

fn recorded(row: &Row) -> StoreResult<RecordedEvent> {
    let tenant: String = row.get("tenant");
    let kind: String = row.get("stream_kind");
    Ok(RecordedEvent {
        position: row.get("position"),
        event_id: row.get("event_id"),
        tenant: TenantSlug::parse(&tenant).map_err(|e| StoreError::Backend(e.to_string()))?,
        kind: StreamKind::parse(&kind).ok_or_else(|| StoreError::Backend(format!("unknown stream kind '{kind}'")))?,
        stream: ResourceId::from_uuid(row.get("stream_id")),
        stream_version: row.get("stream_version"),
        payload: EventPayload { event_type: row.get("event_type"), type_version: row.get("type_version"), data: row.get("payload") },
        metadata: row.get("metadata"),
        recorded_at: row.get::<_, OffsetDateTime>("recorded_at"),
    })
}

pub async fn stream(client: &Client, tenant: &TenantSlug, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = $1 AND stream_id = $2 ORDER BY stream_version");
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    client.query(&stmt, &[&tenant.as_str(), &stream.as_uuid()]).await.map_err(backend)?.iter().map(recorded).collect()
}

pub async fn log(client: &Client, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2");
    let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
    client.query(&stmt, &[&after_position, &i64::from(limit)]).await.map_err(backend)?.iter().map(recorded).collect()
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
        "WITH snapshot AS (SELECT pg_current_snapshot() AS s),
         horizon AS (
           SELECT LEAST(pg_snapshot_xmax(s), (
             SELECT min(x) FROM pg_snapshot_xip(s) AS x
             WHERE NOT EXISTS (
               SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'transactionid' AND l.transactionid = xid(x) AND l.granted
                 AND l.mode = 'ExclusiveLock' AND a.datname IS DISTINCT FROM current_database()))) AS h
           FROM snapshot)
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
