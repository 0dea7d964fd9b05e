pub use slipway_metadata::ErrorKind;

/// Errors of the platform layer. Each says what happened and what to do; [`PlatformError::kind`]
/// sorts them for the edges (an HTTP status, an exit message).
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// What the user brought or asked for is not acceptable (a bad name, a file that is not a
    /// dump); the message says why and what to do. Asking again unchanged fails again.
    #[error("{0}")]
    Invalid(String),
    /// It clashes with the current state: it exists already, a limit is reached, another
    /// operation holds it. It may succeed once the state changes.
    #[error("{0}")]
    Conflict(String),
    /// A [`Conflict`](PlatformError::Conflict) the edges name by a code of its own, which
    /// clients match on (`no_database`: the branch has no running database).
    #[error("{message}")]
    ConflictCode {
        /// The code (`no_database`, `not_running`).
        code: &'static str,
        /// What happened and what to do.
        message: String,
    },
    /// What it names does not exist (a backup, a project, a database).
    #[error("{0}")]
    NotFound(String),
    /// The request was fine but the work failed on the server's side (a tool, a task); the
    /// message says what happened.
    #[error("{0}")]
    Failed(String),
    /// A Git operation failed; what it names missing, or a bad name, sort as `NotFound` and
    /// `Invalid`.
    #[error(transparent)]
    Git(#[from] slipway_git::Error),
    /// The metadata database holds something this version cannot read (a History event a
    /// newer Slipway wrote).
    #[error("{0}")]
    Unreadable(String),
    /// A History event could not be written as JSON.
    #[error("writing a History event as JSON: {0}")]
    Event(#[source] serde_json::Error),
    #[error("metadata database query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Metadata(#[from] slipway_metadata::Error),
    #[error(transparent)]
    Backups(#[from] slipway_backup_engine::Error),
    #[error("{0}")]
    Backup(#[from] slipway_backup::Error),
    #[error("{0}")]
    Dump(#[from] slipway_dump::DumpError),
    /// The upgrade platform (in-process or another Slipway's) failed or refused.
    #[error("upgrade: {0}")]
    Upgrade(#[from] slipway_upgrade::Error),
}

impl PlatformError {
    /// The kind of this error, looking into the dump and backup errors it wraps: a file that
    /// is not a dump is `Invalid`, a backup missing from the repository is `NotFound`, a
    /// database that exists already is a `Conflict`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PlatformError::Invalid(_) => ErrorKind::Invalid,
            PlatformError::Conflict(_) | PlatformError::ConflictCode { .. } => ErrorKind::Conflict,
            PlatformError::NotFound(_) => ErrorKind::NotFound,
            PlatformError::Dump(e) => slipway_backup_engine::dump_error_kind(e),
            PlatformError::Backup(e) => slipway_backup_engine::backup_error_kind(e),
            PlatformError::Backups(e) => e.kind(),
            PlatformError::Upgrade(e) => e.kind(),
            PlatformError::Git(slipway_git::Error::NotFound { .. }) => ErrorKind::NotFound,
            PlatformError::Git(slipway_git::Error::Invalid { .. }) => ErrorKind::Invalid,
            PlatformError::Git(
                slipway_git::Error::AlreadyExists { .. } | slipway_git::Error::TargetMoved { .. },
            ) => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = PlatformError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_errors_keep_their_kind() {
        let engine = slipway_backup_engine::Error::Invalid("not a dump".into());
        assert_eq!(PlatformError::from(engine).kind(), ErrorKind::Invalid);
        let missing = PlatformError::Backup(slipway_backup::Error::NoSuchBackup("b1".into()));
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert_eq!(
            PlatformError::Failed("x".into()).kind(),
            ErrorKind::Internal
        );
    }
}
