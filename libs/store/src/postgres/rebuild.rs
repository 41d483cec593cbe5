//! The rebuild's shadow on PostgreSQL: a schema of its own in the same database, which a
//! second store reaches through its `search_path` (the same migrations make its tables).

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{append, backend, PgStore};
use crate::api::{Commit, StoreResult};
use crate::open::Options;
use crate::rebuild::{sql, Difference, Replayer, Shadow, Tables, READ_MODELS};

const SCHEMA: &str = "scimledger_rebuild";

/// Room for `EXCEPT` to hash a read model's rows rather than sort them on disk.
macro_rules! compare_in_memory {
    () => {
        "SET LOCAL work_mem = '256MB'"
    };
}

/// The name and definition of each index of the shadow's tables `$1` that no constraint (a
/// primary key, a unique key) stands on.
const SECONDARY_INDEXES: &str = "SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid)
    FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)";

#[async_trait]
impl Shadow for PgStore {
    async fn open_shadow(&self) -> StoreResult<Arc<dyn Replayer>> {
        self.drop_shadow().await?;
        self.client().await?.batch_execute(&format!("CREATE SCHEMA {SCHEMA}")).await.map_err(backend)?;
        let mut config = self.config.clone();
        // The shadow is thrown away if the rebuild stops: its commits need not wait for the disk.
        let options = format!("{} -c search_path={SCHEMA} -c synchronous_commit=off", config.get_options().unwrap_or_default());
        config.options(&options);
        Ok(Arc::new(PgStore::from_config(config, self.tls.clone(), 2, &Options::default()).await?))
    }

    async fn shadow_differences(&self) -> StoreResult<Vec<Difference>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.batch_execute(concat!("SET LOCAL statement_timeout = 0; ", compare_in_memory!())).await.map_err(backend)?;
        let mut differences = Vec::new();
        for (table, query) in sql::differences(SCHEMA, "json_build_array") {
            for row in tx.query(&query, &[]).await.map_err(backend)? {
                differences.push(Difference { table, live_only: row.get(0), row: row.get::<_, serde_json::Value>(1).to_string() });
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(differences)
    }

    async fn swap_in_shadow(&self, events: i64) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Appends wait here (their event insert needs the table), reads go on: every append
        // before the lock has committed, so the count says whether the shadow has them all.
        tx.batch_execute(concat!("SET LOCAL statement_timeout = 0; ", compare_in_memory!(), "; LOCK TABLE events IN EXCLUSIVE MODE"))
            .await
            .map_err(backend)?;
        let logged: i64 = tx.query_one("SELECT count(*) FROM events", &[]).await.map_err(backend)?.get(0);
        if logged != events {
            return Ok(false);
        }
        for statement in sql::copy(SCHEMA) {
            tx.batch_execute(&statement).await.map_err(backend)?;
        }
        // Connections and operators were rewritten: the servers' credential caches reload.
        tx.batch_execute(concat!("SELECT pg_notify('", secrets_channel!(), "', '')")).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn drop_shadow(&self) -> StoreResult<()> {
        self.client().await?.batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")).await.map_err(backend)
    }
}

/// The shadow's store replays on one of its connections.
#[async_trait]
impl Replayer for PgStore {
    async fn replay(&self, commits: Vec<(Commit, i64)>) -> StoreResult<()> {
        append::replay_all(self.client().await?, commits).await
    }

