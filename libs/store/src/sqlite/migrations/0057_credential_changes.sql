-- The generation of the embedded default's credentials feed (ADR 0021): every tenant,
-- connection, access-token, operator or routing commit moves it on in its own transaction, and
-- each server reads it a few times a second to know when its authentication cache is stale.
CREATE TABLE credential_changes (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    generation INTEGER NOT NULL
);
INSERT INTO credential_changes (only, generation) VALUES (1, 0);
