//! Reading the read models, the log and checkpoints.

use std::collections::HashMap;

use domain::group::MemberKind;
use domain::{EventPayload, Owner, ResourceId, StreamKind, TenantSlug};
use rusqlite::types::Value as SqlParam;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use scim::list::ListQuery;
use uuid::Uuid;

use super::dialect::Sqlite;
use super::{backend, time_text};
use crate::api::*;
use crate::audit::{self, AuditQuery, EVENT_COLUMNS};
use crate::member_pages;
use crate::paging::{self, PagePlan, Span};
use crate::projection::{member_kind_named, owner_named};
use crate::query::{SqlValue, Target};
use crate::seal::SealLink;
use crate::user_groups;

fn id(text: &str) -> StoreResult<ResourceId> {
    Uuid::parse_str(text).map(ResourceId::from_uuid).map_err(|e| StoreError::corrupt(format!("stored id '{text}'"), e))
}

fn json(text: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt("a stored JSON document", e))
}

/// A list of ids as one JSON parameter, joined through `json_each(?)`.
fn id_list(ids: &[ResourceId]) -> String {
    serde_json::Value::from(ids.iter().map(ToString::to_string).collect::<Vec<_>>()).to_string()
}

struct RawRecord {
    id: String,
    document: String,
    version: i64,
    created: String,
    last_modified: String,
}

impl RawRecord {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self { id: row.get(0)?, document: row.get(1)?, version: row.get(2)?, created: row.get(3)?, last_modified: row.get(4)? })
    }

    fn parse(self) -> StoreResult<ResourceRecord> {
        Ok(ResourceRecord {
            id: id(&self.id)?,
            document: json(&self.document)?,
            version: self.version,
            created: time_text::parse(&self.created)?,
            last_modified: time_text::parse(&self.last_modified)?,
        })
    }
}

/// One resource by id, with the tenant that holds it (one of a parent's sub-tenants when
/// `span` spans them): newest first, several only while a move is half done (ADR 0074).
pub fn one(
    db: &Connection,
    target: Target,
    tenant: &TenantSlug,
    span: Span,
    scope: Scope,
    resource: ResourceId,
) -> StoreResult<Vec<(TenantSlug, ResourceRecord)>> {
    let (sql, params) = paging::one(&Sqlite, target, tenant, span, scope, resource);
    let mut stmt = db.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(params.into_iter().map(to_param)), |row| Ok((RawRecord::from_row(row)?, row.get::<_, String>(6)?)))
        .map_err(backend)?;
    rows.map(|raw| {
        let (record, holder) = raw.map_err(backend)?;
        Ok((slug(&holder)?, record.parse()?))
    })
    .collect()
}

fn slug(text: &str) -> StoreResult<TenantSlug> {
    TenantSlug::parse(text).map_err(|e| StoreError::corrupt(format!("stored tenant '{text}'"), e))
}

fn to_param(value: SqlValue) -> SqlParam {
    match value {
        SqlValue::Text(s) => SqlParam::Text(s),
        SqlValue::Bool(b) => SqlParam::Integer(i64::from(b)),
        SqlValue::Int(i) => SqlParam::Integer(i),
        SqlValue::Float(f) => SqlParam::Real(f),
        SqlValue::Uuid(u) => SqlParam::Text(u.to_string()),
        SqlValue::Time(t) => SqlParam::Text(time_text::format(t)),
    }
}

