//! Slipway's domain and its persistence.
//!
//! - [`Metadata`]: the `slipway` metadata database, created on first use, with the schema
//!   migrations embedded in the binary (`migrations/`).
//! - [`JobQueue`]: the queue every long operation goes through (`FOR UPDATE SKIP LOCKED`).
//! - [`people`], [`projects`], [`branches`], [`builds`], [`history`]: Odoo.sh's model
//!   (users and tokens, projects and their Odoo runtimes, branches and stages, builds and
//!   their pipeline, the History of a branch); [`stages`] holds the stage-move rules,
//!   [`projects::allowed`] the rights of each role; [`sessions`]: web UI sessions;
//!   [`editor`]: the web editor's reads of a build's checkout and its commits; [`shell`]:
//!   how a shell of a build starts (the Shell tab and SSH both call it) and who may open one;
//!   [`ssh_keys`]: people's SSH public keys.
//! - [`Platform`]: the operations on them (pushes, rebuilds, stops, the scheduler's chores);
//!   [`branch_backups`]: backing up, restoring and importing into a branch's database;
//!   [`branch_upgrades`]: the Upgrade tab (test upgrades of staging, upgrade mode);
//!   [`limits`]: builds per push and per project, disk per project, and their refusals.
//!
//! ## Design notes
//!
//! Odoo.sh's model: `people.rs` (users, API tokens stored as SHA-256), `projects.rs` (projects,
//! their Odoo runtime per series, members and roles, trial end), `branches.rs` (stage, head,
//! settings: modules to install, tests, staging behaviour), `stages.rs` (the pure stage-move
//! rules), `history.rs` (a branch's pushes and events), `builds/` (the `builds` table with state
//! and result apart; `naming.rs` gives `<project>-<branch>-<id>`, the build's host label and
//! database name; `templates.rs` the template-database cache and its pure trimming rule).
//! `builds/pipeline.rs` is what a `build.run` job does, under a per-branch advisory lock: checkout
//! (`git archive`), runtime, virtualenv, then per stage — `development.rs` (template copy when the
//! module set's hash is cached, else create + install with demo + tests; an install whose only
//! errors are failing tests, told apart by `slipway_runner`'s log classifier, still serves, red,
//! and is not cached), `production.rs` (first build: `base` only; later: `-u` of modules whose
//! version went up, behind a template-copy snapshot made under a `_partial` name and renamed when
//! whole; any failure moves the updated database aside, renames the snapshot in and brings back the
//! previous revision's server; an update cut short by a stop of Slipway finds its snapshot when the
//! job runs again and is rolled back to it first), `staging.rs` (neutralized copy of production, or
//! the previous staging database updated) — then the server, health-checked, owned by the
//! `Supervisor`; a build whose run was cut short (`interrupted.rs`: the queue gave its job back
//! after a stop or a crash of Slipway) has the processes naming its odoo.conf killed and its own
//! database dropped, and is built again from the start with its logs kept (a development or
//! staging build at most 3 runs); `health.rs` fails a running build whose database is gone, on
//! each scheduler tick, under the branch's lock; before any development or staging server
//! starts, every active `ir_mail_server` is switched off, so its mail can only go to the catcher
//! its odoo.conf names. Each build's
//! `build.log` holds its steps and how it ended (the reason of a failure no tool logged: a broken
//! manifest, no runtime, a kill). A kill is final: `finish` and `set_running` only move unfinished
//! builds (production excepted, whose server is what serves). `service.rs` (`Platform`) is what the
//! edges call: pushes, rebuilds, merges, stage moves, stops, branch deletion, the scheduler's
//! chores (running limits, development database lifetime, trial expiry, template trimming) and
//! restarting running builds after a restart. `Platform::lock_refs` (`ref_locks.rs`) serializes the
//! changes of a project's branches (push hook, editor commit, merge, fork) from reading them to
//! recording the change, so two never see, record and build the same change nor enqueue builds out
//! of order.
//!
//! Limits (`limits.rs`, pure; measured in `usage.rs`): a push may move at most
//! `Limits::builds_per_push` branches, and create only as many as the project has room for under
//! `builds_per_project` (builds pending, building, running or stopped) and `project_disk` (its
//! live databases' `pg_database_size`, one query, plus their filestores, each walked at most once
//! a minute); `Platform::push_guard` hands both to git's `pre-receive` hook with the protected
//! branches, so a push past them is refused whole before any ref moves. Forks and rebuilds ask
//! `Platform::check_limits` (a `build_limit` or `disk_limit` Conflict). Production is never
//! refused.
//!
//! Rights: `projects::allowed(role, action, stage)` is Odoo.sh's rights as one pure function (admin
//! everything but committing to production from the browser; developer every tool of development
//! builds and only seeing staging/production databases; tester the databases and tools of staging
//! and development). `sessions.rs` holds the web UI's sessions and optional passwords (Argon2id PHC
//! strings); `editor.rs` reads a build's checkout (plain relative paths only, no symlink followed)
//! and commits one file through `Repo::commit_file` on the revision of the build it was read from,
//! refused (Conflict) once the branch moved past it, then builds it as a push; `Platform::fork`
//! makes a new development branch at another's head.
//!
//! Branches meet backups in `BuildEnv::backup_source` (a build's database, filestore, logs,
//! sessions): production's first build adds its daily schedule, every production update is preceded
//! by a `before-update` backup taken while production still serves, and `branch_backups` restores a backup
//! into production (after a `before-restore` backup) or a staging branch (neutralized copy), and
//! imports a dump into a branch (a `before-import` backup in production, a neutralized copy
//! elsewhere; a dump of another series sets the branch's own series, `BranchSettings::series`,
//! which its builds' runtime follows, with a `series.switched` event).
//!
//! Branch upgrades (`branch_upgrades/`, seed 000): a `branch_upgrades` row per upgrade moved by a
//! `branch.upgrade` job (requested -> upgrading -> restoring -> upgrade_mode -> closed), so a
//! restart resumes it; production's latest daily backup (taken when missing) goes as a zip to
//! the `slipway_upgrade::Delegate` (in-process or another Slipway's `/database/v1`) with the
//! branch's own installed modules as custom modules the engine leaves `to upgrade`; the result
//! is imported into the staging branch (neutralized, series switched) and kept as
//! `slipway_upgraded_<id>`, which each staging build in upgrade mode copies before `-u` of the
//! custom modules (`upgrade.log`). Missing modules (installed, neither standard nor in the
//! branch's code) are refused before anything runs, with Odoo.sh's advice (`rules.rs`, pure).
//!
//! Upgrade engines (`upgrade_engines.rs`): the upgrade crate owns their rows and OpenUpgrade's
//! files; the platform joins them with its runtimes and a virtualenv (the runtime's requirements
//! plus `openupgradelib`, scope `upgrade-<series>`) and answers the upgrade crate's
//! `EngineCatalog`, so the upgrade platform asks for ready engines without importing the
//! platform (the graph stays one-way, as with the backup engine).

mod error;
mod health;
mod ref_locks;
mod service;
mod text_column;
mod usage;

pub mod branch_backups;
pub mod branch_upgrades;
pub mod branches;
pub mod builds;
pub mod editor;
pub mod history;
pub mod limits;
pub mod people;
pub mod projects;
pub mod sessions;
pub mod shell;
pub mod ssh_keys;
pub mod stages;
pub mod throttle;
pub mod tokens;
pub mod upgrade_engines;

pub use error::{ErrorKind, PlatformError, Result};
pub use ref_locks::RefsGuard;
pub use service::{MergeResult, Platform};
/// The backup engine, which the platform drives for branches' databases.
pub use slipway_backup_engine as backups;
pub use slipway_metadata::{
    create_database_if_missing, run_worker, DataDir, Job, JobKind, JobQueue, Metadata,
    HEARTBEAT_TIMEOUT, IDLE_POLL, JOBS_CHANNEL, METADATA_DB,
};
pub use text_column::UnknownValue;
