use std::path::PathBuf;

/// Everything that can go wrong while finding, starting or talking to PostgreSQL.
///
/// Each variant says what happened and, where the user can act, what to do.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "no PostgreSQL server binaries found (looked at `pg_config --bindir` and /usr/lib/postgresql/*/bin); \
         install them with `apt-get install postgresql` or pass --pg-url to use an external server"
    )]
    BinariesNotFound,

    #[error(
        "no PostgreSQL server binaries in {0} (no `initdb` there); point --pg-bindir at a directory such as /usr/lib/postgresql/15/bin"
    )]
    BinariesNotIn(PathBuf),

    #[error(
        "the data directory {pgdata} was created by PostgreSQL {data_major}, but only PostgreSQL {found} is installed; \
         install `postgresql-{data_major}` (its binaries are used automatically) or upgrade the cluster with pg_upgrade"
    )]
    MajorVersionMismatch {
        pgdata: PathBuf,
        data_major: u32,
        found: String,
    },

    #[error(
        "Slipway runs as root and PostgreSQL refuses to run as root, but there is no `postgres` system user to run it; \
         create one (`useradd --system postgres`, or install the `postgresql` package) or run Slipway as an unprivileged user"
    )]
    NoUnprivilegedUser,

    #[error("cannot use data directory {path}: {source}; choose a writable --data-dir")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the `{user}` system user cannot reach {path} (PostgreSQL runs as that user); \
         choose a --data-dir whose parent directories it can enter, e.g. under /var/lib or /srv"
    )]
    Unreachable { user: String, path: PathBuf },

    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },

    #[error("{0:?} is not a postgres:// URL")]
    NotAUrl(String),

    #[error("PostgreSQL did not start in {pgdata}: {detail}")]
    StartFailed { pgdata: PathBuf, detail: String },

    #[error("cannot read the cluster state file {path}: {detail}; delete it to let Slipway pick new settings")]
    State { path: PathBuf, detail: String },

    #[error(
        "the embedded PostgreSQL of {data_dir} is not running; start it with `slipway pg start`"
    )]
    NotRunning { data_dir: PathBuf },

    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = PgError> = std::result::Result<T, E>;
