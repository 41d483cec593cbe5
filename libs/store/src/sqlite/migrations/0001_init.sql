-- The SQLite twin of postgres/migrations/0001_init.sql: same tables, columns and indexes.
-- UUIDs are hyphenated lower-case TEXT; times are fixed-width UTC TEXT (sortable); JSON is TEXT.

CREATE TABLE tenants (
    slug        TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

CREATE TABLE connections (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants (slug),
    name          TEXT NOT NULL,
    token_sha256  BLOB NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT,
    UNIQUE (tenant, name)
);

-- One writer commits at a time, so position order is commit order (no transaction id needed).
CREATE TABLE events (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL UNIQUE,
    tenant          TEXT NOT NULL,
    stream_kind     TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    type_version    INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    UNIQUE (tenant, stream_id, stream_version)
);

CREATE TABLE reservations (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    owner   TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, key)
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

-- `added` orders members as they were added.
CREATE TABLE memberships (
    added        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_kind  TEXT,
    UNIQUE (tenant, group_id, member_id)
);
CREATE INDEX memberships_member ON memberships (tenant, member_id);

CREATE TABLE checkpoints (
    name            TEXT PRIMARY KEY,
    transaction_id  INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    updated_at      TEXT NOT NULL
);
