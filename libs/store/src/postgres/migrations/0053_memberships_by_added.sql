-- A group's members in the order they were added, read a page at a time (ADR 0076): without
-- this index every page sorted the whole group.
CREATE INDEX memberships_by_added ON memberships (tenant, group_id, added);
