//! What `serve` prints for a newcomer.

use domain::TenantSlug;
use store::{Store, StoreError};

use super::connection;
use crate::config::Settings;

const DEMO_TENANT: &str = "demo";

pub fn print_first_start_help(settings: &Settings) {
    let origin = settings.public_origin();
    println!("No tenant yet. In another terminal:");
    println!("  scimledger tenant create acme");
    println!("  scimledger connection create acme --name okta");
    println!("then give your IdP the base URL ({origin}/scim/v2/acme) and the token it prints.");
    println!("(or restart with `scimledger serve --demo` for a ready-made demo tenant)");
}

/// `serve --demo`: makes sure a `demo` tenant exists and prints a fresh connection for it.
pub async fn print_demo_connection(store: &dyn Store, settings: &Settings) -> anyhow::Result<()> {
    let tenant = TenantSlug::parse(DEMO_TENANT)?;
    match store.create_tenant(&tenant).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let name = format!("demo-{}", time::OffsetDateTime::now_utc().unix_timestamp());
    let issued = connection::issue(store, settings, &tenant, &name).await?;
    println!("demo tenant ready:");
    println!("  SCIM base URL: {}", issued.base_url);
    println!("  bearer token:  {}", issued.token);
    println!("  try: curl -H 'Authorization: Bearer {}' {}/Users", issued.token, issued.base_url);
    Ok(())
}
