-- A user's userName and aliases share one reservation namespace, `login` (ADR 0012): the
-- userName reservations are renamed, and the aliases already stored are claimed. Where two
-- users already share an alias, the user created first keeps it; the other keeps its alias
-- unreserved.
UPDATE reservations SET kind = 'login' WHERE kind = 'userName';
INSERT INTO reservations (tenant, kind, key, owner)
    SELECT v.tenant, 'login', v.value_key, v.user_id
    FROM user_values v JOIN users u ON u.tenant = v.tenant AND u.id = v.user_id
    WHERE v.attribute = 'aliases'
    ORDER BY u.seq
    ON CONFLICT DO NOTHING;
