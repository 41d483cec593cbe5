-- The device registry (issue 12 §3, docs/devices.md): one row per registered device of a
-- tenant, kept by the device streams' commits. A removed device's row goes.
CREATE TABLE devices (
    tenant      TEXT NOT NULL,
    id          UUID NOT NULL,
    serial      TEXT NOT NULL,
    name        TEXT,
    kind        TEXT,
    policy      TEXT,
    assigned    UUID,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id)
);
-- The assets subscriber and `device list --user` look devices up by their user.
CREATE INDEX devices_assigned ON devices (tenant, assigned) WHERE assigned IS NOT NULL;
