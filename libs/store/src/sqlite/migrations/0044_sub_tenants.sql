-- The SQLite twin of postgres/migrations/0044_sub_tenants.sql.
ALTER TABLE tenants ADD COLUMN parent TEXT;
CREATE INDEX tenants_parent ON tenants (parent) WHERE parent IS NOT NULL;
