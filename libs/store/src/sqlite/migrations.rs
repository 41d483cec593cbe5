//! Schema migrations, numbered and applied in order, each once.

use rusqlite::{params, Connection, TransactionBehavior};

use super::{backend, time_text};
use crate::api::StoreResult;

/// (version, SQL). Append only: a released migration is never edited.
const MIGRATIONS: &[(i64, &str)] = &[
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
    (57, include_str!("migrations/0057_credential_changes.sql")),
    (58, include_str!("migrations/0058_resource_blocks.sql")),
];

/// Applies the migrations the file lacks. `BEGIN IMMEDIATE` takes the write lock first, so two
/// processes opening a new file together apply each migration once.
pub fn run(connection: &mut Connection) -> StoreResult<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        .map_err(backend)?;
    for (version, sql) in MIGRATIONS {
        let applied: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| r.get(0)).map_err(backend)?;
        if !applied {
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, time_text::format(crate::api::now())],
            )
            .map_err(backend)?;
            tracing::info!(version, "applied migration");
        }
    }
    tx.commit().map_err(backend)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    /// A file written before logins (ADR 0012): userName reservations become logins, and the
    /// aliases already stored are claimed; of two users sharing one, the older keeps it.
    #[test]
    fn migration_2_turns_user_names_and_aliases_into_logins() {
        let mut db = Connection::open_in_memory().unwrap();
        db.execute_batch(MIGRATIONS[0].1).unwrap();
        db.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 'then');
             INSERT INTO reservations VALUES ('acme', 'userName', 'bob', 'u1'), ('acme', 'group.displayName', 'eng', 'g1');
             INSERT INTO users (tenant, id, seq, user_name, user_name_key, active, document, version, created_at, last_modified)
                 VALUES ('acme', 'u1', 7, 'bob', 'bob', 1, '{}', 1, 'then', 'then'), ('acme', 'u2', 3, 'al', 'al', 1, '{}', 1, 'then', 'then');
             INSERT INTO user_values VALUES ('acme', 'u1', 'aliases', 'email', 'b@x'), ('acme', 'u1', 'aliases', NULL, 'bob'),
                                            ('acme', 'u2', 'aliases', NULL, 'b@x'), ('acme', 'u2', 'emails', 'work', 'e@x');",
        )
        .unwrap();
        run(&mut db).unwrap();
        let mut rows: Vec<(String, String, String)> = db
            .prepare("SELECT kind, key, owner FROM reservations ORDER BY kind, key")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        let expected = [("group.displayName", "eng", "g1"), ("login", "b@x", "u2"), ("login", "bob", "u1")];
        assert_eq!(rows, expected.map(|(k, v, o)| (k.to_owned(), v.to_owned(), o.to_owned())));
    }

    /// Migration 58 counts the users and groups already there in the blocks and stripes the
    /// write plan counts new ones in (ADR 0080): a later delete takes its count back from the
    /// same row.
    #[test]
    fn migration_58_counts_existing_rows_in_their_blocks_and_stripes() {
        use crate::write_plan::{BLOCK_POSITIONS, COUNT_STRIPES};

        let mut db = Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)").unwrap();
        for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version < 58) {
            db.execute_batch(sql).unwrap();
            db.execute("INSERT INTO schema_migrations VALUES (?1, 'then')", [version]).unwrap();
        }
        let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
        let mut expected = std::collections::BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            let seq = i as i64 * 97;
            let (kind, owner) = if i % 4 == 0 { ("groups", "operator") } else { ("users", "okta") };
            let sql = match kind {
                "users" => "INSERT INTO users (tenant, id, seq, user_name, user_name_key, active, document, version, created_at, last_modified, owner)
                            VALUES ('acme', ?1, ?2, ?1, ?1, 1, '{}', 1, 'then', 'then', ?3)",
                _ => "INSERT INTO groups (tenant, id, seq, display_name, display_name_key, document, version, created_at, last_modified, owner)
                      VALUES ('acme', ?1, ?2, ?1, ?1, '{}', 1, 'then', 'then', ?3)",
            };
            db.execute(sql, params![id.to_string(), seq, owner]).unwrap();
            let stripe = i64::from(id.as_bytes()[15] % COUNT_STRIPES);
            *expected.entry((kind.to_owned(), owner.to_owned(), seq / BLOCK_POSITIONS, stripe)).or_insert(0i64) += 1;
        }
        run(&mut db).unwrap();
        let counted: std::collections::BTreeMap<(String, String, i64, i64), i64> = db
            .prepare("SELECT kind, owner, block, stripe, total FROM resource_blocks WHERE tenant = 'acme'")
            .unwrap()
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(counted, expected);
    }
}
