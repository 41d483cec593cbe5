//! `scimledger connection …`

use domain::TenantSlug;
use serde_json::json;
use store::{Connection, Store};

use crate::config::Settings;
use crate::token;

/// A connection and its token, which exists only in this value and the output: the store keeps
/// its hash.
pub struct Issued {
    pub connection: Connection,
    pub token: String,
    pub base_url: String,
}

pub async fn issue(store: &dyn Store, settings: &Settings, tenant: &TenantSlug, name: &str) -> anyhow::Result<Issued> {
    let token = token::generate();
    let connection = store.create_connection(tenant, name, token::hash(&token)).await?;
    let base_url = format!("{}/scim/v2/{tenant}", settings.public_origin());
    Ok(Issued { connection, token, base_url })
}

pub async fn create(store: &dyn Store, settings: &Settings, tenant: &str, name: &str, as_json: bool) -> anyhow::Result<()> {
    let tenant = TenantSlug::parse(tenant)?;
    let issued = issue(store, settings, &tenant, name).await?;
    if as_json {
        println!(
            "{}",
            json!({"tenant": tenant.as_str(), "connection_id": issued.connection.id.to_string(), "name": name, "base_url": issued.base_url, "token": issued.token})
        );
    } else {
        println!("connection {name} of tenant {tenant} ({})", issued.connection.id);
        println!("  SCIM base URL: {}", issued.base_url);
        println!("  bearer token:  {}", issued.token);
        println!("The token is shown this once; scimledger keeps only its SHA-256 hash.");
    }
    Ok(())
}

pub async fn list(store: &dyn Store, tenant: &str) -> anyhow::Result<()> {
    let tenant = TenantSlug::parse(tenant)?;
    for c in store.connections(&tenant).await? {
        println!("{}\t{}\t{}", c.id, c.name, crate::api_time(c.created));
    }
    Ok(())
}
