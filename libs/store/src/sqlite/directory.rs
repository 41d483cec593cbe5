//! Tenants and provisioning connections.

use domain::TenantSlug;
use rusqlite::{params, Connection as Db};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{backend, time_text, violation, Violation};
use crate::api::*;

pub fn create_tenant(db: &Db, slug: &TenantSlug) -> StoreResult<Tenant> {
    let created = crate::api::now();
    db.execute("INSERT INTO tenants (slug, created_at) VALUES (?1, ?2)", params![slug.as_str(), time_text::format(created)]).map_err(
        |e| match violation(&e) {
            Some(Violation::Unique("tenants.slug")) => StoreError::AlreadyExists(format!("tenant '{slug}'")),
            _ => backend(e),
        },
    )?;
    Ok(Tenant { slug: slug.clone(), created })
}

pub fn tenants(db: &Db) -> StoreResult<Vec<Tenant>> {
    let mut stmt = db.prepare_cached("SELECT slug, created_at FROM tenants ORDER BY slug").map_err(backend)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(backend)?;
    rows.map(|row| {
        let (slug, created) = row.map_err(backend)?;
        Ok(Tenant {
            slug: TenantSlug::parse(&slug).map_err(|e| StoreError::corrupt(format!("tenant '{slug}'"), e))?,
            created: time_text::parse(&created)?,
        })
    })
    .collect()
}

pub fn create_connection(db: &Db, tenant: &TenantSlug, name: &str, token_sha256: [u8; 32]) -> StoreResult<Connection> {
    let connection = Connection { id: Uuid::now_v7(), tenant: tenant.clone(), name: name.to_owned(), created: crate::api::now() };
    db.execute(
        "INSERT INTO connections (id, tenant, name, token_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![connection.id.to_string(), tenant.as_str(), name, &token_sha256[..], time_text::format(connection.created)],
    )
    .map_err(|e| match violation(&e) {
        // The only foreign key of `connections` is its tenant.
        Some(Violation::ForeignKey) => StoreError::NotFound(format!("tenant '{tenant}'")),
        Some(Violation::Unique("connections.tenant, connections.name")) => {
            StoreError::AlreadyExists(format!("connection '{name}' of tenant '{tenant}'"))
        }
        _ => backend(e),
    })?;
    Ok(connection)
}

fn connection(tenant: &TenantSlug, id: String, name: String, created: String) -> StoreResult<Connection> {
    Ok(Connection {
        id: Uuid::parse_str(&id).map_err(|e| StoreError::corrupt(format!("connection id '{id}'"), e))?,
        tenant: tenant.clone(),
        name,
        created: time_text::parse(&created)?,
    })
}

pub fn connections(db: &Db, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
    let mut stmt = db
        .prepare_cached("SELECT id, name, created_at FROM connections WHERE tenant = ?1 AND disabled_at IS NULL ORDER BY name")
        .map_err(backend)?;
    let rows = stmt.query_map([tenant.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(backend)?;
    rows.map(|row| {
        let (id, name, created) = row.map_err(backend)?;
        connection(tenant, id, name, created)
    })
    .collect()
}

/// Compares the token's hash with each of the tenant's connections in constant time, so that
/// response timing says nothing about how close a guess came.
pub fn authenticate(db: &Db, tenant: &TenantSlug, token_sha256: [u8; 32]) -> StoreResult<Option<Connection>> {
    let mut stmt = db
        .prepare_cached("SELECT id, name, created_at, token_sha256 FROM connections WHERE tenant = ?1 AND disabled_at IS NULL")
        .map_err(backend)?;
    let mut rows = stmt.query([tenant.as_str()]).map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        let stored: Vec<u8> = row.get(3).map_err(backend)?;
        if bool::from(stored.ct_eq(&token_sha256)) {
            return connection(tenant, row.get(0).map_err(backend)?, row.get(1).map_err(backend)?, row.get(2).map_err(backend)?).map(Some);
        }
    }
    Ok(None)
}
