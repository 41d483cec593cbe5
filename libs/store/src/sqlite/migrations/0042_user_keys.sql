-- Each user's data key, wrapped by the deployment's master key: the key its events' personal
-- fields are encrypted under. Erasing the user deletes the row, and with it every way to read
-- them (docs/adr/0068-personal-data-is-encrypted-under-a-key-per-user.md).
CREATE TABLE user_keys (
    tenant      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id)
);
