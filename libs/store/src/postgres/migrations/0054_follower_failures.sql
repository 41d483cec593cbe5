-- A follower's failures, kept with its checkpoint so that any process (`worker status`) can see
-- them: how many deliveries failed in all, and, while one event is being retried, since when and
-- the last error.
ALTER TABLE checkpoints
    ADD COLUMN failures        BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN retrying_since  TIMESTAMPTZ,
    ADD COLUMN last_failure    TEXT;
