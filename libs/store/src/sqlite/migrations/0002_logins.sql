-- The SQLite twin of postgres/migrations/0002_logins.sql.
UPDATE reservations SET kind = 'login' WHERE kind = 'userName';
INSERT OR IGNORE INTO reservations (tenant, kind, key, owner)
    SELECT tenant, 'login', value_key, user_id FROM user_values WHERE attribute = 'aliases';
