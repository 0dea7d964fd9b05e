-- Upgrade engines: what takes a database to a target series. The Odoo runtime of the series is
-- `odoo_runtimes`' (not repeated here); an engine adds OpenUpgrade's addons (unpacked from PyPI
-- under the data directory, pinned to the versions resolved when it was added, or a folder the
-- admin gave) and, optionally, odoo/upgrade-util.
CREATE TABLE upgrade_engines (
    series              text        PRIMARY KEY,
    openupgrade_source  text        NOT NULL CHECK (openupgrade_source IN ('pypi', 'folder')),
    -- The folder holding `openupgrade_framework/` and `openupgrade_scripts/`.
    openupgrade_dir     text        NOT NULL,
    -- PyPI only: the exact versions of odoo-addon-openupgrade-scripts and -framework.
    scripts_version     text,
    framework_version   text,
    upgrade_util_dir    text,
    added_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((openupgrade_source = 'pypi') = (scripts_version IS NOT NULL AND framework_version IS NOT NULL))
);
