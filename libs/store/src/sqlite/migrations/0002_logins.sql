-- The SQLite twin of postgres/migrations/0002_logins.sql.
UPDATE reservations SET kind = 'login' WHERE kind = 'userName';
INSERT OR IGNORE INTO reservations (tenant, kind, key, owner)
    SELECT v.tenant, 'login', v.value_key, v.user_id
    FROM user_values v JOIN users u ON u.tenant = v.tenant AND u.id = v.user_id
    WHERE v.attribute = 'aliases'
    ORDER BY u.seq;