/// One page and the total, as postgres/read.rs does it.
pub fn page(
    db: &Connection,
    target: Target,
    (tenant, span): (&TenantSlug, Span),
    scope: Scope,
    query: &ListQuery,
    with_groups: bool,
    resume: &paging::ResumePoints,
) -> StoreResult<Page> {
    let plan = PagePlan::new(&Sqlite, target, (tenant, span), scope, query, with_groups, resume)?;
    let params: Vec<SqlParam> = plan.params.iter().cloned().map(to_param).collect();
    let mut rows = Vec::new();
    let mut groups = with_groups.then(HashMap::new);
    let mut total = None;
    if let Some(sql) = &plan.rows_sql {
        let mut stmt = db.prepare_cached(sql).map_err(backend)?;
        let mut found = stmt.query(params_from_iter(params.iter())).map_err(backend)?;
        while let Some(row) = found.next().map_err(backend)? {
            total = total.or(row.get::<_, Option<i64>>(6).map_err(backend)?.map(|n| n as u64));
            let seq: i64 = row.get(5).map_err(backend)?;
            let record = RawRecord::from_row(row).map_err(backend)?.parse()?;
            if let Some(groups) = &mut groups {
                user_groups::collect(groups, record.id, &json(&row.get::<_, String>(7).map_err(backend)?)?)?;
            }
            rows.push((record, seq));
        }
    }
    let total = match plan.total(total, rows.len()) {
        Some(total) => total,
        None => {
            let mut stmt = db.prepare_cached(&plan.count_sql).map_err(backend)?;
            stmt.query_row(params_from_iter(params[..plan.count_params].iter()), |r| r.get::<_, i64>(0)).map_err(backend)? as u64
        }
    };
    Ok(plan.finish(rows, total, groups))
}

pub fn owned(
    db: &Connection,
    target: Target,
    tenant: &TenantSlug,
    owner: Owner,
    after: i64,
    limit: u32,
) -> StoreResult<Vec<(ResourceId, i64)>> {
    let mut stmt = db.prepare_cached(&paging::owned(&Sqlite, target)).map_err(backend)?;
    let rows = stmt
        .query_map(params![tenant.as_str(), owner.to_string(), after, i64::from(limit)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(backend)?;
    rows.map(|row| {
        let (resource, seq) = row.map_err(backend)?;
        Ok((id(&resource)?, seq))
    })
    .collect()
}

/// Each user's `groups` column (user_groups.rs); users in no group have no entry.
pub fn groups_of(db: &Connection, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
    let mut stmt = db
        .prepare_cached("SELECT id, groups FROM users WHERE tenant = ?1 AND id IN (SELECT value FROM json_each(?2)) AND groups <> '[]'")
        .map_err(backend)?;
    let mut rows = stmt.query(params![tenant.as_str(), id_list(users)]).map_err(backend)?;
    let mut out = HashMap::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let (user, groups): (String, String) = (row.get(0).map_err(backend)?, row.get(1).map_err(backend)?);
        user_groups::collect(&mut out, id(&user)?, &json(&groups)?)?;
    }
    Ok(out)
}

pub fn members_of(db: &Connection, tenant: &TenantSlug, groups: &[ResourceId]) -> StoreResult<HashMap<ResourceId, Vec<Reference>>> {
    let mut stmt = db
        .prepare_cached(
            "SELECT m.group_id, m.member_id, u.id IS NOT NULL
             FROM (SELECT DISTINCT value FROM json_each(?2)) AS wanted
             CROSS JOIN memberships m ON m.tenant = ?1 AND m.group_id = wanted.value
             LEFT JOIN users u ON u.tenant = m.tenant AND u.id = m.member_id
             LEFT JOIN groups g ON g.tenant = m.tenant AND g.id = m.member_id
             WHERE u.id IS NOT NULL OR g.id IS NOT NULL
             ORDER BY m.added",
        )
        .map_err(backend)?;
    let mut rows = stmt.query(params![tenant.as_str(), id_list(groups)]).map_err(backend)?;
    let mut out: HashMap<ResourceId, Vec<Reference>> = HashMap::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let group: String = row.get(0).map_err(backend)?;
        let member: String = row.get(1).map_err(backend)?;
        out.entry(id(&group)?).or_default().push(reference(&member, row.get(2).map_err(backend)?)?);
    }
    Ok(out)
}

/// The members of `group` added after `after`, up to `limit`, each with its `added`.
pub fn member_page(db: &Connection, tenant: &TenantSlug, group: ResourceId, after: i64, limit: u32) -> StoreResult<Vec<(i64, Reference)>> {
    let mut stmt = db.prepare_cached(&member_pages::page_sql(&Sqlite)).map_err(backend)?;
    let mut rows = stmt.query(params![tenant.as_str(), group.to_string(), after, i64::from(limit)]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let added: i64 = row.get(0).map_err(backend)?;
        let member: String = row.get(1).map_err(backend)?;
        out.push((added, reference(&member, row.get(2).map_err(backend)?)?));
    }
    Ok(out)
}

