-- The Upgrade tab: a branch's upgrades (a test upgrade of staging, then its upgrade mode; a
-- production upgrade), and what the upgrade platform records for them.

-- What an upgrade request is doing now (`17.0: odoo -u all`), for its progress.
ALTER TABLE upgrade_requests ADD COLUMN step text;
-- Custom modules the engine leaves for the branch's code (in-process requests only: the
-- public /database/v1 does not set them).
ALTER TABLE upgrade_requests ADD COLUMN custom_modules jsonb NOT NULL DEFAULT '[]';

CREATE TABLE branch_upgrades (
    id              bigserial   PRIMARY KEY,
    branch_id       bigint      NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    -- `test` (staging, then upgrade mode) or `production`.
    kind            text        NOT NULL,
    -- See `BranchUpgradeState` in slipway-platform.
    state           text        NOT NULL,
    source_series   text        NOT NULL,
    target          text        NOT NULL,
    requested_by    text        NOT NULL,
    -- The branch's own modules installed in the database, left for its code.
    custom_modules  jsonb       NOT NULL DEFAULT '[]',
    -- The backup the upgrade started from.
    backup          text,
    -- Where the request went (`{"id", "key"}` of the delegate), once submitted.
    request         jsonb,
    -- What it is doing now, and why it failed.
    step            text,
    error           text,
    -- The upgraded database kept for upgrade mode (a template each push copies).
    kept_database   text,
    mode_until      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

-- At most one upgrade of a branch is under way (or in upgrade mode) at a time.
CREATE UNIQUE INDEX branch_upgrades_one_open ON branch_upgrades (branch_id)
    WHERE state IN ('armed', 'requested', 'upgrading', 'restoring', 'upgrade_mode');
