//! Tenants, connections and operators as the read models hold them, and the secrets
//! authentication compares with.

use std::collections::HashMap;

use domain::connection::AuthMode;
use domain::{ResourceId, TenantSlug};
use rusqlite::{params, Connection as Db, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{backend, time_text};
use crate::api::*;
use crate::shred::table::WrappedKey;

pub fn tenants(db: &Db) -> StoreResult<Vec<Tenant>> {
    let mut stmt = db.prepare_cached("SELECT slug, created_at, parent FROM tenants ORDER BY slug").map_err(backend)?;
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))).map_err(backend)?;
    let slug_of = |slug: &str| TenantSlug::parse(slug).map_err(|e| StoreError::corrupt(format!("tenant '{slug}'"), e));
    rows.map(|row| {
        let (slug, created, parent) = row.map_err(backend)?;
        Ok(Tenant { slug: slug_of(&slug)?, created: time_text::parse(&created)?, parent: parent.as_deref().map(slug_of).transpose()? })
    })
    .collect()
}

const CONNECTION_COLUMNS: &str = "c.id, c.name, c.auth, c.login, c.settings, c.created_at, c.disabled_at";

/// A connection from the first seven columns of `row` ([`CONNECTION_COLUMNS`]).
fn connection(tenant: &TenantSlug, row: &Row<'_>) -> StoreResult<Connection> {
    let text = |i: usize| row.get::<_, String>(i).map_err(backend);
    let corrupt = |e: String| StoreError::corrupt("a stored connection", e);
    Ok(Connection {
        id: Uuid::parse_str(&text(0)?).map_err(|e| corrupt(e.to_string()))?,
        tenant: tenant.clone(),
        name: text(1)?,
        auth: AuthMode::parse(&text(2)?).map_err(|e| corrupt(e.to_string()))?,
        login: row.get(3).map_err(backend)?,
        settings: serde_json::from_str(&text(4)?).map_err(|e| corrupt(e.to_string()))?,
        created: time_text::parse(&text(5)?)?,
        disabled: row.get::<_, Option<String>>(6).map_err(backend)?.as_deref().map(time_text::parse).transpose()?,
    })
}

pub fn connections(db: &Db, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
    let mut stmt = db
        .prepare_cached(&format!("SELECT {CONNECTION_COLUMNS} FROM connections c WHERE c.tenant = ?1 ORDER BY c.name"))
        .map_err(backend)?;
    let mut rows = stmt.query([tenant.as_str()]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        out.push(connection(tenant, row)?);
    }
    Ok(out)
}

pub fn devices(db: &Db, tenant: &TenantSlug, user: Option<ResourceId>) -> StoreResult<Vec<DeviceRow>> {
    let mut stmt = db
        .prepare_cached(
            "SELECT serial, name, kind, policy, assigned FROM devices WHERE tenant = ?1 AND (?2 IS NULL OR assigned = ?2) ORDER BY serial",
        )
        .map_err(backend)?;
    let mut rows = stmt.query(params![tenant.as_str(), user.map(|u| u.to_string())]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let assigned: Option<String> = row.get(4).map_err(backend)?;
        out.push(DeviceRow {
            serial: row.get(0).map_err(backend)?,
            name: row.get(1).map_err(backend)?,
            kind: row.get(2).map_err(backend)?,
            policy: row.get(3).map_err(backend)?,
            assigned: assigned.map(|a| a.parse()).transpose().map_err(|e| StoreError::corrupt("a stored device", e))?,
        });
    }
    Ok(out)
}

/// The wrapped data keys of those of `users` that have one.
pub fn user_keys(db: &Db, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, WrappedKey>> {
    let mut stmt = db
        .prepare_cached(
            "SELECT user_id, wrapped, master_key FROM user_keys WHERE tenant = ?1 AND user_id IN (SELECT value FROM json_each(?2))",
        )
        .map_err(backend)?;
    let ids = serde_json::to_string(&users.iter().map(ResourceId::to_string).collect::<Vec<_>>()).expect("ids serialise");
    let mut rows = stmt.query(params![tenant.as_str(), ids]).map_err(backend)?;
    let mut out = HashMap::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let id: String = row.get(0).map_err(backend)?;
        let id = id.parse().map_err(|e| StoreError::corrupt("a stored user key", e))?;
        out.insert(id, super::keys::wrapped_key(row, 1)?);
    }
    Ok(out)
}

