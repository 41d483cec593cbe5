//! Schema migrations, numbered and applied in order, each once.

use tokio_postgres::Client;

use super::backend;
use crate::api::StoreResult;

/// (version, SQL). Append only: a released migration is never edited.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_logins.sql")),
    (3, include_str!("migrations/0003_user_groups.sql")),
    (4, include_str!("migrations/0004_memberships_by_member.sql")),
    (5, include_str!("migrations/0005_connections_as_policy.sql")),
    (30, include_str!("migrations/0030_deployment_secrets.sql")),
    (31, include_str!("migrations/0031_resource_counts.sql")),
    (32, include_str!("migrations/0032_owners.sql")),
    (40, include_str!("migrations/0040_events_by_tenant.sql")),
    (41, include_str!("migrations/0041_seals.sql")),
    (42, include_str!("migrations/0042_user_keys.sql")),
    (43, include_str!("migrations/0043_login_history.sql")),
    (44, include_str!("migrations/0044_sub_tenants.sql")),
    (50, include_str!("migrations/0050_devices.sql")),
    (51, include_str!("migrations/0051_master_key_ids.sql")),
    (53, include_str!("migrations/0053_memberships_by_added.sql")),
    (54, include_str!("migrations/0054_follower_failures.sql")),
    (55, include_str!("migrations/0055_counts_per_owner.sql")),
    (56, include_str!("migrations/0056_member_history.sql")),
    (58, include_str!("migrations/0058_resource_blocks.sql")),
];

/// Applies the migrations the database lacks. Concurrent starters serialise on an advisory
/// lock, so two servers starting together do not race. A migration may rewrite large tables:
/// the statement timeout of requests does not apply to it.
pub async fn run(client: &mut Client) -> StoreResult<()> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.batch_execute(
        "SET LOCAL statement_timeout = 0;
         SELECT pg_advisory_xact_lock(7261839412);
         CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());",
    )
    .await
    .map_err(backend)?;
    let applied: Vec<i32> =
        tx.query("SELECT version FROM schema_migrations", &[]).await.map_err(backend)?.iter().map(|r| r.get(0)).collect();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !applied.contains(v)) {
        tx.batch_execute(sql).await.map_err(backend)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).await.map_err(backend)?;
        tracing::info!(version, "applied migration");
    }
    tx.commit().await.map_err(backend)
}
