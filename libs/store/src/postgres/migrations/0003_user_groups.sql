-- Each user's groups on the user's row, as [id, displayName] pairs in the order joined, so a
-- look-up with groups reads one row (docs/adr/0014-user-groups-on-the-user-row.md). Group
-- commits keep it current; memberships stay the table filters and members are read from.
ALTER TABLE users ADD COLUMN groups JSONB NOT NULL DEFAULT '[]';
UPDATE users u SET groups = joined.groups
FROM (SELECT m.tenant, m.member_id, jsonb_agg(jsonb_build_array(g.id::text, g.display_name) ORDER BY m.added) AS groups
      FROM memberships m JOIN groups g ON g.tenant = m.tenant AND g.id = m.group_id
      GROUP BY m.tenant, m.member_id) joined
WHERE u.tenant = joined.tenant AND u.id = joined.member_id;