fn reference(member: &str, is_user: bool) -> StoreResult<Reference> {
    Ok(Reference { id: id(member)?, kind: if is_user { MemberKind::User } else { MemberKind::Group }, display: None })
}

pub fn group_snapshot(
    db: &Connection,
    tenant: &TenantSlug,
    group: ResourceId,
    named: Option<&[ResourceId]>,
) -> StoreResult<Option<GroupSnapshot>> {
    let mut stmt = db
        .prepare_cached("SELECT id, document, version, created_at, last_modified, owner FROM groups WHERE tenant = ?1 AND id = ?2")
        .map_err(backend)?;
    let row = stmt
        .query_row(params![tenant.as_str(), group.to_string()], |row| Ok((RawRecord::from_row(row)?, row.get::<_, String>(5)?)))
        .optional()
        .map_err(backend)?;
    let Some((raw, owner)) = row else { return Ok(None) };
    let members = match named {
        Some(named) => {
            let mut stmt = db
                .prepare_cached(
                    "SELECT member_id, member_kind FROM memberships
                     WHERE tenant = ?1 AND group_id = ?2 AND member_id IN (SELECT value FROM json_each(?3)) ORDER BY added",
                )
                .map_err(backend)?;
            let rows = stmt.query(params![tenant.as_str(), group.to_string(), id_list(named)]).map_err(backend)?;
            memberships(rows)?
        }
        None => {
            let mut stmt = db
                .prepare_cached("SELECT member_id, member_kind FROM memberships WHERE tenant = ?1 AND group_id = ?2 ORDER BY added")
                .map_err(backend)?;
            let rows = stmt.query(params![tenant.as_str(), group.to_string()]).map_err(backend)?;
            memberships(rows)?
        }
    };
    Ok(Some(GroupSnapshot { record: raw.parse()?, owner: owner_named(&owner)?, members }))
}

/// (member, kind) rows as the group's members.
fn memberships(mut rows: rusqlite::Rows<'_>) -> StoreResult<Vec<(ResourceId, Option<MemberKind>)>> {
    let mut members = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let member: String = row.get(0).map_err(backend)?;
        let kind: Option<String> = row.get(1).map_err(backend)?;
        members.push((id(&member)?, member_kind_named(kind.as_deref())?));
    }
    Ok(members)
}

pub fn resource_kinds(db: &Connection, tenant: &TenantSlug, ids: &[ResourceId]) -> StoreResult<HashMap<ResourceId, MemberKind>> {
    let mut stmt = db
        .prepare_cached(
            "SELECT id, 1 FROM users WHERE tenant = ?1 AND id IN (SELECT value FROM json_each(?2))
             UNION ALL SELECT id, 0 FROM groups WHERE tenant = ?1 AND id IN (SELECT value FROM json_each(?2))",
        )
        .map_err(backend)?;
    let mut rows = stmt.query(params![tenant.as_str(), id_list(ids)]).map_err(backend)?;
    let mut out = HashMap::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let resource: String = row.get(0).map_err(backend)?;
        let is_user: bool = row.get(1).map_err(backend)?;
        out.insert(id(&resource)?, if is_user { MemberKind::User } else { MemberKind::Group });
    }
    Ok(out)
}

/// The newest sub-tenant of `parent` holding each of `users` (`Store::user_holders`).
pub fn user_holders(db: &Connection, parent: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, TenantSlug>> {
    let mut stmt = db.prepare_cached(&paging::user_holders(&Sqlite, "IN (SELECT value FROM json_each(?2))")).map_err(backend)?;
    let mut rows = stmt.query(params![parent.as_str(), id_list(users)]).map_err(backend)?;
    let mut holders = HashMap::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let (user, holder): (String, String) = (row.get(0).map_err(backend)?, row.get(1).map_err(backend)?);
        holders.entry(id(&user)?).or_insert(slug(&holder)?);
    }
    Ok(holders)
}

