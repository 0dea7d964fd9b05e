#![warn(missing_docs)]
//! Slipway's backups: which to keep ([`retention`]), where their bytes live ([`store`],
//! [`location`]), what a backup is ([`manifest`]) and the replicated repository tying them
//! together ([`Repository`]).
//!
//! [`retention::plan_retention`] is a pure function of the backups, "now" and a policy.
//! [`store::Store`] is a content-addressed repository of zstd-compressed, content-defined
//! chunks on a local folder, with a garbage collector that is safe during backups.
//! [`Repository`] adds backup manifests and replication to further [`Location`]s (folders,
//! S3-compatible buckets), verification and healing of every copy, and a repository-wide
//! garbage collection.

mod error;
pub mod location;
pub mod manifest;
pub mod pitr;
mod repository;
pub mod retention;
pub mod store;

pub use error::Error;
pub use location::{open_location, LocalLocation, Location};
pub use manifest::{is_backup_id, new_backup_id, BackupKind, BackupLabels, BackupManifest, Part};
pub use repository::{
    sha1_file, ArchivedWal, BackupOutcome, BackupWriter, BaseBackupManifest, BaseBackupWriter,
    CheckReport, LocationCheck, LocationStatus, Progress, ReplicaGc, RepoGcReport, Repository,
    BASE_BACKUP_FORMAT,
};
