-- The SQLite twin of postgres/migrations/0032_owners.sql. SQLite cannot drop a column's
-- default; every append writes the owner, so the default only serves this backfill.
ALTER TABLE users ADD COLUMN owner TEXT NOT NULL DEFAULT 'operator';
UPDATE users SET owner = (
    SELECT json_extract(e.metadata, '$.connection_id') FROM events e
    WHERE e.tenant = users.tenant AND e.stream_id = users.id AND e.stream_version = 1)
WHERE EXISTS (
    SELECT 1 FROM events e
    WHERE e.tenant = users.tenant AND e.stream_id = users.id AND e.stream_version = 1
      AND json_extract(e.metadata, '$.connection_id') IS NOT NULL);
CREATE INDEX users_owner ON users (tenant, owner, seq);

ALTER TABLE groups ADD COLUMN owner TEXT NOT NULL DEFAULT 'operator';
UPDATE groups SET owner = (
    SELECT json_extract(e.metadata, '$.connection_id') FROM events e
    WHERE e.tenant = groups.tenant AND e.stream_id = groups.id AND e.stream_version = 1)
WHERE EXISTS (
    SELECT 1 FROM events e
    WHERE e.tenant = groups.tenant AND e.stream_id = groups.id AND e.stream_version = 1
      AND json_extract(e.metadata, '$.connection_id') IS NOT NULL);
CREATE INDEX groups_owner ON groups (tenant, owner, seq);

ALTER TABLE connections ADD COLUMN purge_requested_at TEXT;
