-- The SQLite twin of postgres/migrations/0001_init.sql: the same tables, columns, constraints
-- and indexes, so the query compiler's SQL runs on both. UUIDs are hyphenated lower-case TEXT;
-- times are fixed-width UTC TEXT (`2026-11-22T23:38:34.123456Z`), which sorts like the instants;
-- JSON is TEXT; booleans are INTEGER 0/1. SQLite reports a broken unique constraint by its
-- columns, not its name; the names are kept for the reader.

CREATE TABLE tenants (
    slug        TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

CREATE TABLE connections (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants (slug),
    name          TEXT NOT NULL,
    token_sha256  BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT,
    CONSTRAINT connections_name_unique UNIQUE (tenant, name),
    CONSTRAINT connections_token_unique UNIQUE (token_sha256)
);

-- The event log. AUTOINCREMENT: a position is never handed out twice, even after the last
-- event's row is gone. SQLite commits one writer at a time and a commit takes its positions
-- inside its write transaction, so position order is commit order: no transaction id column
-- (and no commit-order index) is needed.
CREATE TABLE events (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL,
    tenant          TEXT NOT NULL,
    stream_kind     TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    type_version    INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    CONSTRAINT events_event_id_unique UNIQUE (event_id),
    CONSTRAINT events_stream_version_unique UNIQUE (tenant, stream_id, stream_version)
);

-- Unique values, claimed in the same transaction as the events that introduce them.
CREATE TABLE reservations (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    owner   TEXT NOT NULL,
    CONSTRAINT reservations_unique PRIMARY KEY (tenant, kind, key)
);

CREATE TABLE users (
    tenant         TEXT NOT NULL,
    id             TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    user_name      TEXT NOT NULL,
    user_name_key  TEXT NOT NULL,
    external_id    TEXT,
    active         INTEGER NOT NULL,
    document       TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    last_modified  TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX users_order ON users (tenant, seq);
CREATE INDEX users_user_name ON users (tenant, user_name_key);
CREATE INDEX users_external_id ON users (tenant, external_id);

-- Values of multi-valued attributes that filters look up (emails, aliases).
CREATE TABLE user_values (
    tenant      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    attribute   TEXT NOT NULL,
    value_type  TEXT,
    value_key   TEXT NOT NULL
);
CREATE INDEX user_values_lookup ON user_values (tenant, attribute, value_key);
CREATE INDEX user_values_owner ON user_values (tenant, user_id);

CREATE TABLE groups (
    tenant            TEXT NOT NULL,
    id                TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    display_name      TEXT NOT NULL,
    display_name_key  TEXT NOT NULL,
    external_id       TEXT,
    document          TEXT NOT NULL,
    version           INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    last_modified     TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX groups_order ON groups (tenant, seq);
CREATE INDEX groups_display_name ON groups (tenant, display_name_key);
CREATE INDEX groups_external_id ON groups (tenant, external_id);

-- `added` is the rowid: a new row takes one more than the largest there is, so `added` orders
-- members as they were added (a number freed by deleting the last row may come back, but still
-- after every row there is). PostgreSQL's primary key is here a unique constraint, with the
-- same index.
CREATE TABLE memberships (
    tenant       TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_kind  TEXT,
    added        INTEGER PRIMARY KEY,
    CONSTRAINT memberships_pkey UNIQUE (tenant, group_id, member_id)
);
CREATE INDEX memberships_member ON memberships (tenant, member_id);

-- Where each log follower (in-process subscriber, relay) got to, in commit order.
CREATE TABLE checkpoints (
    name            TEXT PRIMARY KEY,
    transaction_id  INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    updated_at      TEXT NOT NULL
);
