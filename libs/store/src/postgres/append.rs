//! Appending a commit: reservations, events and the read-model change in one transaction.
//!
//! The statements are pipelined: BEGIN and every statement are sent at once and PostgreSQL
//! runs them in order; COMMIT follows once all have answered. A commit costs two round trips
//! whatever it holds. A failing statement aborts the transaction; the ones after it fail too,
//! the first error, which arrives first, is the one reported, and ROLLBACK ends it.
//!
//! The transaction is opened by hand (tokio-postgres's `Transaction` would cost BEGIN a round
//! trip of its own), so the connection must never go back to the pool with it still open: the
//! append runs on a task of its own, which a client hanging up cannot cancel, and a connection
//! whose transaction did not end (a panic) is closed instead of returned.

use deadpool_postgres::{Client, Object};
use futures::future::{try_join_all, BoxFuture};
use futures::FutureExt;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{backend, violated_constraint};
use crate::api::*;
use crate::projection::member_kind_name;

type Step<'a> = BoxFuture<'a, StoreResult<Option<i64>>>;

/// Appends `commit` on `client`, to the end even if the caller stops waiting.
pub async fn append(client: Object, commit: Commit) -> StoreResult<Appended> {
    tokio::spawn(async move {
        let connection = OpenTransaction(Some(client));
        let result = in_transaction(connection.client(), &commit).await;
        connection.ended();
        result
    })
    .await
    .map_err(|e| StoreError::Backend(format!("the append task failed: {e}")))?
}

async fn in_transaction(client: &Client, commit: &Commit) -> StoreResult<Appended> {
    let statements = Statements::prepare(client).await?;
    let directory = match commit.read_model {
        ReadModelChange::Tenant | ReadModelChange::Connection(_) | ReadModelChange::Operator { .. } => {
            Some(DirectoryStatements::prepare(client).await?)
        }
        _ => None,
    };
    let rows = Rows::of(commit);
    let begin: Step<'_> = async { client.batch_execute("BEGIN").await.map(|_| None).map_err(backend) }.boxed();
    let mut steps = steps(client, &statements, commit, &rows);
    if let Some(d) = &directory {
        steps.extend(directory_steps(client, d, commit, &rows));
    }
    let batch = std::iter::once(begin).chain(steps);
    match try_join_all(batch).await {
        Ok(results) => {
            client.batch_execute("COMMIT").await.map_err(backend)?;
            let first_position =
                results.into_iter().flatten().next().ok_or_else(|| StoreError::Backend("a commit without events".into()))?;
            Ok(commit.appended_at(first_position))
        }
        Err(error) => {
            // Queued behind every statement already sent; a connection too broken to run it
            // is dropped by the pool, and PostgreSQL rolls back a closed session's transaction.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(error)
        }
    }
}

/// A pooled connection inside the transaction `append` opened. Unless [`ended`](Self::ended)
/// is called, dropping it closes the connection instead of returning it to the pool.
struct OpenTransaction(Option<Object>);

impl OpenTransaction {
    fn client(&self) -> &Client {
        self.0.as_ref().expect("the connection is held until the transaction ends")
    }

    /// COMMIT or ROLLBACK was sent and answered: the connection may serve others again.
    fn ended(mut self) {
        drop(self.0.take());
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Object::take(client));
        }
    }
}

/// The prepared statements an append may use (cached per connection after the first use).
struct Statements {
    release: tokio_postgres::Statement,
    claim: tokio_postgres::Statement,
    event: tokio_postgres::Statement,
    upsert_user: tokio_postgres::Statement,
    clear_user_values: tokio_postgres::Statement,
    insert_user_values: tokio_postgres::Statement,
    upsert_group: tokio_postgres::Statement,
    remove_members: tokio_postgres::Statement,
    add_members: tokio_postgres::Statement,
    rename_in_users: tokio_postgres::Statement,
    leave_in_users: tokio_postgres::Statement,
    join_in_users: tokio_postgres::Statement,
    leave_deleted_in_users: tokio_postgres::Statement,
    delete_user: [tokio_postgres::Statement; 3],
    delete_group: [tokio_postgres::Statement; 2],
}

/// A user row's `groups` array (user_groups.rs) without group `$2`, in order. A macro so that
/// the statements using it stay literals: they are looked up in the statement cache on every
/// append, without building their text first.
macro_rules! without_group {
    () => {
        "coalesce((SELECT jsonb_agg(e ORDER BY o) FROM jsonb_array_elements(u.groups) WITH ORDINALITY AS x(e, o) WHERE e->>0 <> $2::uuid::text), '[]')"
    };
}

