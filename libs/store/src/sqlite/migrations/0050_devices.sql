-- The SQLite twin of postgres/migrations/0050_devices.sql.
CREATE TABLE devices (
    tenant      TEXT NOT NULL,
    id          TEXT NOT NULL,
    serial      TEXT NOT NULL,
    name        TEXT,
    kind        TEXT,
    policy      TEXT,
    assigned    TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX devices_assigned ON devices (tenant, assigned) WHERE assigned IS NOT NULL;
