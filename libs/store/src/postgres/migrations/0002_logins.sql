-- A user's userName and aliases share one reservation namespace, `login` (ADR 0012): the
-- userName reservations are renamed, and the aliases already stored are claimed. Where two
-- users already share an alias, the first claim stands; the other keeps its alias unreserved.
UPDATE reservations SET kind = 'login' WHERE kind = 'userName';
INSERT INTO reservations (tenant, kind, key, owner)
    SELECT tenant, 'login', value_key, user_id FROM user_values WHERE attribute = 'aliases'
    ON CONFLICT DO NOTHING;
