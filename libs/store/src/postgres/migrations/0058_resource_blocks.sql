-- Each tenant's users and groups counted per block of 1,024 log positions of their `seq`, per
-- owner and stripe as the kept counts are (ADR 0049, ADR 0080): an index page jumped to by
-- startIndex finds the block its first row is in by summing a few hundred of these rows, and
-- skips only within that block, where OFFSET skipped every row before it.
CREATE TABLE resource_blocks (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    block BIGINT NOT NULL,
    stripe SMALLINT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (tenant, kind, owner, block, stripe)
);
-- The stripe a stream's counts go to is the low half of its id's last byte (write_plan::stripe).
INSERT INTO resource_blocks (tenant, kind, owner, block, stripe, total)
    SELECT tenant, 'users', owner, seq / 1024, get_byte(uuid_send(id), 15) % 16, count(*) FROM users GROUP BY 1, 2, 3, 4, 5;
INSERT INTO resource_blocks (tenant, kind, owner, block, stripe, total)
    SELECT tenant, 'groups', owner, seq / 1024, get_byte(uuid_send(id), 15) % 16, count(*) FROM groups GROUP BY 1, 2, 3, 4, 5;
