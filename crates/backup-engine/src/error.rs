use slipway_metadata::ErrorKind;

/// Errors of the backup engine. Each says what happened and what to do; [`Error::kind`] sorts
/// them for the edges (an HTTP status, an exit message).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// What the user brought or asked for is not acceptable (a file that is not a dump, a time
    /// outside the recovery window); the message says why and what to do.
    #[error("{0}")]
    Invalid(String),
    /// It clashes with the current state: it exists already, another operation holds it.
    #[error("{0}")]
    Conflict(String),
    /// What it names does not exist (a backup, a database).
    #[error("{0}")]
    NotFound(String),
    /// The request was fine but the work failed on the server's side (a tool, a drill); the
    /// message says what happened.
    #[error("{0}")]
    Failed(String),
    #[error("metadata database query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Metadata(#[from] slipway_metadata::Error),
    #[error("{0}")]
    Backup(#[from] slipway_backup::Error),
    #[error("{0}")]
    Dump(#[from] slipway_dump::DumpError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Io`](Error::Io) error with what was being done, for `map_err`.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// The kind of this error, looking into the dump and backup errors it wraps.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Dump(e) => dump_error_kind(e),
            Error::Backup(e) => backup_error_kind(e),
            _ => ErrorKind::Internal,
        }
    }
}

/// What a dump error means for the edges: a file that is not a dump is `Invalid`, a database
/// that exists already a `Conflict`, a missing one `NotFound`.
pub fn dump_error_kind(e: &slipway_dump::DumpError) -> ErrorKind {
    use slipway_dump::DumpError as D;
    match e {
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
    }
}

/// What a backup-repository error means for the edges: a missing backup is `NotFound`, a bad
/// location or chunking setting `Invalid`.
pub fn backup_error_kind(e: &slipway_backup::Error) -> ErrorKind {
    use slipway_backup::Error as B;
    match e {
        B::NoSuchBackup(_) => ErrorKind::NotFound,
        B::ChunkParams(_) | B::LocationSpec { .. } => ErrorKind::Invalid,
        _ => ErrorKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_errors_are_sorted_by_what_they_mean() {
        let not_a_dump = Error::Dump(slipway_dump::DumpError::UnknownFormat {
            path: "x.png".into(),
            looks_like: "looks like a PNG image".into(),
        });
        assert_eq!(not_a_dump.kind(), ErrorKind::Invalid);
        let missing = Error::Backup(slipway_backup::Error::NoSuchBackup("b1".into()));
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let exists = Error::Dump(slipway_dump::DumpError::DatabaseExists("db".into()));
        assert_eq!(exists.kind(), ErrorKind::Conflict);
        let no_db = Error::Dump(slipway_dump::DumpError::NoDatabase("db".into()));
        assert_eq!(no_db.kind(), ErrorKind::NotFound);
        assert_eq!(Error::Failed("x".into()).kind(), ErrorKind::Internal);
        assert_eq!(
            Error::NotFound("no backup".into()).kind(),
            ErrorKind::NotFound
        );
    }
}
