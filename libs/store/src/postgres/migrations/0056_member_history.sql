-- Every group each member was ever added to, kept after it leaves or the group is deleted, so
-- that the audit's as-of finds the groups a user was in without scanning the tenant's log
-- (`store::audit::groups_naming`). Like login_history, it is written by commits and not
-- rebuilt; this migration fills it from the log once.
CREATE TABLE member_history (
    tenant     TEXT NOT NULL,
    member_id  UUID NOT NULL,
    group_id   UUID NOT NULL,
    PRIMARY KEY (tenant, member_id, group_id)
);
INSERT INTO member_history (tenant, member_id, group_id)
SELECT e.tenant, (m.v ->> 'value')::uuid, e.stream_id
FROM events e, jsonb_array_elements(CASE WHEN jsonb_typeof(e.payload -> 'members') = 'array' THEN e.payload -> 'members' ELSE '[]'::jsonb END) AS m(v)
WHERE e.stream_kind = 'group' AND e.event_type IN ('group.created', 'group.members_added')
  AND m.v ->> 'value' IS NOT NULL
ON CONFLICT DO NOTHING;
