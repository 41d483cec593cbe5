//! Appending a commit: the steps of its write plan (`write_plan`), each as its PostgreSQL
//! statement, in one transaction.
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

use std::sync::LazyLock;

use deadpool_postgres::{Client, Object};
use domain::group::MemberKind;
use domain::ResourceId;
use futures::future::{try_join_all, BoxFuture};
use futures::FutureExt;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::dialect::Postgres;
use super::{backend, violated_constraint};
use crate::api::*;
use crate::projection::member_kind_name;
use crate::query::Target;
use crate::write_plan::{self, TenantRows, WriteStep};

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
    .map_err(|e| StoreError::Internal(format!("the append task failed: {e}")))?
}

/// Writes the read-model changes of commits a rebuild replays (each with the log position of
/// its first event), in order, in one transaction on `client`: all of them or, on an error, none.
pub async fn replay_all(client: Object, commits: Vec<(Commit, i64)>) -> StoreResult<()> {
    tokio::spawn(async move {
        let connection = OpenTransaction(Some(client));
        let result = replayed_in_transaction(connection.client(), &commits).await;
        connection.ended();
        result
    })
    .await
    .map_err(|e| StoreError::Internal(format!("the replay task failed: {e}")))?
}

async fn in_transaction(client: &Client, commit: &Commit) -> StoreResult<Appended> {
    let statements = Statements::prepare(client, commit).await?;
    let context = Context::of(commit);
    let results = pipelined(client, statements_of(client, &statements, &context, write_plan::plan(commit))).await?;
    let first_position = results.into_iter().flatten().next().ok_or_else(|| StoreError::Internal("a commit without events".into()))?;
    Ok(commit.appended_at(first_position))
}

async fn replayed_in_transaction(client: &Client, commits: &[(Commit, i64)]) -> StoreResult<()> {
    let mut prepared = Vec::with_capacity(commits.len());
    for (commit, _) in commits {
        prepared.push((Statements::prepare(client, commit).await?, Context::of(commit)));
    }
    let steps = commits.iter().zip(&prepared).flat_map(|((commit, position), (statements, context))| {
        statements_of(client, statements, context, write_plan::replay(commit, *position))
    });
    pipelined(client, steps).await.map(drop)
}

