-- Each tenant's number of users and of groups, so that an unfiltered page's totalResults is a
-- few rows' sum rather than a count of the tenant (ADR 0049). A commit that creates or deletes
-- a resource adds +1 or -1 to one of the tenant's stripes (chosen by the resource's id), so
-- concurrent creates in one tenant rarely wait for each other's row.
CREATE TABLE resource_counts (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    stripe SMALLINT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (tenant, kind, stripe)
);
INSERT INTO resource_counts (tenant, kind, stripe, total)
    SELECT tenant, 'users', 0, count(*) FROM users GROUP BY tenant;
INSERT INTO resource_counts (tenant, kind, stripe, total)
    SELECT tenant, 'groups', 0, count(*) FROM groups GROUP BY tenant;
