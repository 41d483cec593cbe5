//! Tenants, connections and operators as the read models hold them, the secrets
//! authentication compares with, and the channel that says when they changed.

use std::collections::HashMap;

use deadpool_postgres::Client;
use domain::connection::AuthMode;
use domain::{ResourceId, TenantSlug};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::backend;
use crate::api::*;
use crate::shred::table::WrappedKey;

pub async fn tenants(client: &Client) -> StoreResult<Vec<Tenant>> {
    let rows = client.query("SELECT slug, created_at, parent FROM tenants ORDER BY slug", &[]).await.map_err(backend)?;
    let slug_of = |slug: &str| TenantSlug::parse(slug).map_err(|e| StoreError::corrupt(format!("tenant '{slug}'"), e));
    rows.iter()
        .map(|row| {
            let parent: Option<String> = row.get(2);
            Ok(Tenant { slug: slug_of(row.get(0))?, created: row.get(1), parent: parent.as_deref().map(slug_of).transpose()? })
        })
        .collect()
}

/// A connection from the first seven columns of `row`.
fn connection(tenant: &TenantSlug, row: &Row) -> StoreResult<Connection> {
    let corrupt = |e: String| StoreError::corrupt("a stored connection", e);
    Ok(Connection {
        id: row.get(0),
        tenant: tenant.clone(),
        name: row.get(1),
        auth: AuthMode::parse(row.get(2)).map_err(|e| corrupt(e.to_string()))?,
        login: row.get(3),
        settings: serde_json::from_value(row.get(4)).map_err(|e| corrupt(e.to_string()))?,
        created: row.get(5),
        disabled: row.get(6),
    })
}

pub async fn connections(client: &Client, tenant: &TenantSlug) -> StoreResult<Vec<Connection>> {
    let rows = client
        .query(
            "SELECT id, name, auth, login, settings, created_at, disabled_at FROM connections WHERE tenant = $1 ORDER BY name",
            &[&tenant.as_str()],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(|row| connection(tenant, row)).collect()
}

pub async fn devices(client: &Client, tenant: &TenantSlug, user: Option<ResourceId>) -> StoreResult<Vec<DeviceRow>> {
    let stmt = client
        .prepare_cached(
            "SELECT serial, name, kind, policy, assigned FROM devices
             WHERE tenant = $1 AND ($2::uuid IS NULL OR assigned = $2) ORDER BY serial",
        )
        .await
        .map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str(), &user.map(|u| u.as_uuid())]).await.map_err(backend)?;
    Ok(rows
        .iter()
        .map(|row| DeviceRow {
            serial: row.get(0),
            name: row.get(1),
            kind: row.get(2),
            policy: row.get(3),
            assigned: row.get::<_, Option<Uuid>>(4).map(ResourceId::from_uuid),
        })
        .collect())
}

/// The wrapped data keys of those of `users` that have one.
pub async fn user_keys(client: &Client, tenant: &TenantSlug, users: &[ResourceId]) -> StoreResult<HashMap<ResourceId, WrappedKey>> {
    let stmt = client
        .prepare_cached("SELECT user_id, wrapped, master_key FROM user_keys WHERE tenant = $1 AND user_id = ANY($2)")
        .await
        .map_err(backend)?;
    let ids: Vec<Uuid> = users.iter().map(ResourceId::as_uuid).collect();
    let rows = client.query(&stmt, &[&tenant.as_str(), &ids]).await.map_err(backend)?;
    rows.iter().map(|row| Ok((ResourceId::from_uuid(row.get(0)), super::keys::wrapped_key(row, 1)?))).collect()
}

pub async fn connection_secrets(client: &Client, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<ConnectionSecret>> {
    let stmt = client
        .prepare_cached(
            "SELECT c.id, c.name, c.auth, c.login, c.settings, c.created_at, c.disabled_at, s.id, s.secret_sha256, s.expires_at
             FROM credentials s JOIN connections c ON c.id = s.owner_id
             WHERE s.tenant = $1 AND s.owner_kind = 'connection' AND c.disabled_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > $2)",
        )
        .await
        .map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str(), &at]).await.map_err(backend)?;
    rows.iter()
        .map(|row| {
            Ok(ConnectionSecret {
                connection: connection(tenant, row)?,
                credential_id: row.get(7),
                hash: hash(row.get(8))?,
                expires_at: row.get(9),
            })
        })
        .collect()
}

pub async fn credentials(client: &Client, tenant: &TenantSlug) -> StoreResult<Vec<Credential>> {
    let stmt = client
        .prepare_cached(
            "SELECT id, owner_id, created_at, expires_at FROM credentials
             WHERE tenant = $1 AND owner_kind = 'connection' ORDER BY created_at, id",
        )
        .await
        .map_err(backend)?;
    let rows = client.query(&stmt, &[&tenant.as_str()]).await.map_err(backend)?;
    Ok(rows
        .iter()
        .map(|row| Credential { id: row.get(0), connection: row.get(1), created_at: row.get(2), expires_at: row.get(3) })
        .collect())
}

pub async fn operator_secrets(client: &Client) -> StoreResult<Vec<OperatorSecret>> {
    let rows = client
        .query(
            "SELECT o.name, s.secret_sha256 FROM credentials s JOIN operators o ON o.id = s.owner_id
             WHERE s.owner_kind = 'operator' AND s.expires_at IS NULL",
            &[],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(|row| Ok(OperatorSecret { name: row.get(0), hash: hash(row.get(1))? })).collect()
}

pub async fn access_secrets(client: &Client, tenant: &TenantSlug, at: OffsetDateTime) -> StoreResult<Vec<AccessSecret>> {
    let rows = client
        .query(
            "SELECT secret_sha256, expires_at FROM credentials
             WHERE tenant = $1 AND owner_kind = 'access_token' AND (expires_at IS NULL OR expires_at > $2)",
            &[&tenant.as_str(), &at],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(|row| Ok(AccessSecret { hash: hash(row.get(0))?, expires_at: row.get(1) })).collect()
}

fn hash(stored: &[u8]) -> StoreResult<[u8; 32]> {
    stored.try_into().map_err(|_| StoreError::corrupt("a stored secret hash", "not 32 bytes"))
}

/// Made at random the first time; a process racing another keeps whichever was stored first.
pub async fn secret(client: &Client, name: &str) -> StoreResult<[u8; 32]> {
    let fresh: [u8; 32] = rand::random();
    client
        .execute("INSERT INTO deployment_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", &[&name, &&fresh[..]])
        .await
        .map_err(backend)?;
    let row = client.query_one("SELECT secret FROM deployment_secrets WHERE name = $1", &[&name]).await.map_err(backend)?;
    crate::api::secret_bytes(name, row.get(0))
}

pub async fn pending_purges(client: &Client) -> StoreResult<Vec<(TenantSlug, Uuid)>> {
    let rows = client
        .query(
            "SELECT c.tenant, c.id FROM connections c
             WHERE c.purge_requested_at IS NOT NULL
               AND (EXISTS (SELECT 1 FROM users u WHERE u.tenant = c.tenant AND u.owner = c.id::text)
                 OR EXISTS (SELECT 1 FROM groups g WHERE g.tenant = c.tenant AND g.owner = c.id::text))
             ORDER BY c.purge_requested_at",
            &[],
        )
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|row| {
            let tenant: String = row.get(0);
            Ok((TenantSlug::parse(&tenant).map_err(|e| StoreError::corrupt(format!("tenant '{tenant}'"), e))?, row.get(1)))
        })
        .collect()
}
