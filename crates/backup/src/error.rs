//! The crate's error type.

use std::path::PathBuf;

/// What went wrong in a backup operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder of the repository could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("create", "read", "rename"...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The stream being backed up could not be read.
    #[error("reading the data to back up: {0}")]
    Input(std::io::Error),
    /// The restored data could not be written.
    #[error("writing the restored data: {0}")]
    Output(std::io::Error),
    /// Chunk sizes outside what the chunker supports.
    #[error("invalid chunk sizes: {0}")]
    ChunkParams(String),
    /// A chunk a manifest needs is not in the repository.
    #[error("chunk {id} is missing from the repository at {path}; restore it from another copy")]
    MissingChunk {
        /// The chunk's id.
        id: String,
        /// Where it should be.
        path: PathBuf,
    },
    /// A chunk's bytes do not match its name.
    #[error("chunk {id} at {path} is corrupted ({reason}); restore it from another copy")]
    CorruptChunk {
        /// The chunk's id.
        id: String,
        /// Its file.
        path: PathBuf,
        /// What did not match.
        reason: crate::store::ChunkDefect,
    },
    /// Every chunk was sound but the whole does not hash to the manifest's hash.
    #[error(
        "restored data hashes to {actual}, the manifest says {expected}: the manifest is wrong"
    )]
    ContentHash {
        /// The manifest's hash.
        expected: String,
        /// The hash of what was restored.
        actual: String,
    },
    /// A write session was declared stale by a garbage collection (no activity for too long),
    /// so chunks it wrote may have been collected.
    #[error("write session {path} expired (garbage-collected as stale); start the backup again")]
    SessionExpired {
        /// The session's marker file.
        path: PathBuf,
    },
    /// A backup location (a replica folder, an object store) refused an operation.
    #[error("backup location {location}: cannot {action} {key}: {detail}; check that it is reachable, mounted, writable and not full")]
    Location {
        /// The location (a folder, `s3://bucket/prefix`).
        location: String,
        /// What we were doing ("write", "read", "list", "delete").
        action: &'static str,
        /// The key (`chunks/ab/…`, `backups/<id>.json`).
        key: String,
        /// What the location said.
        detail: String,
    },
    /// A location specification could not be understood.
    #[error("backup location {spec:?}: {reason}")]
    LocationSpec {
        /// What was given.
        spec: String,
        /// Why it is refused, and what to give instead.
        reason: String,
    },
    /// No location holds a backup of this id.
    #[error("no backup {0} in the repository; `slipway backup list` shows the backups there are")]
    NoSuchBackup(String),
    /// A backup manifest could not be read.
    #[error("backup manifest {key} in {location} is unreadable: {detail}")]
    BadManifest {
        /// The location.
        location: String,
        /// Its key.
        key: String,
        /// The parser's complaint.
        detail: String,
    },
    /// No location holds a sound copy of a chunk a backup needs.
    #[error("chunk {id} of backup {backup} has no sound copy in any location ({detail}); the backup cannot be restored")]
    ChunkLost {
        /// The backup.
        backup: String,
        /// The chunk.
        id: String,
        /// What each location said.
        detail: String,
    },
    /// A restored file does not have the SHA-1 the manifest records.
    #[error("file {path} restores with SHA-1 {actual}, the manifest says {expected}")]
    Sha1Mismatch {
        /// The file's path inside its part.
        path: String,
        /// The manifest's SHA-1.
        expected: String,
        /// What was restored.
        actual: String,
    },
    /// A chunk id in a manifest is not a BLAKE3 hash.
    #[error("not a BLAKE3 hash: {0:?}")]
    NotAChunkId(String),
    /// A path inside a backup would escape its destination folder.
    #[error("backup manifest holds an unsafe path {0:?}; refusing to restore it")]
    UnsafePath(String),
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