    async fn load(&self, tables: Tables) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL maintenance_work_mem = '256MB'").await.map_err(backend)?;
        // An index built once over the loaded rows costs less than one kept up to date row by
        // row (docs/adr/0053): the shadow's indexes but those of its keys are made after the load.
        let tables_loaded: Vec<&str> = READ_MODELS.iter().map(|(table, _, _)| *table).collect();
        let indexes = tx.query(SECONDARY_INDEXES, &[&tables_loaded]).await.map_err(backend)?;
        for index in &indexes {
            tx.batch_execute(&format!("DROP INDEX {}", index.get::<_, &str>(0))).await.map_err(backend)?;
        }
        load(&tx, &tables).await?;
        for index in &indexes {
            tx.batch_execute(index.get::<_, &str>(1)).await.map_err(backend)?;
        }
        // The replays after the load number members after the loaded ones, and their
        // statements are planned on the loaded tables' statistics.
        tx.batch_execute(
            "SELECT setval(pg_get_serial_sequence('memberships', 'added'), coalesce(max(added), 0) + 1, false) FROM memberships;
             ANALYZE tenants, operators, connections, users, user_values, groups, memberships, resource_counts, resource_blocks, devices",
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}

/// One COPY into the shadow's `table`, in binary.
struct Copy<'t>(Pin<Box<BinaryCopyInWriter>>, std::marker::PhantomData<&'t ()>);

impl<'t> Copy<'t> {
    async fn into(tx: &'t tokio_postgres::Transaction<'_>, table: &str, columns: &[(&str, Type)]) -> StoreResult<Self> {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
        let sink = tx.copy_in(&format!("COPY {table} ({}) FROM STDIN (FORMAT binary)", names.join(", "))).await.map_err(backend)?;
        Ok(Copy(Box::pin(BinaryCopyInWriter::new(sink, &types)), std::marker::PhantomData))
    }

    async fn row(&mut self, values: &[&(dyn ToSql + Sync)]) -> StoreResult<()> {
        self.0.as_mut().write(values).await.map_err(backend)
    }

