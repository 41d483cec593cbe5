-- The member index also holds the group: "which groups have this member" (members.value
-- filters) is answered from the index alone, which SQLite's planner, without statistics, would
-- otherwise prefer to the primary key scanned for the whole tenant.
DROP INDEX memberships_member;
CREATE INDEX memberships_member ON memberships (tenant, member_id, group_id);
