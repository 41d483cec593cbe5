-- Every login (case-folded userName or alias) each user has claimed, kept after the user lets
-- it go or is deleted, so that the audit finds the users a login named over time without
-- reading personal fields out of the (encrypted) events; an erasure deletes the user's rows
-- (docs/adr/0068-personal-data-is-encrypted-under-a-key-per-user.md).
CREATE TABLE login_history (
    tenant   TEXT NOT NULL,
    key      TEXT NOT NULL,
    user_id  UUID NOT NULL,
    PRIMARY KEY (tenant, key, user_id)
);
