//! `scimledger tenant …` and `scimledger operator create`.

use store::Store;

use super::connection::{admin, print_json};
use crate::admin::error::AdminError;
use crate::admin::model::CreateTenant;
use crate::config::Settings;

pub async fn create(store: &dyn Store, settings: &Settings, slug: &str, json: bool) -> Result<(), AdminError> {
    let tenant = admin(store, settings).create_tenant(&CreateTenant { slug: slug.to_owned() }).await?;
    if json {
        print_json(&tenant);
    } else {
        println!("created tenant {}", tenant.slug);
    }
    Ok(())
}

pub async fn list(store: &dyn Store, settings: &Settings, json: bool) -> Result<(), AdminError> {
    let tenants = admin(store, settings).tenants().await?;
    if json {
        print_json(&tenants);
    } else {
        for tenant in tenants {
            println!("{}\t{}", tenant.slug, tenant.created);
        }
    }
    Ok(())
}

pub async fn delete(store: &dyn Store, settings: &Settings, slug: &str, json: bool) -> Result<(), AdminError> {
    let tenant = admin(store, settings).delete_tenant(slug).await?;
    if json {
        print_json(&tenant);
    } else {
        println!("deleted tenant {}", tenant.slug);
    }
    Ok(())
}

pub async fn create_operator(store: &dyn Store, settings: &Settings, name: &str, json: bool) -> Result<(), AdminError> {
    let issued = admin(store, settings).create_operator(name).await?;
    if json {
        print_json(&issued);
    } else {
        println!("operator {}", issued.name);
        println!("  token: {}", issued.token);
        println!("The token is shown this once; send it as `Authorization: Bearer` to /admin/v1.");
    }
    Ok(())
}
