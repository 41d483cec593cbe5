-- Every group each member was ever added to, kept after it leaves or the group is deleted, so
-- that the audit's as-of finds the groups a user was in without scanning the tenant's log
-- (`store::audit::groups_naming`). Like login_history, it is written by commits and not
-- rebuilt; this migration fills it from the log once.
CREATE TABLE member_history (
    tenant     TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    PRIMARY KEY (tenant, member_id, group_id)
);
INSERT OR IGNORE INTO member_history (tenant, member_id, group_id)
SELECT e.tenant, json_extract(m.value, '$.value'), e.stream_id
FROM events e, json_each(e.payload, '$.members') m
WHERE e.stream_kind = 'group' AND e.event_type IN ('group.created', 'group.members_added')
  AND json_type(e.payload, '$.members') = 'array' AND json_extract(m.value, '$.value') IS NOT NULL;
