-- Who owns each user and group (docs/adr/0040-ownership-and-read-scope.md): its connection's id,
-- or 'operator'. A resource written before ownership existed belongs to the actor of its first
-- event. `(tenant, owner, seq)` serves a connection's own pages in creation order, its totals,
-- and a purge's walk through what it owns.
ALTER TABLE users ADD COLUMN owner TEXT NOT NULL DEFAULT 'operator';
UPDATE users u SET owner = e.metadata->>'connection_id'
FROM events e
WHERE e.tenant = u.tenant AND e.stream_id = u.id AND e.stream_version = 1 AND e.metadata ? 'connection_id';
ALTER TABLE users ALTER COLUMN owner DROP DEFAULT;
CREATE INDEX users_owner ON users (tenant, owner, seq);

ALTER TABLE groups ADD COLUMN owner TEXT NOT NULL DEFAULT 'operator';
UPDATE groups g SET owner = e.metadata->>'connection_id'
FROM events e
WHERE e.tenant = g.tenant AND e.stream_id = g.id AND e.stream_version = 1 AND e.metadata ? 'connection_id';
ALTER TABLE groups ALTER COLUMN owner DROP DEFAULT;
CREATE INDEX groups_owner ON groups (tenant, owner, seq);

-- Set when a connection is disabled with purge; the purge is done once it owns nothing.
ALTER TABLE connections ADD COLUMN purge_requested_at TIMESTAMPTZ;
