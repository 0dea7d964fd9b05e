//! The one error type of the crate.

use std::path::PathBuf;

/// What went wrong with the mail store or the SMTP credentials.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A file or folder of the store could not be read or written.
    #[error("{path}: {source}; check that the data directory is writable and not full")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The build has no message with this number (never caught, or dropped by the cap).
    #[error("build {build_id} has no mail number {seq}")]
    NotFound {
        /// The build.
        build_id: i64,
        /// The message number asked for.
        seq: u64,
    },
    /// A stored summary is not the JSON this version writes.
    #[error("{path} is not a mail summary ({source}); remove it and its .eml to drop the message")]
    Summary {
        /// The `.json` file.
        path: PathBuf,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
}

impl MailError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// The crate's `Result`.
pub type Result<T, E = MailError> = std::result::Result<T, E>;