impl Statements {
    /// Every statement is prepared before the batch is built, so each goes out at its turn.
    async fn prepare(tx: &Client) -> StoreResult<Self> {
        let p = |sql: &'static str| async move { tx.prepare_cached(sql).await.map_err(backend) };
        Ok(Self {
            release: p("DELETE FROM reservations WHERE tenant = $1 AND kind = $2 AND key = $3 AND owner = $4").await?,
            claim: p("INSERT INTO reservations (tenant, kind, key, owner) VALUES ($1, $2, $3, $4)").await?,
            event: p("INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING position")
            .await?,
            // `seq` is the position of the stream's first event: lastval() is the position
            // this transaction took last, and the events go before the rows in the batch.
            upsert_user: p("INSERT INTO users (tenant, id, seq, user_name, user_name_key, external_id, active, document, version, created_at, last_modified)
                            VALUES ($1, $2, lastval(), $3, $4, $5, $6, $7, $8, $9, $9)
                            ON CONFLICT (tenant, id) DO UPDATE SET user_name = EXCLUDED.user_name, user_name_key = EXCLUDED.user_name_key,
                              external_id = EXCLUDED.external_id, active = EXCLUDED.active, document = EXCLUDED.document,
                              version = EXCLUDED.version, last_modified = EXCLUDED.last_modified")
            .await?,
            clear_user_values: p("DELETE FROM user_values WHERE tenant = $1 AND user_id = $2").await?,
            insert_user_values: p("INSERT INTO user_values (tenant, user_id, attribute, value_type, value_key)
                                   SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])")
            .await?,
            upsert_group: p("INSERT INTO groups (tenant, id, seq, display_name, display_name_key, external_id, document, version, created_at, last_modified)
                             VALUES ($1, $2, lastval(), $3, $4, $5, $6, $7, $8, $8)
                             ON CONFLICT (tenant, id) DO UPDATE SET display_name = EXCLUDED.display_name, display_name_key = EXCLUDED.display_name_key,
                               external_id = EXCLUDED.external_id, document = EXCLUDED.document, version = EXCLUDED.version, last_modified = EXCLUDED.last_modified")
            .await?,
            remove_members: p("DELETE FROM memberships WHERE tenant = $1 AND group_id = $2 AND member_id = ANY($3)").await?,
            add_members: p("INSERT INTO memberships (tenant, group_id, member_id, member_kind)
                            SELECT $1, $2, * FROM unnest($3::uuid[], $4::text[]) ON CONFLICT DO NOTHING")
            .await?,
            // Runs before the group row is written, so it sees the old name: only a renamed
            // group rewrites its members' rows.
            rename_in_users: p("UPDATE users u SET groups = (SELECT jsonb_agg(CASE WHEN e->>0 = $2::uuid::text THEN jsonb_build_array($2::uuid::text, $3::text) ELSE e END ORDER BY o)
                                                      FROM jsonb_array_elements(u.groups) WITH ORDINALITY AS x(e, o))
                                WHERE u.tenant = $1 AND u.id IN (SELECT member_id FROM memberships WHERE tenant = $1 AND group_id = $2)
                                  AND EXISTS (SELECT 1 FROM groups WHERE tenant = $1 AND id = $2 AND display_name <> $3)")
            .await?,
            leave_in_users: p(concat!("UPDATE users u SET groups = ", without_group!(), " WHERE u.tenant = $1 AND u.id = ANY($3)")).await?,
            join_in_users: p("UPDATE users u SET groups = u.groups || jsonb_build_array(jsonb_build_array($2::uuid::text, $3::text))
                              WHERE u.tenant = $1 AND u.id = ANY($4)
                                AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(u.groups) e WHERE e->>0 = $2::uuid::text)")
            .await?,
            leave_deleted_in_users: p(concat!(
                "UPDATE users u SET groups = ",
                without_group!(),
                " WHERE u.tenant = $1 AND u.id IN (SELECT member_id FROM memberships WHERE tenant = $1 AND group_id = $2)"
            ))
            .await?,
            delete_user: [
                p("DELETE FROM users WHERE tenant = $1 AND id = $2").await?,
                p("DELETE FROM user_values WHERE tenant = $1 AND user_id = $2").await?,
                p("DELETE FROM memberships WHERE tenant = $1 AND member_id = $2").await?,
            ],
            delete_group: [
                p("DELETE FROM groups WHERE tenant = $1 AND id = $2").await?,
                p("DELETE FROM memberships WHERE tenant = $1 AND (group_id = $2 OR member_id = $2)").await?,
            ],
        })
    }
}

/// The statements of tenant, connection and operator commits, prepared only for those.
struct DirectoryStatements {
    insert_tenant: tokio_postgres::Statement,
    upsert_connection: tokio_postgres::Statement,
    expire_credential: tokio_postgres::Statement,
    insert_credential: tokio_postgres::Statement,
    insert_operator: tokio_postgres::Statement,
    /// Delivered at commit to every server's authentication cache (ADR 0021).
    notify: tokio_postgres::Statement,
}

impl DirectoryStatements {
    async fn prepare(tx: &Client) -> StoreResult<Self> {
        let p = |sql: &'static str| async move { tx.prepare_cached(sql).await.map_err(backend) };
        Ok(Self {
            insert_tenant: p("INSERT INTO tenants (slug, created_at) VALUES ($1, $2)").await?,
            upsert_connection: p("INSERT INTO connections (id, tenant, name, auth, login, settings, created_at, disabled_at)
                                  VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8::boolean THEN $7::timestamptz END)
                                  ON CONFLICT (id) DO UPDATE SET settings = EXCLUDED.settings,
                                    disabled_at = coalesce(connections.disabled_at, EXCLUDED.disabled_at)")
            .await?,
            expire_credential: p("UPDATE credentials SET expires_at = $2 WHERE id = $1").await?,
            insert_credential: p("INSERT INTO credentials (id, tenant, owner_kind, owner_id, login, secret_sha256, created_at)
                                  VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .await?,
            insert_operator: p("INSERT INTO operators (id, name, created_at) VALUES ($1, $2, $3)").await?,
            notify: p(concat!("SELECT pg_notify('", secrets_channel!(), "', '')")).await?,
        })
    }
}

/// The statements of a tenant, connection or operator commit, after its events.
fn directory_steps<'a>(tx: &'a Client, d: &'a DirectoryStatements, commit: &'a Commit, r: &'a Rows<'a>) -> Vec<Step<'a>> {
    let execute = |statement: &'a tokio_postgres::Statement, params: Vec<&'a (dyn ToSql + Sync)>| -> Step<'a> {
        async move { tx.execute(statement, &params).await.map(|_| None).map_err(backend) }.boxed()
    };
    let mut steps = Vec::new();
    match &commit.read_model {
        ReadModelChange::Tenant => steps.push(execute(&d.insert_tenant, vec![&r.tenant, &commit.recorded_at])),
        ReadModelChange::Connection(row) => {
            steps.push(execute(
                &d.upsert_connection,
                vec![&r.id, &r.tenant, &row.name, &r.auth, &row.login, &row.settings, &commit.recorded_at, &row.disabled],
            ));
            for (id, at) in &row.expiries {
                steps.push(execute(&d.expire_credential, vec![id, at]));
            }
        }
        ReadModelChange::Operator { name } => steps.push(execute(&d.insert_operator, vec![&r.id, name, &commit.recorded_at])),
        _ => {}
    }
    for (secret, hash) in commit.secrets.iter().zip(&r.secret_hashes) {
        steps.push(execute(
            &d.insert_credential,
            vec![&secret.id, &r.tenant, &r.owner_kind, &r.id, &secret.login, hash, &commit.recorded_at],
        ));
    }
    steps.push(execute(&d.notify, vec![]));
    steps
}

