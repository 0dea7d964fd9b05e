//! Odoo database dumps: recognising every format users bring, restoring
//! them safely, writing backups Odoo itself restores, neutralizing and
//! cloning databases.
//!
//! - [`inspect`]: format, [compressions](inspect#the-compressions-vocabulary),
//!   PostgreSQL and Odoo versions, installed modules, database uuid and
//!   filestore size of a dump, by streaming it (constant memory).
//! - [`restore`]: a dump becomes a database owned by, and replayed as, an
//!   unprivileged role; plain SQL passes the [`SqlGuard`] (no psql
//!   meta-commands), zips pass the [zip rules](ZipLimits) before anything is
//!   written; a failure drops the half-made database and filestore.
//! - [`create`]: Odoo's zip layout or a pg_dump format, optionally of a
//!   neutralized copy.
//! - [`neutralize_database`] and [`neutralize::plan`]: Odoo's
//!   `data/neutralize.sql` effects as data.
//! - [`clone_database`]: `CREATE DATABASE ... TEMPLATE` or a parallel
//!   dump/restore, filestore by hardlinks.
//!
//! Decisions (format sniffing, archive headers, the SQL guard, zip rules,
//! neutralization steps) are pure and unit-tested; the I/O around them runs
//! the PostgreSQL tools of [`slipway_pg::Binaries`] and is tested on a real
//! cluster with the Odoo fixtures.
//!
//! ## Design notes
//!
//! Every Odoo dump users bring, in and out. `inspect` recognises a file by its bytes (odoo-zip,
//! zip-sql, pg-custom, pg-directory, pg-tar, sql, sql-gz; anything else gets "looks like a PNG
//! image", "empty file", "truncated custom dump") and reads versions, modules and the database uuid
//! by streaming: `manifest.json` when present, else the `ir_module_module` and
//! `ir_config_parameter` COPY blocks of the SQL (for pg_dump archives through `pg_restore
//! --data-only -t ... -f -`, no database needed). `restore` creates the database owned by a new
//! role of its own and replays *as that role*: `pg_restore -j N --no-owner --no-privileges
//! --exit-on-error` for archives, `psql -X -v ON_ERROR_STOP=1` behind `SqlGuard` for SQL.
//! `create` writes Odoo's zip layout (dump.sql, manifest.json, filestore/, as
//! `odoo/service/db.py` does) or a pg_dump format; `clone_database` uses `CREATE DATABASE ...
//! TEMPLATE` when the source is idle, else a parallel directory dump and restore (with
//! `IdleSessions::Close` it first ends the sessions idle outside a transaction, which a running
//! Odoo's pool always holds and reopens, so a live production is still copied by template; a
//! session at work is never touched); `Target` is the one place that administers databases on
//! the server (create empty, exists, owner, credentials, drop and rename with or without the
//! filestore, a pool as a given role, `quote_ident`); `neutralize` holds Odoo 17's
//! `data/neutralize.sql` effects as data (`Step`s naming module, tables and columns), planned
//! against the installed modules and the live schema.
//!
//! ### One role per database
//!
//! Every database Slipway makes (a build's, production's and staging's apart, templates,
//! snapshots, scratch databases of restores, drills, imports, upgrades and point-in-time
//! recovery) is owned by a role of its own: `slipway_db_<16 random hex digits>`, LOGIN,
//! NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS, member of nothing, and
//! `CONNECT` on the database is revoked from `PUBLIC`. So what runs as that role (a replayed
//! dump, neutralization, a build's Odoo, an upgrade's scripts) can neither drop, alter,
//! comment on nor even connect to any other database: PostgreSQL asks ownership for the first
//! three and `CONNECT` for the last.
//!
//! - The name is random, not derived from the database's: renames swap snapshots and
//!   restores into place (`Target::rename_database`), and a database is found to its role by
//!   its owner (`Target::database_owner`), never the other way round.
//! - The password is `HMAC-SHA256(secret, "pg-role:" + role)` (32 hex digits), the secret 32
//!   random bytes in `<data-dir>/pg-roles.key` (0600). Nothing per role is stored, so no file
//!   or table can drift from the server; a role's password is known to whoever knows the
//!   secret (Slipway) and to whom Slipway hands it (the build of that database, in its
//!   odoo.conf), no one else. Losing the file loses the logins (not the data: the admin
//!   can set new passwords), so it belongs to the data directory's backups.
//! - A copy (`clone_database`) gets a new role. A template copy brings the source's objects
//!   owned by the source's role; `REASSIGN OWNED BY source TO copy` runs in the copy, and since
//!   it also hands over the source DATABASE (a shared object), every database the source role
//!   owned besides the copy is given back in the same transaction: the source never changes
//!   owner, not even for a moment. A dump/restore copy is replayed as the copy's role directly.
//! - A database swapped into another's place (a snapshot after a failed update, a restored
//!   backup) takes over the role of the one it replaces (`Target::take_role_of`): running
//!   builds keep the login their odoo.conf holds.
//! - Dropping a database drops its role when it owns nothing else; only `slipway_db_*` roles
//!   are ever dropped.
//! - At start (`Target::prepare_server`), the admin role must be superuser or have CREATEDB
//!   and CREATEROLE (an external server's; a clear error otherwise), the metadata database and
//!   `template1` are closed to `PUBLIC` (`postgres` stays open: `odoo-bin` connects there at
//!   start), and databases of the one shared role of older Slipways (`odoo`) get a role each.
//!
//! Invariants: nothing from a dump ever runs as a superuser (replay, post-restore SQL,
//! neutralization and pg_dump all connect as the database's owner role, since a restored database
//! may carry triggers); psql never sees a meta-command other than the stripped `\restrict` pair
//! (the guard lexes SQL as `psqlscan.l` does and, where the two could disagree, ends literals
//! earlier, so disagreement refuses rather than lets through; COPY data may only hold pg_dump's
//! escapes); zip members are all checked (path, type, duplicates, ratio, total) on the central
//! directory before anything is written, and every member's output is capped at its declared size;
//! a failed restore drops the database and removes the filestore, which is only renamed into place
//! from `filestore/.<db>.partial` once complete; the source file is only ever read.

mod apply;
mod clone;
mod create;
mod db;
mod error;
mod format;
mod inspect;
pub mod neutralize;
mod pgdmp;
mod replay;
mod restore;
mod roles;
mod sqlguard;
mod sqlscan;
mod zipsafe;

pub use apply::{
    neutralize_database, reset_database_identity, NeutralizeOutcome, NeutralizeReport,
};
pub use clone::{clone_database, ClonePath, CloneReport, IdleSessions};
pub use create::{create, CreateOptions, CreateReport, OutputFormat};
pub use db::{ident as quote_ident, DbCredentials, Target};
pub use error::{DumpError, Result};
pub use format::Format;
pub use inspect::{inspect, FilestoreStats, InspectOptions, Inspection};
pub use restore::{extract_zip, restore, Mode, ProgressFn, RestoreOptions, RestoreReport};
pub use roles::{RoleKey, ROLE_PREFIX};
pub use sqlguard::SqlGuard;
pub use zipsafe::ZipLimits;
