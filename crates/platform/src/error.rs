/// Errors of the platform layer. Each says what happened and what to do; [`PlatformError::kind`]
/// sorts them for the edges (an HTTP status, an exit message).
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("cannot reach PostgreSQL at {target}: {source}; start it with `slipway pg start`, or check --pg-url")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply the metadata schema migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
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
    /// What it names does not exist (a backup, a project, a database).
    #[error("{0}")]
    NotFound(String),
    /// The request was fine but the work failed on the server's side (a tool, a task); the
    /// message says what happened.
    #[error("{0}")]
    Failed(String),
    #[error("metadata database query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Backup(#[from] slipway_backup::Error),
    #[error("{0}")]
    Dump(#[from] slipway_dump::DumpError),
}

/// What kind of failure an error is, for the edges: the API's status, the CLI's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input (HTTP 400).
    Invalid,
    /// Clashes with the current state (HTTP 409).
    Conflict,
    /// What it names does not exist (HTTP 404).
    NotFound,
    /// A fault on the server's side (HTTP 500).
    Internal,
}

impl PlatformError {
    /// An [`Io`](PlatformError::Io) error with what was being done, for `map_err`.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| PlatformError::Io { context, source }
    }

    /// The kind of this error, looking into the dump and backup errors it wraps: a file that
    /// is not a dump is `Invalid`, a backup missing from the repository is `NotFound`, a
    /// database that exists already is a `Conflict`.
    pub fn kind(&self) -> ErrorKind {
        use slipway_backup::Error as B;
        use slipway_dump::DumpError as D;
        match self {
            PlatformError::Invalid(_) => ErrorKind::Invalid,
            PlatformError::Conflict(_) => ErrorKind::Conflict,
            PlatformError::NotFound(_) => ErrorKind::NotFound,
            PlatformError::Dump(e) => match e {
                D::Empty { .. }
                | D::UnknownFormat { .. }
                | D::Truncated { .. }
                | D::UnsafeZipMember { .. }
                | D::UnsafeZip(_)
                | D::MetaCommand { .. }
                | D::Manifest(_)
                | D::Zip { .. } => ErrorKind::Invalid,
                D::DatabaseExists(_) | D::FilestoreExists(_) => ErrorKind::Conflict,
                D::NoDatabase(_) => ErrorKind::NotFound,
                _ => ErrorKind::Internal,
            },
            PlatformError::Backup(e) => match e {
                B::NoSuchBackup(_) => ErrorKind::NotFound,
                B::ChunkParams(_) | B::LocationSpec { .. } => ErrorKind::Invalid,
                _ => ErrorKind::Internal,
            },
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = PlatformError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_errors_are_sorted_by_what_they_mean() {
        let not_a_dump = PlatformError::Dump(slipway_dump::DumpError::UnknownFormat {
            path: "x.png".into(),
            looks_like: "looks like a PNG image".into(),
        });
        assert_eq!(not_a_dump.kind(), ErrorKind::Invalid);
        let missing = PlatformError::Backup(slipway_backup::Error::NoSuchBackup("b1".into()));
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let exists = PlatformError::Dump(slipway_dump::DumpError::DatabaseExists("db".into()));
        assert_eq!(exists.kind(), ErrorKind::Conflict);
        let no_db = PlatformError::Dump(slipway_dump::DumpError::NoDatabase("db".into()));
        assert_eq!(no_db.kind(), ErrorKind::NotFound);
        assert_eq!(
            PlatformError::Failed("x".into()).kind(),
            ErrorKind::Internal
        );
        assert_eq!(
            PlatformError::NotFound("no backup".into()).kind(),
            ErrorKind::NotFound
        );
    }
}
