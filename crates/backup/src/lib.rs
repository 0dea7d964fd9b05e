//!
//! ## Design notes
//!
//! The foundations of backups, with no I/O beyond its repository. `plan_retention` is a pure
//! function of (backups, now, policy): GFS tiers (7 daily, 4 weekly, 3 monthly by default) counted
//! over local calendar days, ISO weeks and months in the policy's time zone (`chrono-tz`), gaps
//! skipped, the newest backup of a period kept; manual and safety backups kept by age, manual ones
//! limited per day; future-dated backups kept and reported; the newest never deleted. `Store` is a
//! content-addressed chunk repository on a local folder: FastCDC chunks named by BLAKE3,
//! zstd-compressed, written atomically under `chunks/ab/<hash>`, read back verified, written only
//! through a `WriteSession` whose marker protects them from a concurrent garbage collection.
//! `Location` is where copies live (`LocalLocation`, a folder; `S3Location`, any S3-compatible
//! bucket through `object_store`, feature `s3`): atomic whole-object put/get/list/delete.
//! `Repository` = the primary `Store` + replica locations + `BackupManifest`s (`backups/<id>.json`:
//! labels, Odoo version and modules, row counts, the database as a `pg_dump -Fc -Z0` stream, every
//! filestore/log/session file as its own chunk list with path, mode and SHA-1).
//! `BackupWriter::finish` writes the manifest to the primary, then copies missing chunks to each
//! replica and the manifest last; `check(id, heal)` reads every chunk in every location against its
//! name and rewrites a missing or damaged copy from a sound one; reads fall back to the next
//! location.
//!
//! Point-in-time recovery's objects (`wal.rs`): base backups of the whole cluster
//! (`basebackups/<id>.json`: the `pg_basebackup -Ft` tar stream chunked like a dump, so daily base
//! backups of a cluster that changed little share most chunks; `gc` keeps their chunks) and
//! archived WAL files (`wal/<name>@<archived unix time>`, one zstd frame with checksum each, put to
//! the primary durably then to each replica; `sync_wal_replicas` catches a replica up). The pure
//! `pitr.rs` reads WAL names and positions (`pg_basebackup -v` start/end points), computes the
//! recovery window (per base backup: from its finish to the last segment of the gap-free run after
//! it; merged), plans a recovery (the newest base backup consistent before the target, segments
//! through the first archived 5 minutes past it, the whole run kept for a retry) and what prune
//! deletes: base backups older than the window except the one opening it, then WAL before the
//! oldest base backup kept (no base backup: WAL older than a day).
//!
//! Invariants: a manifest present in a location means every chunk it names is there (written last);
//! a backup exists once the primary holds its manifest, and is *complete* when every location does;
//! `gc` never deletes a chunk of a backup being written: the primary by the session protocol,
//! replicas because replication holds a shared lock (`locations.lock`) from its existence checks to
//! its manifest and replica sweeps take it exclusively with the live set read inside it.
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
    CheckReport, InPrimary, LocationCheck, LocationStatus, Progress, ReplicaGc, RepoGcReport,
    Repository, BASE_BACKUP_FORMAT,
};