fn recorded(row: &Row<'_>) -> StoreResult<RecordedEvent> {
    let get_text = |i: usize| row.get::<_, String>(i).map_err(backend);
    let tenant = get_text(2)?;
    let kind = get_text(3)?;
    let position: i64 = row.get(0).map_err(backend)?;
    let at = || format!("the event at position {position}");
    Ok(RecordedEvent {
        position,
        event_id: Uuid::parse_str(&get_text(1)?).map_err(|e| StoreError::corrupt(at(), e))?,
        tenant: TenantSlug::from_log(&tenant).map_err(|e| StoreError::corrupt(at(), e))?,
        kind: StreamKind::parse(&kind).ok_or_else(|| StoreError::corrupt(at(), format!("unknown stream kind '{kind}'")))?,
        stream: id(&get_text(4)?)?,
        stream_version: row.get(5).map_err(backend)?,
        payload: EventPayload { event_type: get_text(6)?, type_version: row.get(7).map_err(backend)?, data: json(&get_text(8)?)? },
        metadata: json(&get_text(9)?)?,
        recorded_at: time_text::parse(&get_text(10)?)?,
    })
}

/// Every row of a query, each decoded by `decode`.
fn decoded<T>(db: &Connection, sql: &str, params: impl rusqlite::Params, decode: fn(&Row<'_>) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    let mut stmt = db.prepare_cached(sql).map_err(backend)?;
    let mut rows = stmt.query(params).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

fn events(db: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<RecordedEvent>> {
    decoded(db, sql, params, recorded)
}

pub fn stream(db: &Connection, tenant: &TenantSlug, kind: StreamKind, stream: ResourceId) -> StoreResult<Vec<RecordedEvent>> {
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = ?1 AND stream_id = ?2 AND stream_kind = ?3 ORDER BY stream_version");
    events(db, &sql, params![tenant.as_str(), stream.to_string(), kind.as_str()])
}

/// One writer commits at a time, so position order is commit order: following the log by
/// position never skips a late commit.
pub fn head(db: &Connection) -> StoreResult<i64> {
    db.prepare_cached("SELECT COALESCE(max(position), 0) FROM events")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(backend)
}

pub fn audit_log(db: &Connection, query: &AuditQuery) -> StoreResult<Vec<RecordedEvent>> {
    let (sql, params) = audit::plan(&Sqlite, query);
    events(db, &sql, params_from_iter(params.into_iter().map(to_param)))
}

pub fn users_by_login(db: &Connection, tenant: &TenantSlug, key: &str) -> StoreResult<Vec<ResourceId>> {
    let mut stmt = db.prepare_cached(&audit::users_by_login(&Sqlite)).map_err(backend)?;
    let ids: Vec<String> =
        stmt.query_map(params![tenant.as_str(), key], |row| row.get(0)).map_err(backend)?.collect::<Result<_, _>>().map_err(backend)?;
    ids.iter().map(|text| id(text)).collect()
}

pub fn groups_naming(db: &Connection, tenant: &TenantSlug, member: ResourceId) -> StoreResult<Vec<ResourceId>> {
    let mut stmt = db.prepare_cached(&audit::groups_naming(&Sqlite)).map_err(backend)?;
    let ids: Vec<String> = stmt
        .query_map(params![tenant.as_str(), member.to_string()], |row| row.get(0))
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    ids.iter().map(|text| id(text)).collect()
}

pub fn log(db: &Connection, after_position: i64, limit: u32) -> StoreResult<Vec<RecordedEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2");
    events(db, &sql, params![after_position, i64::from(limit)])
}

fn seal_link(row: &Row<'_>) -> StoreResult<SealLink> {
    let position: i64 = row.get(1).map_err(backend)?;
    let at = || format!("the seal of position {position}");
    let hash = |i: usize| -> StoreResult<[u8; 32]> {
        let bytes: Vec<u8> = row.get(i).map_err(backend)?;
        bytes.try_into().map_err(|_| StoreError::corrupt(at(), "a hash is not 32 bytes"))
    };
    let tenant: String = row.get(0).map_err(backend)?;
    Ok(SealLink {
        tenant: TenantSlug::from_log(&tenant).map_err(|e| StoreError::corrupt(at(), e))?,
        position,
        event: hash(2)?,
        chain: hash(3)?,
        sealed_at: time_text::parse(&row.get::<_, String>(4).map_err(backend)?)?,
    })
}

pub fn seal_head(db: &Connection, tenant: &TenantSlug, position: i64) -> StoreResult<Option<SealLink>> {
    let sql = "SELECT tenant, position, event_sha256, chain_sha256, sealed_at FROM seals
               WHERE tenant = ?1 AND position <= ?2 ORDER BY position DESC LIMIT 1";
    Ok(decoded(db, sql, params![tenant.as_str(), position], seal_link)?.pop())
}

pub fn seal_links(db: &Connection, tenant: &TenantSlug, after: i64, limit: u32) -> StoreResult<Vec<SealLink>> {
    let sql = "SELECT tenant, position, event_sha256, chain_sha256, sealed_at FROM seals
               WHERE tenant = ?1 AND position > ?2 ORDER BY position LIMIT ?3";
    decoded(db, sql, params![tenant.as_str(), after, i64::from(limit)], seal_link)
}

pub fn write_seals(db: &mut Connection, links: &[SealLink], through: LogCursor) -> StoreResult<()> {
    let tx = db.transaction().map_err(backend)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO seals (tenant, position, event_sha256, chain_sha256, sealed_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, position) DO NOTHING",
            )
            .map_err(backend)?;
        for link in links {
            insert
                .execute(params![link.tenant.as_str(), link.position, &link.event[..], &link.chain[..], time_text::format(link.sealed_at)])
                .map_err(backend)?;
        }
        tx.prepare_cached(
            "INSERT INTO checkpoints (name, transaction_id, position, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET transaction_id = max(transaction_id, excluded.transaction_id),
               position = max(position, excluded.position), updated_at = excluded.updated_at",
        )
        .map_err(backend)?
        .execute(params![crate::seal::SEALER, through.transaction, through.position, time_text::format(crate::api::now())])
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

pub fn checkpoint(db: &Connection, name: &str) -> StoreResult<LogCursor> {
    let mut stmt = db.prepare_cached("SELECT transaction_id, position FROM checkpoints WHERE name = ?1").map_err(backend)?;
    let cursor = stmt.query_row([name], |r| Ok(LogCursor { transaction: r.get(0)?, position: r.get(1)? })).optional().map_err(backend)?;
    Ok(cursor.unwrap_or_default())
}

pub fn follower(db: &Connection, name: &str) -> StoreResult<FollowerRecord> {
    let mut stmt = db
        .prepare_cached("SELECT transaction_id, position, failures, retrying_since, last_failure FROM checkpoints WHERE name = ?1")
        .map_err(backend)?;
    let row = stmt
        .query_row([name], |r| {
            Ok((
                LogCursor { transaction: r.get(0)?, position: r.get(1)? },
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    let Some((cursor, failures, since, last_error)) = row else { return Ok(FollowerRecord::default()) };
    let retrying = match since {
        Some(since) => Some(Retrying { since: time_text::parse(&since)?, last_error: last_error.unwrap_or_default() }),
        None => None,
    };
    Ok(FollowerRecord { cursor, failures, retrying })
}

/// A follower that never saved a checkpoint gets a row at the start of the log, where it is.
pub fn record_failure(db: &Connection, name: &str, error: &str) -> StoreResult<()> {
    db.prepare_cached(
        "INSERT INTO checkpoints (name, transaction_id, position, updated_at, failures, retrying_since, last_failure)
         VALUES (?1, 0, 0, ?2, 1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET failures = failures + 1,
           retrying_since = COALESCE(retrying_since, excluded.retrying_since), last_failure = excluded.last_failure",
    )
    .map_err(backend)?
    .execute(params![name, time_text::format(crate::api::now()), failure_text(error)])
    .map_err(backend)?;
    Ok(())
}

pub fn clear_retrying(db: &Connection, name: &str) -> StoreResult<()> {
    db.prepare_cached("UPDATE checkpoints SET retrying_since = NULL, last_failure = NULL WHERE name = ?1 AND retrying_since IS NOT NULL")
        .map_err(backend)?
        .execute([name])
        .map_err(backend)?;
    Ok(())
}

pub fn save_checkpoint(db: &Connection, name: &str, cursor: LogCursor) -> StoreResult<()> {
    let mut stmt = db
        .prepare_cached(
            "INSERT INTO checkpoints (name, transaction_id, position, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id, position = excluded.position, updated_at = excluded.updated_at",
        )
        .map_err(backend)?;
    stmt.execute(params![name, cursor.transaction, cursor.position, time_text::format(time::OffsetDateTime::now_utc())])
        .map_err(backend)?;
    Ok(())
}
