//! Tenants and provisioning connections.

use deadpool_postgres::Client;
use domain::TenantSlug;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{backend, violated_constraint};
use crate::api::*;

pub async fn create_tenant(client: &Client, slug: &TenantSlug) -> StoreResult<Tenant> {
    let created = crate::api::now();
    client.execute("INSERT INTO tenants (slug, created_at) VALUES ($1, $2)", &[&slug.as_str(), &created]).await.map_err(|e| {
        match e.as_db_error().map(|d| d.code().clone()) {
            Some(tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => StoreError::AlreadyExists(format!("tenant '{slug}'")),
            _ => backend(e),
        }
    })?;
    Ok(Tenant { slug: slug.clone(), created })
}

pub async fn tenants(client: &Client) -> StoreResult<Vec<Tenant>> {
    let rows = client.query("SELECT slug, created_at FROM tenants ORDER BY slug", &[]).await.map_err(backend)?;
    rows.iter()
        .map(|row| {
            let slug: String = row.get(0);
            Ok(Tenant {
                slug: TenantSlug::parse(&slug).map_err(|e| StoreError::corrupt(format!("tenant '{slug}'"), e))?,
                created: row.get(1),
            })
        })
        .collect()
}

pub async fn create_connection(client: &Client, tenant: &TenantSlug, name: &str, token_sha256: [u8; 32]) -> StoreResult<Connection> {
    let connection = Connection { id: Uuid::now_v7(), tenant: tenant.clone(), name: name.to_owned(), created: crate::api::now() };
    client
        .execute(
            "INSERT INTO connections (id, tenant, name, token_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&connection.id, &tenant.as_str(), &name, &&token_sha256[..], &connection.created],
        )
        .await
        .map_err(|e| match violated_constraint(&e) {
            Some("connections_tenant_fkey") => StoreError::NotFound(format!("tenant '{tenant}'")),
            Some("connections_name_unique") => StoreError::AlreadyExists(format!("connection '{name}' of tenant '{tenant}'")),
            _ => backend(e),
        })?;
    Ok(connection)
}

pub async fn connections(client: &Client, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
    let rows = client
        .query("SELECT id, name, created_at FROM connections WHERE tenant = $1 AND disabled_at IS NULL ORDER BY name", &[&tenant.as_str()])
        .await
        .map_err(backend)?;
    Ok(rows.iter().map(|row| Connection { id: row.get(0), tenant: tenant.clone(), name: row.get(1), created: row.get(2) }).collect())
}

/// Compares the token's hash with each of the tenant's connections in constant time, so that
/// response timing says nothing about how close a guess came.
pub async fn authenticate(client: &Client, tenant: &TenantSlug, token_sha256: [u8; 32]) -> StoreResult<Option<Connection>> {
    let stmt = client
        .prepare_cached("SELECT id, name, created_at, token_sha256 FROM connections WHERE tenant = $1 AND disabled_at IS NULL")
        .await
        .map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str()]).await.map_err(backend)?;
    Ok(rows.iter().find_map(|row| {
        let stored: &[u8] = row.get(3);
        bool::from(stored.ct_eq(&token_sha256)).then(|| Connection {
            id: row.get(0),
            tenant: tenant.clone(),
            name: row.get(1),
            created: row.get(2),
        })
    }))
}