    async fn finish(mut self) -> StoreResult<()> {
        self.0.as_mut().finish().await.map(drop).map_err(backend)
    }
}

/// Copies every row of `tables` into the shadow, with the values as the append's SQL binds them
/// (postgres/append.rs).
async fn load(tx: &tokio_postgres::Transaction<'_>, tables: &Tables) -> StoreResult<()> {
    use Type as T;
    let mut copy = Copy::into(tx, "tenants", &[("slug", T::TEXT), ("created_at", T::TIMESTAMPTZ), ("parent", T::TEXT)]).await?;
    for (slug, t) in &tables.tenants {
        copy.row(&[&slug.as_str(), &t.created_at, &t.parent]).await?;
    }
    copy.finish().await?;
    let mut copy = Copy::into(tx, "operators", &[("id", T::UUID), ("name", T::TEXT), ("created_at", T::TIMESTAMPTZ)]).await?;
    for (id, (name, at)) in &tables.operators {
        copy.row(&[&id.as_uuid(), name, at]).await?;
    }
    copy.finish().await?;
    let columns = [
        ("id", T::UUID),
        ("tenant", T::TEXT),
        ("name", T::TEXT),
        ("auth", T::TEXT),
        ("login", T::TEXT),
        ("settings", T::JSONB),
        ("created_at", T::TIMESTAMPTZ),
        ("disabled_at", T::TIMESTAMPTZ),
        ("purge_requested_at", T::TIMESTAMPTZ),
    ];
    let mut copy = Copy::into(tx, "connections", &columns).await?;
    for (id, c) in &tables.connections {
        let row = &c.row;
        copy.row(&[
            &id.as_uuid(),
            &c.tenant.as_str(),
            &row.name,
            &row.auth.as_str(),
            &row.login,
            &row.settings,
            &c.created_at,
            &c.disabled_at,
            &c.purge_requested_at,
        ])
        .await?;
    }
    copy.finish().await?;
    let columns = [
        ("tenant", T::TEXT),
        ("id", T::UUID),
        ("seq", T::INT8),
        ("user_name", T::TEXT),
        ("user_name_key", T::TEXT),
        ("external_id", T::TEXT),
        ("active", T::BOOL),
        ("document", T::JSONB),
        ("version", T::INT8),
        ("created_at", T::TIMESTAMPTZ),
        ("last_modified", T::TIMESTAMPTZ),
        ("groups", T::JSONB),
        ("owner", T::TEXT),
    ];
    let mut copy = Copy::into(tx, "users", &columns).await?;
    for ((tenant, id), u) in &tables.users {
        let (row, groups, owner) = (&u.row, Tables::groups_json(&u.groups), u.row.owner.to_string());
        copy.row(&[
            &tenant.as_str(),
            &id.as_uuid(),
            &u.seq,
            &row.user_name,
            &row.user_name_key,
            &row.external_id,
            &row.active,
            &row.document,
            &u.version,
            &u.created_at,
            &u.last_modified,
            &groups,
            &owner,
        ])
        .await?;
    }
    copy.finish().await?;
    let columns = [("tenant", T::TEXT), ("user_id", T::UUID), ("attribute", T::TEXT), ("value_type", T::TEXT), ("value_key", T::TEXT)];
    let mut copy = Copy::into(tx, "user_values", &columns).await?;
    for ((tenant, id), values) in &tables.user_values {
        for v in values {
            copy.row(&[&tenant.as_str(), &id.as_uuid(), &v.attribute, &v.value_type, &v.key]).await?;
        }
    }
    copy.finish().await?;
    let columns = [
        ("tenant", T::TEXT),
        ("id", T::UUID),
        ("seq", T::INT8),
        ("display_name", T::TEXT),
        ("display_name_key", T::TEXT),
        ("external_id", T::TEXT),
        ("document", T::JSONB),
        ("version", T::INT8),
        ("created_at", T::TIMESTAMPTZ),
        ("last_modified", T::TIMESTAMPTZ),
        ("owner", T::TEXT),
    ];
    let mut copy = Copy::into(tx, "groups", &columns).await?;
    for ((tenant, id), g) in &tables.groups {
        let (row, owner) = (&g.row, g.row.owner.to_string());
        copy.row(&[
            &tenant.as_str(),
            &id.as_uuid(),
            &g.seq,
            &row.display_name,
            &row.display_name_key,
            &row.external_id,
            &row.document,
            &g.version,
            &g.created_at,
            &g.last_modified,
            &owner,
        ])
        .await?;
    }
    copy.finish().await?;
    let columns = [("tenant", T::TEXT), ("group_id", T::UUID), ("member_id", T::UUID), ("member_kind", T::TEXT), ("added", T::INT8)];
    let mut copy = Copy::into(tx, "memberships", &columns).await?;
    for ((tenant, group), member, kind, added) in tables.membership_rows() {
        copy.row(&[&tenant.as_str(), &group.as_uuid(), &member, &kind, &added]).await?;
    }
    copy.finish().await?;
    let columns = [("tenant", T::TEXT), ("kind", T::TEXT), ("owner", T::TEXT), ("stripe", T::INT2), ("total", T::INT8)];
    let mut copy = Copy::into(tx, "resource_counts", &columns).await?;
    for ((tenant, kind, owner, stripe), total) in &tables.resource_counts {
        copy.row(&[&tenant.as_str(), kind, &owner.to_string(), stripe, total]).await?;
    }
    copy.finish().await?;
    let columns = [("tenant", T::TEXT), ("kind", T::TEXT), ("owner", T::TEXT), ("block", T::INT8), ("stripe", T::INT2), ("total", T::INT8)];
    let mut copy = Copy::into(tx, "resource_blocks", &columns).await?;
    for ((tenant, kind, owner, block, stripe), total) in &tables.resource_blocks {
        copy.row(&[&tenant.as_str(), kind, &owner.to_string(), block, stripe, total]).await?;
    }
    copy.finish().await?;
    let columns = [
        ("tenant", T::TEXT),
        ("id", T::UUID),
        ("serial", T::TEXT),
        ("name", T::TEXT),
        ("kind", T::TEXT),
        ("policy", T::TEXT),
        ("assigned", T::UUID),
        ("updated_at", T::TIMESTAMPTZ),
    ];
    let mut copy = Copy::into(tx, "devices", &columns).await?;
    for ((tenant, id), (d, at)) in &tables.devices {
        let assigned = d.assigned.map(|u| u.as_uuid());
        copy.row(&[&tenant.as_str(), &id.as_uuid(), &d.serial, &d.name, &d.kind, &d.policy, &assigned, at]).await?;
    }
    copy.finish().await
}
