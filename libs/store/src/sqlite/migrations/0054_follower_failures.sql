-- The SQLite twin of postgres/migrations/0054_follower_failures.sql.
ALTER TABLE checkpoints ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN retrying_since TEXT;
ALTER TABLE checkpoints ADD COLUMN last_failure TEXT;