pub fn connection_secrets(db: &Db, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<ConnectionSecret>> {
    let mut stmt = db
        .prepare_cached(&format!(
            "SELECT {CONNECTION_COLUMNS}, s.id, s.secret_sha256, s.expires_at
             FROM credentials s JOIN connections c ON c.id = s.owner_id
             WHERE s.tenant = ?1 AND s.owner_kind = 'connection' AND c.disabled_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > ?2)"
        ))
        .map_err(backend)?;
    let mut rows = stmt.query(rusqlite::params![tenant.as_str(), time_text::format(at)]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let id: String = row.get(7).map_err(backend)?;
        out.push(ConnectionSecret {
            connection: connection(tenant, row)?,
            credential_id: Uuid::parse_str(&id).map_err(|e| StoreError::corrupt(format!("credential id '{id}'"), e))?,
            hash: hash(row.get(8).map_err(backend)?)?,
            expires_at: row.get::<_, Option<String>>(9).map_err(backend)?.as_deref().map(time_text::parse).transpose()?,
        });
    }
    Ok(out)
}

pub fn access_secrets(db: &Db, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<AccessSecret>> {
    let mut stmt = db
        .prepare_cached(
            "SELECT secret_sha256, expires_at FROM credentials
             WHERE tenant = ?1 AND owner_kind = 'access_token' AND (expires_at IS NULL OR expires_at > ?2)",
        )
        .map_err(backend)?;
    let mut rows = stmt.query(rusqlite::params![tenant.as_str(), time_text::format(at)]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        out.push(AccessSecret {
            hash: hash(row.get(0).map_err(backend)?)?,
            expires_at: row.get::<_, Option<String>>(1).map_err(backend)?.as_deref().map(time_text::parse).transpose()?,
        });
    }
    Ok(out)
}

pub fn credentials(db: &Db, tenant: &TenantSlug) -> StoreResult<Vec<Credential>> {
    let mut stmt = db
        .prepare_cached(
            "SELECT id, owner_id, created_at, expires_at FROM credentials
             WHERE tenant = ?1 AND owner_kind = 'connection' ORDER BY created_at, id",
        )
        .map_err(backend)?;
    let mut rows = stmt.query(rusqlite::params![tenant.as_str()]).map_err(backend)?;
    let uuid = |text: String| Uuid::parse_str(&text).map_err(|e| StoreError::corrupt(format!("credential id '{text}'"), e));
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        out.push(Credential {
            id: uuid(row.get(0).map_err(backend)?)?,
            connection: uuid(row.get(1).map_err(backend)?)?,
            created_at: time_text::parse(&row.get::<_, String>(2).map_err(backend)?)?,
            expires_at: row.get::<_, Option<String>>(3).map_err(backend)?.as_deref().map(time_text::parse).transpose()?,
        });
    }
    Ok(out)
}

pub fn operator_secrets(db: &Db) -> StoreResult<Vec<OperatorSecret>> {
    let mut stmt = db
        .prepare_cached(
            "SELECT o.name, s.secret_sha256 FROM credentials s JOIN operators o ON o.id = s.owner_id
             WHERE s.owner_kind = 'operator' AND s.expires_at IS NULL",
        )
        .map_err(backend)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))).map_err(backend)?;
    rows.map(|row| {
        let (name, stored) = row.map_err(backend)?;
        Ok(OperatorSecret { name, hash: hash(stored)? })
    })
    .collect()
}

fn hash(stored: Vec<u8>) -> StoreResult<[u8; 32]> {
    stored.try_into().map_err(|_| StoreError::corrupt("a stored secret hash", "not 32 bytes"))
}

/// Made at random the first time; another process that stored one first wins.
pub fn secret(db: &Db, name: &str) -> StoreResult<[u8; 32]> {
    let fresh: [u8; 32] = rand::random();
    db.execute("INSERT OR IGNORE INTO deployment_secrets (name, secret) VALUES (?1, ?2)", params![name, &fresh[..]]).map_err(backend)?;
    let stored: Vec<u8> = db.query_row("SELECT secret FROM deployment_secrets WHERE name = ?1", [name], |r| r.get(0)).map_err(backend)?;
    crate::api::secret_bytes(name, &stored)
}

pub fn pending_purges(db: &Db) -> StoreResult<Vec<(TenantSlug, Uuid)>> {
    let mut stmt = db
        .prepare_cached(
            "SELECT c.tenant, c.id FROM connections c
             WHERE c.purge_requested_at IS NOT NULL
               AND (EXISTS (SELECT 1 FROM users u WHERE u.tenant = c.tenant AND u.owner = c.id)
                 OR EXISTS (SELECT 1 FROM groups g WHERE g.tenant = c.tenant AND g.owner = c.id))
             ORDER BY c.purge_requested_at",
        )
        .map_err(backend)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(backend)?;
    rows.map(|row| {
        let (tenant, id) = row.map_err(backend)?;
        let tenant = TenantSlug::parse(&tenant).map_err(|e| StoreError::corrupt(format!("tenant '{tenant}'"), e))?;
        Ok((tenant, Uuid::parse_str(&id).map_err(|e| StoreError::corrupt(format!("connection id '{id}'"), e))?))
    })
    .collect()
}
