/// Errors of the platform layer.
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
    /// What the user asked for is not acceptable; the message says why and what to do.
    #[error("{0}")]
    Invalid(String),
    /// It exists already.
    #[error("{0}")]
    Conflict(String),
    /// It does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error("metadata database query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Backup(#[from] slipway_backup::Error),
    #[error("{0}")]
    Dump(#[from] slipway_dump::DumpError),
    /// Bad input or a refused operation, with what to do.
    #[error("{0}")]
    Refused(String),
}

pub type Result<T, E = PlatformError> = std::result::Result<T, E>;