/// Values the statements borrow, computed before the batch is built.
struct Rows<'c> {
    tenant: &'c str,
    id: Uuid,
    metadata: serde_json::Value,
    event_ids: Vec<Uuid>,
    versions: Vec<i64>,
    version: i64,
    value_attributes: Vec<&'c str>,
    value_types: Vec<Option<&'c str>>,
    value_keys: Vec<&'c str>,
    removed: Vec<Uuid>,
    added: Vec<Uuid>,
    added_kinds: Vec<Option<&'static str>>,
    auth: &'static str,
    owner_kind: &'static str,
    secret_hashes: Vec<&'c [u8]>,
}

impl<'c> Rows<'c> {
    fn of(commit: &'c Commit) -> Self {
        let (mut value_attributes, mut value_types, mut value_keys) = (Vec::new(), Vec::new(), Vec::new());
        if let ReadModelChange::UpsertUser(row) = &commit.read_model {
            for v in &row.values {
                value_attributes.push(v.attribute);
                value_types.push(v.value_type.as_deref());
                value_keys.push(v.key.as_str());
            }
        }
        let (removed, added, added_kinds) = match &commit.read_model {
            ReadModelChange::Group { added, removed, .. } => (
                removed.iter().map(|id| id.as_uuid()).collect(),
                added.iter().map(|(id, _)| id.as_uuid()).collect(),
                added.iter().map(|(_, kind)| kind.map(member_kind_name)).collect(),
            ),
            _ => (Vec::new(), Vec::new(), Vec::new()),
        };
        Self {
            tenant: commit.tenant.as_str(),
            id: commit.stream.as_uuid(),
            metadata: commit.metadata.to_json(),
            event_ids: commit.events.iter().map(|_| Uuid::now_v7()).collect(),
            versions: (0..commit.events.len()).map(|i| commit.event_version(i)).collect(),
            version: commit.version_after(),
            value_attributes,
            value_types,
            value_keys,
            removed,
            added,
            added_kinds,
            auth: match &commit.read_model {
                ReadModelChange::Connection(row) => row.auth.as_str(),
                _ => "",
            },
            owner_kind: commit.kind.as_str(),
            secret_hashes: commit.secrets.iter().map(|s| &s.hash.0[..]).collect(),
        }
    }
}

