-- A failed daily backup is tried again later the same day (schedule::retry_due): how many
-- times its slot failed and when it last did. `failed_at` is cleared when a retry is queued,
-- which is also how two schedulers never both queue it.
ALTER TABLE backup_schedules
    ADD COLUMN failures  integer NOT NULL DEFAULT 0,
    ADD COLUMN failed_at timestamptz;
