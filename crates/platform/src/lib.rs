//! Slipway's domain and its persistence.
//!
//! - [`Metadata`]: the `slipway` metadata database, created on first use, with the schema
//!   migrations embedded in the binary (`migrations/`).
//! - [`JobQueue`]: the queue every long operation goes through (`FOR UPDATE SKIP LOCKED`).
//! - [`people`], [`projects`], [`branches`], [`builds`], [`history`]: Odoo.sh's model
//!   (users and tokens, projects and their Odoo runtimes, branches and stages, builds and
//!   their pipeline, the History of a branch); [`stages`] holds the stage-move rules,
//!   [`projects::allowed`] the rights of each role; [`sessions`]: web UI sessions;
//!   [`editor`]: the web editor's reads of a build's checkout and its commits.
//! - [`Platform`]: the operations on them (pushes, rebuilds, stops, the scheduler's chores).

mod error;
mod ref_locks;
mod service;

pub mod branches;
pub mod builds;
pub mod editor;
pub mod history;
pub mod people;
pub mod projects;
pub mod sessions;
pub mod stages;

pub use error::{ErrorKind, PlatformError, Result};
pub use ref_locks::RefsGuard;
pub use service::{MergeResult, Platform};
/// The backup engine, which the platform drives for branches' databases.
pub use slipway_backup_engine as backups;
pub use slipway_metadata::{
    create_database_if_missing, run_worker, DataDir, Job, JobQueue, Metadata, HEARTBEAT_TIMEOUT,
    IDLE_POLL, JOBS_CHANNEL, METADATA_DB,
};
