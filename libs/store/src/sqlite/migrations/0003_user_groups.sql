-- Each user's groups on the user's row, as [id, displayName] pairs in the order joined, so a
-- look-up with groups reads one row (docs/adr/0014-user-groups-on-the-user-row.md). Group
-- commits keep it current; memberships stay the table filters and members are read from.
ALTER TABLE users ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
UPDATE users SET groups = (
    SELECT json_group_array(json_array(g.id, g.display_name) ORDER BY m.added)
    FROM memberships m JOIN groups g ON g.tenant = m.tenant AND g.id = m.group_id
    WHERE m.tenant = users.tenant AND m.member_id = users.id)
WHERE EXISTS (SELECT 1 FROM memberships m WHERE m.tenant = users.tenant AND m.member_id = users.id);
