-- Connections as policy (issue 9, ADR 0020): each connection has an auth mode and settings,
-- its secrets live in `credentials` (with operators' tokens), and tenants, connections and
-- operators change by commands on the log like users and groups.

-- Existing connections keep today's behaviour: bearer tokens, and the whole tenant in sight.
ALTER TABLE connections ADD COLUMN auth TEXT NOT NULL DEFAULT 'bearer';
ALTER TABLE connections ADD COLUMN login TEXT;
ALTER TABLE connections ADD COLUMN settings JSONB NOT NULL DEFAULT
    '{"send_enrollment_email": false, "on_create_role": null, "on_deactivate": "nothing", "device_policy": null, "claim_manual": false, "read_scope": "all"}';
ALTER TABLE connections ALTER COLUMN auth DROP DEFAULT;
ALTER TABLE connections ALTER COLUMN settings DROP DEFAULT;

-- Secret hashes, written with the command that generated them. The log names credentials by
-- id and never holds a hash, so a rebuild keeps this table (as it keeps reservations).
CREATE TABLE credentials (
    id             UUID PRIMARY KEY,
    tenant         TEXT NOT NULL,
    owner_kind     TEXT NOT NULL,
    owner_id       UUID NOT NULL,
    login          TEXT,
    secret_sha256  BYTEA NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ,
    CONSTRAINT credentials_secret_unique UNIQUE (secret_sha256)
);
CREATE INDEX credentials_owner ON credentials (tenant, owner_kind, owner_id);

-- Each connection's token becomes its first credential, under the connection's own id.
INSERT INTO credentials (id, tenant, owner_kind, owner_id, login, secret_sha256, created_at)
    SELECT id, tenant, 'connection', id, NULL, token_sha256, created_at FROM connections;
ALTER TABLE connections DROP COLUMN token_sha256;

CREATE TABLE operators (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT operators_name_unique UNIQUE (name)
);

-- The names tenants and connections hold become reservations, as new ones' are. A tenant
-- made before its stream existed owns its slug through the nil id.
INSERT INTO reservations (tenant, kind, key, owner)
    SELECT slug, 'tenant', slug, '00000000-0000-0000-0000-000000000000' FROM tenants;
INSERT INTO reservations (tenant, kind, key, owner)
    SELECT tenant, 'connection.name', name, id FROM connections;

-- Each existing connection's history starts in the log, so that it can be rotated, revoked
-- and disabled like a new one.
INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
    SELECT gen_random_uuid(), tenant, 'connection', id, 1, 'connection.created', 1,
           jsonb_build_object('name', name, 'auth', 'bearer', 'login', NULL, 'settings', settings, 'credential_id', id),
           '{"system": "migration 5"}', created_at
    FROM connections ORDER BY created_at;
INSERT INTO events (event_id, tenant, stream_kind, stream_id, stream_version, event_type, type_version, payload, metadata, recorded_at)
    SELECT gen_random_uuid(), tenant, 'connection', id, 2, 'connection.disabled', 1, '{}', '{"system": "migration 5"}', disabled_at
    FROM connections WHERE disabled_at IS NOT NULL ORDER BY disabled_at;
