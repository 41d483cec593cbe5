-- The log, the reservations, the read models, tenants and connections.

CREATE TABLE tenants (
    slug        TEXT PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE connections (
    id            UUID PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants (slug),
    name          TEXT NOT NULL,
    token_sha256  BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    disabled_at   TIMESTAMPTZ,
    CONSTRAINT connections_name_unique UNIQUE (tenant, name),
    CONSTRAINT connections_token_unique UNIQUE (token_sha256)
);

-- The event log. `position` is the global order in which events were numbered; a relay reads
-- in commit order with `transaction_id` (see docs/adr/0001-event-log-and-global-order.md).
CREATE TABLE events (
    position        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        UUID NOT NULL,
    tenant          TEXT NOT NULL,
    stream_kind     TEXT NOT NULL,
    stream_id       UUID NOT NULL,
    stream_version  BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    type_version    INT NOT NULL,
    payload         JSONB NOT NULL,
    metadata        JSONB NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    transaction_id  XID8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT events_event_id_unique UNIQUE (event_id),
    CONSTRAINT events_stream_version_unique UNIQUE (tenant, stream_id, stream_version)
);
CREATE INDEX events_commit_order ON events (transaction_id, position);

-- Unique values, claimed in the same transaction as the events that introduce them.
CREATE TABLE reservations (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    owner   UUID NOT NULL,
    CONSTRAINT reservations_unique PRIMARY KEY (tenant, kind, key)
);

CREATE TABLE users (
    tenant         TEXT NOT NULL,
    id             UUID NOT NULL,
    seq            BIGINT NOT NULL,
    user_name      TEXT NOT NULL,
    user_name_key  TEXT NOT NULL,
    external_id    TEXT,
    active         BOOLEAN NOT NULL,
    document       JSONB NOT NULL,
    version        BIGINT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    last_modified  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX users_order ON users (tenant, seq);
CREATE INDEX users_user_name ON users (tenant, user_name_key);
CREATE INDEX users_external_id ON users (tenant, external_id);

-- Values of multi-valued attributes that filters look up (emails, aliases).
CREATE TABLE user_values (
    tenant      TEXT NOT NULL,
    user_id     UUID NOT NULL,
    attribute   TEXT NOT NULL,
    value_type  TEXT,
    value_key   TEXT NOT NULL
);
CREATE INDEX user_values_lookup ON user_values (tenant, attribute, value_key);
CREATE INDEX user_values_owner ON user_values (tenant, user_id);

CREATE TABLE groups (
    tenant            TEXT NOT NULL,
    id                UUID NOT NULL,
    seq               BIGINT NOT NULL,
    display_name      TEXT NOT NULL,
    display_name_key  TEXT NOT NULL,
    external_id       TEXT,
    document          JSONB NOT NULL,
    version           BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    last_modified     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX groups_order ON groups (tenant, seq);
CREATE INDEX groups_display_name ON groups (tenant, display_name_key);
CREATE INDEX groups_external_id ON groups (tenant, external_id);

CREATE TABLE memberships (
    tenant       TEXT NOT NULL,
    group_id     UUID NOT NULL,
    member_id    UUID NOT NULL,
    member_kind  TEXT,
    added        BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (tenant, group_id, member_id)
);
CREATE INDEX memberships_member ON memberships (tenant, member_id);

-- Where each log follower (in-process subscriber, relay) got to, in commit order.
CREATE TABLE checkpoints (
    name            TEXT PRIMARY KEY,
    transaction_id  BIGINT NOT NULL,
    position        BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
