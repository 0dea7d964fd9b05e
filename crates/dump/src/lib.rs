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
mod sqlguard;
mod sqlscan;
mod zipsafe;

pub use apply::{neutralize_database, NeutralizeOutcome, NeutralizeReport};
pub use clone::{clone_database, ClonePath, CloneReport, IdleSessions};
pub use create::{create, CreateOptions, CreateReport, OutputFormat};
pub use db::{ident as quote_ident, Target};
pub use error::{DumpError, Result};
pub use format::Format;
pub use inspect::{inspect, FilestoreStats, InspectOptions, Inspection};
pub use restore::{extract_zip, restore, Mode, ProgressFn, RestoreOptions, RestoreReport};
pub use sqlguard::SqlGuard;
pub use zipsafe::ZipLimits;