/// Every statement of the commit, in the order PostgreSQL must run them.
fn steps<'a>(tx: &'a Client, s: &'a Statements, commit: &'a Commit, r: &'a Rows<'a>) -> Vec<Step<'a>> {
    let mut steps: Vec<Step<'a>> = Vec::new();
    let execute = |statement: &'a tokio_postgres::Statement, params: Vec<&'a (dyn ToSql + Sync)>| -> Step<'a> {
        async move { tx.execute(statement, &params).await.map(|_| None).map_err(backend) }.boxed()
    };
    // Releases first: a rename that only changes case releases and claims the same key.
    for reservation in &commit.reservations {
        if let Reservation::Release { kind, key } = reservation {
            steps.push(execute(&s.release, vec![&r.tenant, kind, key, &r.id]));
        }
    }
    for reservation in &commit.reservations {
        if let Reservation::Claim { kind, key } = reservation {
            let kind: &'static str = kind;
            steps.push(
                async move {
                    tx.execute(&s.claim, &[&r.tenant, &kind, key, &r.id]).await.map(|_| None).map_err(|e| match violated_constraint(&e) {
                        Some("reservations_unique") => StoreError::Uniqueness { kind, value: key.clone() },
                        _ => backend(e),
                    })
                }
                .boxed(),
            );
        }
    }
    for (i, event) in commit.events.iter().enumerate() {
        steps.push(
            async move {
                let params: [&(dyn ToSql + Sync); 10] = [
                    &r.event_ids[i],
                    &r.tenant,
                    &commit.kind.as_str(),
                    &r.id,
                    &r.versions[i],
                    &event.event_type,
                    &event.type_version,
                    &event.data,
                    &r.metadata,
                    &commit.recorded_at,
                ];
                let row = tx.query_one(&s.event, &params).await.map_err(|e| match violated_constraint(&e) {
                    Some("events_stream_version_unique") => StoreError::Conflict,
                    _ => backend(e),
                })?;
                Ok(Some(row.get::<_, i64>(0)))
            }
            .boxed(),
        );
    }
    match &commit.read_model {
        ReadModelChange::UpsertUser(row) => {
            steps.push(execute(
                &s.upsert_user,
                vec![
                    &r.tenant,
                    &r.id,
                    &row.user_name,
                    &row.user_name_key,
                    &row.external_id,
                    &row.active,
                    &row.document,
                    &r.version,
                    &commit.recorded_at,
                ],
            ));
            if commit.expected_version > 0 {
                steps.push(execute(&s.clear_user_values, vec![&r.tenant, &r.id]));
            }
            if !row.values.is_empty() {
                steps.push(execute(&s.insert_user_values, vec![&r.tenant, &r.id, &r.value_attributes, &r.value_types, &r.value_keys]));
            }
        }
        ReadModelChange::DeleteUser => {
            for statement in &s.delete_user {
                steps.push(execute(statement, vec![&r.tenant, &r.id]));
            }
        }
        ReadModelChange::Group { row: Some(row), .. } => {
            steps.push(execute(&s.rename_in_users, vec![&r.tenant, &r.id, &row.display_name]));
            steps.push(execute(
                &s.upsert_group,
                vec![
                    &r.tenant,
                    &r.id,
                    &row.display_name,
                    &row.display_name_key,
                    &row.external_id,
                    &row.document,
                    &r.version,
                    &commit.recorded_at,
                ],
            ));
            if !r.removed.is_empty() {
                steps.push(execute(&s.remove_members, vec![&r.tenant, &r.id, &r.removed]));
                steps.push(execute(&s.leave_in_users, vec![&r.tenant, &r.id, &r.removed]));
            }
            if !r.added.is_empty() {
                steps.push(execute(&s.join_in_users, vec![&r.tenant, &r.id, &row.display_name, &r.added]));
                steps.push(execute(&s.add_members, vec![&r.tenant, &r.id, &r.added, &r.added_kinds]));
            }
        }
        ReadModelChange::Group { row: None, .. } => {
            steps.push(execute(&s.leave_deleted_in_users, vec![&r.tenant, &r.id]));
            for statement in &s.delete_group {
                steps.push(execute(statement, vec![&r.tenant, &r.id]));
            }
        }
        ReadModelChange::Tenant | ReadModelChange::Connection(_) | ReadModelChange::Operator { .. } => {}
    }
    steps
}
