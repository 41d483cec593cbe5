-- The SQLite twin of postgres/migrations/0005_connections_as_policy.sql. SQLite cannot drop
-- a column under a unique constraint, so `connections` is rebuilt without its token.

CREATE TABLE credentials (
    id             TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    owner_kind     TEXT NOT NULL,
    owner_id       TEXT NOT NULL,
    login          TEXT,
    secret_sha256  BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT,
    CONSTRAINT credentials_secret_unique UNIQUE (secret_sha256)
);
CREATE INDEX credentials_owner ON credentials (tenant, owner_kind, owner_id);

INSERT INTO credentials (id, tenant, owner_kind, owner_id, login, secret_sha256, created_at)
    SELECT id, tenant, 'connection', id, NULL, token_sha256, created_at FROM connections;

CREATE TABLE connections_v5 (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL REFERENCES tenants (slug),
    name         TEXT NOT NULL,
    auth         TEXT NOT NULL,
    login        TEXT,
    settings     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    disabled_at  TEXT,
    CONSTRAINT connections_name_unique UNIQUE (tenant, name)
);
INSERT INTO connections_v5 (id, tenant, name, auth, login, settings, created_at, disabled_at)
    SELECT id, tenant, name, 'bearer', NULL,
           '{"send_enrollment_email":false,"on_create_role":null,"on_deactivate":"nothing","device_policy":null,"claim_manual":false,"read_scope":"all"}',
           created_at, disabled_at
    FROM connections;
DROP TABLE connections;
ALTER TABLE connections_v5 RENAME TO connections;

CREATE TABLE operators (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT operators_name_unique UNIQUE (name)
);

INSERT INTO reservations (tenant, kind, key, owner)
    SELECT slug, 'tenant', slug, '00000000-0000-0000-0000-000000000000' FROM tenants;
INSERT INTO reservations (tenant, kind, key, owner)
    SELECT tenant, 'connection.name', name, id FROM connections;

-- A random (version 4) UUID for each event id, spelled as the writer spells them.
INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
                 || substr('89ab', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
           tenant, 'connection', id, 1, 'connection.created', 1,
           json_object('name', name, 'auth', 'bearer', 'login', NULL, 'settings', json(settings), 'credential_id', id),
           '{"system":"migration 5"}', created_at
    FROM connections ORDER BY created_at;
INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
                 || substr('89ab', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
           tenant, 'connection', id, 2, 'connection.disabled', 1, '{}', '{"system":"migration 5"}', disabled_at
    FROM connections WHERE disabled_at IS NOT NULL ORDER BY disabled_at;
