use slipway_metadata::ErrorKind;

/// Errors of the upgrade platform outside a request's own run (a failing step is recorded on
/// the request, in its notes and log, not returned).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata database query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Metadata(#[from] slipway_metadata::Error),
    /// What the caller asked for is not acceptable (a version of another series); the message
    /// says what to give instead.
    #[error("{0}")]
    Invalid(String),
    /// A tool failed (pip, an archive); the message says what happened and what to do.
    #[error("{0}")]
    Failed(String),
    /// A stored row this version cannot read.
    #[error("{0}")]
    Unreadable(String),
    /// The engine catalog (the platform) could not answer.
    #[error("upgrade engines: {0}")]
    Engines(String),
    /// An `upgrade.process` job that names no request: queued by something else than
    /// `process`.
    #[error("job {job}: payload has no request id")]
    NoRequestInPayload { job: i64 },
    /// Another upgrade platform, called through [`crate::delegate::Remote`], failed or refused.
    #[error(transparent)]
    Remote(#[from] crate::delegate::RemoteError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// [`ErrorKind::Invalid`] for an admin's bad input to an engine; otherwise
    /// [`ErrorKind::Internal`]: what a customer did wrong is a `Failure` of the API's rules,
    /// never an error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Remote(e) => e.kind(),
            _ => ErrorKind::Internal,
        }
    }
}
