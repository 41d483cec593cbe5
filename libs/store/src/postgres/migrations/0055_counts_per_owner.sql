-- The kept counts per owner as well (ADR 0049, amended): a connection that reads only what it
-- owns (ADR 0040, the default for new connections) takes its pages' totalResults from its own
-- stripes rather than counting its rows on every page. The tenant's total is the sum over its
-- owners.
DROP TABLE resource_counts;
CREATE TABLE resource_counts (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    stripe SMALLINT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (tenant, kind, owner, stripe)
);
INSERT INTO resource_counts (tenant, kind, owner, stripe, total)
    SELECT tenant, 'users', owner, 0, count(*) FROM users GROUP BY tenant, owner;
INSERT INTO resource_counts (tenant, kind, owner, stripe, total)
    SELECT tenant, 'groups', owner, 0, count(*) FROM groups GROUP BY tenant, owner;
