-- Audit queries and the sealer read one tenant's events in log order, from where they stopped:
-- a page reads this index from its start position, whatever other tenants wrote.
CREATE INDEX events_by_tenant ON events (tenant, position);
