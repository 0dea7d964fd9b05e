//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading, restoring, creating or
/// neutralizing a dump. Variants say what the user brought or what the world
/// did, so the CLI can print them as they are.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{}: empty file (0 bytes): not a database dump", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is none of the dump formats Slipway reads.
    #[error(
        "{}: not a database dump: {looks_like}; expected an Odoo zip backup, a pg_dump \
         custom/directory/tar archive, or plain SQL (.sql, .sql.gz)",
        path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What the first bytes look like ("looks like a PNG image").
        looks_like: String,
    },
    /// The file starts like a known format but ends too early or is damaged.
    #[error("{}: truncated or damaged {what}: {detail}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The format it started as ("custom dump").
        what: &'static str,
        /// What exactly is missing.
        detail: String,
    },
    /// A zip member was refused by the safety rules; nothing was written.
    #[error("zip member {name:?} refused: {reason}; nothing was written")]
    UnsafeZipMember {
        /// The member name as stored in the archive.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A zip archive as a whole was refused (size limits, missing dump.sql).
    #[error("zip archive refused: {0}; nothing was written")]
    UnsafeZip(String),
    /// Plain SQL holds something psql would execute outside SQL.
    #[error("line {line}: refused: {what}; plain SQL dumps may not contain psql meta-commands")]
    MetaCommand {
        /// 1-based line number in the SQL stream.
        line: u64,
        /// The offending text, shortened.
        what: String,
    },
    /// `manifest.json` of an Odoo zip is not valid.
    #[error("manifest.json: {0}")]
    Manifest(String),
    /// An external program (pg_restore, psql, pg_dump) failed.
    #[error("{program} failed ({status}): {stderr}")]
    Tool {
        /// The program name.
        program: String,
        /// Its exit status.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },
    /// The database to create already exists.
    #[error("database {0:?} already exists; choose another name or pass --force to replace it")]
    DatabaseExists(String),
    /// The filestore directory of the database to create already exists.
    #[error("filestore {} already exists; pass --force to replace it", .0.display())]
    FilestoreExists(PathBuf),
    /// The database named does not exist.
    #[error("database {0:?} does not exist")]
    NoDatabase(String),
    /// The admin role (an external server's) cannot create databases and their roles.
    #[error(
        "the PostgreSQL role {role:?} lacks {missing}: Slipway creates every database with a role \
         of its own; give it these rights (ALTER ROLE ... CREATEDB CREATEROLE) or use a superuser"
    )]
    AdminRights {
        /// The admin role.
        role: String,
        /// The rights it lacks.
        missing: String,
    },
    /// PostgreSQL refused a statement.

    #[error("PostgreSQL: {0}")]
    Sql(#[from] sqlx::Error),
    /// The zip library could not read the archive.
    #[error("{}: {source}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The underlying error.
        source: zip::result::ZipError,
    },
}

/// Result alias of this crate.
pub type Result<T, E = DumpError> = std::result::Result<T, E>;

/// Attaches a path to an I/O error.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DumpError {
    let path = path.into();
    move |source| DumpError::Io { path, source }
}
