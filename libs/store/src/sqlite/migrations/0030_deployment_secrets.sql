-- Secrets of the deployment that every server process must share: the key that seals list
-- cursors (ADR 0045). Made once, by the first process that needs one, and kept beside the data.
CREATE TABLE deployment_secrets (
    name TEXT PRIMARY KEY,
    secret BLOB NOT NULL
);