/// Runs `steps` in one transaction, sending BEGIN and every statement at once, then COMMIT once
/// all have answered; each step's answer.
async fn pipelined<'a>(client: &'a Client, steps: impl Iterator<Item = Step<'a>>) -> StoreResult<Vec<Option<i64>>> {
    let begin: Step<'_> = async { client.batch_execute("BEGIN").await.map(|_| None).map_err(backend) }.boxed();
    match try_join_all(std::iter::once(begin).chain(steps)).await {
        Ok(results) => {
            client.batch_execute("COMMIT").await.map_err(backend)?;
            Ok(results)
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
    wait_for_holder: tokio_postgres::Statement,
    release: tokio_postgres::Statement,
    claim: tokio_postgres::Statement,
    event: tokio_postgres::Statement,
    /// Takes a replayed commit's position from the log's sequence (`setval` alone does not define
    /// `lastval()`, which its rows' `seq` reads).
    replayed: tokio_postgres::Statement,
    upsert_user: tokio_postgres::Statement,
    clear_user_values: tokio_postgres::Statement,
    insert_user_values: tokio_postgres::Statement,
    upsert_group: tokio_postgres::Statement,
    remove_members: tokio_postgres::Statement,
    add_members: tokio_postgres::Statement,
    record_members_joined: tokio_postgres::Statement,
    rename_in_users: tokio_postgres::Statement,
    leave_in_users: tokio_postgres::Statement,
    join_in_users: tokio_postgres::Statement,
    leave_deleted_in_users: tokio_postgres::Statement,
    delete_user_row: tokio_postgres::Statement,
    delete_memberships_of_member: tokio_postgres::Statement,
    delete_group_row: tokio_postgres::Statement,
    delete_group_memberships: tokio_postgres::Statement,
    insert_tenant: tokio_postgres::Statement,
    upsert_connection: tokio_postgres::Statement,
    expire_credential: tokio_postgres::Statement,
    insert_operator: tokio_postgres::Statement,
    upsert_device: tokio_postgres::Statement,
    delete_device: tokio_postgres::Statement,
    insert_credential: tokio_postgres::Statement,
    /// Delivered at commit to every server's authentication cache (ADR 0021).
    notify_credentials: tokio_postgres::Statement,
    count_resource: tokio_postgres::Statement,
    count_user_in_block: tokio_postgres::Statement,
    count_group_in_block: tokio_postgres::Statement,
    record_login: tokio_postgres::Statement,
    forget_logins: tokio_postgres::Statement,
    insert_user_key: tokio_postgres::Statement,
    delete_user_key: tokio_postgres::Statement,
    /// A deleted tenant's rows, one statement per entry of `TenantRows::ALL` (none unless the
    /// commit deletes a tenant).
    forget_tenant: Vec<tokio_postgres::Statement>,
}

/// The statements counting users and groups in the creation order's blocks, built once.
static COUNT_USER_IN_BLOCK: LazyLock<String> = LazyLock::new(|| write_plan::count_in_block_sql(&Postgres, Target::Users));
static COUNT_GROUP_IN_BLOCK: LazyLock<String> = LazyLock::new(|| write_plan::count_in_block_sql(&Postgres, Target::Groups));

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
    async fn prepare(tx: &Client, commit: &Commit) -> StoreResult<Self> {
        let p = |sql: &'static str| async move { tx.prepare_cached(sql).await.map_err(backend) };
        Ok(Self {
            wait_for_holder: p("SELECT pg_advisory_xact_lock($1)").await?,
            release: p("DELETE FROM reservations WHERE tenant = $1 AND kind = $2 AND key = $3 AND owner = $4").await?,
            claim: p("INSERT INTO reservations (tenant, kind, key, owner) VALUES ($1, $2, $3, $4)").await?,
            event: p("INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING position")
            .await?,
            replayed: p("SELECT nextval(pg_get_serial_sequence('events', 'position')) FROM (SELECT setval(pg_get_serial_sequence('events', 'position'), $1, false)) AS moved").await?,
            // `seq` is the position of the stream's first event: lastval() is the position
            // this transaction took last, and the events go before the rows in the batch.
            upsert_user: p("INSERT INTO users (tenant, id, seq, user_name, user_name_key, external_id, active, document, version, created_at, last_modified, owner)
                            VALUES ($1, $2, lastval(), $3, $4, $5, $6, $7, $8, $9, $9, $10)
                            ON CONFLICT (tenant, id) DO UPDATE SET user_name = EXCLUDED.user_name, user_name_key = EXCLUDED.user_name_key,
                              external_id = EXCLUDED.external_id, active = EXCLUDED.active, document = EXCLUDED.document,
                              version = EXCLUDED.version, last_modified = EXCLUDED.last_modified, owner = EXCLUDED.owner")
            .await?,
            clear_user_values: p("DELETE FROM user_values WHERE tenant = $1 AND user_id = $2").await?,
            insert_user_values: p("INSERT INTO user_values (tenant, user_id, attribute, value_type, value_key)
                                   SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])")
            .await?,
            upsert_group: p("INSERT INTO groups (tenant, id, seq, display_name, display_name_key, external_id, document, version, created_at, last_modified, owner)
                             VALUES ($1, $2, lastval(), $3, $4, $5, $6, $7, $8, $8, $9)
                             ON CONFLICT (tenant, id) DO UPDATE SET display_name = EXCLUDED.display_name, display_name_key = EXCLUDED.display_name_key,
                               external_id = EXCLUDED.external_id, document = EXCLUDED.document, version = EXCLUDED.version,
                               last_modified = EXCLUDED.last_modified, owner = EXCLUDED.owner")
            .await?,
            remove_members: p("DELETE FROM memberships WHERE tenant = $1 AND group_id = $2 AND member_id = ANY($3)").await?,
            add_members: p("INSERT INTO memberships (tenant, group_id, member_id, member_kind)
                            SELECT $1, $2, * FROM unnest($3::uuid[], $4::text[]) ON CONFLICT DO NOTHING")
            .await?,
            record_members_joined: p("INSERT INTO member_history (tenant, group_id, member_id)
                                      SELECT $1, $2, * FROM unnest($3::uuid[]) ON CONFLICT DO NOTHING")
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
            delete_user_row: p("DELETE FROM users WHERE tenant = $1 AND id = $2").await?,
            delete_memberships_of_member: p("DELETE FROM memberships WHERE tenant = $1 AND member_id = $2").await?,
            delete_group_row: p("DELETE FROM groups WHERE tenant = $1 AND id = $2").await?,
            delete_group_memberships: p("DELETE FROM memberships WHERE tenant = $1 AND (group_id = $2 OR member_id = $2)").await?,
            insert_tenant: p("INSERT INTO tenants (slug, created_at, parent) VALUES ($1, $2, $3)").await?,
            upsert_connection: p("INSERT INTO connections (id, tenant, name, auth, login, settings, created_at, disabled_at, purge_requested_at)
                                  VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8::boolean THEN $7::timestamptz END,
                                    CASE WHEN $9::boolean THEN $7::timestamptz END)
                                  ON CONFLICT (id) DO UPDATE SET settings = EXCLUDED.settings,
                                    disabled_at = coalesce(connections.disabled_at, EXCLUDED.disabled_at),
                                    purge_requested_at = coalesce(connections.purge_requested_at, EXCLUDED.purge_requested_at)")
            .await?,
            expire_credential: p("UPDATE credentials SET expires_at = $2 WHERE id = $1").await?,
            insert_operator: p("INSERT INTO operators (id, name, created_at) VALUES ($1, $2, $3)").await?,
            upsert_device: p("INSERT INTO devices (tenant, id, serial, name, kind, policy, assigned, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                              ON CONFLICT (tenant, id) DO UPDATE SET serial = EXCLUDED.serial, name = EXCLUDED.name, kind = EXCLUDED.kind,
                                policy = EXCLUDED.policy, assigned = EXCLUDED.assigned, updated_at = EXCLUDED.updated_at")
            .await?,
            delete_device: p("DELETE FROM devices WHERE tenant = $1 AND id = $2").await?,
            insert_credential: p("INSERT INTO credentials (id, tenant, owner_kind, owner_id, login, secret_sha256, created_at)
                                  VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .await?,
            notify_credentials: p(concat!("SELECT pg_notify('", secrets_channel!(), "', '')")).await?,
            count_resource: p("INSERT INTO resource_counts (tenant, kind, owner, stripe, total) VALUES ($1, $2, $3, $4, $5)
                               ON CONFLICT (tenant, kind, owner, stripe) DO UPDATE SET total = resource_counts.total + EXCLUDED.total")
            .await?,
            count_user_in_block: p(COUNT_USER_IN_BLOCK.as_str()).await?,
            count_group_in_block: p(COUNT_GROUP_IN_BLOCK.as_str()).await?,
            record_login: p("INSERT INTO login_history (tenant, key, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING").await?,
            forget_logins: p("DELETE FROM login_history WHERE tenant = $1 AND user_id = $2").await?,
            insert_user_key: p("INSERT INTO user_keys (tenant, user_id, wrapped, created_at, master_key) VALUES ($1, $2, $3, $4, $5)")
                .await?,
            delete_user_key: p("DELETE FROM user_keys WHERE tenant = $1 AND user_id = $2").await?,
            // Only a tenant's deletion uses these: no other append looks them up.
            forget_tenant: match commit.read_model {
                ReadModelChange::DeleteTenant => {
                    try_join_all(TenantRows::ALL.map(|rows| async move { tx.prepare_cached(&rows.delete_sql("$1")).await.map_err(backend) }))
                        .await?
                }
                _ => Vec::new(),
            },
        })
    }
}

/// What every statement of a commit binds, computed once before the batch is built.
struct Context<'c> {
    tenant: &'c str,
    id: Uuid,
    metadata: serde_json::Value,
    version: i64,
    recorded_at: &'c time::OffsetDateTime,
    kind: &'static str,
    hold_key: i64,
}

impl<'c> Context<'c> {
    fn of(commit: &'c Commit) -> Self {
        Context {
            tenant: commit.tenant.as_str(),
            id: commit.stream.as_uuid(),
            metadata: commit.metadata.to_json(),
            version: commit.version_after(),
            recorded_at: &commit.recorded_at,
            kind: commit.kind.as_str(),
            hold_key: super::stream_hold::key(commit.stream),
        }
    }
}

/// The statements of `steps` (a commit's plan), in their order.
fn statements_of<'a>(tx: &'a Client, s: &'a Statements, c: &'a Context<'a>, steps: Vec<WriteStep<'a>>) -> impl Iterator<Item = Step<'a>> {
    steps.into_iter().map(move |step| translate(tx, s, c, step))
}

/// One step as its statement. The request goes out when the future is first polled, before
/// its first wait, so the batch's statements are all sent at once.
fn translate<'a>(tx: &'a Client, s: &'a Statements, c: &'a Context<'a>, step: WriteStep<'a>) -> Step<'a> {
    async move {
        let ids = |members: &[ResourceId]| members.iter().map(ResourceId::as_uuid).collect::<Vec<_>>();
        let member_ids = |members: &[(ResourceId, Option<MemberKind>)]| members.iter().map(|(id, _)| id.as_uuid()).collect::<Vec<_>>();
        match step {
            WriteStep::WaitForStreamHolder => execute(tx, &s.wait_for_holder, &[&c.hold_key]).await,
            WriteStep::ReleaseReservation { kind, key } => execute(tx, &s.release, &[&c.tenant, &kind, &key, &c.id]).await,
            WriteStep::ClaimReservation { kind, key } => {
                tx.execute(&s.claim, &[&c.tenant, &kind, &key, &c.id]).await.map(|_| None).map_err(|e| match violated_constraint(&e) {
                    Some("reservations_unique") => StoreError::Uniqueness { kind, value: key.to_owned() },
                    _ => backend(e),
                })
            }
            WriteStep::InsertUserKey(key) => {
                let master_key = key.master_key.as_ref().map(|id| id.as_str());
                tx.execute(&s.insert_user_key, &[&c.tenant, &c.id, &key.wrapped, c.recorded_at, &master_key]).await.map(|_| None).map_err(
                    |e| match violated_constraint(&e) {
                        Some("user_keys_pkey") => StoreError::Conflict,
                        _ => backend(e),
                    },
                )
            }
            WriteStep::RecordLogin { key } => execute(tx, &s.record_login, &[&c.tenant, &key, &c.id]).await,
            WriteStep::ForgetLogins => execute(tx, &s.forget_logins, &[&c.tenant, &c.id]).await,
            WriteStep::DeleteUserKey => execute(tx, &s.delete_user_key, &[&c.tenant, &c.id]).await,
            WriteStep::AppendEvent { version, event } => {
                let params: [&(dyn ToSql + Sync); 10] = [
                    &Uuid::now_v7(),
                    &c.tenant,
                    &c.kind,
                    &c.id,
                    &version,
                    &event.event_type,
                    &event.type_version,
                    &event.data,
                    &c.metadata,
                    c.recorded_at,
                ];
                let row = tx.query_one(&s.event, &params).await.map_err(|e| match violated_constraint(&e) {
                    Some("events_stream_version_unique") => StoreError::Conflict,
                    _ => backend(e),
                })?;
                Ok(Some(row.get::<_, i64>(0)))
            }
            WriteStep::Replayed { position } => {
                tx.query_one(&s.replayed, &[&position]).await.map_err(backend)?;
                Ok(Some(position))
            }
            WriteStep::UpsertUserRow(row) => {
                let owner = row.owner.to_string();
                let params: [&(dyn ToSql + Sync); 10] = [
                    &c.tenant,
                    &c.id,
                    &row.user_name,
                    &row.user_name_key,
                    &row.external_id,
                    &row.active,
                    &row.document,
                    &c.version,
                    c.recorded_at,
                    &owner,
                ];
                execute(tx, &s.upsert_user, &params).await
            }
            WriteStep::ClearUserValues | WriteStep::DeleteUserValues => execute(tx, &s.clear_user_values, &[&c.tenant, &c.id]).await,
            WriteStep::InsertUserValues(values) => {
                let attributes: Vec<&str> = values.iter().map(|v| v.attribute).collect();
                let types: Vec<Option<&str>> = values.iter().map(|v| v.value_type.as_deref()).collect();
                let keys: Vec<&str> = values.iter().map(|v| v.key.as_str()).collect();
                execute(tx, &s.insert_user_values, &[&c.tenant, &c.id, &attributes, &types, &keys]).await
            }
            WriteStep::DeleteUserRow => execute(tx, &s.delete_user_row, &[&c.tenant, &c.id]).await,
            WriteStep::DeleteMembershipsOfMember => execute(tx, &s.delete_memberships_of_member, &[&c.tenant, &c.id]).await,
            WriteStep::RenameGroupInUsers { display_name } => execute(tx, &s.rename_in_users, &[&c.tenant, &c.id, &display_name]).await,
            WriteStep::UpsertGroupRow(row) => {
                let owner = row.owner.to_string();
                let params: [&(dyn ToSql + Sync); 9] = [
                    &c.tenant,
                    &c.id,
                    &row.display_name,
                    &row.display_name_key,
                    &row.external_id,
                    &row.document,
                    &c.version,
                    c.recorded_at,
                    &owner,
                ];
                execute(tx, &s.upsert_group, &params).await
            }
            WriteStep::RemoveMembers(members) => execute(tx, &s.remove_members, &[&c.tenant, &c.id, &ids(members)]).await,
            WriteStep::LeaveGroupInUsers(members) => execute(tx, &s.leave_in_users, &[&c.tenant, &c.id, &ids(members)]).await,
            WriteStep::JoinGroupInUsers { display_name, members } => {
                execute(tx, &s.join_in_users, &[&c.tenant, &c.id, &display_name, &member_ids(members)]).await
            }
            WriteStep::AddMembers(members) => {
                let kinds: Vec<Option<&str>> = members.iter().map(|(_, kind)| kind.map(member_kind_name)).collect();
                execute(tx, &s.add_members, &[&c.tenant, &c.id, &member_ids(members), &kinds]).await
            }
            WriteStep::RecordMembersJoined(members) => {
                execute(tx, &s.record_members_joined, &[&c.tenant, &c.id, &member_ids(members)]).await
            }
            WriteStep::LeaveDeletedGroupInUsers => execute(tx, &s.leave_deleted_in_users, &[&c.tenant, &c.id]).await,
            WriteStep::DeleteGroupRow => execute(tx, &s.delete_group_row, &[&c.tenant, &c.id]).await,
            WriteStep::DeleteGroupMemberships => execute(tx, &s.delete_group_memberships, &[&c.tenant, &c.id]).await,
            WriteStep::InsertTenantRow { parent } => execute(tx, &s.insert_tenant, &[&c.tenant, c.recorded_at, &parent]).await,
            WriteStep::ForgetTenant(rows) => {
                let index = TenantRows::ALL.iter().position(|r| *r == rows).expect("every kind of rows is in ALL");
                execute(tx, &s.forget_tenant[index], &[&c.tenant]).await
            }
            WriteStep::UpsertConnectionRow(row) => {
                let params: [&(dyn ToSql + Sync); 9] =
                    [&c.id, &c.tenant, &row.name, &row.auth.as_str(), &row.login, &row.settings, c.recorded_at, &row.disabled, &row.purge];
                execute(tx, &s.upsert_connection, &params).await
            }
            WriteStep::ExpireCredential { credential, at } => execute(tx, &s.expire_credential, &[&credential, at]).await,
            WriteStep::InsertOperatorRow { name } => execute(tx, &s.insert_operator, &[&c.id, &name, c.recorded_at]).await,
            WriteStep::UpsertDeviceRow(row) => {
                let assigned = row.assigned.map(|u| u.as_uuid());
                let params: [&(dyn ToSql + Sync); 8] =
                    [&c.tenant, &c.id, &row.serial, &row.name, &row.kind, &row.policy, &assigned, c.recorded_at];
                execute(tx, &s.upsert_device, &params).await
            }
            WriteStep::DeleteDeviceRow => execute(tx, &s.delete_device, &[&c.tenant, &c.id]).await,
            WriteStep::InsertCredential(secret) => {
                let params: [&(dyn ToSql + Sync); 7] =
                    [&secret.id, &c.tenant, &c.kind, &c.id, &secret.login, &&secret.hash.0[..], c.recorded_at];
                execute(tx, &s.insert_credential, &params).await
            }
            WriteStep::SignalCredentialsChanged => execute(tx, &s.notify_credentials, &[]).await,
            WriteStep::CountResource { target, owner, stripe, delta } => {
                let (kind, owner) = (target.table(), owner.to_string());
                let in_block = match target {
                    Target::Users => &s.count_user_in_block,
                    Target::Groups => &s.count_group_in_block,
                };
                let counted: [&(dyn ToSql + Sync); 5] = [&c.tenant, &kind, &owner, &stripe, &delta];
                let blocked: [&(dyn ToSql + Sync); 5] = [&c.tenant, &owner, &stripe, &delta, &c.id];
                futures::future::try_join(execute(tx, &s.count_resource, &counted), execute(tx, in_block, &blocked)).await.map(|_| None)
            }
        }
    }
    .boxed()
}

async fn execute(tx: &Client, statement: &tokio_postgres::Statement, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Option<i64>> {
    tx.execute(statement, params).await.map(|_| None).map_err(backend)
}
