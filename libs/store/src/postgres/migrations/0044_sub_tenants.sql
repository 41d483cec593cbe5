-- A tenant may be a sub-tenant of a parent (ADR 0074). A parent's SCIM reads span its
-- sub-tenants' rows through `tenant IN (SELECT slug FROM tenants WHERE parent = $1)`.
ALTER TABLE tenants ADD COLUMN parent TEXT;
CREATE INDEX tenants_parent ON tenants (parent) WHERE parent IS NOT NULL;
