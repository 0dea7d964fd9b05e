//! Odoo database dumps: recognising every format users bring, restoring
//! them safely, writing backups Odoo itself restores, neutralizing and
//! cloning databases.

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
pub use clone::{clone_database, ClonePath, CloneReport};
pub use create::{create, CreateOptions, CreateReport, OutputFormat};
pub use db::Target;
pub use error::{DumpError, Result};
pub use format::Format;
pub use inspect::{inspect, FilestoreStats, InspectOptions, Inspection};
pub use restore::{restore, Mode, ProgressFn, RestoreOptions, RestoreReport};
pub use sqlguard::SqlGuard;
pub use zipsafe::ZipLimits;
