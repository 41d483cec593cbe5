//! What `serve` prints for a newcomer.

use store::Store;

use super::connection::admin;
use crate::admin::error::AdminError;
use crate::admin::model::{CreateConnection, CreateTenant};
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
    let admin = admin(store, settings);
    match admin.create_tenant(&CreateTenant { slug: DEMO_TENANT.into(), parent: None }).await {
        Ok(_) | Err(AdminError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let name = format!("demo-{}", time::OffsetDateTime::now_utc().unix_timestamp());
    let input = CreateConnection { name, auth: None, settings: Default::default() };
    let issued = admin.create_connection(DEMO_TENANT, &input).await?;
    let token = issued.token.unwrap_or_default();
    println!("demo tenant ready:");
    println!("  SCIM base URL: {}", issued.connection.base_url);
    println!("  bearer token:  {token}");
    println!("  try: curl -H 'Authorization: Bearer {token}' {}/Users", issued.connection.base_url);
    Ok(())
}
