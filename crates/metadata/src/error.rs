/// Errors of the metadata database and the job queue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach PostgreSQL at {target}: {source}; start it with `slipway pg start`, or check --pg-url")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply the metadata schema migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("metadata database query failed: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure a domain error is, for the edges: the API's status, the CLI's wording.
/// Every domain crate's error answers it (`kind()`).
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

impl Error {
    /// Always [`ErrorKind::Internal`]: the metadata database failing is the server's fault.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}
