-- Which master key wraps each data key, by its id (16 hex digits of a hash of the key), so that
-- a deployment can hold several master keys while it rotates, and count what each still wraps.
-- Keys wrapped before this column have none: the deployment's first master key wraps them
-- (docs/adr/0069-the-master-key-is-a-file-beside-or-apart-from-the-database.md).
ALTER TABLE user_keys ADD COLUMN master_key TEXT;

-- One known value wrapped under the newest master key, made by the first process that starts
-- with a key: a process whose keys do not open it refuses to start.
CREATE TABLE master_key_canary (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    master_key  TEXT NOT NULL,
    wrapped     BLOB NOT NULL
);
