//! `scimledger tenant …`

use domain::TenantSlug;
use store::Store;

pub async fn create(store: &dyn Store, slug: &str) -> anyhow::Result<()> {
    let slug = TenantSlug::parse(slug)?;
    store.create_tenant(&slug).await?;
    println!("created tenant {slug}");
    Ok(())
}

pub async fn list(store: &dyn Store) -> anyhow::Result<()> {
    for tenant in store.tenants().await? {
        println!("{}\t{}", tenant.slug, crate::api_time(tenant.created));
    }
    Ok(())
}
