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
        reason: String,
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
