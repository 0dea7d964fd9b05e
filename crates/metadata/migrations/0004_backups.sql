-- Backups: one row per backup in the repository (the repository's manifest is the truth about
-- the bytes; this row is what the UI, retention and the scheduler read).
CREATE TABLE backups (
    id              text        PRIMARY KEY,   -- the repository's id, YYYYMMDDTHHMMSSZ-xxxxxxxx
    project         text,
    branch          text,
    revision        text,
    kind            text        NOT NULL CHECK (kind IN ('daily', 'manual', 'before-update',
                    'before-restore', 'before-import', 'before-upgrade')),
    -- running: being written; complete: every location holds it; incomplete: the primary holds
    -- it, some replica does not (see error; verify heals it); failed: nothing usable was written.
    state           text        NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'complete', 'incomplete', 'failed')),
    source_database text        NOT NULL,
    odoo_version    text,
    size_database   bigint      NOT NULL DEFAULT 0,
    size_filestore  bigint      NOT NULL DEFAULT 0,
    size_logs       bigint      NOT NULL DEFAULT 0,
    size_sessions   bigint      NOT NULL DEFAULT 0,
    size_added      bigint      NOT NULL DEFAULT 0,  -- new bytes stored (after dedup + zstd)
    locations_total integer     NOT NULL DEFAULT 0,
    locations_done  text[]      NOT NULL DEFAULT '{}',
    error           text,
    verification    jsonb,                           -- the last restore drill's result
    verified_at     timestamptz,
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz
);
CREATE INDEX backups_by_source ON backups (project, branch, source_database, created_at);

-- Daily backup schedules. Until branches exist a schedule names its source explicitly; the
-- scheduler's state (the last slot handled) lives here so that a restart neither repeats nor
-- forgets a day.
CREATE TABLE backup_schedules (
    id          bigserial   PRIMARY KEY,
    project     text,
    branch      text,
    source      jsonb       NOT NULL,            -- {database, filestore, logs_dir, sessions_dir}
    time_of_day time        NOT NULL DEFAULT '03:00',
    timezone    text        NOT NULL DEFAULT 'UTC',
    enabled     boolean     NOT NULL DEFAULT true,
    last_slot   timestamptz,                     -- the scheduled instant last queued
    last_backup text,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
