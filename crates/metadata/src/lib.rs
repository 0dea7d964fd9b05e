//! Slipway's metadata database and its job queue: the one piece of state every other domain
//! crate shares.
//!
//! - [`Metadata`]: the `slipway` database, created on first use, with every schema migration
//!   of the product embedded in the binary (`migrations/`, one numbered file per change).
//! - [`JobQueue`]: the queue every long operation goes through (`FOR UPDATE SKIP LOCKED`, so
//!   workers in one process or on several machines never take the same job), and
//!   [`run_worker`], the loop that claims, heartbeats and records jobs of one kind; every
//!   [`JobKind`] the product queues is named here, since this crate owns the `jobs` table.
//! - [`text_column!`]: how an enum is stored in a `text` column, with [`UnknownValue`] for a
//!   name this version does not know.
//! - [`DataDir`]: where each kind of thing lives under Slipway's data directory.
//! - [`ErrorKind`]: how every domain error is sorted for the edges (an HTTP status, the CLI's
//!   wording), so that `backup-engine`, `upgrade` and `platform` speak one language upward.
//!
//! **Invariants:** the schema is only changed by a new migration, never by editing an applied
//! one; a job is owned by at most one worker at a time, and one whose worker stopped
//! heartbeating is queued again, never lost.
//!
//! ## Design notes
//!
//! `Metadata` creates the `slipway` database when missing and
//! applies the schema migrations embedded from `crates/metadata/migrations/` (sqlx). `JobQueue` is
//! the queue every long operation goes through: `claim` uses `FOR UPDATE SKIP LOCKED` so any number
//! of workers share it; heartbeats and `requeue_abandoned` make a crashed worker's job resumable,
//! at once when the worker held a `Liveness` lock (an advisory lock its process's death frees).
//! Idle workers sleep on `LISTEN slipway_jobs`, which a trigger on `jobs` notifies when a job is
//! queued (a push starts building at once), with a 500 ms poll behind it for delayed jobs.

mod database;
mod error;
mod jobs;
mod layout;
mod text_column;

pub use database::{create_database_if_missing, Metadata, METADATA_DB};
pub use error::{Error, ErrorKind, Result};
pub use jobs::{
    enqueue_with, run_worker, Job, JobKind, JobQueue, Liveness, HEARTBEAT_TIMEOUT, IDLE_POLL,
    JOBS_CHANNEL,
};
pub use layout::DataDir;
pub use text_column::{by_name, UnknownValue};

/// For [`text_column!`]: the sqlx its expansion names, whatever the caller depends on.
#[doc(hidden)]
pub use sqlx as __sqlx;
